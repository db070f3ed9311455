"""Migrated databases for tests, made once per pytest session and copied per test.

Migrating a database runs every Alembic script; a test needs only the result. So the first test that
asks for a PostgreSQL database builds a template database at the migration head, and each test gets a
clone of it (CREATE DATABASE … TEMPLATE …: a file copy on the server); SQLite tests get a copy of a
migrated file. `upgrade_schema` on a clone finds it at the head and does nothing.

The template's name holds the head revision and this process's id: two pytest runs at once (several
developers, one server) never clone or drop each other's template, and a template left behind by a
killed run is dropped by the next run on this machine once its process is gone.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from codegen.db import make_engine
from schema import migration_head, upgrade_schema

TEMPLATE_PREFIX = "yima_tpl_"


def _quote(name: str) -> str:
    assert re.fullmatch(r"[a-z0-9_]+", name), name
    return f'"{name}"'


class TestDatabases:
    """The session's templates; `close()` drops them."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._pg_template: str | None = None
        self._sqlite_dir: Path | None = None
        self._sqlite_template: Path | None = None
        self._admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    def url_of(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    # --- PostgreSQL -----------------------------------------------------------------------------------

    def create_empty(self) -> str:
        name = f"yima_test_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {_quote(name)}"))
        return name

    def create_migrated(self) -> str:
        """A new database at the migration head, cloned from the session's template."""
        template = self._pg_template or self._build_pg_template()
        name = f"yima_test_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {_quote(name)} TEMPLATE {_quote(template)}"))
        return name

    def drop(self, name: str) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)"))

    def _build_pg_template(self) -> str:
        self._drop_orphaned_templates()
        name = f"{TEMPLATE_PREFIX}{migration_head()}_{os.getpid()}".lower()
        self.drop(name)
        with self._admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {_quote(name)}"))
        engine = make_engine(self.url_of(name))
        try:
            upgrade_schema(engine)
        finally:
            engine.dispose()  # a template must have no connection left when it is cloned
        self._pg_template = name
        return name

    def _drop_orphaned_templates(self) -> None:
        with self._admin.connect() as conn:
            names = conn.scalars(text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                                 {"p": TEMPLATE_PREFIX + "%"}).all()
        for name in names:
            pid = int(name.rsplit("_", 1)[-1]) if name.rsplit("_", 1)[-1].isdigit() else 0
            if pid and not _alive(pid):
                self.drop(name)

    # --- SQLite ---------------------------------------------------------------------------------------

    def copy_migrated_sqlite(self, path: Path) -> None:
        """Put a SQLite database at the migration head at `path` (a copy of the session's migrated file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._sqlite_template or self._build_sqlite_template(), path)

    def _build_sqlite_template(self) -> Path:
        self._sqlite_dir = Path(tempfile.mkdtemp(prefix="yima-sqlite-template-"))
        path = self._sqlite_dir / "template.db"
        engine = make_engine(f"sqlite:///{path}")
        try:
            upgrade_schema(engine)
            with engine.connect() as conn:  # everything into the main file: the copy is then complete
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
        finally:
            engine.dispose()
        self._sqlite_template = path
        return path

    def close(self) -> None:
        if self._pg_template:
            self.drop(self._pg_template)
            self._pg_template = None
        if self._sqlite_dir:
            shutil.rmtree(self._sqlite_dir, ignore_errors=True)
        self._admin.dispose()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
