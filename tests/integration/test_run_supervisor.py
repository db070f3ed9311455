"""`yima run` (make run) restarts a worker that dies and rides out a restart of an external Redis."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer, free_port

STARTUP = 90.0  # seconds; `yima run` migrates and seeds first


def _children(pid: int) -> dict[int, str]:
    found: dict[int, str] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                found[int(child)] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except FileNotFoundError:
                continue
    return found


def _worker_pid(run: subprocess.Popen[bytes]) -> int | None:
    # The event drain's `yima worker`, not `yima payouts worker`.
    return next((pid for pid, cmd in _children(run.pid).items()
                 if cmd.split()[-1:] == ["worker"] and cmd.split()[-2].endswith("yima")), None)


def _healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code)
    except OSError:
        return 0


def _wait(what: str, ok, run: subprocess.Popen[bytes], log: Path, timeout: float = STARTUP) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not ok():
        assert run.poll() is None, f"`yima run` exited (status {run.returncode}):\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what} not within {timeout:.0f}s:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


@pytest.fixture
def yima_run(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], RedisServer, int, Path]]:
    server = RedisServer(tmp_path / "redis").start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIMA_") and k not in ("DATABASE_URL", "HOST")}
    env.update(REDIS_URL=server.url, YIMA_VAR_DIR=str(tmp_path / "var"), PORT=str(port), YIMA_REDIS_TIMEOUT_MS="1000")
    yima = shutil.which("yima", path=os.path.dirname(sys.executable)) or "yima"
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        run = subprocess.Popen([yima, "run", "--workers", "1"], env=env, stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        _wait("/healthz 200", lambda: _healthz(port) == 200, run, log)
        yield run, server, port, log
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGTERM)
            try:
                run.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
        server.stop()


def test_a_killed_worker_is_restarted_and_a_redis_restart_is_ridden_out(
    yima_run: tuple[subprocess.Popen[bytes], RedisServer, int, Path],
) -> None:
    run, server, port, log = yima_run
    _wait("the worker", lambda: _worker_pid(run) is not None, run, log)
    first = _worker_pid(run)
    assert first is not None
    os.kill(first, signal.SIGKILL)
    _wait("a new worker", lambda: _worker_pid(run) not in (None, first), run, log, timeout=30)
    assert "worker exited (status -9); restarting it" in log.read_text()
    second = _worker_pid(run)
    server.restart(down_for=0.5)  # an external Redis restarts: nothing may exit
    time.sleep(5)
    assert run.poll() is None and _worker_pid(run) == second, log.read_text()[-3000:]
    _wait("/healthz 200 after the restart", lambda: _healthz(port) == 200, run, log, timeout=30)
    assert run.poll() is None
