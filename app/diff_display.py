"""A rules diff as a person reads it: fields named in zh-CN and English, values short and plain."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from app.auth import tr
from rules.diff import ABSENT, CampaignDiff, FieldChange, RulesDiff

# Each segment of a definition's dotted path; numbers become "#n" (1-based) after a list's name.
_LABELS: dict[str, tuple[str, str]] = {
    "name": ("名称", "Name"), "brand": ("品牌", "Brand"), "priority": ("优先级", "Priority"),
    "exclusive": ("互斥", "Exclusive"), "window": ("时间", "Window"), "start": ("开始", "Start"),
    "end": ("结束", "End"), "daily_hours": ("每日时段", "Daily hours"), "timezone": ("时区", "Time zone"),
    "scope": ("范围", "Scope"), "products": ("产品", "Products"), "batches": ("批次", "Batches"),
    "serials": ("码段", "Serials"), "roles": ("码类型", "Code roles"), "regions": ("地区", "Regions"),
    "include": ("包含", "Include"), "exclude": ("排除", "Exclude"), "members": ("会员", "Members"),
    "audience": ("人群", "Audience"), "tiers": ("等级", "Tiers"), "tags": ("标签", "Tags"),
    "tier_multipliers": ("等级倍数", "Tier multipliers"), "ordinal": ("扫码次序", "Ordinal"),
    "kind": ("类型", "Kind"), "n": ("每 N 次", "Every n"), "first_scan_wins": ("首扫必中", "First scan wins"),
    "caps": ("限制", "Caps"), "per_member_daily": ("每人每日", "Per member daily"),
    "per_member": ("每人", "Per member"), "one_per_code": ("每码一次", "One per code"),
    "budget": ("预算", "Budget"), "total_fen": ("总额（分）", "Total (fen)"),
    "daily_fen": ("每日（分）", "Daily (fen)"), "prizes": ("奖品", "Prize"),
    "min_fen": ("最小金额（分）", "Min (fen)"), "max_fen": ("最大金额（分）", "Max (fen)"),
    "weight": ("概率", "Probability"), "total": ("总数量", "Total quantity"),
    "daily": ("每日数量", "Daily quantity"), "points": ("积分", "Points"),
    "consolation": ("安慰奖", "Consolation"), "status": ("状态", "Status"),
}
_STATUSES: dict[str, tuple[str, str]] = {
    "active": ("生效中", "active"), "paused": ("已暂停", "paused"), "ended": ("已结束", "ended"),
    "draft": ("草稿", "draft"), "deleted": ("已删除", "deleted"),
}


def field_label(path: str) -> str:
    parts: list[str] = []
    for segment in path.split("."):
        if segment.isdigit() and parts:
            parts[-1] = f"{parts[-1]} #{int(segment) + 1}"
        else:
            zh, en = _LABELS.get(segment, (segment, segment))
            parts.append(tr(zh, en))
    return " › ".join(parts)


def status_label(status: str) -> str:
    zh, en = _STATUSES.get(status, (status, status))
    return tr(zh, en)


def show_value(value: Any, path: str = "") -> str:
    if value is ABSENT:
        return "—"
    if path == "status" and isinstance(value, str):
        return status_label(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return tr("是", "yes") if value else tr("否", "no")
    leaf = path.rsplit(".", 1)[-1]
    if leaf.endswith("_fen") and isinstance(value, int):
        return tr(f"{value / 100:,.2f} 元（{value} 分）", f"¥{value / 100:,.2f} ({value} fen)")
    if leaf == "weight" and isinstance(value, int | float):
        return f"{value:.6g}（{value * 100:.4g}%）"
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class ChangeRow:
    label: str
    path: str
    before: str
    after: str


@dataclass(frozen=True)
class CampaignView:
    id: int
    name: str
    changes: tuple[ChangeRow, ...]
    unrecorded: bool
    summary: str = ""


def _rows(changes: tuple[FieldChange, ...]) -> tuple[ChangeRow, ...]:
    return tuple(ChangeRow(field_label(c.path), c.path, show_value(c.before, c.path), show_value(c.after, c.path))
                 for c in changes)


def _summary(definition: dict[str, Any] | None) -> str:
    """One line about an added campaign: its window, budget and prizes."""
    if not definition:
        return ""
    window = definition.get("window") or {}
    budget = (definition.get("budget") or {}).get("total_fen")
    prizes = definition.get("prizes") or []
    bits = []
    if window.get("start") and window.get("end"):
        bits.append(f"{str(window['start'])[:16].replace('T', ' ')} → {str(window['end'])[:16].replace('T', ' ')}")
    if isinstance(budget, int):
        bits.append(tr(f"预算 {budget / 100:,.2f} 元", f"budget ¥{budget / 100:,.2f}"))
    bits.append(tr(f"{len(prizes)} 种奖品", f"{len(prizes)} prize(s)"))
    return " · ".join(bits)


def _view(c: CampaignDiff, definition: dict[str, Any] | None = None) -> CampaignView:
    return CampaignView(c.id, c.name, _rows(c.changes), c.unrecorded, _summary(definition))


@dataclass(frozen=True)
class DiffView:
    base_version: int
    added: tuple[CampaignView, ...]
    removed: tuple[CampaignView, ...]
    changed: tuple[CampaignView, ...]
    unchanged: int

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def diff_view(diff: RulesDiff) -> DiffView:
    return DiffView(diff.base_version, tuple(_view(c, diff.definitions.get(c.id)) for c in diff.added),
                    tuple(_view(c) for c in diff.removed), tuple(_view(c) for c in diff.changed), diff.unchanged)
