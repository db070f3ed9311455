"""Campaigns in SQL: validated against the catalogue, created once per idempotency key, edited only from
the version the editor read, cloned, moved through their statuses.

`validate_campaign` is the one validator the API and the web editor share: it lists every problem of a
definition at once — structure, meaning and catalogue references (brand, SKUs, batches, serials, regions)
— each at its field's path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from codegen.db import utcnow
from codegen.models import Batch, Brand, Product
from rules.campaign import (
    CompiledCampaign,
    Definition,
    InvalidCampaign,
    Problem,
    compile_campaign,
    in_document_order,
    read_definition,
)
from rules.errors import Kind, RulesError
from rules.idempotency import claim_key, record, request_hash
from rules.models import Campaign
from rules.region import RegionIndex

LIVE = (Campaign.ACTIVE, Campaign.PAUSED)


class CampaignNotFound(RulesError):
    """No such campaign, or not one the caller may see (both read the same)."""

    code = "not_found"
    kind = Kind.NOT_FOUND


class CampaignConflict(RulesError):
    """The request is valid but not now (e.g. deleting a live campaign)."""

    code = "conflict"
    kind = Kind.CONFLICT


class EditConflict(CampaignConflict):
    """The campaign changed since the editor read it: saving would overwrite someone else's edit."""

    code = "edit_conflict"

    def __init__(self, campaign_id: int, current: int, sent: int) -> None:
        super().__init__(f"campaign {campaign_id} was changed meanwhile: it is at edit_version {current}, "
                         f"the edit was made on {sent}; reload it and make the change again")
        self.current = current

    def details(self) -> dict[str, Any]:
        return {"current_edit_version": self.current}


@dataclass(frozen=True)
class ValidCampaign:
    definition: Definition
    brand_id: int
    product_ids: frozenset[int] | None  # None: any product of the brand

    def compile(self, campaign_id: int, version: int) -> CompiledCampaign:
        return compile_campaign(campaign_id, version, self.definition, brand_id=self.brand_id,
                                product_ids=self.product_ids)


@dataclass(frozen=True)
class Created:
    campaign: Campaign
    replayed: bool  # an earlier request under the same idempotency key created it


def _region_known(regions: RegionIndex, prefix: str) -> bool:
    return regions.lookup(prefix.ljust(6, "0")) is not None


