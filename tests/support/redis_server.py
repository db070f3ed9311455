"""A private redis-server for tests that stop and restart Redis itself (the shared one must stay up).

It listens on 127.0.0.1 on a free port (from YIMA_TEST_PORTS, e.g. "47200-47299", when set, so agents
sharing a machine keep to their own ranges), keeps no data on disk unless asked, and `restart()` is a
real shutdown and a new process on the same port, as when a Redis host reboots.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path

import redis


def free_port() -> int:
    spec = os.environ.get("YIMA_TEST_PORTS", "")
    candidates = range(int(spec.split("-")[0]), int(spec.split("-")[1]) + 1) if "-" in spec else [0]
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError(f"no free port in YIMA_TEST_PORTS={spec}")


class RedisServer:
    def __init__(self, workdir: Path, binary: str = "redis-server", port: int | None = None) -> None:
        self.binary, self.workdir = binary, workdir
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    def start(self, timeout: float = 10.0) -> RedisServer:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError, OSError):
                if redis.Redis(port=self.port, socket_timeout=0.5).ping():
                    return self
            if self._proc.poll() is not None:
                break
            time.sleep(0.05)
        logfile = self.workdir / "redis.log"
        log = logfile.read_text(errors="replace")[-2000:] if logfile.exists() else ""
        raise RuntimeError(f"{self.binary} did not start on port {self.port}: {log}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def restart(self, down_for: float = 0.5) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)
