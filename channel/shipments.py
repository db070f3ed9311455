"""出库 / 入库: shipments of cases from the brand's warehouse or a distributor, to a distributor or a store.

A shipment is OPEN while its cases are scanned, SHIPPED when sent, RECEIVED when the receiver confirms 入库,
UNDONE when its sender takes it back (a mistaken shipment) or drops an OPEN one. Its cases are stored as runs
of consecutive case serials per batch (ShipmentRange), from the first scan on; items follow their case by
serial (channel.codes.case_items), never one row per item.

Who may do what (the caller's ChannelScope):
- open, scan, ship: the sender. A warehouse seat or a brand operator ships from the brand's warehouse to any
  distributor of the brand (stores are supplied by their distributor, so never from the warehouse). A
  distributor's seat ships from its own distributor to a distributor under it (any depth) or to a store
  that it or one under it supplies. Other seats may not ship (ChannelForbidden).
- receive (入库): the receiving distributor's own seat, the receiving store's clerk (核销员), or a brand
  operator (to fix the books). An upstream distributor sees its sub-distributors' shipments but does not
  confirm their receipt for them: the one who holds the goods signs for them.
- undo: the sender, or a brand operator; only before receipt (after it, the receiver ships the cases back),
  and not once the receiver has shipped any of the cases on.

Flags (ChannelFlag) are written when a shipment ships: `double_ship` where its cases are already in another
live shipment of the same sender to a different receiver; `not_held` where a distributor ships cases no live
shipment ever brought it. Undoing a shipment resolves the flags it took part in.

Beside this module: channel/case_reader.py reads case codes, channel/shipment_flags.py computes the flags,
channel/bulk_ship.py is the API's one-call upload, channel/shipment_queries.py the lists and records.

Every change by a person is audited in the same transaction; every transaction that creates, ships, receives
or undoes a shipment bumps the brand's ChannelVersion (scans of an OPEN shipment change no live range).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from accounts.audit import record_change
from channel import case_ranges
from channel.case_ranges import Run
from channel.case_reader import CaseReader, ScannedCase
from channel.codes import KeyFor
from channel.errors import ChannelConflict, ChannelNotFound, InvalidChannel
from channel.models import CLERK, DISTRIBUTOR, ChannelFlag, Distributor, Shipment, ShipmentRange, Store
from channel.paths import bump_version
from channel.scope import ChannelScope, get_distributor, get_store
from channel.shipment_flags import flags_for, held_by_sender, overlapping, same_sender
from codegen.db import utcnow

MAX_REFERENCE = 64
MAX_REASON = 200
SQL_INT_MAX = (1 << 31) - 1


class ShipmentConflict(ChannelConflict):
    """The shipment's state forbids this now. `reason`: shipped (no more scans), open (not shipped yet),
    received, undone, shipped_on (the receiver shipped some cases on: `onward` is that shipment)."""

    def __init__(self, message: str, reason: str, onward: int | None = None) -> None:
        super().__init__(message)
        self.reason, self.onward = reason, onward

    def details(self) -> dict[str, Any]:
        return {"reason": self.reason, **({"onward_shipment": self.onward} if self.onward else {})}


@dataclass(frozen=True)
class ScanWarning:
    """Something the scanner should know at once. kind: elsewhere (the case is in another shipment of the same
    sender: `shipment_id`, its receiver and state, `at` = shipped or opened), not_held (a distributor scans a
    case no live shipment brought it)."""

    kind: str
    shipment_id: int | None = None
    to_distributor_id: int | None = None
    to_store_id: int | None = None
    to_name: str = ""
    state: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class Totals:
    cases: int
    items: int


@dataclass(frozen=True)
class ScanOutcome:
    added: bool  # False: already scanned into this shipment (nothing changed)
    scanned: ScannedCase
    totals: Totals
    warnings: tuple[ScanWarning, ...] = ()


@dataclass(frozen=True)
class ShipResult:
    shipment: Shipment
    flags: list[ChannelFlag] = field(default_factory=list)
    duplicates: int = 0  # bulk: lines repeating a case already in the upload


# --- who ships, who receives -------------------------------------------------------------------------------

def sender_of(scope: ChannelScope) -> int | None:
    """The distributor the caller ships from (None: the brand's warehouse); ChannelForbidden for a seat that
    does not ship."""
    if scope.may_ship_from_warehouse:
        return None
    scope.require(scope.kind == DISTRIBUTOR, "ship cases")
    return scope.distributor_id


def acts_as_sender(scope: ChannelScope, sh: Shipment) -> bool:
    if sh.from_distributor_id is None:
        return scope.may_ship_from_warehouse
    return scope.kind == DISTRIBUTOR and scope.distributor_id == sh.from_distributor_id


def may_receive(scope: ChannelScope, sh: Shipment) -> bool:
    if scope.operates:
        return True
    if sh.to_distributor_id is not None:
        return scope.kind == DISTRIBUTOR and scope.distributor_id == sh.to_distributor_id
    return scope.kind == CLERK and scope.store_id == sh.to_store_id


def may_undo(scope: ChannelScope, sh: Shipment) -> bool:
    return scope.operates or acts_as_sender(scope, sh)


def receiver_of(session: Session, scope: ChannelScope, sender: int | None, to_distributor_id: int | None,
              to_store_id: int | None) -> tuple[int | None, int | None]:
    if (to_distributor_id is None) == (to_store_id is None):
        raise InvalidChannel("name one receiver: a distributor or a store", field="to")
    if to_distributor_id is not None:
        d = get_distributor(session, scope, to_distributor_id)  # a distributor seat sees its subtree only
        if d.id == sender:
            raise InvalidChannel("a distributor cannot ship to itself", field="to_distributor")
        if d.disabled:
            raise InvalidChannel(f"distributor {d.code} is disabled", field="to_distributor")
        return d.id, None
    if sender is None:
        raise InvalidChannel("the warehouse ships to distributors; a store is supplied by its distributor",
                             field="to_store")
    assert to_store_id is not None
    st = get_store(session, scope, to_store_id)
    if st.disabled:
        raise InvalidChannel(f"store {st.name} is disabled", field="to_store")
    return None, st.id


def visible(session: Session, scope: ChannelScope, sh: Shipment) -> bool:
    """Does the caller see this shipment? An OPEN one only on the sender's side (it is not sent yet)."""
    if sh.brand_id != scope.brand_id:
        return False
    if scope.brand_wide:
        return True
    ids = scope.distributor_ids or frozenset()
    sender_side = sh.from_distributor_id in ids
    if sh.state == Shipment.OPEN or sender_side:
        return sender_side
    if sh.to_distributor_id is not None:
        return sh.to_distributor_id in ids
    if scope.store_id is not None:
        return sh.to_store_id == scope.store_id
    store = session.get(Store, sh.to_store_id)
    return store is not None and store.distributor_id in ids


def get_shipment(session: Session, scope: ChannelScope, shipment_id: int, *, lock: bool = False) -> Shipment:
    if not 0 < shipment_id <= SQL_INT_MAX:  # SQL INTEGER ids: a larger one is no shipment, not a SQL error
        raise ChannelNotFound(f"no shipment {shipment_id}")
    sh = session.get(Shipment, shipment_id, with_for_update=lock)
    if sh is None or not visible(session, scope, sh):
        raise ChannelNotFound(f"no shipment {shipment_id}")
    return sh


def audit(session: Session, scope: ChannelScope, action: str, sh: Shipment, **after: Any) -> None:
    record_change(session, scope.actor, f"shipment.{action}", f"shipment:{sh.id}", brand_id=sh.brand_id,
                  after={"state": sh.state, **after})


# --- the lifecycle -------------------------------------------------------------------------------------------

def open_shipment(session: Session, scope: ChannelScope, *, to_distributor_id: int | None = None,
                  to_store_id: int | None = None, reference: str = "") -> Shipment:
    """A new OPEN shipment from the caller to the receiver, ready to scan."""
    sh = new_shipment(session, scope, to_distributor_id, to_store_id, reference)
    bump_version(session, scope.brand_id)
    audit(session, scope, "open", sh, to_distributor=sh.to_distributor_id, to_store=sh.to_store_id,
          reference=sh.reference)
    return sh


def new_shipment(session: Session, scope: ChannelScope, to_distributor_id: int | None, to_store_id: int | None,
                 reference: str) -> Shipment:
    """The OPEN shipment row (flushed) from the caller's warehouse or distributor to a receiver they may ship
    to: ChannelForbidden for a seat that does not ship, ChannelNotFound for a receiver outside the scope."""
    sender = sender_of(scope)
    to_d, to_s = receiver_of(session, scope, sender, to_distributor_id, to_store_id)
    sh = Shipment(brand_id=scope.brand_id, from_distributor_id=sender, to_distributor_id=to_d, to_store_id=to_s,
                  reference=clean_reference(reference), state=Shipment.OPEN, created_by=scope.actor,
                  created_at=utcnow())
    session.add(sh)
    session.flush()
    return sh


def clean_reference(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_REFERENCE or any(ord(c) < 32 for c in text):
        raise InvalidChannel(f"the reference is at most {MAX_REFERENCE} printable characters", field="reference")
    return text


def _open_for_scanning(session: Session, scope: ChannelScope, shipment_id: int) -> Shipment:
    sh = get_shipment(session, scope, shipment_id, lock=True)
    scope.require(acts_as_sender(scope, sh), "scan into this shipment")
    if sh.state != Shipment.OPEN:
        raise ShipmentConflict(f"shipment {sh.id} is {sh.state}: open a new shipment to scan more cases",
                               "shipped" if sh.state != Shipment.UNDONE else Shipment.UNDONE)
    return sh


def add_case(session: Session, scope: ChannelScope, shipment_id: int, text: str, key_for: KeyFor) -> ScanOutcome:
    """Scan one case code (or its scan URL) into an OPEN shipment. Scanning a case twice changes nothing
    (`added` False). CaseRefused for a text that is not a case code of the brand."""
    sh = _open_for_scanning(session, scope, shipment_id)
    scanned = CaseReader(session, scope.brand_id, key_for).read(text)
    batch_id, case = scanned.batch.batch_id, scanned.case
    near = list(session.scalars(select(ShipmentRange).where(
        ShipmentRange.shipment_id == sh.id, ShipmentRange.batch_id == batch_id,
        ShipmentRange.first_case <= case + 1, ShipmentRange.last_case >= case - 1)))
    added = not any(r.first_case <= case <= r.last_case for r in near)
    if added:
        _insert_case(session, sh, batch_id, case, near)
        audit(session, scope, "scan", sh, batch=batch_id, case=case)
    warnings = _warnings(session, sh, batch_id, case)
    return ScanOutcome(added, scanned, totals(session, sh.id), tuple(warnings))


def _insert_case(session: Session, sh: Shipment, batch_id: int, case: int, near: list[ShipmentRange]) -> None:
    """Keep the shipment's runs disjoint and not touching: join the run ending just before and the one
    starting just after, when there are."""
    before = next((r for r in near if r.last_case == case - 1), None)
    after = next((r for r in near if r.first_case == case + 1), None)
    if before is not None and after is not None:
        before.last_case = after.last_case
        session.delete(after)
    elif before is not None:
        before.last_case = case
    elif after is not None:
        after.first_case = case
    else:
        session.add(ShipmentRange(shipment_id=sh.id, brand_id=sh.brand_id, batch_id=batch_id, first_case=case,
                                  last_case=case))
    session.flush()


def remove_case(session: Session, scope: ChannelScope, shipment_id: int, text: str, key_for: KeyFor) -> Totals:
    """Take a case scanned by mistake out of an OPEN shipment (nothing happens if it was not in it)."""
    sh = _open_for_scanning(session, scope, shipment_id)
    scanned = CaseReader(session, scope.brand_id, key_for).read(text)
    batch_id, case = scanned.batch.batch_id, scanned.case
    row = session.scalar(select(ShipmentRange).where(
        ShipmentRange.shipment_id == sh.id, ShipmentRange.batch_id == batch_id,
        ShipmentRange.first_case <= case, ShipmentRange.last_case >= case))
    if row is not None:
        if row.first_case == row.last_case:
            session.delete(row)
        elif case == row.first_case:
            row.first_case += 1
        elif case == row.last_case:
            row.last_case -= 1
        else:
            session.add(ShipmentRange(shipment_id=sh.id, brand_id=sh.brand_id, batch_id=batch_id,
                                      first_case=case + 1, last_case=row.last_case))
            row.last_case = case - 1
        session.flush()
        audit(session, scope, "unscan", sh, batch=batch_id, case=case)
    return totals(session, sh.id)


def _warnings(session: Session, sh: Shipment, batch_id: int, case: int) -> list[ScanWarning]:
    found = [ScanWarning("elsewhere", other.id, other.to_distributor_id, other.to_store_id,
                         d_name or s_name or "", other.state, other.shipped_at or other.created_at)
             for other, d_name, s_name in session.execute(
                 select(Shipment, Distributor.name, Store.name)
                 .join(ShipmentRange, ShipmentRange.shipment_id == Shipment.id)
                 .outerjoin(Distributor, Distributor.id == Shipment.to_distributor_id)
                 .outerjoin(Store, Store.id == Shipment.to_store_id).where(
                     Shipment.brand_id == sh.brand_id, Shipment.id != sh.id, same_sender(sh),
                     Shipment.state.in_((Shipment.OPEN, *Shipment.LIVE)), ShipmentRange.batch_id == batch_id,
                     ShipmentRange.first_case <= case, ShipmentRange.last_case >= case)
                 .order_by(Shipment.id))]
    if sh.from_distributor_id is not None and not held_by_sender(session, sh, {batch_id: [(case, case)]}).get(batch_id):
        found.append(ScanWarning("not_held"))
    return found


def totals(session: Session, shipment_id: int) -> Totals:
    """Cases and items in a shipment, from its runs (the last case of a batch may hold fewer items)."""
    cases = items = 0
    for _batch, first, last, pack, quantity in _runs_with_packs(session, shipment_id):
        cases += last - first + 1
        items += case_ranges.items_in(first, last, pack, quantity)
    return Totals(cases, items)


def _runs_with_packs(session: Session, shipment_id: int) -> list[tuple[int, int, int, int, int]]:
    from codegen.models import Batch

    return [(b, first, last, pack, quantity) for b, first, last, pack, quantity in session.execute(
        select(ShipmentRange.batch_id, ShipmentRange.first_case, ShipmentRange.last_case, Batch.pack_size,
               Batch.quantity).join(Batch, Batch.id == ShipmentRange.batch_id)
        .where(ShipmentRange.shipment_id == shipment_id).order_by(ShipmentRange.batch_id, ShipmentRange.first_case))]


def ship(session: Session, scope: ChannelScope, shipment_id: int) -> ShipResult:
    """Send an OPEN shipment (确认出库): count its cases and items, flag double shipments and cases the
    sender never held."""
    sh = _open_for_scanning(session, scope, shipment_id)
    rows = _runs_with_packs(session, sh.id)
    if not rows:
        raise InvalidChannel("scan at least one case before shipping", field="code")
    runs: dict[int, list[Run]] = {}
    for batch_id, first, last, _pack, _quantity in rows:
        runs.setdefault(batch_id, []).append((first, last))
    count = totals(session, sh.id)
    flags = ship_runs(session, sh, runs, count)
    audit(session, scope, "ship", sh, cases=sh.case_count, items=sh.item_count, flags=len(flags),
           ranges=audited_runs(runs))
    return ShipResult(sh, flags)


def ship_runs(session: Session, sh: Shipment, runs: dict[int, list[Run]], count: Totals) -> list[ChannelFlag]:
    # The version first: its row stays locked until commit, so two shipments of one brand ship one after the
    # other, and the second one's flag queries see the first one's cases (a double shipment made by two
    # uploads at the same moment is flagged too).
    bump_version(session, sh.brand_id)
    flags = flags_for(session, sh, runs)
    sh.state, sh.shipped_at, sh.case_count, sh.item_count = Shipment.SHIPPED, utcnow(), count.cases, count.items
    session.add_all(flags)
    session.flush()
    return flags


def audited_runs(runs: dict[int, list[Run]], limit: int = 50) -> list[list[int]]:
    flat = [[b, first, last] for b, rs in sorted(runs.items()) for first, last in rs]
    return flat[:limit]


def receive(session: Session, scope: ChannelScope, shipment_id: int) -> Shipment:
    """Confirm 入库 of a SHIPPED shipment."""
    sh = get_shipment(session, scope, shipment_id, lock=True)
    scope.require(may_receive(scope, sh), "confirm receipt of this shipment")
    if sh.state != Shipment.SHIPPED:
        raise ShipmentConflict({Shipment.OPEN: f"shipment {sh.id} has not been shipped yet",
                                Shipment.RECEIVED: f"shipment {sh.id} was already received",
                                Shipment.UNDONE: f"shipment {sh.id} was undone by its sender"}[sh.state], sh.state)
    sh.state, sh.received_at, sh.received_by = Shipment.RECEIVED, utcnow(), scope.actor
    session.flush()
    bump_version(session, sh.brand_id)
    audit(session, scope, "receive", sh)
    return sh


def undo(session: Session, scope: ChannelScope, shipment_id: int, reason: str) -> Shipment:
    """Take back a SHIPPED shipment sent by mistake (or drop an OPEN one): its cases count for nothing from
    now on, and the flags it raised or answered are resolved."""
    sh = get_shipment(session, scope, shipment_id, lock=True)
    scope.require(may_undo(scope, sh), "undo this shipment")
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise InvalidChannel(f"say why, in at most {MAX_REASON} characters", field="reason")
    if sh.state == Shipment.RECEIVED:
        raise ShipmentConflict(f"shipment {sh.id} was received: it cannot be undone, the receiver must ship the "
                               "cases back", Shipment.RECEIVED)
    if sh.state == Shipment.UNDONE:
        raise ShipmentConflict(f"shipment {sh.id} was already undone", Shipment.UNDONE)
    if sh.state == Shipment.SHIPPED:
        _refuse_if_shipped_on(session, sh)
    before = sh.state
    sh.state, sh.undone_at, sh.undo_reason = Shipment.UNDONE, utcnow(), reason
    session.execute(update(ChannelFlag).where(
        or_(ChannelFlag.shipment_id == sh.id, ChannelFlag.other_shipment_id == sh.id),
        ChannelFlag.resolved_at.is_(None)).values(resolved_at=sh.undone_at))
    session.flush()
    bump_version(session, sh.brand_id)
    audit(session, scope, "undo", sh, was=before, reason=reason)
    return sh


def _refuse_if_shipped_on(session: Session, sh: Shipment) -> None:
    if sh.to_distributor_id is None:
        return
    runs: dict[int, list[Run]] = {}
    for batch_id, first, last in session.execute(select(
            ShipmentRange.batch_id, ShipmentRange.first_case, ShipmentRange.last_case).where(
            ShipmentRange.shipment_id == sh.id).order_by(ShipmentRange.first_case)):
        runs.setdefault(batch_id, []).append((first, last))
    if not runs:
        return
    onward = session.execute(
        select(Shipment.id, ShipmentRange.batch_id, ShipmentRange.first_case, ShipmentRange.last_case)
        .join(ShipmentRange, ShipmentRange.shipment_id == Shipment.id)
        .where(Shipment.brand_id == sh.brand_id, Shipment.state.in_(Shipment.LIVE),
               Shipment.from_distributor_id == sh.to_distributor_id, overlapping(runs))).all()
    hit = sorted({other for other, b, first, last in onward if case_ranges.intersect(runs[b], [(first, last)])})
    if hit:
        raise ShipmentConflict(f"the receiver has shipped some of these cases on (shipment {hit[0]}): undo that "
                               "shipment first", "shipped_on", hit[0])



