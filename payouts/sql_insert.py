"""INSERT … ON CONFLICT DO NOTHING on both SQL backends: the unique keys (one claim, one payout, one
points credit per award) decide races between concurrent claims, without a failed statement aborting the
caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_once(session: Session, model: Any, values: dict[str, Any]) -> bool:
    """Insert the row unless a unique key already holds one; True when it was inserted."""
    if session.get_bind().dialect.name == "postgresql":
        statement: Any = postgresql.insert(model).values(**values).on_conflict_do_nothing()
    else:
        statement = sqlite.insert(model).values(**values).on_conflict_do_nothing()
    # RETURNING, not rowcount: an ORM-enabled insert does not report rowcount on every driver.
    key = list(model.__table__.primary_key.columns)
    return session.execute(statement.returning(*key)).first() is not None
