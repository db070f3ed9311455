"""Shared fixtures: a real Redis in its own DB number, and real SQL databases (SQLite and PostgreSQL).

REDIS_TEST_URL (default redis://127.0.0.1:6379/13) is flushed before and after every test that uses it.
YIMA_TEST_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test) is the admin connection:
each test gets a fresh database created from it and dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# This machine is shared and noisy: hypothesis' per-example deadline would turn load into failures.
settings.register_profile("yima", deadline=None)
settings.load_profile("yima")

# Redis backends (standalone and Cluster): the fixtures redis_backend, redis_any, lossy_redis_any.
pytest_plugins = ["tests.support.backends"]

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/13")
PG_ADMIN_URL = os.environ.get("YIMA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


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
    return f"sqlite:///{tmp_path / 'yima.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"yima_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Every SQL test runs on both backends."""
    return str(request.getfixturevalue(f"{request.param}_url" if request.param == "sqlite" else "postgres_url"))
