"""The prize draw: one campaign, one code, one atomic script in the campaign's own Redis slot.

A scan's state lives under the batch's hash tag and a campaign's pool under its own, so a winning scan is
two idempotent steps (DESIGN §4): the scan script, then `draw.lua` keyed by the code. The draw can run
again for the same scan or code without paying twice: a replay guard answers a retried call, a bitmap
allows one draw per code, and the winner's award is kept and shown again on a rescan.
"""

from __future__ import annotations

import functools
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rules.campaign import CompiledCampaign, Prize
from rules.campaign_keys import counter_keys, coupon_key, draw_keys, drawn_key, memo_key, restore_keys
from rules.lua import Arg, LuaScript, ScriptCall, ScriptCaller
from rules.receipts import AwardReceipt

DRAW = LuaScript.of("rules", "draw.lua")
RESTORE = LuaScript.of("rules", "restore.lua")
STATE = LuaScript.of("rules", "draw_state.lua")
REPLAY_SECONDS = 30

WON, CONSOLATION, LOST = "won", "consolation", "lost"
ALREADY_WON, ALREADY_DRAWN, CAPPED = "already_won", "already_drawn", "capped"
UNAVAILABLE = "unavailable"  # the campaign's counters are gone from Redis until the worker restores them
# Told to a rescan from another phone that does not draw itself (draw_state_call): the code's prize was
# taken, or its first scan (the one that draws in a first-scan campaign) was made on another phone.
TAKEN, FIRST_SCAN_USED = "taken", "first_scan_used"


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
    held: bool = False  # the risk layer held the award: in the ledger, never paid until a reviewer releases it

    @property
    def awarded(self) -> bool:
        return self.outcome in (WON, ALREADY_WON) or (self.outcome == CONSOLATION and self.points > 0)


def campaign_day(campaign: CompiledCampaign, now: float) -> str:
    """The campaign's local calendar day, for daily quantities, budgets and caps."""
    local = datetime.fromtimestamp(now, UTC) + timedelta(minutes=campaign.utc_offset_minutes)
    return local.strftime("%Y%m%d")


def open_counters(redis: Any, campaign_id: int) -> None:
    """Let a campaign draw from empty counters (a new campaign with nothing in the ledger yet).

    The draw answers "unavailable" while `{c:<id>}:spent` is missing, so a campaign whose counters Redis
    lost never draws from zero; publish and the worker's repair set them from the SQL ledger instead.
    """
    redis.set(counter_keys(campaign_id, "")[0], 0, nx=True)


def _prize_row(p: Prize) -> list[Any]:
    return [p.index, p.kind, p.weight, p.min_fen, p.max_fen, p.points, p.total or 0, p.daily or 0]


def draw_call(campaign: CompiledCampaign, *, code: str, batch_id: int, role: str, serial: int, member: str = "",
              tier: str | None = None, rules_version: int = 0, scan_event: str = "", scan_id: str | None = None,
              now: float | None = None, held: bool = False, spend: bool = False,
              pay_after: int = 0) -> ScriptCall[DrawResult]:
    """The wrapper of rules/draw.lua: one code's draw in one campaign. A call repeated with the same
    `scan_id` replays its first reply; the same code never draws twice where the campaign says so.
    `held`: the risk layer holds any award (never paid until reviewed); `spend`: the code's draw is spent
    with no prize (a risk decision of no prize under a policy that does not keep codes drawable); `pay_after`:
    the unix time before which a cash award is not paid (the risk layer's payout delay; 0 none)."""
    now = time.time() if now is None else now
    day = campaign_day(campaign, now)
    keys = draw_keys(campaign.id, scan_id=scan_id or secrets.token_hex(16), batch_id=batch_id, role=role,
                     code=code, member=member, day=day)
    keys += [coupon_key(campaign.id, p.index) for p in campaign.prizes]
    rng = secrets.SystemRandom()
    args: list[Arg] = [
        code, serial, rng.random(), rng.random(), campaign.budget_fen, campaign.daily_budget_fen or 0,
        campaign.per_member or 0, campaign.per_member_daily or 0,
        campaign.nth if campaign.ordinal == "every_nth" else 0, int(campaign.one_per_code),
        campaign.tier_multipliers.get(tier or "", 1.0), rules_version, int(now), member, batch_id, role,
        scan_event, _prize_rows(campaign), _consolation_row(campaign), REPLAY_SECONDS,
        "1" if held else "", "1" if spend else "", pay_after or "",
    ]
    return ScriptCall(DRAW, keys, args, lambda reply: _draw_result(campaign, reply))


