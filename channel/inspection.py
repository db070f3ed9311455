"""The inspector's check (稽查): a code scanned in a market → genuine?, what it is, whom it was shipped to and
when, the distributor responsible for it and its territory, and whether the place of the check is outside it.

Nothing here touches the code's scan state: the check is not a consumer scan and spends no first scan. Each
check is written to the audit log (action "channel.inspect"), so a brand can show where and when its goods
were found out of territory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import record_change
from channel.codes import KeyFor, read_code
from channel.diversion import Place, place_of
from channel.errors import InvalidChannel
from channel.judge import DIVERTED, NO_RECORD, NORMAL, UNLOCATED, inside_territory, responsible
from channel.models import INSPECTOR, Distributor, Store
from channel.paths import Hop, path_of
from channel.scope import BRAND, ChannelScope
from codegen.codeformat import CodeError
from rules.region import default_index
from rules.region_tree import region_label

NOT_GENUINE = "not_genuine"
LOCATION_SOURCES = ("gps", "pick", "ip", "none")  # the phone's position, a region chosen, the client address


@dataclass(frozen=True)
class Party:
    kind: str  # "warehouse" (the brand's), "distributor" or "store"
    id: int | None
    name: str
    code: str = ""  # a distributor's dealer number


@dataclass(frozen=True)
class Step:
    """One shipment on the item's path."""

    shipment_id: int
    sender: Party
    receiver: Party
    state: str
    shipped_at: datetime | None
    received_at: datetime | None


@dataclass(frozen=True)
class Inspection:
    verdict: str  # normal / diverted / no_record / unlocated / not_genuine
    code: str = ""
    reason: str = ""  # why a code is not genuine (codegen CodeError reasons)
    role: str = ""
    product: str = ""
    sku: str = ""
    lot: str = ""
    production_date: date | None = None
    batch_id: int | None = None
    serial: int | None = None
    case: int | None = None
    path: tuple[Step, ...] = ()
    distributor: Party | None = None
    territory: tuple[str, ...] = ()  # adcode prefixes
    adcode: str = ""  # where the check happened ("" unknown)
    place: Place | None = None
    source: str = "none"

    @property
    def genuine(self) -> bool:
        return self.verdict != NOT_GENUINE

    @property
    def territory_labels(self) -> tuple[str, ...]:
        return tuple(region_label(p) for p in self.territory)


def inspect_code(session: Session, scope: ChannelScope, text: str, key_for: KeyFor, adcode: str | None,
                 *, source: str = "gps") -> Inspection:
    """Check the code in `text` (a code or a scan URL) where the inspector stands (`adcode`, found from
    `source`; None: unknown). Brand staff and inspectors only (ChannelForbidden otherwise); audited."""
    scope.require(scope.kind in (BRAND, INSPECTOR), "inspect codes")
    if adcode and (len(adcode) != 6 or not adcode.isdigit() or default_index().lookup(adcode) is None):
        raise InvalidChannel("adcode must be a GB/T 2260 code of 6 digits", "adcode")
    if source not in LOCATION_SOURCES:
        raise InvalidChannel(f"source must be one of {', '.join(LOCATION_SOURCES)}", "source")
    adcode = adcode or ""
    found = _inspect(session, scope, text, key_for, adcode, source if adcode else "none")
    who = found.distributor.id if found.distributor else None
    record_change(session, scope.actor, "channel.inspect", f"code:{found.code or text.strip()[:60]}",
                  brand_id=scope.brand_id, after={"verdict": found.verdict, "adcode": adcode, "source": found.source,
                                                  "distributor_id": who, "reason": found.reason})
    return found


def _inspect(session: Session, scope: ChannelScope, text: str, key_for: KeyFor, adcode: str,
             source: str) -> Inspection:
    place = place_of(adcode) if adcode else None
    try:
        code = read_code(session, scope.brand_id, text, key_for)
    except CodeError as exc:
        return Inspection(NOT_GENUINE, reason=exc.reason, adcode=adcode, place=place, source=source)
    b = code.batch
    case = code.case
    hops = path_of(session, scope.brand_id, b.batch_id, case) if case is not None else []
    parties = _parties(session, scope.brand_id, hops)
    distributor_id, _hop = responsible(hops, lambda store: parties.store_supplier.get(store))
    distributor = parties.distributors.get(distributor_id) if distributor_id is not None else None
    territory = tuple(distributor.territory or ()) if distributor is not None else ()
    if distributor is None:
        verdict = NO_RECORD
    elif not adcode:
        verdict = UNLOCATED
    else:
        verdict = NORMAL if inside_territory(adcode, territory) else DIVERTED
    return Inspection(
        verdict, code=code.code, role=code.role.label, product=b.product, sku=b.sku, lot=b.lot,
        production_date=b.production_date, batch_id=b.batch_id, serial=code.fields.serial,
        case=case,
        path=tuple(Step(h.shipment_id, parties.sender(h), parties.receiver(h), h.state, h.shipped_at, h.received_at)
                   for h in hops),
        distributor=parties.party(distributor) if distributor is not None else None,
        territory=territory, adcode=adcode, place=place, source=source)


@dataclass
class _Parties:
    distributors: dict[int, Distributor]
    stores: dict[int, Store]

    @property
    def store_supplier(self) -> dict[int, int]:
        return {s.id: s.distributor_id for s in self.stores.values()}

    def party(self, d: Distributor) -> Party:
        return Party("distributor", d.id, d.name, d.code)

    def sender(self, hop: Hop) -> Party:
        if hop.from_distributor_id is None:
            return Party("warehouse", None, "")
        d = self.distributors.get(hop.from_distributor_id)
        return self.party(d) if d is not None else Party("distributor", hop.from_distributor_id, "")

    def receiver(self, hop: Hop) -> Party:
        if hop.to_store_id is not None:
            s = self.stores.get(hop.to_store_id)
            return Party("store", hop.to_store_id, s.name if s is not None else "")
        d = self.distributors.get(hop.to_distributor_id) if hop.to_distributor_id is not None else None
        return self.party(d) if d is not None else Party("distributor", hop.to_distributor_id, "")


def _parties(session: Session, brand_id: int, hops: list[Hop]) -> _Parties:
    store_ids = {h.to_store_id for h in hops if h.to_store_id is not None}
    stores = {s.id: s for s in session.scalars(select(Store).where(Store.brand_id == brand_id,
                                                                   Store.id.in_(sorted(store_ids))))}
    distributor_ids = {i for h in hops for i in (h.from_distributor_id, h.to_distributor_id) if i is not None}
    distributor_ids |= {s.distributor_id for s in stores.values()}
    distributors = {d.id: d for d in session.scalars(select(Distributor).where(
        Distributor.brand_id == brand_id, Distributor.id.in_(sorted(distributor_ids))))}
    return _Parties(distributors, stores)
