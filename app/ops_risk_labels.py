"""The console's words for the risk review (zh-CN first): subject kinds, rule words, evidence figures, flag
states, and the policy form's groups and fields. A word not listed shows as itself."""

from __future__ import annotations

from typing import Any

from app.auth import tr
from app.payout_labels import yuan
from risk.policy import ACTIONS, RiskPolicy
from rules.models import Award

KINDS: dict[str, tuple[str, str]] = {
    "d": ("设备", "Device"), "m": ("会员", "Member"), "n": ("网络", "Network"), "p": ("定位点", "GPS point"),
    "range": ("码段", "Code range"), "ip": ("IP 地址", "IP address"),
}
RULES: dict[str, tuple[str, str]] = {
    "sweep": ("扫货/连号", "Sweep / serial run"), "farm": ("多账号", "Account farm"), "hop": ("换机", "Phone hopping"),
    "presale": ("未上市扫码", "Scanned before sale"), "gps": ("定位异常", "GPS spoofing"),
    "travel": ("异地", "Impossible travel"), "market": ("跨区", "Out of market"),
    "velocity": ("频率超限", "Too fast"), "busy": ("地址繁忙", "Busy address"), "list": ("名单", "Listed"),
    "review": ("审核", "Review"), "range": ("码段封禁", "Blocked range"), "tainted": ("泄露码", "Leaked code"),
    "rotate": ("轮换网络", "Rotating addresses"), "capped": ("上限转号", "Capped code passed on"),
}
STATES: dict[str, tuple[str, str]] = {
    "open": ("待审核", "Open"), "blocked": ("已封禁", "Blocked"), "cleared": ("已放行", "Cleared"),
}
STATE_TONES = {"open": "paused", "blocked": "void", "cleared": "active"}
LIST_ACTIONS: dict[str, tuple[str, str]] = {"block": ("黑名单（封禁）", "Block"), "allow": ("白名单（放行）", "Allow")}
LIST_TONES = {"block": "void", "allow": "active"}
DECISIONS: dict[str, tuple[str, str]] = {
    "allow": ("放行", "allow"), "hold": ("扣留待审", "hold"), "challenge": ("稍后再试", "challenge"),
    "no_prize": ("不发奖", "no prize"), "block": ("封禁", "block"),
}
# Evidence figures the observer stores on a flag (risk.observer): how each reads.
FIGURES: dict[str, tuple[str, str]] = {
    "near_today": ("今日相邻流水号扫码", "Nearby serials scanned today"),
    "presale": ("未上市 / 作废码扫码次数", "Codes scanned before sale or void"),
    "codes_this_hour": ("本小时扫码数", "Codes this hour"), "province": ("扫码省份", "Province scanned"),
    "batch_province": ("批次销售省份", "Batch's market"), "batch": ("批次", "Batch"),
}
PRIZE_KINDS: dict[str, tuple[str, str]] = {
    "cash": ("现金红包", "Cash"), "points": ("积分", "Points"), "coupon": ("优惠券", "Coupon"),
    "voucher": ("兑换券", "Voucher"), "physical": ("实物", "Physical prize"),
}
AWARD_STATES: dict[str, tuple[str, str]] = {
    "": ("未审核", "Not held"), Award.HELD: ("扣留中", "Held"), Award.RELEASED: ("已放行", "Released"),
}

# The policy form: groups of RiskPolicy fields, each with its words and its unit.
SECONDS, COUNT, KM, SERIALS = "s", "n", "km", "serials"
UNITS: dict[str, tuple[str, str]] = {SECONDS: ("秒", "s"), COUNT: ("次", ""), KM: ("公里", "km"),
                                     SERIALS: ("个流水号", "serials")}
