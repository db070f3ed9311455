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

Every change by a person is audited in the same transaction; every transaction that creates, ships, receives
or undoes a shipment bumps the brand's ChannelVersion (scans of an OPEN shipment change no live range).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, insert, or_, select, text, update
from sqlalchemy.orm import Session

from accounts.audit import record_change
from channel import case_ranges
from channel.case_ranges import Run
from channel.codes import BatchInfo, KeyFor, batch_info
from channel.errors import ChannelConflict, ChannelNotFound, InvalidChannel
from channel.models import CLERK, DISTRIBUTOR, ChannelFlag, Distributor, Shipment, ShipmentRange, Store
from channel.paths import bump_version
from channel.scope import ChannelScope, get_distributor, get_store
from codegen.codeformat import CodeError, Role, extract_code, verify_canonical
from codegen.db import pg_unnest_insert, utcnow

MAX_BULK_CODES = 200_000  # one upload; the API's body bound (8 MiB) holds about 100,000 scan URLs
MAX_PROBLEMS_LISTED = 100  # a refused upload lists this many bad lines, and counts them all
MAX_REFERENCE = 64
MAX_REASON = 200
SQL_INT_MAX = (1 << 31) - 1


class CaseRefused(InvalidChannel):
    """A scanned text that cannot go into a shipment. `reason`: malformed, forged, other_brand, item_code,
    pallet_code (the page picks its words from it)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, field="code")
        self.reason = reason

    def details(self) -> dict[str, Any]:
        return {"field": "code", "reason": self.reason}


class ShipmentConflict(ChannelConflict):
    """The shipment's state forbids this now. `reason`: shipped (no more scans), open (not shipped yet),
    received, undone, shipped_on (the receiver shipped some cases on: `onward` is that shipment)."""

    def __init__(self, message: str, reason: str, onward: int | None = None) -> None:
        super().__init__(message)
        self.reason, self.onward = reason, onward

    def details(self) -> dict[str, Any]:
        return {"reason": self.reason, **({"onward_shipment": self.onward} if self.onward else {})}


@dataclass(frozen=True)
class LineProblem:
    line: int  # 1-based, as the caller numbered the upload
    reason: str  # CaseRefused.reason
    message: str


class BulkRejected(InvalidChannel):
    """An upload with bad lines: refused whole, nothing written."""

    def __init__(self, problems: list[LineProblem], total: int) -> None:
        super().__init__(f"{total} line(s) are not case codes of this brand: nothing was shipped", field="codes")
        self.problems, self.total = problems, total

    def details(self) -> dict[str, Any]:
        return {"field": "codes", "bad_lines": self.total,
                "problems": [{"field": f"line {p.line}", "line": p.line, "reason": p.reason, "message": p.message}
                             for p in self.problems]}


@dataclass(frozen=True)
class ScannedCase:
    batch: BatchInfo
    case: int

    @property
    def items(self) -> int:
        return case_ranges.items_in(self.case, self.case, self.batch.pack_size, self.batch.quantity)


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


class CaseReader:
    """Reads case codes for one brand: the signature (CPU only), then the batch, looked up once per batch.
    Keys are cached per call too, so a bulk upload costs one HMAC per line and one query per batch."""

    def __init__(self, session: Session, brand_id: int, key_for: KeyFor) -> None:
        self._session, self._brand_id, self._key_for = session, brand_id, key_for
        self._keys: dict[tuple[int, int], bytes | None] = {}
        self._batches: dict[int, BatchInfo | None] = {}

    def _key(self, key_id: int, batch_id: int) -> bytes | None:
        try:
            return self._keys[key_id, batch_id]
        except KeyError:
            key = self._keys[key_id, batch_id] = self._key_for(key_id, batch_id)
            return key

    def read(self, text: str) -> ScannedCase:
        try:
            fields, _ = verify_canonical(extract_code(text), self._key)
        except CodeError as exc:
            reason = CodeError.MALFORMED if exc.reason == CodeError.UNSUPPORTED else exc.reason
            raise CaseRefused(str(exc), "other_brand" if reason == CodeError.UNKNOWN_KEY else reason) from None
        try:
            info = self._batches[fields.batch_id]
        except KeyError:
            info = self._batches[fields.batch_id] = batch_info(self._session, fields.batch_id)
        if info is None or info.brand_id != self._brand_id:
            raise CaseRefused("not a code of this brand", "other_brand")
        if fields.role in (Role.INNER, Role.OUTER):
            raise CaseRefused("an item's code: scan the case code (箱码)", "item_code")
        if fields.role is Role.PALLET:
            raise CaseRefused("pallet codes (垛码) cannot be shipped yet: scan the case codes", "pallet_code")
        cases = -(-info.quantity // info.pack_size) if info.pack_size else 0
        if fields.serial >= cases:
            raise CaseRefused("signed, but outside its batch's cases", "forged")
        return ScannedCase(info, fields.serial)

    def batch(self, batch_id: int) -> BatchInfo:
        """A batch this reader has read a case of."""
        info = self._batches[batch_id]
        assert info is not None
        return info


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


def _receiver(session: Session, scope: ChannelScope, sender: int | None, to_distributor_id: int | None,
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


def _audit(session: Session, scope: ChannelScope, action: str, sh: Shipment, **after: Any) -> None:
    record_change(session, scope.actor, f"shipment.{action}", f"shipment:{sh.id}", brand_id=sh.brand_id,
                  after={"state": sh.state, **after})


# --- the lifecycle -------------------------------------------------------------------------------------------

def open_shipment(session: Session, scope: ChannelScope, *, to_distributor_id: int | None = None,
                  to_store_id: int | None = None, reference: str = "") -> Shipment:
    """A new OPEN shipment from the caller to the receiver, ready to scan."""
    sender = sender_of(scope)
    to_d, to_s = _receiver(session, scope, sender, to_distributor_id, to_store_id)
    sh = Shipment(brand_id=scope.brand_id, from_distributor_id=sender, to_distributor_id=to_d, to_store_id=to_s,
                  reference=_reference(reference), state=Shipment.OPEN, created_by=scope.actor, created_at=utcnow())
    session.add(sh)
    session.flush()
    bump_version(session, scope.brand_id)
    _audit(session, scope, "open", sh, to_distributor=to_d, to_store=to_s, reference=sh.reference)
    return sh


def _reference(text: str) -> str:
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
        _audit(session, scope, "scan", sh, batch=batch_id, case=case)
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
        _audit(session, scope, "unscan", sh, batch=batch_id, case=case)
    return totals(session, sh.id)


def _same_sender(sh: Shipment) -> Any:
    col = Shipment.from_distributor_id
    return col.is_(None) if sh.from_distributor_id is None else col == sh.from_distributor_id


def _warnings(session: Session, sh: Shipment, batch_id: int, case: int) -> list[ScanWarning]:
    found = [ScanWarning("elsewhere", other.id, other.to_distributor_id, other.to_store_id,
                         d_name or s_name or "", other.state, other.shipped_at or other.created_at)
             for other, d_name, s_name in session.execute(
                 select(Shipment, Distributor.name, Store.name)
                 .join(ShipmentRange, ShipmentRange.shipment_id == Shipment.id)
                 .outerjoin(Distributor, Distributor.id == Shipment.to_distributor_id)
                 .outerjoin(Store, Store.id == Shipment.to_store_id).where(
                     Shipment.brand_id == sh.brand_id, Shipment.id != sh.id, _same_sender(sh),
                     Shipment.state.in_((Shipment.OPEN, *Shipment.LIVE)), ShipmentRange.batch_id == batch_id,
                     ShipmentRange.first_case <= case, ShipmentRange.last_case >= case)
                 .order_by(Shipment.id))]
    if sh.from_distributor_id is not None and not _held(session, sh, {batch_id: [(case, case)]}).get(batch_id):
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
    flags = _ship(session, sh, runs, count)
    _audit(session, scope, "ship", sh, cases=sh.case_count, items=sh.item_count, flags=len(flags),
           ranges=_audited_runs(runs))
    return ShipResult(sh, flags)


def _ship(session: Session, sh: Shipment, runs: dict[int, list[Run]], count: Totals) -> list[ChannelFlag]:
    # The version first: its row stays locked until commit, so two shipments of one brand ship one after the
    # other, and the second one's flag queries see the first one's cases (a double shipment made by two
    # uploads at the same moment is flagged too).
    bump_version(session, sh.brand_id)
    flags = _flags(session, sh, runs)
    sh.state, sh.shipped_at, sh.case_count, sh.item_count = Shipment.SHIPPED, utcnow(), count.cases, count.items
    session.add_all(flags)
    session.flush()
    return flags


def _audited_runs(runs: dict[int, list[Run]], limit: int = 50) -> list[list[int]]:
    flat = [[b, first, last] for b, rs in sorted(runs.items()) for first, last in rs]
    return flat[:limit]


def _overlapping(runs: dict[int, list[Run]]) -> Any:
    """SQL: a range of one of these batches that could meet these runs (each batch's envelope)."""
    return or_(*(and_(ShipmentRange.batch_id == b, ShipmentRange.last_case >= rs[0][0],
                      ShipmentRange.first_case <= rs[-1][1]) for b, rs in runs.items()))


def _flags(session: Session, sh: Shipment, runs: dict[int, list[Run]]) -> list[ChannelFlag]:
    others: dict[tuple[int, int], list[Run]] = {}
    for batch_id, first, last, other_id, to_d, to_s in session.execute(
            select(ShipmentRange.batch_id, ShipmentRange.first_case, ShipmentRange.last_case, Shipment.id,
                   Shipment.to_distributor_id, Shipment.to_store_id)
            .join(Shipment, Shipment.id == ShipmentRange.shipment_id)
            .where(Shipment.brand_id == sh.brand_id, Shipment.id != sh.id, Shipment.state.in_(Shipment.LIVE),
                   _same_sender(sh), _overlapping(runs))):
        if (to_d, to_s) != (sh.to_distributor_id, sh.to_store_id):
            others.setdefault((other_id, batch_id), []).append((first, last))
    flags = [ChannelFlag(brand_id=sh.brand_id, kind=ChannelFlag.DOUBLE_SHIP, batch_id=batch_id, first_case=first,
                         last_case=last, shipment_id=sh.id, other_shipment_id=other_id)
             for (other_id, batch_id), theirs in sorted(others.items())
             for first, last in case_ranges.intersect(runs[batch_id], case_ranges.union(theirs))]
    if sh.from_distributor_id is not None:
        held = _held(session, sh, runs)
        flags += [ChannelFlag(brand_id=sh.brand_id, kind=ChannelFlag.NOT_HELD, batch_id=batch_id, first_case=first,
                              last_case=last, shipment_id=sh.id)
                  for batch_id, rs in sorted(runs.items())
                  for first, last in case_ranges.subtract(rs, held.get(batch_id, []))]
    return flags


def _held(session: Session, sh: Shipment, runs: dict[int, list[Run]]) -> dict[int, list[Run]]:
    """The cases of these batches that live shipments brought to the sender (a distributor)."""
    held: dict[int, list[Run]] = {}
    for batch_id, first, last in session.execute(
            select(ShipmentRange.batch_id, ShipmentRange.first_case, ShipmentRange.last_case)
            .join(Shipment, Shipment.id == ShipmentRange.shipment_id)
            .where(Shipment.brand_id == sh.brand_id, Shipment.state.in_(Shipment.LIVE),
                   Shipment.to_distributor_id == sh.from_distributor_id, _overlapping(runs))):
        held.setdefault(batch_id, []).append((first, last))
    return {b: case_ranges.intersect(runs[b], case_ranges.union(rs)) for b, rs in held.items()}


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
    _audit(session, scope, "receive", sh)
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
    _audit(session, scope, "undo", sh, was=before, reason=reason)
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
               Shipment.from_distributor_id == sh.to_distributor_id, _overlapping(runs))).all()
    hit = sorted({other for other, b, first, last in onward if case_ranges.intersect(runs[b], [(first, last)])})
    if hit:
        raise ShipmentConflict(f"the receiver has shipped some of these cases on (shipment {hit[0]}): undo that "
                               "shipment first", "shipped_on", hit[0])


