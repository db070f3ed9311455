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
    "inner": ("内码", "inner"), "outer": ("外码", "outer"), "case": ("箱码", "case"),
    "anyone": ("所有人", "anyone"), "members": ("仅会员", "members"), "new_members": ("仅新会员", "new members"),
    "store_open_case": ("门店开箱扫码（B 端）", "store opens a case (B side)"),
    "waiter_open_bottle": ("服务员开瓶扫码（B 端）", "waiter opens a bottle (B side)"),
    "store_sell_through": ("门店动销返利（BC 一体化）", "store sell-through rebate (BC)"),
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


# The validator speaks English (it is the API's); the console shows its problems in Chinese first. A
# message without a translation here is shown as it is.
_MESSAGES: list[tuple[re.Pattern[str], str]] = [(re.compile(p), zh) for p, zh in [
    (r"is required.*", "必填"),
    (r"must be a whole number", "须为整数"),
    (r"must be true or false", "须为是或否"),
    (r"must be 1-(\d+) characters", r"须为 1–\1 个字符"),
    (r"ends before it starts", "结束时间早于开始时间"),
    (r"must be a date-time like .*", "请填写日期和时间"),
    (r"must be between the years 2000 and 2100", "年份须在 2000 到 2100 之间"),
    (r"must be a date and time.*", "请填写日期和时间"),
    (r"unknown time zone (.*)", r"未知时区 \1"),
    (r"unknown brand (.*)", r"未知品牌 \1"),
    (r"unknown SKU (\S+) for brand .*", r"此品牌没有产品 \1"),
    (r"unknown batch (\d+).*", r"未知批次 \1"),
    (r"batch (\d+) is not of the scoped products", r"批次 \1 不属于所选产品"),
    (r"serial ranges need scope.batches.*", "号段需要先选择批次（序号按批次编号）"),
    (r"no serial range falls inside the batches \(largest has (\d+) items\)",
     r"号段都不在批次范围内（最大的批次有 \1 个码）"),
    (r"no serial range falls inside the batches \(largest has (\d+) cases\)",
     r"号段都不在批次范围内（最大的批次有 \1 箱）"),
    (r"a store_open_case campaign draws on case codes only", "开箱扫码活动只能选择箱码"),
    (r"a waiter_open_bottle campaign draws on inner codes only", "开瓶扫码活动只能选择内码（瓶盖内）"),
    (r"a store_sell_through campaign draws on inner and outer codes only", "动销返利活动只能选择内码或外码"),
    (r"a B-side campaign draws once per code.*", "B 端活动每个码（每箱、每个瓶盖）只抽一次"),
    (r"is for consumer campaigns.*", "仅适用于消费者活动（B 端活动没有会员等级和标签）"),
    (r"a B-side campaign draws on any scan or every Nth.*", "B 端活动只能选择“每次扫码”或“每第 N 次扫码”"),
    (r"a B-side campaign takes the store's own region.*", "B 端活动按门店所在地区判断，不能选择地区依据"),
    (r"must be a non-empty list of \[first, last\].*", "每个号段的起始序号须不大于结束序号"),
    (r"may hold only inner and outer", "只能是内码或外码"),
    (r"must be a list of non-empty strings", "请至少选择一项（不选表示不限）"),
    (r"unknown region (.*)", r"未知地区 \1"),
    (r"(.*) is not an adcode prefix.*", r"\1 不是有效的地区代码"),
    (r"excludes every included region.*", "排除了全部参与地区：活动将不会命中任何扫码"),
    (r"per-member caps need members.audience.*", "按会员限制中奖次数时，参与人群须为会员或新会员"),
    (r"multiplier of (.*) must be above 0 and at most 10", r"\1 的倍数须大于 0 且不超过 10"),
    (r"(.*): ([\d.]+) 元 × (\S+) exceeds the 200 元 limit.*", r"\1：\2 元 × \3 超过单个红包 200 元的上限"),
    (r"a multiplier needs its tier", "倍数需要填写会员等级"),
    (r"the multiplier of (.*) is missing", r"\1 缺少倍数"),
    (r"must be one of .*", "请从列表中选择"),
    (r"must be a probability between 0 and 1.*", "中奖概率须在 0% 到 100% 之间"),
    (r"must not be below min_fen", "最大金额不能小于最小金额"),
    (r"is above the total quantity", "每日数量不能超过总数量"),
    (r"is above the total budget", "每日预算不能超过总预算"),
    (r"only (\S+) prizes have (\S+).*", r"只有 \1 类奖品才有此项"),
    (r"needs at least one prize", "至少需要一个奖品"),
    (r"probabilities add up to (.*), over 100 %", r"各奖品中奖概率合计 \1，超过 100%"),
    (r"首扫必中 .*needs a consolation.*", "首扫必中需要设置安慰奖（未抽中奖品时发放）"),
    (r"([\d.]+) 元 is below the worst case of the prize quantities, ([\d.]+) 元.*",
     r"预算 \1 元低于奖品数量的最坏情况 \2 元：请提高预算或减少奖品数量"),
    (r"overlaps exclusive campaign (\d+) \((.*)\) in scope and time", r"与互斥活动 #\1 \2 在范围和时间上重叠"),
    (r"unknown field.*", "未知字段"),
    (r'must be \["HH:MM", "HH:MM"\].*', "每日时段须为两个不同的时间，如 08:00 和 22:00（结束可为 24:00）"),
    (r"is empty: it would match nothing.*", "为空时不会命中任何扫码（不限请不要选择）"),
    (r"campaign \d+ has ended.*", "活动已结束，不能再修改"),
    (r"(.*) is not a number", r"\1 不是数字"),
    (r"(.*) has more than two decimals.*", r"\1 超过两位小数（最小单位 0.01 元）"),
    (r"(.*) must be a whole number", r"\1 须为整数"),
    (r"(.*) is too large", r"\1 太大"),
    (r"not a genuine code \((.*)\)", r"不是真码（\1）"),
    (r"choose a batch, or paste a code", "请选择批次，或粘贴一个码"),
    (r"must be a whole number 0-(\d+)", r"须为 0 到 \1 之间的整数"),
]]
_RANGE = re.compile(r"must be between (-?\d+) and (-?\d+)")


def problem_text(path: str, message: str) -> tuple[str, str]:
    """(zh, en) for a problem; an amount range of a fen field is said in 元, as the form asks for it."""
    found = _RANGE.fullmatch(message)
    if found:
        low, high = int(found.group(1)), int(found.group(2))
        if path.endswith("_fen"):
            return (f"金额须在 {low / 100:g} 到 {high / 100:g} 元之间",
                    f"must be between {low / 100:g} and {high / 100:g} yuan")
        return f"须在 {low} 到 {high} 之间", message
    for pattern, zh in _MESSAGES:
        if pattern.fullmatch(message):
            return pattern.sub(zh, message), message
    return message, message