POLICY_GROUPS: list[tuple[str, str, str, list[tuple[str, str, str, str]]]] = [
    ("general", "总体", "General", [
        ("enabled", "启用风控", "Risk layer on", ""),
        ("keep_drawable", "不发奖时保留码的抽奖资格（留给真正的买家）", "A withheld code stays drawable for its owner",
         ""),
    ]),
    ("velocity", "频率", "Velocity", [
        ("device_per_minute", "每台设备每分钟扫码上限", "Scans per device per minute", COUNT),
        ("device_per_hour", "每台设备每小时扫码上限", "Scans per device per hour", COUNT),
        ("device_per_day", "每台设备每天扫码上限", "Scans per device per day", COUNT),
        ("member_per_hour", "每个会员每小时扫码上限", "Scans per member per hour", COUNT),
        ("member_per_day", "每个会员每天扫码上限", "Scans per member per day", COUNT),
        ("ip_per_minute", "单个 IP 每分钟扫码上限（超出后新设备需稍后再试）", "Scans per address per minute", COUNT),
        ("network_per_hour", "同一网段每小时扫码上限", "Scans per /24 network per hour", COUNT),
    ]),
    ("farms", "多账号", "Account farms", [
        ("members_per_device", "一台设备当天最多会员数", "Members on one phone today", COUNT),
        ("devices_per_member", "一个会员当天最多设备数", "Phones of one member today", COUNT),
        ("members_per_device_month", "一台设备 30 天内最多会员数", "Members on one phone in 30 days", COUNT),
        ("devices_per_member_month", "一个会员 30 天内最多设备数（超出扣留奖品）", "Phones of one member in 30 days",
         COUNT),
        ("networks_per_hour", "一台设备或一个会员每小时最多网段数（超出扣留奖品：轮换代理）",
         "Networks one phone or member scans from in an hour", COUNT),
        ("cap_follows_code", "达到领奖上限的码，同一设备上的其他账号也不再中奖",
         "A capped code gives nothing to the phone's other accounts", ""),
    ]),
    ("sweeps", "扫货", "Sweeps", [
        ("sweep_window_s", "扫货判定时间窗", "Sweep window", SECONDS),
        ("sweep_same_case", "同一设备扫同一箱的次数上限", "Codes of one case from one phone", COUNT),
        ("sweep_near", "同一设备扫相邻流水号的次数上限", "Nearby serials from one phone", COUNT),
        ("network_sweep_same_case", "同一网络扫同一箱的次数上限", "Codes of one case from one network", COUNT),
        ("near_distance", "“相邻”的流水号距离", "What counts as nearby", SERIALS),
    ]),
    ("leaked", "未上市", "Leaked packs", [
        ("presale_hold", "扫过几个未上市码后扣留奖品", "Pre-sale codes before prizes are held", COUNT),
        ("presale_block", "扫过几个未上市码后封禁", "Pre-sale codes before blocking", COUNT),
        ("tainted_code", "上市前被扫过的码再次中奖时", "A code scanned before sale", "action"),
    ]),
    ("places", "定位", "Places", [
        ("travel_window_s", "异地判定时间窗", "Travel window", SECONDS),
        ("travel_km", "时间窗内两次扫码的距离上限", "Distance within the window", KM),
        ("gps_repeats", "同一设备重复发送完全相同定位的次数上限", "Exact same fix repeated by one phone", COUNT),
        ("devices_per_point", "同一精确定位点当天最多设备数", "Phones at one exact point today", COUNT),
        ("new_device_s", "多久以内算“新设备”", "A phone is new for", SECONDS),
    ]),
    ("payout", "发奖", "Payout", [
        ("payout_delay_s", "现金奖品最早发放时间（中奖后）", "Cash is paid no sooner than", SECONDS),
    ]),
]
POLICY_FIELDS = {name: (zh, en, unit) for _g, _zh, _en, rows in POLICY_GROUPS for name, zh, en, unit in rows}
assert set(POLICY_FIELDS) == set(RiskPolicy.field_names()), "every policy field is on the form once"


def _word(table: dict[str, tuple[str, str]], key: str) -> str:
    zh, en = table.get(key, (key, key))
    return tr(zh, en)


def kind_label(kind: str) -> str:
    return _word(KINDS, kind)


def rule_label(reason: str) -> str:
    """A flag's reason word ("sweep", or as on a scan event "sweep:d") in words."""
    return _word(RULES, reason.partition(":")[0])


def state_word(state: str) -> str:
    return _word(STATES, state)


def list_action_label(action: str) -> str:
    return _word(LIST_ACTIONS, action)


def decision_label(action: str) -> str:
    return _word(DECISIONS, action)


def figure_label(name: str) -> str:
    return _word(FIGURES, name)


def award_hold_label(hold: str) -> str:
    return _word(AWARD_STATES, hold)


def short_subject(kind: str, subject: str) -> str:
    """Enough of a digest or ref to tell subjects apart; networks, points and ranges are short already."""
    if kind in ("d", "m") and len(subject) > 14:
        return f"{subject[:8]}…{subject[-4:]}"
    return subject


def prize_text(award: Award) -> str:
    if award.kind == "cash":
        return yuan(award.amount_fen)
    if award.kind == "points":
        return tr(f"{award.points:,} 积分", f"{award.points:,} points")
    return _word(PRIZE_KINDS, award.kind)


def unit_label(unit: str) -> str:
    return _word(UNITS, unit) if unit in UNITS else ""


def duration_text(seconds: int) -> str:
    """600 → "10 分钟"; what a number of seconds reads as beside the form's field."""
    for size, zh, en in ((86_400, "天", "d"), (3600, "小时", "h"), (60, "分钟", "min")):
        if seconds >= size and seconds % size == 0:
            return tr(f"{seconds // size} {zh}", f"{seconds // size} {en}")
    return tr(f"{seconds} 秒", f"{seconds} s")


def default_text(name: str) -> str:
    """The field's default as the form says it."""
    value: Any = getattr(RiskPolicy(), name)
    unit = POLICY_FIELDS[name][2]
    if isinstance(value, bool):
        return tr("开", "on") if value else tr("关", "off")
    if unit == "action":
        return decision_label(value)
    if unit == SECONDS:
        return duration_text(value)
    return f"{value:,} {unit_label(unit)}".strip()


def actor_name(actor: str) -> str:
    """"user:3 ops@demo.example" → "ops@demo.example"; other actors as they are."""
    return actor.partition(" ")[2] or actor if actor.startswith("user:") else actor


def policy_default(name: str) -> Any:
    return getattr(RiskPolicy(), name)


def risk_helpers() -> dict[str, object]:
    """For the risk blueprint's context processor."""
    return {"kind_label": kind_label, "rule_label": rule_label, "state_word": state_word,
            "state_tones": STATE_TONES, "list_action_label": list_action_label, "list_tones": LIST_TONES,
            "figure_label": figure_label, "short_subject": short_subject, "prize_text": prize_text,
            "award_hold_label": award_hold_label, "decision_label": decision_label, "unit_label": unit_label,
            "default_text": default_text, "policy_default": policy_default,
            "actor_name": actor_name, "duration_text": duration_text, "policy_actions": ACTIONS}