# --- the API's bulk path -------------------------------------------------------------------------------------

def bulk_ship(session: Session, scope: ChannelScope, key_for: KeyFor, *, lines: Sequence[tuple[int, str]],
              to_distributor_id: int | None = None, to_store_id: int | None = None,
              reference: str = "") -> ShipResult:
    """Open, fill and ship one shipment from an upload (scanner guns, PDAs, CSV): `lines` are (line number,
    code or scan URL) pairs. A case repeated in the upload counts once (`duplicates`).

    All or nothing: an upload with any bad line (not genuine, another brand's, an item or pallet code) is
    refused whole with BulkRejected, listing the first MAX_PROBLEMS_LISTED bad lines by number, and nothing is
    written. A PDA that uploads a day's scans and gets a half-written shipment back would have to work out
    which half; refused whole, it fixes the lines and sends the same file again.

    Cost: one HMAC per line (CPU), one query per batch, one insert of the collapsed runs; no query per code.
    """
    sender = sender_of(scope)
    to_d, to_s = _receiver(session, scope, sender, to_distributor_id, to_store_id)
    if not lines:
        raise InvalidChannel("no codes to ship", field="codes")
    if len(lines) > MAX_BULK_CODES:
        raise InvalidChannel(f"at most {MAX_BULK_CODES:,} codes per upload, not {len(lines):,}", field="codes")
    reader = CaseReader(session, scope.brand_id, key_for)
    cases, duplicates = _read_all(reader, lines)
    runs = {b: case_ranges.collapse(cs) for b, cs in sorted(cases.items())}
    sh = Shipment(brand_id=scope.brand_id, from_distributor_id=sender, to_distributor_id=to_d, to_store_id=to_s,
                  reference=_reference(reference), state=Shipment.OPEN, created_by=scope.actor, created_at=utcnow())
    session.add(sh)
    session.flush()
    _insert_runs(session, sh, runs)
    count = Totals(sum(case_ranges.count(rs) for rs in runs.values()),
                   sum(case_ranges.items_in(first, last, reader.batch(b).pack_size, reader.batch(b).quantity)
                       for b, rs in runs.items() for first, last in rs))
    flags = _ship(session, sh, runs, count)
    _audit(session, scope, "bulk_ship", sh, to_distributor=to_d, to_store=to_s, reference=sh.reference,
           lines=len(lines), duplicates=duplicates, cases=sh.case_count, items=sh.item_count, flags=len(flags),
           ranges=_audited_runs(runs))
    return ShipResult(sh, flags, duplicates)


