"""The database schema of every domain: the Alembic migrations (schema/migrations) and `upgrade_schema`.

Apart from the domain packages because the migrations serve all of their tables: this package may
import every domain's models, and no domain package imports it.
"""

from schema.migrate import migration_head, schema_is_current, upgrade_schema

__all__ = ["migration_head", "schema_is_current", "upgrade_schema"]
