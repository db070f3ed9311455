"""The prize draw: one campaign, one code, one atomic script in the campaign's own Redis slot.

A scan's state lives under the batch's hash tag and a campaign's pool under its own, so a winning scan is
two idempotent steps (DESIGN §4): the scan script, then `draw.lua` keyed by the code. The draw can run
again for the same scan or code without paying twice: a replay guard answers a retried call, a bitmap
allows one draw per code, and the winner's award is kept and shown again on a rescan.
"""

from __future__ import annotations

import importlib.resources
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rules.campaign import CompiledCampaign, Prize
from rules.receipts import AwardReceipt

DRAW_LUA = importlib.resources.files("rules").joinpath("draw.lua").read_text("utf-8")
RESTORE_LUA = importlib.resources.files("rules").joinpath("restore.lua").read_text("utf-8")
REPLAY_SECONDS = 30

WON, CONSOLATION, LOST = "won", "consolation", "lost"
ALREADY_WON, ALREADY_DRAWN, CAPPED = "already_won", "already_drawn", "capped"
UNAVAILABLE = "unavailable"  # the campaign's counters are gone from Redis until the worker restores them


@dataclass(frozen=True, slots=True)
class DrawResult:
    campaign_id: int
    outcome: str
    prize: Prize | None
    amount_fen: int = 0
    points: int = 0
    coupon: str = ""  # the coupon code handed out, for a coupon prize
    award_id: str = ""  # "<campaign>-<entry id>": the award's id in the SQL ledger ("" when no award)
    receipt: str = ""  # the signed receipt of the award (rules/receipts.py), when the scanner has a key

    @property
    def awarded(self) -> bool:
        return self.outcome in (WON, ALREADY_WON) or (self.outcome == CONSOLATION and self.points > 0)


def campaign_day(campaign: CompiledCampaign, now: float) -> str:
    """The campaign's local calendar day, for daily quantities, budgets and caps."""
    local = datetime.fromtimestamp(now, UTC) + timedelta(minutes=campaign.utc_offset_minutes)
    return local.strftime("%Y%m%d")


def draw_keys(campaign_id: int, *, scan_id: str, batch_id: int, role: str, code: str, member: str,
              day: str) -> list[str]:
    tag = f"{{c:{campaign_id}}}"
    who = member or "-"
    return [
        f"{tag}:req:{scan_id}",
        f"{tag}:drawn:{batch_id}:{role}",
        f"{tag}:award:{code}",
        f"{tag}:spent",
        f"{tag}:spent:{day}",
        f"{tag}:qty",
        f"{tag}:qty:{day}",
        f"{tag}:mem:{who}",
        f"{tag}:mem:{who}:{day}",
        f"{tag}:nth",
        f"{tag}:awards",
    ]


def restore_keys(campaign_id: int, *, batch_id: int, role: str, code: str, member: str, day: str) -> list[str]:
    """KEYS for restore.lua: the draw's keys for the award's own day, less the replay guard and the Nth
    counter, which a restore does not touch."""
    keys = draw_keys(campaign_id, scan_id="", batch_id=batch_id, role=role, code=code, member=member, day=day)
    return keys[1:9] + keys[10:11]


def counter_keys(campaign_id: int, day: str) -> tuple[str, str, str, str]:
    """(spent, spent today, quantities, quantities today) of a campaign: what the ledger guards."""
    tag = f"{{c:{campaign_id}}}"
    return f"{tag}:spent", f"{tag}:spent:{day}", f"{tag}:qty", f"{tag}:qty:{day}"


def open_counters(redis: Any, campaign_id: int) -> None:
    """Let a campaign draw from empty counters (a new campaign with nothing in the ledger yet).

    The draw answers "unavailable" while `{c:<id>}:spent` is missing, so a campaign whose counters Redis
    lost never draws from zero; publish and the worker's repair set them from the SQL ledger instead.
    """
    redis.set(counter_keys(campaign_id, "")[0], 0, nx=True)


def memo_key(campaign_id: int, code: str) -> str:
    return f"{{c:{campaign_id}}}:award:{code}"


