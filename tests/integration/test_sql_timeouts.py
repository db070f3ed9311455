"""Every SQL connection yima opens is bounded: a hung PostgreSQL is an error after a while, never a hang."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.config import ConfigError, load_config
from app.runtime import connect_database
from rules.drain import DatabaseUnavailable, Drainer
from tests.integration.test_drain import scan_many
from tests.support.proxy import TcpProxy

HANG = 20.0  # "did not hang" bound, well above the 2 s connect timeout used here


def outcome(call: Callable[[], Any]) -> BaseException | Any:
    """Run `call` in a thread; its exception or result, or fail when it hangs past HANG seconds."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(call())
        except BaseException as exc:  # the test inspects whatever came out
            box.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG)
    assert box, f"still waiting after {HANG:.0f}s: a hung database must not hang the caller"
    return box[0]


@pytest.fixture
def hung_pg(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Any, TcpProxy]]:
    """A config whose DATABASE_URL goes through a proxy, schema migrated while it still passed."""
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    env = {"YIMA_VAR_DIR": str(tmp_path), "YIMA_DB_CONNECT_TIMEOUT_S": "2",
           "DATABASE_URL": url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)}
    cfg = load_config(env)
    connect_database(cfg).engine.dispose()
    yield cfg, proxy
    proxy.close()


def test_timeouts_are_configured_from_the_environment_and_checked() -> None:
    cfg = load_config({"YIMA_DB_CONNECT_TIMEOUT_S": "3", "YIMA_DB_STATEMENT_TIMEOUT_MS": "250",
                       "YIMA_HEALTH_TIMEOUT_MS": "800", "YIMA_DRAIN_LAG_MAX_S": "90"})
    assert (cfg.db_connect_timeout, cfg.db_statement_timeout_ms, cfg.health_timeout, cfg.drain_lag_max_s) == (
        3, 250, 0.8, 90)
    defaults = load_config({})
    assert defaults.db_connect_timeout == 5 and defaults.db_statement_timeout_ms == 30_000
    with pytest.raises(ConfigError, match="YIMA_DB_CONNECT_TIMEOUT_S"):
        load_config({"YIMA_DB_CONNECT_TIMEOUT_S": "0"})


def test_a_statement_past_the_statement_timeout_is_cancelled(hung_pg: tuple[Any, TcpProxy]) -> None:
    cfg, _proxy = hung_pg
    db = connect_database(dataclasses.replace(cfg, db_statement_timeout_ms=200), migrate=False)
    with pytest.raises(OperationalError, match="statement timeout"), db.engine.connect() as conn:
        conn.execute(text("SELECT pg_sleep(5)"))
    db.engine.dispose()


def test_connecting_to_a_hung_database_fails_after_the_connect_timeout(hung_pg: tuple[Any, TcpProxy]) -> None:
    cfg, proxy = hung_pg
    db = connect_database(cfg, migrate=False)
    proxy.set_mode("blackhole")  # accepts, never answers: libpq would wait forever without connect_timeout

    def select_1() -> Any:
        with db.engine.connect() as conn:
            return conn.scalar(text("SELECT 1"))

    assert isinstance(outcome(select_1), OperationalError)
    proxy.set_mode("pass")
    assert outcome(select_1) == 1
    db.engine.dispose()


def test_the_drain_gives_up_on_a_hung_database_and_retries(hung_pg: tuple[Any, TcpProxy],
                                                           redis_client: redis.Redis) -> None:
    cfg, proxy = hung_pg
    db = connect_database(cfg, migrate=False)
    scan_many(redis_client, 1, range(10))
    drainer = Drainer(redis_client, db.sessions, "c1")
    proxy.set_mode("blackhole")
    assert isinstance(outcome(lambda: drainer.drain_once(block_ms=10)), DatabaseUnavailable)
    proxy.set_mode("pass")
    assert outcome(lambda: drainer.drain_once(block_ms=10)).stored == 10
    db.engine.dispose()
