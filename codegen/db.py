"""SQL plumbing shared by every domain package: the declarative base, engines, sessions, bulk inserts.

Migrating the schema is the `schema` package's (it sees every domain's tables; this module sees none)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")  # app, worker and CLI share the file
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def make_engine(url: str, *, connect_timeout: int = 10, statement_timeout_ms: int | None = None,
                **kwargs: Any) -> Engine:
    """An engine whose connections cannot hang forever on a hung PostgreSQL.

    `connect_timeout` (seconds) bounds opening a connection and waiting for a pooled one;
    `statement_timeout_ms` makes the server cancel a longer statement (None or 0: no limit). Neither
    covers a connection whose server stops answering mid-statement: callers that must stay responsive
    then run SQL off their request path (see app/probes.py).
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("postgresql"):
        args = dict(kwargs.pop("connect_args", {}))
        args.setdefault("connect_timeout", max(2, connect_timeout))  # libpq treats less than 2 as 2
        if statement_timeout_ms:
            args["options"] = f"{args.get('options', '')} -c statement_timeout={statement_timeout_ms}".strip()
        kwargs["connect_args"] = args
        kwargs.setdefault("pool_timeout", connect_timeout)
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@functools.cache
def pg_unnest_insert(table_name: str, columns: tuple[str, ...], tail: str) -> str:
    """`INSERT INTO t (columns) SELECT * FROM unnest(:c1::type[], …) <tail>` for PostgreSQL.

    Many rows in one statement whose text never changes with their number: one array per column, so
    the statement is prepared once per connection and no thousand-row VALUES list is built and parsed
    (psycopg's conversion of such a list cost more than the insert itself). Bind a list per column.
    """
    from sqlalchemy.dialects import postgresql

    table = Base.metadata.tables[table_name]
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    arrays = ", ".join(f"CAST(:{c} AS {table.c[c].type.compile(dialect=dialect)}[])" for c in columns)
    return f"INSERT INTO {table_name} ({', '.join(columns)}) SELECT * FROM unnest({arrays}) {tail}"  # noqa: S608


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with factory() as session, session.begin():
        yield session
