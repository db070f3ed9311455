"""The audit log: every change with who, when, what, and the object before and after. Append-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from accounts.models import AuditEntry

MAX_PAGE = 200


def record_change(session: Session, actor: str, action: str, target: str, *, brand_id: int | None,
                  before: Any = None, after: Any = None, note: str = "") -> AuditEntry:
    """Add one entry in the caller's transaction: the change and its record commit or roll back together."""
    entry = AuditEntry(actor=actor[:300], action=action[:40], target=target[:100], brand_id=brand_id,
                       before=before, after=after, note=note[:500])
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditFilter:
    brand_ids: frozenset[int] | None = None  # None: every brand and the platform-wide entries
    action: str = ""  # a prefix: "campaign" matches campaign.create, campaign.status, ...
    actor: str = ""  # a substring of the actor
    target: str = ""  # exact, e.g. "campaign:12"
    since: datetime | None = None
    until: datetime | None = None


def _filtered(query: Select[Any], f: AuditFilter) -> Select[Any]:
    if f.brand_ids is not None:
        query = query.where(AuditEntry.brand_id.in_(f.brand_ids))
    if f.action:
        query = query.where(AuditEntry.action.startswith(f.action, autoescape=True))
    if f.actor:
        query = query.where(AuditEntry.actor.contains(f.actor, autoescape=True))
    if f.target:
        query = query.where(AuditEntry.target == f.target)
    if f.since is not None:
        query = query.where(AuditEntry.at >= f.since)
    if f.until is not None:
        query = query.where(AuditEntry.at < f.until)
    return query


def list_changes(session: Session, f: AuditFilter, *, before_id: int | None = None,
                 limit: int = 50) -> list[AuditEntry]:
    """Newest first; page with `before_id` (the last id of the previous page)."""
    query = _filtered(select(AuditEntry), f)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(min(limit, MAX_PAGE))))


def count_changes(session: Session, f: AuditFilter) -> int:
    return session.scalar(_filtered(select(func.count(AuditEntry.id)), f)) or 0
