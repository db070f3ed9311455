"""What a shipment raises when it ships: `double_ship` where its cases are already in another live shipment of
the same sender to a different receiver, `not_held` where a distributor ships cases no live shipment brought
it. Each is computed on runs of case serials per batch (channel/case_ranges.py), one query each.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from channel import case_ranges
from channel.case_ranges import Run
from channel.models import ChannelFlag, Shipment, ShipmentRange


def same_sender(sh: Shipment) -> Any:
    """SQL: a shipment from the same sender (the warehouse is from_distributor_id NULL)."""
    col = Shipment.from_distributor_id
    return col.is_(None) if sh.from_distributor_id is None else col == sh.from_distributor_id


def overlapping(runs: dict[int, list[Run]]) -> Any:
    """SQL: a range of one of these batches that could meet these runs (each batch's envelope)."""
    return or_(*(and_(ShipmentRange.batch_id == b, ShipmentRange.last_case >= rs[0][0],
                      ShipmentRange.first_case <= rs[-1][1]) for b, rs in runs.items()))


def flags_for(session: Session, sh: Shipment, runs: dict[int, list[Run]]) -> list[ChannelFlag]:
    """The flags a shipment of these runs raises when it ships (not yet added to the session)."""
    others: dict[tuple[int, int], list[Run]] = {}
    for batch_id, first, last, other_id, to_d, to_s in session.execute(
            select(ShipmentRange.batch_id, ShipmentRange.first_case, ShipmentRange.last_case, Shipment.id,
                   Shipment.to_distributor_id, Shipment.to_store_id)
            .join(Shipment, Shipment.id == ShipmentRange.shipment_id)
            .where(Shipment.brand_id == sh.brand_id, Shipment.id != sh.id, Shipment.state.in_(Shipment.LIVE),
                   same_sender(sh), overlapping(runs))):
        if (to_d, to_s) != (sh.to_distributor_id, sh.to_store_id):
            others.setdefault((other_id, batch_id), []).append((first, last))
    flags = [ChannelFlag(brand_id=sh.brand_id, kind=ChannelFlag.DOUBLE_SHIP, batch_id=batch_id, first_case=first,
                         last_case=last, shipment_id=sh.id, other_shipment_id=other_id)
             for (other_id, batch_id), theirs in sorted(others.items())
             for first, last in case_ranges.intersect(runs[batch_id], case_ranges.union(theirs))]
    if sh.from_distributor_id is not None:
        held = held_by_sender(session, sh, runs)
        flags += [ChannelFlag(brand_id=sh.brand_id, kind=ChannelFlag.NOT_HELD, batch_id=batch_id, first_case=first,
                              last_case=last, shipment_id=sh.id)
                  for batch_id, rs in sorted(runs.items())
                  for first, last in case_ranges.subtract(rs, held.get(batch_id, []))]
    return flags


def held_by_sender(session: Session, sh: Shipment, runs: dict[int, list[Run]]) -> dict[int, list[Run]]:
    """The cases of these batches that live shipments brought to the sender (a distributor)."""
    held: dict[int, list[Run]] = {}
    for batch_id, first, last in session.execute(
            select(ShipmentRange.batch_id, ShipmentRange.first_case, ShipmentRange.last_case)
            .join(Shipment, Shipment.id == ShipmentRange.shipment_id)
            .where(Shipment.brand_id == sh.brand_id, Shipment.state.in_(Shipment.LIVE),
                   Shipment.to_distributor_id == sh.from_distributor_id, overlapping(runs))):
        held.setdefault(batch_id, []).append((first, last))
    return {b: case_ranges.intersect(runs[b], case_ranges.union(rs)) for b, rs in held.items()}
