"""Publishing rules: compile the live campaigns into a new version, or bring an older one back.

The scan path loads one snapshot holding every brand's live campaigns, but brands are tenants: a publish
by brand A compiles A's active campaigns now and keeps every other brand's campaigns exactly as they are
in the live version, so A never puts B's activated-but-unpublished work live. A rollback by A to version N
writes a new version: A's campaigns as N had them, the others as live now, so A never undoes B's publish.
A platform-wide publish (no brand) compiles every brand's active campaigns; a platform-wide rollback
points at the old version itself.

SQL keeps every version (`rules_versions`); Redis holds the snapshots the app processes load. A campaign
that no longer validates stops the publish with its problems listed: nothing half-published. A version
is only made current if the version it was built on is still current (checked under WATCH), so two
publishes at once never lose one another: the later one gets PublishConflict and can simply retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from rules.awards import register_award_streams, repair_counters
from rules.campaign import CompiledCampaign, InvalidCampaign, Problem
from rules.campaign_store import CampaignConflict, compile_row
from rules.coupons import refill_missing_pools
from rules.diff import LIVE, CampaignRecord, RulesDiff, rules_diff, sql_records, version_records
from rules.errors import Kind, RulesError
from rules.models import Campaign, RulesVersion
from rules.region import RegionIndex
from rules.snapshot import CURRENT, PointerMoved, dump_campaign, load_campaign, write_snapshot

NOTE_MAX = 200


class UnknownVersion(RulesError):
    """No such rules version (or none of this brand)."""

    code = "not_found"
    kind = Kind.NOT_FOUND


class PublishConflict(CampaignConflict):
    """Another publish or rollback went live while this one was being built: try again."""


@dataclass(frozen=True)
class Publication:
    version: RulesVersion
    diff: RulesDiff  # what it changed against the version that was live


def current_version(redis: Any) -> int:
    raw = redis.get(CURRENT)
    return int(raw) if raw else 0


@dataclass(frozen=True)
class _Live:
    pointer: int  # what {rules}:current said (0: nothing), checked again when the new version goes live
    row: RulesVersion | None

    @property
    def number(self) -> int:
        return self.row.version if self.row else 0


def _live(session: Session, redis: Any) -> _Live:
    current = current_version(redis)
    if current:
        row = session.get(RulesVersion, current)
        if row is None:
            raise PublishConflict(f"rules version {current} is live but not yet in SQL: another publish is "
                                  "finishing; try again")
        return _Live(current, row)
    # Redis lost the pointer (or nothing was ever published): the newest version in SQL is the live one.
    return _Live(0, session.scalar(select(RulesVersion).order_by(RulesVersion.version.desc()).limit(1)))


def live_version(session: Session, redis: Any) -> RulesVersion | None:
    """The version the scan path is using. Redis names it; when Redis lost the pointer, the newest in SQL."""
    return _live(session, redis).row


def _compile_active(session: Session, regions: RegionIndex, brand_id: int | None) -> list[CompiledCampaign]:
    query = select(Campaign).where(Campaign.status == Campaign.ACTIVE).order_by(Campaign.id)
    if brand_id is not None:
        query = query.where(Campaign.brand_id == brand_id)
    compiled = []
    for campaign in session.scalars(query):
        try:
            compiled.append(compile_row(session, campaign, regions))
        except InvalidCampaign as exc:
            problems = [Problem(f"campaign {campaign.id}", f"{p.field}: {p.message}") for p in exc.problems]
            raise InvalidCampaign(problems) from None
    return compiled


def _others(live: RulesVersion | None,
            brand_id: int | None) -> tuple[list[CompiledCampaign], dict[int, CampaignRecord]]:
    """Every other brand's campaigns exactly as the live version has them (none for a platform publish)."""
    if live is None or brand_id is None:
        return [], {}
    compiled = [load_campaign(c) for c in live.snapshot.get("campaigns", []) if int(c["brand_id"]) != brand_id]
    records = {i: r for i, r in version_records(live, None).items() if r.brand_id != brand_id}
    return compiled, records


def _pending(session: Session, brand_id: int | None) -> tuple[dict[int, CampaignRecord], dict[int, str]]:
    """(the brand's campaigns a publish now would put live, every campaign's status now)."""
    rows = sql_records(session, brand_id)
    return {r.id: r for r in rows if r.status == LIVE}, {r.id: r.status for r in rows}


def pending_diff(session: Session, redis: Any, brand_id: int | None) -> RulesDiff:
    """What publishing the brand (None: every brand) now would change against the live version."""
    live = live_version(session, redis)
    next_live, statuses = _pending(session, brand_id)
    return rules_diff(live.version if live else 0, version_records(live, brand_id), next_live, statuses)


