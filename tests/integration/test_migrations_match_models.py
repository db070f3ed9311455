"""The migrations build exactly the schema the models describe: a model change without its migration fails."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import accounts.models  # noqa: F401  (registers the tables)
import codegen.models  # noqa: F401
import rules.models  # noqa: F401
from codegen.db import Base, make_engine
from schema import upgrade_schema
from schema.migrate import include_name


def test_the_migrated_schema_equals_the_models(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        upgrade_schema(engine)
        with engine.connect() as conn:
            # The partitions of scan_events are made at run time: not the models' tables.
            opts = {"compare_type": False, "include_name": include_name}
            diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
