"""What a publish or a rollback changes: campaigns added, removed, and changed field by field.

A campaign is compared as its operator wrote it (the definition JSON), not as compiled, so every change
reads in the editor's terms: `prizes.0.weight: 0.3 → 0.25`, `window.end: … → …`. Lists of plain values
(regions, batches, tags) are compared whole; lists of objects (prizes) item by item.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.models import Campaign, RulesVersion

LIVE = "active"  # the status a campaign has in a published version


class _Absent:
    """A side of a change where the field does not exist (added or removed field)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class CampaignRecord:
    """A campaign as written, at one moment (now in SQL, or as a version recorded it)."""

    id: int
    brand_id: int
    name: str
    status: str
    definition: dict[str, Any] | None  # None: a version made before definitions were recorded
    edit_version: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"brand_id": self.brand_id, "name": self.name, "status": self.status,
                "edit_version": self.edit_version, "definition": self.definition}

    @classmethod
    def from_json(cls, campaign_id: int, doc: Mapping[str, Any]) -> CampaignRecord:
        return cls(campaign_id, int(doc["brand_id"]), str(doc["name"]), str(doc.get("status", LIVE)),
                   doc.get("definition"), int(doc.get("edit_version", 0)))


@dataclass(frozen=True)
class FieldChange:
    path: str  # dotted: "prizes.0.weight"; "status" for a status change
    before: Any = ABSENT
    after: Any = ABSENT

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path}
        if self.before is not ABSENT:
            out["before"] = self.before
        if self.after is not ABSENT:
            out["after"] = self.after
        return out


@dataclass(frozen=True)
class CampaignDiff:
    id: int
    name: str
    brand_id: int
    changes: tuple[FieldChange, ...] = ()
    unrecorded: bool = False  # the live version did not record this campaign's definition

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "changes": [c.as_dict() for c in self.changes]}
        if self.unrecorded:
            out["unrecorded"] = True
        return out


@dataclass(frozen=True)
class RulesDiff:
    """Against `base_version` (0: nothing published yet)."""

    base_version: int
    added: tuple[CampaignDiff, ...] = ()
    removed: tuple[CampaignDiff, ...] = ()
    changed: tuple[CampaignDiff, ...] = ()
    unchanged: int = 0
    definitions: Mapping[int, dict[str, Any] | None] = field(default_factory=dict)  # the added ones, whole

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "base_version": self.base_version,
            "added": [{**c.as_dict(), "definition": self.definitions.get(c.id)} for c in self.added],
            "removed": [c.as_dict() for c in self.removed],
            "changed": [c.as_dict() for c in self.changed],
            "unchanged": self.unchanged,
        }


def _plain_list(value: list[Any]) -> bool:
    return all(not isinstance(v, dict | list) for v in value)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b  # True == 1 in Python, not in a definition


def definition_changes(before: Any, after: Any, path: str = "") -> Iterator[FieldChange]:
    """Every leaf that differs between two definitions, as dotted paths, in document order."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = list(before) + [k for k in after if k not in before]
        for key in keys:
            yield from definition_changes(before.get(key, ABSENT), after.get(key, ABSENT),
                                          f"{path}.{key}" if path else str(key))
        return
    if isinstance(before, list) and isinstance(after, list) and not (_plain_list(before) and _plain_list(after)):
        for i in range(max(len(before), len(after))):
            yield from definition_changes(before[i] if i < len(before) else ABSENT,
                                          after[i] if i < len(after) else ABSENT, f"{path}.{i}" if path else str(i))
        return
    if before is ABSENT and after is ABSENT:
        return
    if not _same(before, after):
        yield FieldChange(path, before, after)


def diff_campaigns(live: Mapping[int, CampaignRecord], next_live: Mapping[int, CampaignRecord],
                   statuses: Mapping[int, str] | None = None) -> tuple[
                       tuple[CampaignDiff, ...], tuple[CampaignDiff, ...], tuple[CampaignDiff, ...], int]:
    """(added, removed, changed, unchanged count) going from `live` to `next_live` (both: id → record).

    A removed campaign carries its status change when `statuses` (every campaign's status now) is given:
    paused, ended, draft, or "deleted" when it no longer exists.
    """
    def status_change(r: CampaignRecord) -> tuple[FieldChange, ...]:
        now = statuses.get(r.id, "deleted") if statuses is not None else LIVE
        return (FieldChange("status", r.status, now),) if now != r.status else ()

    added = tuple(CampaignDiff(r.id, r.name, r.brand_id) for i, r in sorted(next_live.items()) if i not in live)
    removed = tuple(CampaignDiff(r.id, r.name, r.brand_id, status_change(r))
                    for i, r in sorted(live.items()) if i not in next_live)
    changed: list[CampaignDiff] = []
    unchanged = 0
    for i, now in sorted(next_live.items()):
        was = live.get(i)
        if was is None:
            continue
        if was.definition is None:
            changed.append(CampaignDiff(i, now.name, now.brand_id, unrecorded=True))
            continue
        changes = tuple(definition_changes(was.definition, now.definition))
        if changes:
            changed.append(CampaignDiff(i, now.name, now.brand_id, changes))
        else:
            unchanged += 1
    return added, removed, tuple(changed), unchanged


def rules_diff(base_version: int, live: Mapping[int, CampaignRecord], next_live: Mapping[int, CampaignRecord],
               statuses: Mapping[int, str] | None = None) -> RulesDiff:
    added, removed, changed, unchanged = diff_campaigns(live, next_live, statuses)
    return RulesDiff(base_version, added, removed, changed, unchanged,
                     {c.id: next_live[c.id].definition for c in added})


# -- the records on each side -------------------------------------------------------------------------


def sql_records(session: Session, brand_id: int | None) -> list[CampaignRecord]:
    """Every campaign of the brand (None: of every brand) as it is in SQL now, whatever its status."""
    query = select(Campaign).order_by(Campaign.id)
    if brand_id is not None:
        query = query.where(Campaign.brand_id == brand_id)
    return [CampaignRecord(c.id, c.brand_id, c.name, c.status, c.definition, c.edit_version)
            for c in session.scalars(query)]


def version_records(row: RulesVersion | None, brand_id: int | None) -> dict[int, CampaignRecord]:
    """The campaigns a version put live, of the brand (None: every brand). Versions that recorded no
    definitions give records with `definition` None, named from the compiled snapshot."""
    if row is None:
        return {}
    recorded = row.definitions or {}
    out: dict[int, CampaignRecord] = {}
    for compiled in row.snapshot.get("campaigns", []):
        cid, owner = int(compiled["id"]), int(compiled["brand_id"])
        if brand_id is not None and owner != brand_id:
            continue
        doc = recorded.get(str(cid))
        out[cid] = (CampaignRecord.from_json(cid, doc) if doc is not None
                    else CampaignRecord(cid, owner, str(compiled.get("name", "")), LIVE, None))
    return out