def _make_current(session: Session, redis: Any, *, base: _Live, brand_id: int | None,
                  compiled: list[CompiledCampaign], prepare: list[int], records: dict[int, CampaignRecord],
                  note: str, actor: str) -> RulesVersion:
    """Record a new version in SQL (flushed, not committed) and make it the live one in Redis."""
    compiled = sorted(compiled, key=lambda c: c.id)
    number = (session.scalar(select(func.max(RulesVersion.version))) or 0) + 1
    document = {"version": number, "campaigns": [dump_campaign(c) for c in compiled]}
    row = RulesVersion(version=number, campaign_count=len(compiled), snapshot=document, note=note[:NOTE_MAX],
                       brand_id=brand_id, actor=actor[:300],
                       definitions={str(i): r.as_json() for i, r in sorted(records.items())})
    session.add(row)
    session.flush()  # a concurrent publish with the same number fails here, before Redis changes
    ids = [c.id for c in compiled]
    # Counters and coupon pools of the campaigns this publish brings (before any process can draw); the
    # other brands' are unchanged from the live version, whose publish prepared them (and the worker
    # keeps repairing every published campaign's counters).
    repair_counters(session, redis, prepare)
    for cid in prepare:
        refill_missing_pools(session, redis, cid)
    try:
        write_snapshot(redis, number, document, expect_current=base.pointer)
    except PointerMoved as exc:
        raise PublishConflict(f"{exc}; look at the new diff and publish again") from None
    register_award_streams(redis, ids)
    return row


def publish_rules(session: Session, redis: Any, regions: RegionIndex, note: str = "", *,
                  brand_id: int | None = None, actor: str = "") -> Publication:
    """Publish the brand's active campaigns (None: every brand's), the other brands' as they are live."""
    base = _live(session, redis)
    mine = _compile_active(session, regions, brand_id)
    next_mine, statuses = _pending(session, brand_id)
    diff = rules_diff(base.number, version_records(base.row, brand_id), next_mine, statuses)
    others, other_records = _others(base.row, brand_id)
    row = _make_current(session, redis, base=base, brand_id=brand_id, compiled=mine + others,
                        prepare=[c.id for c in mine], records={**other_records, **next_mine}, note=note,
                        actor=actor)
    return Publication(row, diff)


def brand_version(session: Session, version: int, brand_id: int | None) -> RulesVersion:
    """A version the brand may see: its own publishes and the platform-wide ones (None: any version)."""
    row = session.get(RulesVersion, version)
    if row is None or (brand_id is not None and row.brand_id not in (None, brand_id)):
        raise UnknownVersion(f"no rules version {version}")
    return row


def _brought_back(session: Session, target: RulesVersion, base: _Live,
                  brand_id: int) -> tuple[dict[int, CampaignRecord], RulesDiff]:
    """The brand's campaigns a rollback to `target` puts live (not those ended or deleted since), and the diff."""
    statuses = {r.id: r.status for r in sql_records(session, brand_id)}
    back = {i: r for i, r in version_records(target, brand_id).items()
            if statuses.get(i) not in (None, Campaign.ENDED)}
    return back, rules_diff(base.number, version_records(base.row, brand_id), back, statuses)


def rollback_preview(session: Session, redis: Any, version: int, brand_id: int | None) -> RulesDiff:
    """What `rollback_rules` would change, changing nothing (for a confirmation step)."""
    target = brand_version(session, version, brand_id)
    base = _live(session, redis)
    if brand_id is None:
        return rules_diff(base.number, version_records(base.row, None), version_records(target, None))
    return _brought_back(session, target, base, brand_id)[1]


def rollback_rules(session: Session, redis: Any, version: int, *, brand_id: int | None = None, note: str = "",
                   actor: str = "") -> Publication:
    """Bring back version `version`: for a brand, its campaigns as they were there (as a new version, the
    other brands as live now); for the platform (brand None), the old version itself becomes current.

    A brand's campaign that has ended or been deleted since stays out: ended is final.
    """
    target = brand_version(session, version, brand_id)
    base = _live(session, redis)
    if brand_id is None:
        diff = rules_diff(base.number, version_records(base.row, None), version_records(target, None))
        try:
            write_snapshot(redis, target.version, target.snapshot, expect_current=base.pointer)
        except PointerMoved as exc:
            raise PublishConflict(str(exc)) from None
        return Publication(target, diff)
    back, diff = _brought_back(session, target, base, brand_id)
    mine = [load_campaign(c) for c in target.snapshot.get("campaigns", []) if int(c["id"]) in back]
    others, other_records = _others(base.row, brand_id)
    text = f"rollback to {version}" + (f": {note}" if note else "")
    row = _make_current(session, redis, base=base, brand_id=brand_id, compiled=mine + others,
                        prepare=[c.id for c in mine], records={**other_records, **back}, note=text, actor=actor)
    return Publication(row, diff)


def list_versions(session: Session, limit: int = 50, *, brand_id: int | None = None) -> list[RulesVersion]:
    """Newest first: the brand's own publishes and the platform-wide ones (brand None: every version)."""
    query = select(RulesVersion)
    if brand_id is not None:
        query = query.where(or_(RulesVersion.brand_id == brand_id, RulesVersion.brand_id.is_(None)))
    return list(session.scalars(query.order_by(RulesVersion.version.desc()).limit(limit)))


def brand_campaign_count(row: RulesVersion, brand_id: int | None) -> int:
    """How many of the brand's campaigns (None: all) the version puts live."""
    if brand_id is None:
        return row.campaign_count
    return sum(1 for c in row.snapshot.get("campaigns", []) if int(c["brand_id"]) == brand_id)
