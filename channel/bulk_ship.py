"""The API's bulk 出库: one call opens, fills and ships a shipment from an upload (scanner guns, PDAs, CSV)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert, text
from sqlalchemy.orm import Session

from channel import case_ranges
from channel.case_ranges import Run
from channel.case_reader import CaseReader, CaseRefused
from channel.codes import KeyFor
from channel.errors import InvalidChannel
from channel.models import Shipment, ShipmentRange
from channel.scope import ChannelScope
from channel.shipments import ShipResult, Totals, audit, audited_runs, new_shipment, ship_runs
from codegen.db import pg_unnest_insert

MAX_BULK_CODES = 200_000  # one upload; the API's body bound (8 MiB) holds about 100,000 scan URLs
MAX_PROBLEMS_LISTED = 100  # a refused upload lists this many bad lines, and counts them all


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
    sh = new_shipment(session, scope, to_distributor_id, to_store_id, reference)  # 403 / 404 before any code
    if not lines:
        raise InvalidChannel("no codes to ship", field="codes")
    if len(lines) > MAX_BULK_CODES:
        raise InvalidChannel(f"at most {MAX_BULK_CODES:,} codes per upload, not {len(lines):,}", field="codes")
    reader = CaseReader(session, scope.brand_id, key_for)
    try:
        cases, duplicates = _read_all(reader, lines)
    except BulkRejected:
        session.delete(sh)  # nothing written, even for a caller that commits after catching this
        session.flush()
        raise
    runs = {b: case_ranges.collapse(cs) for b, cs in sorted(cases.items())}
    _insert_runs(session, sh, runs)
    count = Totals(sum(case_ranges.count(rs) for rs in runs.values()),
                   sum(case_ranges.items_in(first, last, reader.batch(b).pack_size, reader.batch(b).quantity)
                       for b, rs in runs.items() for first, last in rs))
    flags = ship_runs(session, sh, runs, count)
    audit(session, scope, "bulk_ship", sh, to_distributor=sh.to_distributor_id, to_store=sh.to_store_id,
          reference=sh.reference, lines=len(lines), duplicates=duplicates, cases=sh.case_count,
          items=sh.item_count, flags=len(flags), ranges=audited_runs(runs))
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
