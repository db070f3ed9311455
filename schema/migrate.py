"""Bringing a database to the newest migration."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).with_name("migrations")
# The partitions of scan_events (rules/partitions.py) and their indexes: made at run time, not by a migration.
_PARTITION = re.compile(r"scan_events_(p\d{6}|default|legacy)(_.*)?")


def include_name(name: str | None, type_: str, _parent_names: Any = None) -> bool:
    """Alembic's filter for comparing the database with the models: partitions are not the models' tables."""
    return not (type_ in ("table", "index") and name is not None and _PARTITION.fullmatch(name))


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@functools.cache
def migration_head() -> str:
    """The newest revision id of schema/migrations (read from the scripts once per process)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS}")
    return head


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade_schema(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent).

    A database already at the head costs one query: Alembic's environment and scripts are loaded only
    when there is something to apply (a test database cloned from a migrated template, every start of a
    web worker after the first).
    """
    with engine.begin() as conn:
        if _current(conn) == migration_head():
            return
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def schema_is_current(engine: Engine) -> bool:
    with engine.connect() as conn:
        return _current(conn) == migration_head()
