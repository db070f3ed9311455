"""Scans per batch, by kind, from the per-day batch rollup the drain keeps (never the raw events).

One query over the batches asked for: a console page asks for the batches it shows.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reports.models import BatchDay

KINDS = ("first", "repeat", "not_on_sale", "void")


@dataclass(frozen=True)
class ScanCounts:
    by_kind: dict[str, int] = field(default_factory=dict)

    def get(self, kind: str) -> int:
        return self.by_kind.get(kind, 0)

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


def scans_by_batch(session: Session, batch_ids: Collection[int]) -> dict[int, ScanCounts]:
    """batch id → its scan counts by kind (first / repeat / not_on_sale / void); every id asked for is there."""
    counts: dict[int, dict[str, int]] = {b: {} for b in batch_ids}
    if not counts:
        return {}
    query = (select(BatchDay.batch_id, func.sum(BatchDay.first_scans), func.sum(BatchDay.repeat_scans),
                    func.sum(BatchDay.not_on_sale), func.sum(BatchDay.void_scans))
             .where(BatchDay.batch_id.in_(list(counts)))
             .group_by(BatchDay.batch_id))
    for batch_id, *sums in session.execute(query):
        counts[batch_id] = {kind: int(n) for kind, n in zip(KINDS, sums, strict=True) if n}
    return {b: ScanCounts(k) for b, k in counts.items()}
