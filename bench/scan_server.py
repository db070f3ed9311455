"""The app server a scan-bench measurement talks to: gunicorn as shipped (or another worker model) or granian.

    gunicorn  `gunicorn --config python:app.gunicorn_conf "app:create_app()"`: what `yima run`, the image and
              deploy/ start; a Model adds worker-model flags (sync:W, gthread:WxT, gevent:WxC) for the sweep.
    granian   granian's WSGI interface on the same app factory, with gunicorn_conf's worker count, an access
              log, dead workers respawned and gunicorn_conf's graceful_timeout as its kill timeout; granian's
              defaults otherwise. Model "WxT" sets workers and blocking threads per worker.

Every server runs in a session of its own and is always killed in stop(); start() returns when every
worker has booted and one answers GET /healthz.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.cpu_layout import autogroup_nice
from bench.scan_cpu import children

REPO = Path(__file__).resolve().parent.parent
KINDS = ("gunicorn", "granian")


def free_port() -> int:
    """A free port below the ephemeral range: the load's own outgoing connections (thousands per second,
    each from an ephemeral port) cannot take it between this check and the server's bind."""
    low, high = 20_000, 32_000
    with contextlib.suppress(OSError, ValueError):
        low = min(low, int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]) - 2000)
    for _ in range(200):
        port = random.randrange(max(1025, low), high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port on 127.0.0.1")


@dataclass(frozen=True)
class Model:
    """A worker model: `shipped` (app/gunicorn_conf.py alone); for gunicorn sync:W, gthread:WxT, gevent:WxC;
    for granian WxT (workers x blocking threads per worker)."""

    spec: str

    def args(self, kind: str = "gunicorn") -> list[str]:
        if self.spec == "shipped":
            return []
        if kind == "granian":
            workers, _, threads = self.spec.partition("x")
            if not workers.isdigit() or (threads and not threads.isdigit()):
                raise ValueError(f"unknown granian model {self.spec!r}: use WxT (workers x blocking threads)")
            return ["--workers", workers, *(["--blocking-threads", threads] if threads else [])]
        kind, _, size = self.spec.partition(":")
        workers, _, per = size.partition("x")
        out = ["--worker-class", kind, "--workers", workers]
        if kind == "gthread":
            out += ["--threads", per or "4"]
        elif kind == "gevent":
            out += ["--worker-connections", per or "100"]
        elif kind != "sync":
            raise ValueError(f"unknown worker model {self.spec!r}")
        return out

    def workers(self, shipped_workers: int) -> int:
        if self.spec == "shipped":
            return shipped_workers
        size = self.spec.partition(":")[2] if ":" in self.spec else self.spec
        return int(size.partition("x")[0])


def granian_available() -> bool:
    return shutil.which("granian", path=os.path.dirname(sys.executable)) is not None


def command(kind: str, model: Model, port: int, shipped_workers: int) -> list[str]:
    """The command line that starts `kind` on 127.0.0.1:`port` with `model`."""
    bindir = os.path.dirname(sys.executable)
    if kind == "gunicorn":
        gunicorn = shutil.which("gunicorn", path=bindir) or "gunicorn"
        return [gunicorn, "--config", "python:app.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
                *model.args(kind), "app:create_app()"]
    if kind == "granian":
        from app import gunicorn_conf

        granian = shutil.which("granian", path=bindir) or "granian"
        sized = model.args(kind) or ["--workers", str(shipped_workers)]
        # HTTP/1 only and no websockets: what gunicorn serves. The access log, a dead worker replaced and a
        # bounded graceful stop are what gunicorn_conf gives gunicorn; granian does neither of the last two
        # unless asked (bench/scan_stability.py shows why they are needed).
        grace = str(int(getattr(gunicorn_conf, "graceful_timeout", 10)))
        return [granian, "--interface", "wsgi", "--factory", "--host", "127.0.0.1", "--port", str(port),
                "--http", "1", "--no-ws", "--access-log", "--respawn-failed-workers",
                "--workers-kill-timeout", grace, *sized, "app:create_app"]
    raise ValueError(f"unknown server {kind!r}: use {' or '.join(KINDS)}")


class Server:
    """One app server (gunicorn or granian) in its own session; always killed in stop()."""

    def __init__(self, kind: str, env: dict[str, str], log: Path, model: Model, shipped_workers: int,
                 cpus: frozenset[int] | None = None, nice: int = 0) -> None:
        self.kind, self.env, self.log, self.model, self.cpus, self.nice = kind, env, log, model, cpus, nice
        self.port = free_port()
        self.workers = model.workers(shipped_workers)
        self.argv = command(kind, model, self.port, shipped_workers)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return self.kind if self.model.spec == "shipped" else f"{self.kind} {self.model.spec}"

    def start(self, timeout: float = 60.0) -> None:
        cpus = self.cpus
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        if self.nice:  # its own session: with autogroups, its nice counts only against its own processes
            autogroup_nice(self.proc.pid, self.nice)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited ({self.proc.returncode}); log:\n{self.log_tail()}")
            if len(self.worker_pids()) >= self.workers and self.healthy():
                # Every worker has booted and one answers; give the others their app import time.
                time.sleep(1.0)
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.kind} did not come up in {timeout:.0f} s; log:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid) if self.proc is not None else []

    def healthy(self, timeout: float = 2.0) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def terminate(self) -> None:
        """SIGTERM to the server's main process only: the graceful shutdown a supervisor asks for."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self._kill_group(signal.SIGKILL)  # workers a dead master left behind
            return
        self._kill_group(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._kill_group(signal.SIGKILL)
            self.proc.wait(timeout=5)

    def _kill_group(self, sig: int) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)
