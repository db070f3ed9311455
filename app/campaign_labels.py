"""Names the campaign pages show for a definition's fields and values, Chinese first with English."""

from __future__ import annotations

import re

FIELDS = {
    "": ("活动", "Campaign"),
    "name": ("活动名称", "Name"), "brand": ("品牌", "Brand"), "priority": ("优先级", "Priority"),
    "exclusive": ("互斥", "Exclusive"),
    "window": ("活动时间", "Window"), "window.start": ("开始时间", "Start"), "window.end": ("结束时间", "End"),
    "window.timezone": ("时区", "Time zone"), "window.daily_hours": ("每日时段", "Daily hours"),
    "scope": ("适用范围", "Scope"), "scope.products": ("产品", "Products"), "scope.batches": ("批次", "Batches"),
    "scope.serials": ("号段", "Serial segments"), "scope.roles": ("码的类型", "Code roles"),
    "regions": ("地区", "Regions"), "regions.include": ("参与地区", "Included regions"),
    "regions.exclude": ("排除地区", "Excluded regions"),
    "members": ("会员", "Members"), "members.audience": ("参与人群", "Audience"),
    "members.tiers": ("会员等级", "Tiers"), "members.tags": ("会员标签", "Tags"),
    "members.tier_multipliers": ("等级倍数", "Tier multipliers"),
    "ordinal": ("抽奖规则", "Ordinal"), "ordinal.kind": ("哪次扫码抽奖", "Which scans draw"), "ordinal.n": ("N", "N"),
    "first_scan_wins": ("首扫必中", "First scan wins"),
    "caps": ("限制", "Caps"), "caps.per_member_daily": ("每位会员每日最多中奖", "Wins per member per day"),
    "caps.per_member": ("每位会员最多中奖", "Wins per member"), "caps.one_per_code": ("每码一次", "One per code"),
    "budget": ("预算", "Budget"), "budget.total_fen": ("总预算", "Total budget"),
    "budget.daily_fen": ("每日预算", "Daily budget"),
    "prizes": ("奖品", "Prizes"), "consolation": ("安慰奖", "Consolation"),
    "consolation.kind": ("安慰奖类型", "Consolation kind"), "consolation.name": ("安慰奖名称", "Consolation name"),
    "consolation.points": ("安慰奖积分", "Consolation points"),
}
PRIZE_FIELDS = {
    "": ("", ""), "kind": ("类型", "kind"), "name": ("名称", "name"), "min_fen": ("最小金额", "min amount"),
    "max_fen": ("最大金额", "max amount"), "points": ("积分", "points"), "weight": ("中奖概率", "probability"),
    "total": ("总数量", "total"), "daily": ("每日数量", "per day"),
}
_PRIZE = re.compile(r"prizes\[(\d+)\](?:\.(\w+))?")

VALUES = {
    "inner": ("内码", "inner"), "outer": ("外码", "outer"),
    "anyone": ("所有人", "anyone"), "members": ("仅会员", "members"), "new_members": ("仅新会员", "new members"),
    "any": ("每次扫码", "any scan"), "first_scan": ("码的首次扫码", "the code's first scan"),
    "member_first": ("会员首次扫码", "a member's first scan"), "every_nth": ("每第 N 次扫码", "every Nth scan"),
    "cash": ("现金红包", "cash"), "points": ("积分", "points"), "coupon": ("优惠券", "coupon"),
    "voucher": ("兑换券", "voucher"), "physical": ("实物", "physical"), "thanks": ("谢谢参与", "thanks"),
    "created": ("未激活", "created"), "active": ("已激活", "active"),
}


def field_label(path: str) -> tuple[str, str]:
    """(zh, en) for a problem's path: 'prizes[2].weight' → ('奖品 #3 中奖概率', 'Prize #3 probability')."""
    found = _PRIZE.fullmatch(path)
    if found:
        number, key = int(found.group(1)) + 1, found.group(2) or ""
        zh, en = PRIZE_FIELDS.get(key, (key, key))
        return f"奖品 #{number} {zh}".strip(), f"Prize #{number} {en}".strip()
    return FIELDS.get(path, (path, path))


def value_label(value: str) -> tuple[str, str]:
    return VALUES.get(value, (value, value))
