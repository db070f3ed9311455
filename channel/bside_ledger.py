"""B-side awards into what the brand owes: the store ledger (cash) and the points ledger (points).

A B-side draw's award reaches the SQL `awards` ledger like any other (rules/awards.py, under its guard:
one valid award per code and campaign, within the budget). `credit_bside_awards` then turns each valid
award of a B-side campaign into what it is worth to the store, once:

- cash: one StoreLedgerLine, kind by the campaign's audience (open_case, open_bottle, sell_through),
  `source` = the award's id (unique), `rebate_fen` = the award's amount, `at` = when it was drawn. The
  brand pays it with the store's statement (settlement), not as a red packet.
- points stay points: one credit to the member points ledger (payouts/points.py) of the store
  ("store:<id>") or the waiter ("waiter:<user id>"), keyed by the award id. The store ledger holds money only.

A waiter's award is the store's line with the waiter as `staff_user_id`: the store is the one where the cap
was opened (its BsideScan row). The worker runs this in its periodic step (app/worker.py); it is safe to run
at any time, in several workers at once (the unique keys decide), and a failed pass is simply run again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from channel.models import BsideScan, StoreLedgerLine
from payouts.models import PointsEntry
from payouts.points import credit_points
from payouts.sql_insert import insert_once
from rules.campaign_fields import STORE_OPEN_CASE, STORE_SELL_THROUGH, WAITER_OPEN_BOTTLE
from rules.models import Award, Campaign

log = logging.getLogger(__name__)

LEDGER_KIND = {STORE_OPEN_CASE: StoreLedgerLine.OPEN_CASE, WAITER_OPEN_BOTTLE: StoreLedgerLine.OPEN_BOTTLE,
               STORE_SELL_THROUGH: StoreLedgerLine.SELL_THROUGH}


@dataclass(frozen=True)
class Credited:
    lines: int  # store ledger lines written (cash)
    points: int  # points credits written
    skipped: int  # awards that name no store (logged; looked at again next pass)


def bside_campaigns(session: Session, brand_id: int | None = None) -> dict[int, tuple[int, str]]:
    """Campaign id → (brand id, audience) of every B-side campaign (any status: an ended one's awards still
    count), read from the stored definitions."""
    query = select(Campaign.id, Campaign.brand_id, Campaign.definition)
    if brand_id is not None:
        query = query.where(Campaign.brand_id == brand_id)
    found = {}
    for campaign_id, brand, doc in session.execute(query):
        members = doc.get("members") if isinstance(doc, dict) else None
        audience = members.get("audience") if isinstance(members, dict) else None
        if audience in LEDGER_KIND:
            found[campaign_id] = (brand, str(audience))
    return found


def credit_bside_awards(session: Session, brand_id: int | None = None, *, limit: int = 1000) -> Credited:
    """Credit every valid B-side award not credited yet (at most `limit` per pass); see the module's doc."""
    campaigns = bside_campaigns(session, brand_id)
    if not campaigns:
        return Credited(0, 0, 0)
    uncredited = select(Award).where(
        Award.campaign_id.in_(campaigns), Award.status == Award.VALID,
        ~exists().where(StoreLedgerLine.source == Award.id), ~exists().where(PointsEntry.award_id == Award.id),
        (Award.amount_fen > 0) | (Award.points != 0),
    ).order_by(Award.awarded_at).limit(limit)
    lines = points = skipped = 0
    for award in session.scalars(uncredited):
        brand, audience = campaigns[award.campaign_id]
        if award.points and not award.amount_fen:
            points += credit_points(session, brand_id=brand, member=award.member, delta=award.points,
                                    award_id=award.id, reason=f"{LEDGER_KIND[audience]} {award.id}",
                                    now=award.awarded_at)
            continue
        place = _store_and_staff(session, award)
        if place is None:
            skipped += 1
            log.warning("B-side award %s (member %r) names no store: not credited", award.id, award.member)
            continue
        store_id, staff = place
        lines += insert_once(session, StoreLedgerLine, {
            "brand_id": brand, "store_id": store_id, "staff_user_id": staff, "kind": LEDGER_KIND[audience],
            "source": award.id, "face_fen": 0, "rebate_fen": award.amount_fen, "at": award.awarded_at})
    return Credited(lines, points, skipped)


def _store_and_staff(session: Session, award: Award) -> tuple[int, int | None] | None:
    """(store id, staff user id) of a B-side award: the store it names, or the waiter's store where the cap
    was opened; the staff who opened the case or the cap, when there is one."""
    who, _, ident = award.member.partition(":")
    if not ident.isdigit():
        return None
    opened = session.scalars(select(BsideScan).where(
        BsideScan.batch_id == award.batch_id, BsideScan.role == award.role, BsideScan.serial == award.serial)).first()
    if who == "store":
        staff = opened.user_id if opened is not None and opened.store_id == int(ident) else None
        return int(ident), staff
    if who == "waiter" and opened is not None and opened.user_id == int(ident):
        return opened.store_id, opened.user_id
    return None
