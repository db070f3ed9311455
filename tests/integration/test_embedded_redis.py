import shutil
from pathlib import Path

import pytest
import redis

from app.embedded import ensure_embedded_redis, stop_embedded_redis


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server on PATH")
def test_embedded_redis_starts_once_and_is_shared(tmp_path: Path) -> None:
    var = tmp_path / "v"
    url = ensure_embedded_redis(var)
    try:
        assert url == f"unix://{var / 'redis.sock'}"
        first = redis.Redis.from_url(url)
        first.set("k", "v")
        assert ensure_embedded_redis(var) == url  # a second caller finds the running one
        assert redis.Redis.from_url(url).get("k") == b"v"
        assert first.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        assert stop_embedded_redis(var)
    assert not stop_embedded_redis(var)
