"""Alembic environment. Runs on the connection `schema.upgrade_schema` hands it, or on the URL in
alembic.ini (`-x url=…` overrides) when run as `alembic` by a developer."""

from alembic import context
from sqlalchemy import engine_from_config, pool

import accounts.models  # noqa: F401
import channel.models  # noqa: F401
import codegen.models  # noqa: F401  (registers the tables)
import payouts.models  # noqa: F401
import reports.models  # noqa: F401
import risk.models  # noqa: F401
import rules.models  # noqa: F401
from codegen.db import Base
from schema.migrate import include_name

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          include_name=include_name)
        with context.begin_transaction():
            context.run_migrations()
        return
    section = config.get_section(config.config_ini_section, {})
    url = context.get_x_argument(as_dictionary=True).get("url")
    if url:
        section["sqlalchemy.url"] = url
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True,
                          include_name=include_name)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
