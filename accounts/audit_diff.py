"""An audit entry's before and after as a reader wants them: the fields that changed, one per line.

Nested objects are walked down to their leaves ("definition.budget.total_fen"); a list of objects is
walked by index ("definition.prizes[0].weight"); a list of plain values is one value (["44", "4401"]).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_VALUE_CHARS = 200
_ABSENT = object()


@dataclass(frozen=True)
class FieldChange:
    path: str
    kind: str  # added | removed | changed
    before: str | None  # as `compact` writes it; None when the field was absent
    after: str | None


def compact(value: Any) -> str:
    """A value as a reader wants it: a string as itself, anything else as compact JSON."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                                                           default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS - 1] + "…"


def _leaves(value: Any, path: str) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, child in value.items():
            out.update(_leaves(child, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        out = {}
        for index, child in enumerate(value):
            out.update(_leaves(child, f"{path}[{index}]"))
        return out
    return {path: value}


def field_changes(before: Any, after: Any) -> list[FieldChange]:
    """Every leaf that differs between two JSON documents, in the order the fields appear (before's
    fields first, then the ones only after has). Either side may be None (a creation, a deletion)."""
    old = _leaves(before, "") if before is not None else {}
    new = _leaves(after, "") if after is not None else {}
    changes = []
    for path in list(old) + [p for p in new if p not in old]:
        was, now = old.get(path, _ABSENT), new.get(path, _ABSENT)
        if type(was) is type(now) and was == now:  # JSON true is not 1
            continue
        kind = "added" if was is _ABSENT else "removed" if now is _ABSENT else "changed"
        changes.append(FieldChange(path or "(value)", kind, None if was is _ABSENT else compact(was),
                                   None if now is _ABSENT else compact(now)))
    return changes
