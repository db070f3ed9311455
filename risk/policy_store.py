"""A brand's risk policy overrides in SQL (risk_policies) and their published copy in Redis, which the scanner's
PolicyCache reads: HSET risk.keys.POLICIES_KEY <brand id> <the full policy as JSON>, then INCR the version.

Only the overrides are stored (a field a brand never set follows the defaults as they change); the published
document is the whole policy, so the hot path never merges anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import record_change
from risk import keys
from risk.errors import InvalidRisk
from risk.models import RiskPolicyRow
from risk.policy import ACTIONS, RiskPolicy

MAX_INT = 10_000_000  # no threshold needs more; keeps SQL and Lua integers far from overflow


@dataclass(frozen=True)
class PolicyView:
    brand_id: int
    overrides: dict[str, Any]  # what the brand set
    policy: RiskPolicy  # the overrides on top of the defaults: what the scanner applies
    updated_by: str
    updated_at: datetime | None


def _minimal_from_doc(doc: dict[str, Any]) -> RiskPolicy:
    """Names and types only: stands in while RiskPolicy.from_doc is not on this branch (it does ranges too)."""
    defaults = RiskPolicy()
    known = {f.name: f for f in fields(RiskPolicy)}
    for name, value in doc.items():
        if name not in known:
            raise InvalidRisk(f"unknown policy field {name!r}", name)
        default = getattr(defaults, name)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise InvalidRisk(f"{name} must be true or false", name)
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
                raise InvalidRisk(f"{name} must be a whole number from 0 to {MAX_INT}", name)
        elif value not in ACTIONS:
            raise InvalidRisk(f"{name} must be one of {', '.join(ACTIONS)}", name)
    return RiskPolicy(**doc)


def validate_policy(doc: Any) -> RiskPolicy:
    """The policy a brand's overrides make, or InvalidRisk naming the first bad field."""
    if not isinstance(doc, dict):
        raise InvalidRisk("the policy must be a JSON object of field → value")
    try:
        return RiskPolicy.from_doc(doc)
    except NotImplementedError:
        return _minimal_from_doc(doc)


def get_policy(session: Session, brand_id: int) -> PolicyView:
    row = session.get(RiskPolicyRow, brand_id)
    if row is None:
        return PolicyView(brand_id, {}, RiskPolicy(), "", None)
    overrides = dict(row.doc or {})
    try:
        policy = validate_policy(overrides)
    except InvalidRisk:  # stored before a field was renamed or a range tightened: the defaults stand in
        policy = RiskPolicy()
    return PolicyView(brand_id, overrides, policy, row.updated_by, row.updated_at)


def _publish_one(redis: Any, brand_id: int, policy: RiskPolicy) -> None:
    redis.hset(keys.POLICIES_KEY, str(brand_id), json.dumps(policy.to_doc(), sort_keys=True))
    redis.incr(keys.POLICIES_VERSION_KEY)  # {risk} tag: one slot with the hash


def save_policy(session: Session, redis: Any, brand_id: int, doc: Any, actor: str,
                now: datetime | None = None) -> PolicyView:
    """Replace the brand's overrides with `doc` (an empty object: the defaults), audited, and publish the
    policy they make. InvalidRisk (nothing stored) when a field is wrong."""
    policy = validate_policy(doc)
    now = now or datetime.now(UTC)
    overrides = {name: doc[name] for name in RiskPolicy.field_names() if name in doc}
    row = session.get(RiskPolicyRow, brand_id, with_for_update=True)
    before = dict(row.doc) if row is not None else None
    if row is None:
        row = RiskPolicyRow(brand_id=brand_id)
        session.add(row)
    row.doc, row.updated_by, row.updated_at = overrides, actor[:200], now
    session.flush()
    record_change(session, actor, "risk.policy", f"risk_policy:{brand_id}", brand_id=brand_id, before=before,
                  after=overrides)
    _publish_one(redis, brand_id, policy)
    return PolicyView(brand_id, overrides, policy, row.updated_by, now)


def publish_policies(session: Session, redis: Any) -> int:
    """Write every brand's policy to Redis again (the worker at start) and drop brands no longer stored;
    how many were written."""
    published: dict[str, str] = {}
    for row in session.scalars(select(RiskPolicyRow)):
        try:
            policy = validate_policy(dict(row.doc or {}))
        except InvalidRisk:
            policy = RiskPolicy()
        published[str(row.brand_id)] = json.dumps(policy.to_doc(), sort_keys=True)
    stale = [f for f in (_text(f) for f in redis.hkeys(keys.POLICIES_KEY)) if f not in published]
    pipe = redis.pipeline(transaction=True)
    if stale:
        pipe.hdel(keys.POLICIES_KEY, *stale)
    if published:
        pipe.hset(keys.POLICIES_KEY, mapping=published)
    pipe.incr(keys.POLICIES_VERSION_KEY)
    pipe.execute()
    return len(published)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