def _draw_result(campaign: CompiledCampaign, reply: list[Any]) -> DrawResult:
    outcome = _text(reply[0])
    index = int(reply[1])
    prize = None
    if 0 <= index < len(campaign.prizes):
        prize = campaign.prizes[index]
    elif index == -1 and outcome == CONSOLATION:
        prize = campaign.consolation
    entry = _text(reply[6])
    return DrawResult(campaign.id, outcome, prize, int(reply[3]), int(reply[4]), _text(reply[5]),
                      f"{campaign.id}-{entry}" if entry else "", held=len(reply) > 7 and _text(reply[7]) == "1")


def restore_call(receipt: AwardReceipt) -> ScriptCall[DrawResult]:
    """The wrapper of rules/restore.lua: bring back the award of a receipt that Redis lost."""
    r = receipt
    keys = restore_keys(r.campaign_id, batch_id=r.batch_id, role=r.role, code=r.code, member=r.member, day=r.day)
    args: list[Arg] = [r.code, r.serial, r.entry_id, r.prize_index, r.kind, r.amount_fen, r.points, r.coupon,
            r.rules_version, r.awarded_at, r.member, r.batch_id, r.role, r.campaign_id]

    def parse(reply: list[Any]) -> DrawResult:
        outcome, entry = _text(reply[0]), _text(reply[6])
        prize = Prize(r.prize_index, r.kind, r.name, 0.0)
        return DrawResult(r.campaign_id, outcome, prize if outcome == ALREADY_WON else None, int(reply[3]),
                          int(reply[4]), _text(reply[5]), f"{r.campaign_id}-{entry}" if entry else "")

    return ScriptCall(RESTORE, keys, args, parse)


def draw_state_call(campaign: CompiledCampaign, *, code: str, batch_id: int, role: str,
                    serial: int) -> ScriptCall[DrawResult]:
    """The wrapper of rules/draw_state.lua: what the campaign's draw did with this code, as the outcome
    a phone that may not draw is told (TAKEN, ALREADY_DRAWN or FIRST_SCAN_USED); nothing is changed."""
    keys = [memo_key(campaign.id, code), drawn_key(campaign.id, batch_id, role)]

    def parse(reply: list[Any]) -> DrawResult:
        state = _text(reply[0])
        outcome = TAKEN if state == "won" else ALREADY_DRAWN if state == "drawn" else FIRST_SCAN_USED
        return DrawResult(campaign.id, outcome, None)

    return ScriptCall(STATE, keys, [serial], parse)


class Drawer:
    """Runs single draws and restores (tools, tests, backtests); the scan path batches its calls itself."""

    def __init__(self, redis: Any) -> None:
        self._caller = ScriptCaller(redis)

    def draw(self, campaign: CompiledCampaign, **kwargs: Any) -> DrawResult:
        """`draw_call`'s arguments; the draw's result."""
        return self._caller.run(draw_call(campaign, **kwargs))

    def close(self) -> None:
        self._caller.close()


@functools.lru_cache(maxsize=1024)
def _prize_table(prizes: tuple[Prize, ...], consolation: Prize | None) -> tuple[str, str]:
    """The prizes as draw.lua reads them, encoded once per compiled campaign (campaigns are immutable)."""
    return (json.dumps([_prize_row(p) for p in prizes]),
            json.dumps(_prize_row(consolation)) if consolation else "")


def _prize_rows(campaign: CompiledCampaign) -> str:
    return _prize_table(campaign.prizes, campaign.consolation)[0]


def _consolation_row(campaign: CompiledCampaign) -> str:
    return _prize_table(campaign.prizes, campaign.consolation)[1]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")