def drawn_key(campaign_id: int, batch_id: int, role: str) -> str:
    return f"{{c:{campaign_id}}}:drawn:{batch_id}:{role}"


def coupon_key(campaign_id: int, prize_index: int) -> str:
    return f"{{c:{campaign_id}}}:coupons:{prize_index}"


def awards_key(campaign_id: int) -> str:
    return f"{{c:{campaign_id}}}:awards"


def _prize_row(p: Prize) -> list[Any]:
    return [p.index, p.kind, p.weight, p.min_fen, p.max_fen, p.points, p.total or 0, p.daily or 0]


class Drawer:
    def __init__(self, redis: Any) -> None:
        self._script = redis.register_script(DRAW_LUA)
        self._restore = redis.register_script(RESTORE_LUA)

    def draw(self, campaign: CompiledCampaign, *, code: str, batch_id: int, role: str, serial: int,
             member: str = "", tier: str | None = None, rules_version: int = 0, scan_event: str = "",
             scan_id: str | None = None, now: float | None = None, pipeline: Any = None) -> Any:
        """Run the draw; with `pipeline`, queue it there and return the parse function for the reply."""
        now = time.time() if now is None else now
        day = campaign_day(campaign, now)
        keys = draw_keys(campaign.id, scan_id=scan_id or secrets.token_hex(16), batch_id=batch_id, role=role,
                         code=code, member=member, day=day)
        keys += [coupon_key(campaign.id, p.index) for p in campaign.prizes]
        rng = secrets.SystemRandom()
        args = [
            code, serial, rng.random(), rng.random(), campaign.budget_fen, campaign.daily_budget_fen or 0,
            campaign.per_member or 0, campaign.per_member_daily or 0,
            campaign.nth if campaign.ordinal == "every_nth" else 0, int(campaign.one_per_code),
            campaign.tier_multipliers.get(tier or "", 1.0), rules_version, int(now), member, batch_id, role,
            scan_event, json.dumps([_prize_row(p) for p in campaign.prizes]),
            json.dumps(_prize_row(campaign.consolation)) if campaign.consolation else "", REPLAY_SECONDS,
        ]
        if pipeline is not None:
            self._script(keys=keys, args=args, client=pipeline)
            return lambda reply: self.parse(campaign, reply)
        return self.parse(campaign, self._script(keys=keys, args=args))

    @staticmethod
    def parse(campaign: CompiledCampaign, reply: list[Any]) -> DrawResult:
        outcome = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        index = int(reply[1])
        prize = None
        if index >= 0 and index < len(campaign.prizes):
            prize = campaign.prizes[index]
        elif index == -1 and outcome == CONSOLATION:
            prize = campaign.consolation
        coupon = _text(reply[5]) if len(reply) > 5 else ""
        entry = _text(reply[6]) if len(reply) > 6 else ""
        return DrawResult(campaign.id, outcome, prize, int(reply[3]), int(reply[4]), coupon,
                          f"{campaign.id}-{entry}" if entry else "")

    def restore(self, receipt: AwardReceipt, pipeline: Any = None) -> Any:
        """Bring back the award of a receipt that Redis lost (restore.lua); with `pipeline`, queue it there
        and return the parse function for the reply."""
        r = receipt
        keys = restore_keys(r.campaign_id, batch_id=r.batch_id, role=r.role, code=r.code, member=r.member,
                            day=r.day)
        args = [r.code, r.serial, r.entry_id, r.prize_index, r.kind, r.amount_fen, r.points, r.coupon,
                r.rules_version, r.awarded_at, r.member, r.batch_id, r.role, r.campaign_id]

        def parse(reply: list[Any]) -> DrawResult:
            outcome, entry = _text(reply[0]), _text(reply[6])
            prize = Prize(r.prize_index, r.kind, r.name, 0.0)
            return DrawResult(r.campaign_id, outcome, prize if outcome == ALREADY_WON else None, int(reply[3]),
                              int(reply[4]), _text(reply[5]), f"{r.campaign_id}-{entry}" if entry else "")

        if pipeline is not None:
            self._restore(keys=keys, args=args, client=pipeline)
            return parse
        return parse(self._restore(keys=keys, args=args))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")
