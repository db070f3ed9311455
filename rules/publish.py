"""Publishing rules: compile every active campaign into a new version, or go back to an older one.

SQL keeps every version (`rules_versions`); Redis holds the snapshots the app processes load. A
campaign that no longer validates stops the publish with its problems listed: nothing half-published.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rules.awards import register_award_streams, repair_counters
from rules.campaign import InvalidCampaign, Problem
from rules.campaign_store import compile_row
from rules.coupons import refill_missing_pools
from rules.models import Campaign, RulesVersion
from rules.region import RegionIndex
from rules.snapshot import CURRENT, snapshot_document, write_snapshot


class UnknownVersion(Exception):
    pass


def publish_rules(session: Session, redis: Any, regions: RegionIndex, note: str = "") -> RulesVersion:
    active = session.scalars(select(Campaign).where(Campaign.status == Campaign.ACTIVE).order_by(Campaign.id))
    compiled = []
    for campaign in active:
        try:
            compiled.append(compile_row(session, campaign, regions))
        except InvalidCampaign as exc:
            problems = [Problem(f"campaign {campaign.id}", f"{p.field}: {p.message}") for p in exc.problems]
            raise InvalidCampaign(problems) from None
    version = (session.scalar(select(func.max(RulesVersion.version))) or 0) + 1
    document = snapshot_document(version, compiled)
    row = RulesVersion(version=version, campaign_count=len(compiled), snapshot=document, note=note[:200])
    session.add(row)
    session.flush()  # a concurrent publish with the same number fails here, before Redis changes
    repair_counters(session, redis, [c.id for c in compiled])  # before any process can draw
    for c in compiled:
        refill_missing_pools(session, redis, c.id)
    write_snapshot(redis, version, document)
    register_award_streams(redis, [c.id for c in compiled])
    return row


def rollback_rules(session: Session, redis: Any, version: int) -> RulesVersion:
    row = session.get(RulesVersion, version)
    if row is None:
        raise UnknownVersion(f"no rules version {version}")
    write_snapshot(redis, version, row.snapshot)
    return row


def current_version(redis: Any) -> int:
    raw = redis.get(CURRENT)
    return int(raw) if raw else 0


def list_versions(session: Session, limit: int = 50) -> list[RulesVersion]:
    return list(session.scalars(select(RulesVersion).order_by(RulesVersion.version.desc()).limit(limit)))
