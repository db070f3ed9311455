"""Campaigns in SQL: create, edit, change status, all through validation against the catalogue."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from codegen.models import Batch, Brand, Product
from rules.campaign import CompiledCampaign, Definition, InvalidCampaign, Problem, compile_campaign, parse_definition
from rules.models import Campaign
from rules.region import RegionIndex


class CampaignNotFound(Exception):
    pass


class CampaignConflict(Exception):
    """The request is valid but not now (e.g. deleting a live campaign)."""


def _region_known(regions: RegionIndex, prefix: str) -> bool:
    return regions.lookup(prefix.ljust(6, "0")) is not None


def resolve(session: Session, d: Definition, regions: RegionIndex,
            brand_ids: frozenset[int] | None = None) -> tuple[int, frozenset[int] | None]:
    """Check the definition against the catalogue; return (brand id, product ids) or raise InvalidCampaign.
    `brand_ids`: the brands the caller may use (None: all); any other brand reads as unknown."""
    problems: list[Problem] = []
    brand = session.scalar(select(Brand).where(Brand.slug == d.brand))
    brand = brand if brand is None or brand_ids is None or brand.id in brand_ids else None
    if brand is None:
        raise InvalidCampaign([Problem("brand", f"unknown brand {d.brand!r}")])
    product_ids: frozenset[int] | None = None
    if d.products:
        rows = session.execute(
            select(Product.sku, Product.id).where(Product.brand_id == brand.id, Product.sku.in_(d.products))
        ).all()
        found = {sku: pid for sku, pid in rows}
        for sku in d.products:
            if sku not in found:
                problems.append(Problem("scope.products", f"unknown SKU {sku!r} for brand {d.brand!r}"))
        product_ids = frozenset(found.values())
    if d.batches:
        batches = {b.id: b for b in session.scalars(select(Batch).where(Batch.id.in_(d.batches)))}
        for batch_id in d.batches:
            batch = batches.get(batch_id)
            if batch is None or batch.product.brand_id != brand.id:
                problems.append(Problem("scope.batches", f"unknown batch {batch_id} for brand {d.brand!r}"))
            elif product_ids is not None and batch.product_id not in product_ids:
                problems.append(Problem("scope.batches", f"batch {batch_id} is not of the scoped products"))
        if d.serials and batches:
            largest = max(b.quantity for b in batches.values())
            if all(first >= largest for first, _ in d.serials):
                problems.append(Problem("scope.serials", f"no serial range falls inside the batches "
                                                         f"(largest has {largest} items)"))
    for key, prefixes in (("include", d.region_include), ("exclude", d.region_exclude)):
        for prefix in prefixes:
            if not _region_known(regions, prefix):
                problems.append(Problem(f"regions.{key}", f"unknown region {prefix!r}"))
    if problems:
        raise InvalidCampaign(problems)
    return brand.id, product_ids


def _scopes_overlap(a: CompiledCampaign, b: CompiledCampaign) -> bool:
    if a.brand_id != b.brand_id or a.ends_at <= b.starts_at or b.ends_at <= a.starts_at:
        return False
    if not (a.roles & b.roles):
        return False
    if a.batch_ids is not None and b.batch_ids is not None and not (a.batch_ids & b.batch_ids):
        return False
    return not (a.product_ids is not None and b.product_ids is not None and not (a.product_ids & b.product_ids))


def compile_row(session: Session, row: Campaign, regions: RegionIndex) -> CompiledCampaign:
    d = parse_definition(row.definition)
    brand_id, product_ids = resolve(session, d, regions)
    return compile_campaign(row.id, row.edit_version, d, brand_id=brand_id, product_ids=product_ids)


def _check_exclusive(session: Session, compiled: CompiledCampaign, regions: RegionIndex) -> None:
    if not compiled.exclusive:
        return
    others = session.scalars(
        select(Campaign).where(Campaign.brand_id == compiled.brand_id, Campaign.id != compiled.id,
                               Campaign.status.in_([Campaign.DRAFT, Campaign.ACTIVE, Campaign.PAUSED]))
    )
    for other in others:
        try:
            theirs = compile_row(session, other, regions)
        except InvalidCampaign:
            continue
        if theirs.exclusive and _scopes_overlap(compiled, theirs):
            raise InvalidCampaign([Problem("exclusive", f"overlaps exclusive campaign {other.id} "
                                                        f"({other.name!r}) in scope and time")])


def save_campaign(session: Session, doc: Any, regions: RegionIndex, campaign_id: int | None = None, *,
                  brand_ids: frozenset[int] | None = None) -> Campaign:
    """Create (campaign_id None) or replace a campaign's definition; raise InvalidCampaign with every problem.
    `brand_ids`: the brands the caller may operate (None: all); another brand reads as an unknown one."""
    d = parse_definition(doc)
    brand_id, product_ids = resolve(session, d, regions, brand_ids)
    if campaign_id is None:
        row = Campaign(brand_id=brand_id, name=d.name, status=Campaign.DRAFT, definition=d.doc, edit_version=1)
        session.add(row)
        session.flush()
    else:
        row = get_campaign(session, campaign_id)
        if row.status == Campaign.ENDED:
            raise CampaignConflict(f"campaign {campaign_id} has ended and can no longer change")
        row.brand_id, row.name, row.definition = brand_id, d.name, d.doc
        row.edit_version += 1
        session.flush()
    compiled = compile_campaign(row.id, row.edit_version, d, brand_id=brand_id, product_ids=product_ids)
    _check_exclusive(session, compiled, regions)
    return row


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    row = session.get(Campaign, campaign_id)
    if row is None:
        raise CampaignNotFound(f"no campaign {campaign_id}")
    return row


def set_status(session: Session, campaign_id: int, status: str, regions: RegionIndex) -> Campaign:
    if status not in Campaign.STATUSES:
        raise InvalidCampaign([Problem("status", f"must be one of {', '.join(Campaign.STATUSES)}")])
    row = get_campaign(session, campaign_id)
    if row.status == Campaign.ENDED and status != Campaign.ENDED:
        raise CampaignConflict(f"campaign {campaign_id} has ended")
    if status == Campaign.ACTIVE:
        compiled = compile_row(session, row, regions)  # a campaign must still be valid to go live
        _check_exclusive(session, compiled, regions)
    row.status = status
    session.flush()
    return row


def delete_campaign(session: Session, campaign_id: int) -> None:
    row = get_campaign(session, campaign_id)
    if row.status != Campaign.DRAFT:
        raise CampaignConflict(f"campaign {campaign_id} is {row.status}: only drafts can be deleted (end it instead)")
    session.delete(row)
    session.flush()


def list_campaigns(session: Session) -> list[Campaign]:
    return list(session.scalars(select(Campaign).order_by(Campaign.id)))
