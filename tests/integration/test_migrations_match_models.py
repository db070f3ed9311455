"""The migrations build exactly the schema the models describe: a model change without its migration fails."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import accounts.models  # noqa: F401  (registers the tables)
import codegen.models  # noqa: F401
import rules.models  # noqa: F401
from codegen.db import Base, make_engine, upgrade_schema


def test_the_migrated_schema_equals_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade_schema(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