def catalogue_problems(
    session: Session, d: Definition, regions: RegionIndex, brand_ids: frozenset[int] | None = None,
) -> tuple[int | None, frozenset[int] | None, list[Problem]]:
    """Check a definition's references: (brand id, product ids, problems). Works on a partly broken
    Definition from `read_definition`: what could not be read is None there and is not looked up.

    SKUs and batches are looked up within the named brand only, so an unknown brand knows none of them
    (and no caller learns what another brand has). `brand_ids`: the brands the caller may use (None: all);
    any other brand reads exactly as an unknown one.
    """
    problems: list[Problem] = []
    brand = session.scalar(select(Brand).where(Brand.slug == d.brand)) if d.brand else None
    brand = brand if brand is None or brand_ids is None or brand.id in brand_ids else None
    if d.brand and brand is None:
        problems.append(Problem("brand", f"unknown brand {d.brand!r}"))
    brand_id = brand.id if brand else None
    product_ids: frozenset[int] | None = None
    if d.products:
        found: dict[str, int] = {sku: pid for sku, pid in session.execute(
            select(Product.sku, Product.id).where(Product.brand_id == brand_id, Product.sku.in_(d.products)))
        } if brand_id else {}
        problems += [Problem("scope.products", f"unknown SKU {sku!r} for brand {d.brand!r}")
                     for sku in d.products if sku not in found]
        product_ids = frozenset(found.values())
    if d.batches:
        batches = {b.id: b for b in session.scalars(
            select(Batch).join(Product).where(Product.brand_id == brand_id, Batch.id.in_(d.batches)))} if brand_id \
            else {}
        for batch_id in d.batches:
            batch = batches.get(batch_id)
            if batch is None:
                problems.append(Problem("scope.batches", f"unknown batch {batch_id} for brand {d.brand!r}"))
            elif product_ids is not None and batch.product_id not in product_ids:
                problems.append(Problem("scope.batches", f"batch {batch_id} is not of the scoped products"))
        if d.serials and batches:
            if d.roles == ("case",):  # a case campaign's serials are case serials
                largest = max(-(-b.quantity // b.pack_size) if b.pack_size else 0 for b in batches.values())
                what = "cases"
            else:
                largest, what = max(b.quantity for b in batches.values()), "items"
            if all(first >= largest for first, _ in d.serials):
                problems.append(Problem("scope.serials", f"no serial range falls inside the batches "
                                                         f"(largest has {largest} {what})"))
    for key, prefixes in (("include", d.region_include), ("exclude", d.region_exclude)):
        problems += [Problem(f"regions.{key}", f"unknown region {prefix!r}")
                     for prefix in prefixes if not _region_known(regions, prefix)]
    return brand_id, product_ids, problems


def _check(session: Session, doc: Any, regions: RegionIndex,
           brand_ids: frozenset[int] | None = None) -> tuple[ValidCampaign | None, list[Problem]]:
    definition, problems = read_definition(doc)
    if definition is None:
        return None, problems
    brand_id, product_ids, unknown = catalogue_problems(session, definition, regions, brand_ids)
    problems = in_document_order([*problems, *unknown])
    if problems or brand_id is None:
        return None, problems
    return ValidCampaign(definition, brand_id, product_ids), []


def validate_campaign(session: Session, doc: Any, regions: RegionIndex,
                      brand_ids: frozenset[int] | None = None) -> ValidCampaign:
    """Check a definition, structure and catalogue; raise InvalidCampaign listing every problem, in
    document order, each at its field's path (`prizes[2].weight`, `window.start`, `regions.include`).
    `brand_ids`: the brands the caller may use (None: all); another brand reads as an unknown one."""
    valid, problems = _check(session, doc, regions, brand_ids)
    if valid is None:
        raise InvalidCampaign(problems)
    return valid


def resolve(session: Session, d: Definition, regions: RegionIndex) -> tuple[int, frozenset[int] | None]:
    """A parsed definition's (brand id, product ids); raise InvalidCampaign on an unknown reference."""
    brand_id, product_ids, problems = catalogue_problems(session, d, regions)
    if problems or brand_id is None:
        raise InvalidCampaign(problems)
    return brand_id, product_ids


def _scopes_overlap(a: CompiledCampaign, b: CompiledCampaign) -> bool:
    if a.brand_id != b.brand_id or a.ends_at <= b.starts_at or b.ends_at <= a.starts_at:
        return False
    if a.bside != b.bside:  # a consumer's scan and each B-side scan draw apart (rules/matcher.py)
        return False
    if not (a.roles & b.roles):
        return False
    if a.batch_ids is not None and b.batch_ids is not None and not (a.batch_ids & b.batch_ids):
        return False
    return not (a.product_ids is not None and b.product_ids is not None and not (a.product_ids & b.product_ids))


def compile_row(session: Session, row: Campaign, regions: RegionIndex) -> CompiledCampaign:
    return validate_campaign(session, row.definition, regions).compile(row.id, row.edit_version)


def _exclusive_problems(session: Session, compiled: CompiledCampaign, regions: RegionIndex) -> list[Problem]:
    """An exclusive campaign may not overlap another live (active or paused) exclusive one in brand, time
    and scope. Drafts are not compared: a clone, or next month's variant, may overlap until it goes live."""
    if not compiled.exclusive:
        return []
    others = session.scalars(
        select(Campaign).where(Campaign.brand_id == compiled.brand_id, Campaign.id != compiled.id,
                               Campaign.status.in_(LIVE))
    )
    for other in others:
        try:
            theirs = compile_row(session, other, regions)
        except InvalidCampaign:
            continue
        if theirs.exclusive and _scopes_overlap(compiled, theirs):
            return [Problem("exclusive", f"overlaps exclusive campaign {other.id} ({other.name!r}) in scope and time")]
    return []


def _insert(session: Session, valid: ValidCampaign) -> Campaign:
    d = valid.definition
    row = Campaign(brand_id=valid.brand_id, name=d.name, status=Campaign.DRAFT, definition=d.doc, edit_version=1)
    session.add(row)
    session.flush()
    return row


def _create_once(session: Session, action: str, doc: Any, regions: RegionIndex, key: str | None,
                 owner: str, brand_ids: frozenset[int] | None) -> Created:
    if key is None:
        return Created(_insert(session, validate_campaign(session, doc, regions, brand_ids)), replayed=False)
    claim = claim_key(session, owner, key, request_hash(action, doc))
    if claim.earlier_result is not None:
        row = session.get(Campaign, claim.earlier_result)
        if row is None:
            raise CampaignConflict(f"campaign {claim.earlier_result}, created under Idempotency-Key {key!r}, "
                                   f"has been deleted")
        return Created(row, replayed=True)
    row = _insert(session, validate_campaign(session, doc, regions, brand_ids))
    record(session, claim, row.id)
    return Created(row, replayed=False)


def create_campaign(session: Session, doc: Any, regions: RegionIndex, *, idempotency_key: str | None = None,
                    owner: str = "", brand_ids: frozenset[int] | None = None) -> Created:
    """Create a draft; raise InvalidCampaign with every problem.

    With `idempotency_key`, a repeat of the same definition under the same key (and `owner`: who sends
    it) within 24 h returns the campaign the first request created (`replayed`), and a different
    definition under that key raises IdempotencyKeyReused. `brand_ids`: the brands the caller may
    operate (None: all); a definition naming another brand is refused as naming an unknown one.
    """
    return _create_once(session, "create", doc, regions, idempotency_key, owner, brand_ids)


def clone_campaign(session: Session, campaign_id: int, regions: RegionIndex, *, name: str | None = None,
                   idempotency_key: str | None = None, owner: str = "",
                   brand_ids: frozenset[int] | None = None) -> Created:
    """A new draft with the definition of campaign `campaign_id` (any status), named `name` (default: the
    source's name with " (副本)"). Validated like any create: a source the catalogue no longer backs
    raises InvalidCampaign with its problems."""
    source = get_campaign(session, campaign_id)
    doc = dict(source.definition)
    doc["name"] = name if name is not None else f"{source.name[:195]} (副本)"
    return _create_once(session, f"clone {campaign_id}", doc, regions, idempotency_key, owner, brand_ids)


def update_campaign(session: Session, campaign_id: int, doc: Any, regions: RegionIndex, *,
                    edit_version: int, brand_ids: frozenset[int] | None = None) -> Campaign:
    """Replace a campaign's definition, if it is still at `edit_version` (the version the editor read);
    raise EditConflict when someone changed it meanwhile, InvalidCampaign with every problem."""
    row = get_campaign(session, campaign_id)
    if row.status == Campaign.ENDED:
        raise CampaignConflict(f"campaign {campaign_id} has ended and can no longer change")
    if row.edit_version != edit_version:
        raise EditConflict(campaign_id, row.edit_version, edit_version)
    valid, problems = _check(session, doc, regions, brand_ids)
    if valid is not None and row.status in LIVE:
        problems = _exclusive_problems(session, valid.compile(campaign_id, edit_version + 1), regions)
    if valid is None or problems:
        raise InvalidCampaign(problems)
    # Compare-and-set: of two edits made on the same version, the second finds the version moved on
    # (PostgreSQL re-reads the row after the first commits; SQLite serialises the writes).
    changed = session.execute(
        update(Campaign).where(Campaign.id == campaign_id, Campaign.edit_version == edit_version)
        .values(brand_id=valid.brand_id, name=valid.definition.name, definition=valid.definition.doc,
                edit_version=edit_version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        session.expire(row)
        raise EditConflict(campaign_id, get_campaign(session, campaign_id).edit_version, edit_version)
    session.refresh(row)
    return row


def save_campaign(session: Session, doc: Any, regions: RegionIndex, campaign_id: int | None = None, *,
                  edit_version: int | None = None) -> Campaign:
    """Create a draft (campaign_id None) or edit one from the `edit_version` the editor read."""
    if campaign_id is None:
        return create_campaign(session, doc, regions).campaign
    if edit_version is None:
        raise TypeError("an edit needs the edit_version it was made on (a blind write could overwrite another edit)")
    return update_campaign(session, campaign_id, doc, regions, edit_version=edit_version)


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
        problems = _exclusive_problems(session, compiled, regions)
        if problems:
            raise InvalidCampaign(problems)
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