def _insert_runs(session: Session, sh: Shipment, runs: dict[int, list[Run]]) -> None:
    """One statement for every run: on PostgreSQL a list per column (codegen.db.pg_unnest_insert; a VALUES
    list of 100,000 runs costs psycopg more to build than the server to insert), elsewhere one executemany."""
    flat = [(b, first, last) for b, rs in runs.items() for first, last in rs]
    if session.get_bind().dialect.name == "postgresql":
        columns = ("shipment_id", "brand_id", "batch_id", "first_case", "last_case")
        session.execute(text(pg_unnest_insert(ShipmentRange.__tablename__, columns, "")), {
            "shipment_id": [sh.id] * len(flat), "brand_id": [sh.brand_id] * len(flat),
            "batch_id": [b for b, _, _ in flat], "first_case": [f for _, f, _ in flat],
            "last_case": [last for _, _, last in flat]})
    else:  # the Table, not the entity: Core's executemany, without the ORM's bulk bookkeeping per row
        session.execute(insert(cast(Table, ShipmentRange.__table__)), [
            {"shipment_id": sh.id, "brand_id": sh.brand_id, "batch_id": b, "first_case": first, "last_case": last}
            for b, first, last in flat])


def _read_all(reader: CaseReader, lines: Sequence[tuple[int, str]]) -> tuple[dict[int, set[int]], int]:
    cases: dict[int, set[int]] = {}
    problems: list[LineProblem] = []
    bad = duplicates = 0
    for line, raw in lines:
        try:
            scanned = reader.read(raw)
        except CaseRefused as exc:
            bad += 1
            if len(problems) < MAX_PROBLEMS_LISTED:
                problems.append(LineProblem(line, exc.reason, str(exc)))
            continue
        seen = cases.setdefault(scanned.batch.batch_id, set())
        if scanned.case in seen:
            duplicates += 1
        else:
            seen.add(scanned.case)
    if bad:
        raise BulkRejected(problems, bad)
    return cases, duplicates

