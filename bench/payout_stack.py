"""The processes bench/bench_payouts.py runs as a user would on one box, unpinned: the fake WeChat server
(`yima fake-wechat`) and the payout worker(s) (`yima payouts worker`), each in its own session with its log
in the bench's temp directory, on one environment (a bench PostgreSQL database, one Redis DB, a shared
YIMA_VAR_DIR so the fake's keys are the worker's). Every process is stopped by `stop()`, and dies with the
bench if the bench is killed outright (PR_SET_PDEATHSIG)."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Self

from rq import Worker

REPO = Path(__file__).resolve().parents[1]
PAYOUT_QUEUE = "yima-payouts"


def yima_command() -> list[str]:
    """The `yima` console script beside this interpreter (the venv's), else the same entry point via -c."""
    script = Path(sys.executable).with_name("yima")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from app.cli import main; main()"]


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def child_env(*, database_url: str, redis_url: str, var_dir: Path, fake_port: int, notify_port: int,
              rate_per_s: float, burst: int) -> dict[str, str]:
    """What `yima` reads (app/config.py): the bench's database and Redis DB, the fake as the provider, the
    token bucket at `rate_per_s` + `burst`. PORT only makes the fake's notify URL point at a closed port
    (callbacks come only for final states, which the bench never reaches)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YIMA_", "PROMETHEUS_"))}
    env.update({
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "YIMA_QUEUE_URL": redis_url,
        "YIMA_VAR_DIR": str(var_dir), "HOST": "127.0.0.1", "PORT": str(notify_port),
        "YIMA_PAYOUT_PROVIDER": "fake", "YIMA_FAKE_WECHAT_PORT": str(fake_port),
        "YIMA_PAYOUT_RATE_MILLI": str(round(rate_per_s * 1000)), "YIMA_PAYOUT_BURST": str(burst),
        "YIMA_WORKER_METRICS_PORT": "0", "YIMA_LOG_FORMAT": "text", "PYTHONUNBUFFERED": "1",
    })
    return env


class Child:
    """One `yima …` process in its own session, its output in `log`."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_size(self) -> int:
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def log_text(self, since: int = 0) -> str:
        try:
            with open(self.log, "rb") as fh:
                fh.seek(since)
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM to the process group (the worker's warm shutdown reaches its running job), then SIGKILL."""
        if self.proc is None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.proc.wait(timeout=5)
        self._signal(signal.SIGKILL)  # a work horse its parent left behind

    def _signal(self, sig: int) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)


class FakeServer(Child):
    """`yima fake-wechat` and its control API (/_fake/…)."""

    def __init__(self, env: dict[str, str], log: Path, port: int) -> None:
        super().__init__("fake-wechat", [*yima_command(), "fake-wechat", "--host", "127.0.0.1", "--port", str(port)],
                         env, log)
        self.base_url = f"http://127.0.0.1:{port}"

    def control(self, path: str, body: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}/_fake/{path}", data=data, method="GET" if data is None
                                         else "POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return json.loads(reply.read())

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"the fake WeChat server exited; log:\n{self.tail()}")
            with contextlib.suppress(OSError):
                self.control("faults", timeout=2)
                return
            time.sleep(0.2)
        raise RuntimeError(f"the fake WeChat server did not answer in {timeout_s:.0f} s; log:\n{self.tail()}")


class Workers:
    """`count` × `yima payouts worker`, started together, stopped together."""

    def __init__(self, count: int, env: dict[str, str], log_dir: Path, label: str) -> None:
        self.children = [Child(f"payout worker {i + 1}", [*yima_command(), "payouts", "worker"], env,
                               log_dir / f"worker-{label}-{i + 1}.log") for i in range(count)]

    def start(self, queue_redis: Any, timeout_s: float = 60.0) -> Workers:
        """Start them and wait until each has registered with RQ (it is then taking jobs)."""
        before = {w.name for w in Worker.all(connection=queue_redis)}
        for child in self.children:
            child.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for child in self.children:
                if not child.alive():
                    raise RuntimeError(f"{child.name} exited; log:\n{child.tail()}")
            fresh = [w for w in Worker.all(connection=queue_redis) if w.name not in before
                     and PAYOUT_QUEUE in w.queue_names()]
            if len(fresh) >= len(self.children):
                return self
            time.sleep(0.2)
        raise RuntimeError(f"the payout workers did not register in {timeout_s:.0f} s; log:\n"
                           f"{self.children[0].tail()}")

    def stop(self) -> None:
        for child in self.children:
            child._signal(signal.SIGTERM)
        for child in self.children:
            child.stop()

    def check(self) -> None:
        for child in self.children:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited; log:\n{child.tail()}")
