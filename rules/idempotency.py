"""Idempotency keys: a create sent twice (a double click, a client retry) makes one campaign.

The caller names a request with a key (the API's `Idempotency-Key` header, a web form's nonce). The first
request under a key claims it in SQL — an INSERT that does nothing when the key is already there, so two
concurrent requests meet at the unique (owner, key) index, the second waiting for the first to commit —
and records what it created in the same transaction; if the create fails, the claim rolls back with it.
A later request under the same key within `KEY_SECONDS` gets the first one's result; the same key with a
different request is refused. After that the key is free again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from codegen.db import utcnow
from rules.errors import Kind, RulesError
from rules.models import IdempotencyKey

KEY_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(RulesError):
    """The key was used for a different request (another body, or another action)."""

    code = "idempotency_key_reused"
    kind = Kind.INCONSISTENT


class IdempotencyKeyPending(RulesError):
    """The key is claimed but holds no result. A claim and its result commit together (a concurrent repeat
    waits for the first to commit), so only a key row written some other way gets here: refused, not guessed."""

    code = "conflict"
    kind = Kind.CONFLICT


@dataclass(frozen=True)
class Claim:
    """A key this request holds (`earlier_result` None: go ahead, then `record`) or found already used."""

    owner: str
    key: str
    earlier_result: int | None


def request_hash(action: str, body: Any) -> str:
    """The SHA-256 of what a request asks: the same action and JSON body give the same hash."""
    canonical = json.dumps([action, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim_key(session: Session, owner: str, key: str, digest: str, now: datetime | None = None) -> Claim:
    """Claim `key` for the request hashed `digest`, or find the result of the request that claimed it.

    Raises IdempotencyKeyReused when the key was claimed by another request within the last day.
    """
    now = now or utcnow()
    session.execute(delete(IdempotencyKey).where(
        IdempotencyKey.owner == owner, IdempotencyKey.key == key,
        IdempotencyKey.created_at < now - timedelta(seconds=KEY_SECONDS)))
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    inserted = session.execute(
        dialect.insert(IdempotencyKey)
        .values(owner=owner, key=key, request_hash=digest, campaign_id=None, created_at=now)
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.id)
    ).scalar_one_or_none()
    if inserted is not None:
        return Claim(owner, key, None)
    row = session.scalars(select(IdempotencyKey).where(IdempotencyKey.owner == owner, IdempotencyKey.key == key)).one()
    if row.request_hash != digest:
        raise IdempotencyKeyReused(f"Idempotency-Key {key!r} was used for a different request in the last 24 h: "
                                   f"send a new key for a new request")
    if row.campaign_id is None:
        raise IdempotencyKeyPending(f"Idempotency-Key {key!r} is claimed but records no campaign")
    return Claim(owner, key, row.campaign_id)


def record(session: Session, claim: Claim, campaign_id: int) -> None:
    """Store what the claiming request created (in its own transaction, so both commit or neither)."""
    row = session.scalars(select(IdempotencyKey).where(IdempotencyKey.owner == claim.owner,
                                                       IdempotencyKey.key == claim.key)).one()
    row.campaign_id = campaign_id
    session.flush()
