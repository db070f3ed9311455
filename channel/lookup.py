"""The redemption lookup (查码): what a code is and where it has been, for a distributor, a store, an inspector
or brand staff who scanned or typed it.

Genuine or not (and why not, in three words a clerk understands); the product and batch; whether the code
is on sale; its case and the channel path of that case (redacted to the caller's scope); its scans; its
prizes and what became of them. Four indexed queries (the batch with its ranges, the case's path with the
parties' names, the scans, the awards with their claims, payouts and redemptions; a code scanned more than
RECENT times, two more) and one Redis round trip, which brings the scans the drain has not stored yet; with
Redis down the answer comes from SQL alone and says so (`ScanHistory.live` is False). Every round trip
counts on a busy database host, so the queries join rather than ask twice.

A code another brand issued reads as `not_this_brand` before its signature is even checked, exactly like a
made-up code naming a batch that is not the brand's: the answer tells nothing of other brands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, aliased

from channel.codes import BatchInfo, ChannelCode, KeyFor, case_items, printed
from channel.lookup_live import ITEM_ROLES, LiveScans, read_live
from channel.models import Distributor, Shipment, ShipmentRange, Store, VoucherRedemption
from channel.scope import ChannelScope
from codegen import ranges as rng
from codegen.codeformat import CodeError, Role, extract_code, parse, verify_canonical
from codegen.models import Batch, BatchRange, Brand, Product
from payouts.models import AwardClaim, Payout
from rules.models import Award, Campaign, ScanEvent
from rules.region import RegionIndex, default_index

log = logging.getLogger(__name__)

# Why a code is not genuine, for the clerk: it is no code at all (a typo, a truncated scan, another
# system's barcode); it names a batch this brand never made (another brand's code, or a made-up one); it
# names one of the brand's batches but its signature is wrong, or its serial was never printed (forged).
MALFORMED, NOT_THIS_BRAND, FORGED = "malformed", "not_this_brand", "forged"
ON_SALE, NOT_ON_SALE, VOID = "on_sale", "not_on_sale", "void"
ON_SALE_KINDS = ("first", "repeat")  # scans of a code on sale (the others: not_on_sale, void)
RECENT = 8  # scans listed, newest first
WAREHOUSE, DISTRIBUTOR, STORE = "warehouse", "distributor", "store"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Place:
    adcode: str
    name: str  # "广东省 广州市 天河区"; "" when the adcode is unknown


@dataclass(frozen=True, slots=True)
class ScanLine:
    at: datetime
    kind: str  # first | repeat | not_on_sale | void
    place: Place | None
    source: str  # where the place came from: gps | ip | none


@dataclass(frozen=True)
class ScanHistory:
    count: int  # scans on sale, the first included: what the consumer's page says ("scanned N times")
    attempts: int  # every stored scan, also those while not on sale or void
    first_at: datetime | None
    first_place: Place | None
    last_at: datetime | None
    recent: tuple[ScanLine, ...]  # newest first, at most RECENT
    live: bool  # Redis was read: `count` and `first_at` include scans the drain has not stored yet
    pending: int  # scans Redis counted that the history (SQL) does not hold yet


@dataclass(frozen=True, slots=True)
class Party:
    kind: str  # warehouse | distributor | store
    id: int | None  # None when hidden
    name: str | None  # None when hidden: the page says "another distributor" / "another store"


@dataclass(frozen=True, slots=True)
class HopView:
    shipment_id: int | None  # None when neither end is the caller's to see
    sender: Party
    receiver: Party
    state: str  # shipped | received
    shipped_at: datetime | None
    received_at: datetime | None


@dataclass(frozen=True, slots=True)
class AwardView:
    award_id: str
    campaign_id: int
    campaign: str
    kind: str  # cash | points | coupon | voucher | physical | thanks
    prize: str
    amount_fen: int
    points: int
    valid: bool
    void_reason: str
    awarded_at: datetime
    claimed_at: datetime | None
    payout_state: str | None  # a claimed cash award's payout (payouts.providers.base.State)
    redeemed_at: datetime | None  # a voucher redeemed at a store (核销)
    redeemed_store: Party | None


@dataclass(frozen=True, slots=True)
class CaseView:
    case: int  # the case's serial in its batch
    first_item: int
    last_item: int
    items_scanned: int | None  # a case code: its items scanned by consumers (None for an item's case)


@dataclass(frozen=True, slots=True)
class BatchView:
    id: int
    lot: str
    production_date: date | None
    factory: str
    line: str
    quantity: int
    pack_size: int
    activated: int  # items on sale (activated, not void)


@dataclass(frozen=True, slots=True)
class ProductView:
    brand: str
    sku: str
    name: str
    gtin: str


@dataclass(frozen=True)
class CodeLookup:
    genuine: bool
    reason: str = ""  # when not genuine: MALFORMED, NOT_THIS_BRAND or FORGED
    code: str = ""  # the canonical text when one could be read
    role: str = ""  # inner | outer | case
    serial: int | None = None
    product: ProductView | None = None
    batch: BatchView | None = None
    sale: str = ""  # ON_SALE, NOT_ON_SALE or VOID
    void_reason: str = ""
    case: CaseView | None = None
    path: tuple[HopView, ...] = ()
    hidden_hops: int = 0  # hops the caller may not see at all (a store sees only its own receipt)
    scans: ScanHistory | None = None
    awards: tuple[AwardView, ...] = field(default_factory=tuple)


# The statements, built once (bind parameters at call time): a lookup then costs its round trips, not the
# building of its queries.
_FACTS = (
    select(Batch.id, Product.brand_id, Product.id, Product.sku, Product.name, Batch.lot, Batch.production_date,
           Batch.quantity, Batch.pack_size, Brand.name, Product.gtin, Batch.factory, Batch.line,
           BatchRange.kind, BatchRange.first_serial, BatchRange.last_serial, BatchRange.reason)
    .join(Product, Product.id == Batch.product_id).join(Brand, Brand.id == Product.brand_id)
    .outerjoin(BatchRange, BatchRange.batch_id == Batch.id)
    .where(Batch.id == bindparam("batch_id")).order_by(BatchRange.id))
_SENDER, _RECEIVER = aliased(Distributor), aliased(Distributor)
_PATH = (
    select(Shipment.id, Shipment.from_distributor_id, Shipment.to_distributor_id, Shipment.to_store_id,
           Shipment.state, Shipment.shipped_at, Shipment.received_at, _SENDER.name, _RECEIVER.name, Store.name,
           Store.distributor_id)
    .join(ShipmentRange, ShipmentRange.shipment_id == Shipment.id)
    .outerjoin(_SENDER, _SENDER.id == Shipment.from_distributor_id)
    .outerjoin(_RECEIVER, _RECEIVER.id == Shipment.to_distributor_id)
    .outerjoin(Store, Store.id == Shipment.to_store_id)
    .where(ShipmentRange.batch_id == bindparam("batch_id"), ShipmentRange.brand_id == bindparam("brand_id"),
           ShipmentRange.first_case <= bindparam("case"), ShipmentRange.last_case >= bindparam("case"),
           Shipment.brand_id == bindparam("brand_id"), Shipment.state.in_(Shipment.LIVE)))
_CODE = (ScanEvent.batch_id == bindparam("batch_id"), ScanEvent.role == bindparam("role"),
         ScanEvent.serial == bindparam("serial"))
_SCANS = (select(ScanEvent.scanned_at, ScanEvent.kind, ScanEvent.adcode, ScanEvent.region_source).where(*_CODE)
          .order_by(ScanEvent.scanned_at.desc(), ScanEvent.id.desc()).limit(RECENT + 1))
_SCAN_COUNTS = select(func.count(), func.count().filter(ScanEvent.kind.in_(ON_SALE_KINDS))).where(*_CODE)
_FIRST_SCAN = (select(ScanEvent.scanned_at, ScanEvent.adcode, ScanEvent.region_source)
               .where(*_CODE, ScanEvent.kind == "first").limit(1))
_CASE_ITEMS = select(func.count(func.distinct(ScanEvent.serial))).where(
    ScanEvent.batch_id == bindparam("batch_id"), ScanEvent.role.in_(ITEM_ROLES),
    ScanEvent.serial.between(bindparam("first"), bindparam("last")), ScanEvent.kind.in_(ON_SALE_KINDS))
_AWARDS = (
    select(Award.id, Award.campaign_id, Campaign.name, Campaign.definition, Award.prize_index, Award.kind,
           Award.amount_fen, Award.points, Award.status, Award.void_reason, Award.awarded_at,
           AwardClaim.claimed_at, Payout.state, VoucherRedemption.redeemed_at, Store.id, Store.name,
           Store.distributor_id)
    .join(Campaign, Campaign.id == Award.campaign_id)
    .outerjoin(AwardClaim, AwardClaim.award_id == Award.id)
    .outerjoin(Payout, Payout.award_id == Award.id)
    .outerjoin(VoucherRedemption, VoucherRedemption.award_id == Award.id)
    .outerjoin(Store, Store.id == VoucherRedemption.store_id)
    .where(Award.batch_id == bindparam("batch_id"), Award.serial == bindparam("serial"),
           Award.role == bindparam("role"), Campaign.brand_id == bindparam("brand_id"))
    .order_by(Award.awarded_at, Award.id))


def lookup_code(session: Session, scope: ChannelScope, text: str, key_for: KeyFor, *, redis: Any = None,
                regions: RegionIndex | None = None) -> CodeLookup:
    """Everything the caller may know of the code in `text` (a bare code or a scan URL). Never raises for
    a bad code: it reads as not genuine. ScanUnavailable from `key_for` (no key file) passes through."""
    regions = regions or default_index()
    try:
        claimed, canonical = parse(extract_code(text))
    except CodeError:
        return CodeLookup(False, MALFORMED)
    facts = _batch_facts(session, claimed.batch_id)
    if facts is None or facts.info.brand_id != scope.brand_id:
        return CodeLookup(False, NOT_THIS_BRAND, canonical)
    try:  # one of the brand's batches: a wrong signature, or a key id it was not made with, is a forgery
        fields, canonical = verify_canonical(canonical, key_for)
    except CodeError:
        return CodeLookup(False, FORGED, canonical)
    info = facts.info
    if not printed(info, fields):
        return CodeLookup(False, FORGED, canonical)
    code = ChannelCode(canonical, fields, info)
    role, serial = code.role.label, fields.serial
    sale, activated, void_reason = _sale_state(facts.ranges, code)
    case = _case_view(code)
    path, hidden = _path(session, scope, info.batch_id, case.case) if case else ((), 0)
    live = _live(redis, code, case)
    return CodeLookup(
        genuine=True, code=code.code, role=role, serial=serial,
        product=ProductView(facts.brand_name, info.sku, info.product, facts.gtin),
        batch=BatchView(info.batch_id, info.lot, info.production_date, facts.factory, facts.line, info.quantity,
                        info.pack_size, activated),
        sale=sale, void_reason=void_reason,
        case=_with_scanned_items(session, code, case, live),
        path=path, hidden_hops=hidden,
        scans=_scans(session, info.batch_id, role, serial, live, regions),
        awards=_awards(session, scope, info.batch_id, role, serial),
    )


# --- the batch ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Facts:
    info: BatchInfo
    brand_name: str
    gtin: str
    factory: str
    line: str
    ranges: tuple[tuple[str, int, int, str], ...]  # (kind, first serial, last serial, reason), oldest first


def _batch_facts(session: Session, batch_id: int) -> _Facts | None:
    """The batch the code's header names (not yet verified), its product and brand, and its activated and
    voided ranges: one query (a row per range; the batch's own columns repeat)."""
    rows = session.execute(_FACTS, {"batch_id": batch_id}).all()
    if not rows:
        return None
    first = rows[0]
    return _Facts(BatchInfo(*first[:9]), first[9], first[10] or "", first[11], first[12],
                  tuple((r[13], r[14], r[15], r[16]) for r in rows if r[13] is not None))


def _sale_state(ranges: tuple[tuple[str, int, int, str], ...], code: ChannelCode) -> tuple[str, int, str]:
    """(sale state, items activated, the void range's reason): what the scan path decides from the same
    ranges (codegen/batches.py effective_ranges; void wins). A case is on sale when its first item is."""
    active = rng.merge((a, b) for kind, a, b, _ in ranges if kind == BatchRange.ACTIVATE)
    void = rng.merge((a, b) for kind, a, b, _ in ranges if kind == BatchRange.VOID)
    item = code.fields.serial * code.batch.pack_size if code.role is Role.CASE else code.fields.serial
    activated = rng.total(rng.subtract(active, void))
    reason = next((why for kind, a, b, why in reversed(ranges) if kind == BatchRange.VOID and a <= item <= b), None)
    if reason is not None:
        return VOID, activated, reason
    on_sale = any(a <= item <= b for a, b in active)
    return (ON_SALE if on_sale else NOT_ON_SALE), activated, ""


def _case_view(code: ChannelCode) -> CaseView | None:
    case = code.case
    if case is None:
        return None
    first, last = case_items(code.batch, case)
    return CaseView(case, first, last, None)


def _with_scanned_items(session: Session, code: ChannelCode, case: CaseView | None,
                        live: LiveScans | None) -> CaseView | None:
    """A case code's view with how many of its items consumers scanned (Redis's bits, else SQL)."""
    if case is None or code.role is not Role.CASE:
        return case
    if live is not None and live.items_scanned is not None:
        scanned = live.items_scanned
    else:
        scanned = session.scalar(_CASE_ITEMS, {"batch_id": code.batch.batch_id, "first": case.first_item,
                                               "last": case.last_item}) or 0
    return CaseView(case.case, case.first_item, case.last_item, scanned)


# --- the channel path, as the caller may see it ---------------------------------------------------------


def _path(session: Session, scope: ChannelScope, batch_id: int, case: int) -> tuple[tuple[HopView, ...], int]:
    """The case's live shipments, oldest first (channel/paths.py path_of's query, with the parties' names
    joined: one round trip), as the caller may see them: the parties outside their scope unnamed; a store's
    seat sees only the shipments to its store (the rest are counted, not shown)."""
    rows = session.execute(_PATH, {"batch_id": batch_id, "brand_id": scope.brand_id, "case": case}).all()
    hops = sorted({r[0]: r for r in rows}.values(), key=lambda r: (_opt(r[5]) or _EPOCH, r[0]))
    views = []
    for (shipment_id, from_id, to_id, store_id, state, shipped_at, received_at, from_name, to_name, store_name,
         supplier) in hops:
        if scope.store_id is not None and store_id != scope.store_id:
            continue
        mine = store_id is not None and store_id == scope.store_id
        sending = _distributor(scope, from_id, from_name, mine)
        if store_id is not None:
            receiving = (Party(STORE, store_id, store_name) if _sees_store(scope, store_id, supplier)
                         else Party(STORE, None, None))
        else:
            receiving = _distributor(scope, to_id, to_name, False)
        shown = sending.id is not None or receiving.id is not None or scope.brand_wide
        views.append(HopView(shipment_id if shown else None, sending, receiving, state, _opt(shipped_at),
                             _opt(received_at)))
    return tuple(views), len(hops) - len(views)


def _distributor(scope: ChannelScope, distributor_id: int | None, name: str | None, supplier_of_mine: bool) -> Party:
    """A shipment's distributor end: named when it is in the caller's scope, or supplied the caller's store."""
    if distributor_id is None:
        return Party(WAREHOUSE, None, None)
    if supplier_of_mine or (scope.store_id is None and scope.sees_distributor(distributor_id)):
        return Party(DISTRIBUTOR, distributor_id, name or "")
    return Party(DISTRIBUTOR, None, None)


def _sees_store(scope: ChannelScope, store_id: int, supplier: int | None) -> bool:
    if scope.store_id is not None:
        return store_id == scope.store_id
    return supplier is not None and scope.sees_distributor(supplier)


# --- scans ------------------------------------------------------------------------------------------------


def _live(redis: Any, code: ChannelCode, case: CaseView | None) -> LiveScans | None:
    if redis is None:
        return None
    items = (case.first_item, case.last_item) if case is not None and code.role is Role.CASE else None
    try:
        return read_live(redis, code.batch.batch_id, code.role.label, code.fields.serial, items)
    except RedisError as exc:  # the lookup goes on from SQL, and says so
        log.warning("lookup without Redis: %s", exc.__class__.__name__)
        return None


def _scans(session: Session, batch_id: int, role: str, serial: int, live: LiveScans | None,
           regions: RegionIndex) -> ScanHistory:
    """The code's stored scans (scan_events: one indexed read per month partition), topped up by Redis.

    The newest RECENT + 1 rows come first; a code with no more than RECENT scans is then complete. Only a
    code scanned more often costs two more reads (the counts, and its first scan: one row per code)."""
    code = {"batch_id": batch_id, "role": role, "serial": serial}
    rows = session.execute(_SCANS, code).all()
    lines = [ScanLine(_aware(at), kind, _place(adcode, regions), source or "none")
             for at, kind, adcode, source in rows]
    if len(rows) <= RECENT:
        attempts, on_sale = len(lines), sum(1 for s in lines if s.kind in ON_SALE_KINDS)
        first = next((s for s in reversed(lines) if s.kind == "first"), None)
    else:
        attempts, on_sale = session.execute(_SCAN_COUNTS, code).one()
        row = session.execute(_FIRST_SCAN, code).first()
        first = None if row is None else ScanLine(_aware(row[0]), "first", _place(row[1], regions),
                                                  row[2] or "none")
    first_at, first_place = (first.at, first.place) if first else (None, None)
    count, pending = on_sale, 0
    if live is not None:
        pending = max(0, live.count - on_sale)
        count = max(on_sale, live.count)
        if first is None and live.first_at is not None:  # scanned a moment ago: not drained yet
            first_at, first_place = live.first_at, _place(live.first_adcode, regions)
    return ScanHistory(count=count, attempts=attempts + pending, first_at=first_at, first_place=first_place,
                       last_at=lines[0].at if lines else first_at, recent=tuple(lines[:RECENT]),
                       live=live is not None, pending=pending)


def _place(adcode: str | None, regions: RegionIndex) -> Place | None:
    if not adcode:
        return None
    region = regions.lookup(adcode)
    if region is None:
        return Place(adcode, "")
    parts = [region.province, region.city, region.district]
    return Place(adcode, " ".join(p for i, p in enumerate(parts) if p and p not in parts[:i]))


# --- prizes -----------------------------------------------------------------------------------------------


def _awards(session: Session, scope: ChannelScope, batch_id: int, role: str, serial: int) -> tuple[AwardView, ...]:
    """Every award of the code (awards' index on batch, serial) with its claim, payout and redemption."""
    rows = session.execute(_AWARDS, {"batch_id": batch_id, "role": role, "serial": serial,
                                     "brand_id": scope.brand_id}).all()
    out = []
    for (award_id, campaign_id, campaign, definition, prize_index, kind, fen, points, status, void_reason, at,
         claimed_at, payout_state, redeemed_at, store_id, store_name, supplier) in rows:
        store = None
        if store_id is not None:
            store = (Party(STORE, store_id, store_name) if _sees_store(scope, store_id, supplier)
                     else Party(STORE, None, None))
        out.append(AwardView(award_id, campaign_id, campaign, kind, _prize_name(definition, prize_index), fen,
                             points, status == Award.VALID, void_reason, _aware(at), _opt(claimed_at),
                             payout_state, _opt(redeemed_at), store))
    return tuple(out)


def _prize_name(definition: Any, index: int) -> str:
    """The prize's name in the campaign as it is now (index -1: the consolation prize)."""
    if not isinstance(definition, dict):
        return ""
    prize = definition.get("consolation") if index < 0 else None
    prizes = definition.get("prizes")
    if index >= 0 and isinstance(prizes, list) and index < len(prizes):
        prize = prizes[index]
    name = prize.get("name") if isinstance(prize, dict) else None
    return name if isinstance(name, str) else ""


def _aware(moment: datetime) -> datetime:
    """Aware UTC (SQLite hands back naive UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _opt(moment: datetime | None) -> datetime | None:
    return None if moment is None else _aware(moment)
