"""Shared fixtures: a real Redis in its own DB number, and real SQL databases (SQLite and PostgreSQL).

REDIS_TEST_URL (default redis://127.0.0.1:6379/13) is flushed before and after every test that uses it.
YIMA_TEST_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test) is the admin connection:
each test gets its own database, created from it and dropped afterwards. Databases come migrated: a
clone of a template migrated once per session (tests/support/databases.py); the `empty_*` fixtures
give an unmigrated one to tests of the migrations themselves.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import settings

from tests.support.databases import TestDatabases

# This machine is shared and noisy: hypothesis' per-example deadline would turn load into failures.
settings.register_profile("yima", deadline=None)
settings.load_profile("yima")

# Redis backends (standalone and Cluster): the fixtures redis_backend, redis_any, lossy_redis_any; the fake
# WeChat server in-process: fake_wechat, callback_sink.
pytest_plugins = ["tests.support.backends", "tests.support.fake_wechat"]

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/13")
PG_ADMIN_URL = os.environ.get("YIMA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DATABASES = TestDatabases(PG_ADMIN_URL)  # builds its templates on first use


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    DATABASES.close()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_TEST_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def lossy_redis() -> Iterator[tuple[redis.Redis, Any]]:
    """A client of the test Redis through a TcpProxy that can lose a reply (redis-py then retries)."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from tests.support.proxy import TcpProxy

    url = redis.connection.parse_url(REDIS_TEST_URL)
    proxy = TcpProxy(url.get("host", "127.0.0.1"), int(url.get("port", 6379)))
    client = redis.Redis(host="127.0.0.1", port=proxy.port, db=int(url.get("db", 0)), socket_timeout=1,
                         retry=Retry(NoBackoff(), 2))
    yield client, proxy
    client.close()
    proxy.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file at the migration head."""
    path = tmp_path / "yima.db"
    DATABASES.copy_migrated_sqlite(path)
    return f"sqlite:///{path}"


@pytest.fixture
def empty_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database at the migration head, dropped after the test."""
    name = DATABASES.create_migrated()
    try:
        yield DATABASES.url_of(name)
    finally:
        DATABASES.drop(name)


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A PostgreSQL database with no table at all, dropped after the test."""
    name = DATABASES.create_empty()
    try:
        yield DATABASES.url_of(name)
    finally:
        DATABASES.drop(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Every SQL test runs on both backends; the database is at the migration head."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest) -> str:
    """Both backends, no table yet: for tests of the migrations."""
    return str(request.getfixturevalue("empty_sqlite_url" if request.param == "sqlite" else "empty_postgres_url"))
