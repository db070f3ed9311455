"""Scans per batch, by kind, from the drained scan events (SQL).

One query, GROUP BY batch and kind, over the batches asked for: a console page asks for the batches it
shows. When the worker keeps rollup tables, this is the one function to point at them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rules.models import ScanEvent

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
    query = (select(ScanEvent.batch_id, ScanEvent.kind, func.count())
             .where(ScanEvent.batch_id.in_(list(counts)))
             .group_by(ScanEvent.batch_id, ScanEvent.kind))
    for batch_id, kind, n in session.execute(query):
        counts[batch_id][kind] = n
    return {b: ScanCounts(k) for b, k in counts.items()}
