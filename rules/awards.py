"""Awards from the campaigns' Redis streams into the SQL ledger, and the reconciliation of the two.

Every published campaign's stream `{c:<id>}:awards` is listed in `yima:award-streams`. The ledger
accepts an award only if no valid award holds the same claim and the campaign's valid cash stays within
its budget; otherwise the award is stored void with the reason, so it is never paid.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reports.rollups import add_awards
from rules.campaign import Definition, InvalidCampaign, parse_definition
from rules.campaign_keys import AWARD_STREAMS, awards_key, campaign_of, counter_keys, drawn_key, memo_key
from rules.lua import LuaScript, ScriptCall, ScriptCaller
from rules.models import Award, Campaign, CouponCode

log = logging.getLogger(__name__)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def register_award_streams(redis: Any, campaign_ids: list[int]) -> None:
    if campaign_ids:
        redis.sadd(AWARD_STREAMS, *[awards_key(c) for c in campaign_ids])


class AwardSink:
    registry = AWARD_STREAMS

    def row(self, stream: str, entry_id: str, data: dict[Any, Any]) -> dict[str, Any]:
        f = {_text(k): _text(v) for k, v in data.items()}
        campaign_id = campaign_of(stream)
        # A receipt's restored award keeps the id it was drawn under, so a second restore stores nothing.
        award_id = f.get("award_id") or f"{campaign_id}-{entry_id}"
        if not award_id.startswith(f"{campaign_id}-") or len(award_id) > 48:
            raise ValueError(f"award id {award_id!r} does not belong to campaign {campaign_id}")
        return {
            "id": award_id,
            "campaign_id": campaign_id,
            "code": f["code"][:28],
            "batch_id": int(f["batch"]),
            "role": f["role"][:8],
            "serial": int(f["serial"]),
            "prize_index": int(f["prize"]),
            "kind": f["kind"][:16],
            "amount_fen": int(f["amount_fen"]),
            "points": int(f["points"]),
            "coupon": f.get("coupon", "")[:64],
            "rules_version": int(f.get("rules_version") or 0),
            "member": f.get("member", "")[:64],
            "awarded_at": datetime.fromtimestamp(int(f["ts"]), UTC),
            # The draw held it (the scan's risk decision): recorded, never paid until a reviewer releases it.
            "risk_hold": Award.HELD if f.get("held") == "1" else "",
            "scan_event": f"{int(f['batch'])}-{f['scan_event']}"[:48] if f.get("scan_event") else "",
            "pay_after": datetime.fromtimestamp(int(f["pay_after"]), UTC) if f.get("pay_after") else None,
            "ingested_at": datetime.now(UTC),
        }

    def store(self, session: Session, rows: list[dict[str, Any]]) -> int:
        """Store the awards not stored yet, valid or void, and count those in the award rollup."""
        new: list[dict[str, Any]] = []
        definitions: dict[int, Definition | None] = {}
        for row in sorted(rows, key=lambda r: r["id"]):
            if session.get(Award, row["id"]) is not None:
                continue  # redelivered: stored before
            campaign_id = row["campaign_id"]
            if campaign_id not in definitions:
                definitions[campaign_id] = _definition(session, campaign_id)
            d = definitions[campaign_id]
            claim = row["code"] if d is None or d.one_per_code else row["id"]
            reason = "unknown campaign" if d is None else refusal(session, d, row, claim)
            coupon = None
            if row["coupon"]:
                coupon = session.scalar(select(CouponCode).where(
                    CouponCode.campaign_id == campaign_id, CouponCode.code == row["coupon"]))
                if not reason and (coupon is None or coupon.status != CouponCode.AVAILABLE):
                    reason = f"coupon {row['coupon']!r} unknown or already handed out"
            status = Award.VOID if reason else Award.VALID
            session.add(Award(**row, claim=claim, status=status, void_reason=reason[:200]))
            if coupon is not None and status == Award.VALID:
                coupon.status, coupon.award_id = CouponCode.ASSIGNED, row["id"]
            session.flush()
            new.append({**row, "status": status})
        add_awards(session, new)
        return len(new)


def _definition(session: Session, campaign_id: int) -> Definition | None:
    row = session.get(Campaign, campaign_id, with_for_update=True)  # one ledger writer per campaign
    if row is None:
        return None
    try:
        return parse_definition(row.definition, stored=True)  # as published, whatever rules came since
    except InvalidCampaign:
        return None


def local_day(d: Definition, at: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the campaign's local calendar day holding `at` (as the draw counts days)."""
    offset = timedelta(minutes=d.utc_offset_minutes)
    local = at.astimezone(UTC) + offset
    start = datetime(local.year, local.month, local.day, tzinfo=UTC) - offset
    return start, start + timedelta(days=1)


def refusal(session: Session, d: Definition, row: dict[str, Any], claim: str) -> str:
    """Why SQL refuses this award ("" when it is valid): the same limits the draw enforces in Redis.

    Redis decides fast; these checks hold when Redis lost writes and granted beyond them.
    """
    campaign_id, amount = row["campaign_id"], row["amount_fen"]
    valid = (Award.campaign_id == campaign_id, Award.status == Award.VALID)
    taken = session.scalar(select(Award.id).where(*valid, Award.claim == claim))
    if taken is not None:
        return f"code already awarded by {taken} (Redis lost the claim?)"
    day = local_day(d, row["awarded_at"])
    today = (Award.awarded_at >= day[0], Award.awarded_at < day[1])
    if amount:
        spent = session.scalar(select(func.coalesce(func.sum(Award.amount_fen), 0)).where(*valid)) or 0
        if spent + amount > d.budget_fen:
            return f"over budget: {spent} + {amount} > {d.budget_fen} fen"
        if d.daily_budget_fen is not None:
            spent_today = session.scalar(
                select(func.coalesce(func.sum(Award.amount_fen), 0)).where(*valid, *today)) or 0
            if spent_today + amount > d.daily_budget_fen:
                return f"over the daily budget: {spent_today} + {amount} > {d.daily_budget_fen} fen"
    prize = next((p for p in d.prizes if p.index == row["prize_index"]), None)
    if prize is None:
        return ""  # the consolation (no quantities), or a prize since removed from the table
    of_prize = (*valid, Award.prize_index == prize.index)
    if prize.total is not None:
        given = session.scalar(select(func.count()).select_from(Award).where(*of_prize)) or 0
        if given >= prize.total:
            return f"prize {prize.index} is out: {given} of {prize.total} given"
    if prize.daily is not None:
        given = session.scalar(select(func.count()).select_from(Award).where(*of_prize, *today)) or 0
        if given >= prize.daily:
            return f"prize {prize.index} is out today: {given} of {prize.daily} given"
    return ""


def release_award(session: Session, redis: Any, award_id: str, reason: str) -> bool:
    """Give a valid cash award's budget back to its campaign (an unpaid prize whose bill closed unconfirmed,
    under YIMA_PAYOUT_ON_EXPIRY=release): the award turns void in the ledger (so it is never paid and no
    longer counts against the budget or its prize's quantity) and the campaign's Redis totals are lowered by
    it. False when it was not valid. Lowering Redis before the caller commits is safe either way: should the
    commit fail, the worker's periodic repair raises the counters back to the ledger's figure."""
    award = session.get(Award, award_id, with_for_update=True)
    if award is None or award.status != Award.VALID:
        return False
    award.status, award.void_reason = Award.VOID, reason[:200]
    session.flush()
    spent, _spent_day, qty, _qty_day = counter_keys(award.campaign_id, "")
    pipe = redis.pipeline(transaction=False)  # both keys share the campaign's slot
    if award.amount_fen:
        pipe.decrby(spent, award.amount_fen)
    pipe.hincrby(qty, str(award.prize_index), -1)
    pipe.execute()
    return True


RAISE = LuaScript.of("rules", "raise_counters.lua")
DAY_KEY_SECONDS = 172_800  # as draw.lua keeps a day's counters


@dataclass(frozen=True)
class Repair:
    campaign_id: int
    raised: int  # counters raised to the SQL figure
    memos: int  # award memos and drawn marks put back (only when counters were found lost)


def repair_counters(session: Session, redis: Any, campaign_ids: list[int], now: float | None = None) -> list[Repair]:
    """Restore from SQL what Redis is found to have lost: raise every counter below the ledger's figure.

    Safe at any time, beside live draws: a counter is only ever raised (Redis may hold awards the worker
    has not drained yet; lowering it would let the draw overspend). When a counter had to be raised,
    Redis lost writes, so the codes of every valid award get their memo and drawn mark back too: such a
    code answers "already won", never draws again. A campaign whose counters are missing altogether is
    recreated here; until then its draws answer "unavailable" (draw.lua).
    """
    caller = ScriptCaller(redis)
    try:
        at = datetime.fromtimestamp(time.time() if now is None else now, UTC)
        repairs = []
        for campaign_id in campaign_ids:
            d = _definition(session, campaign_id)
            if d is None:
                continue
            start, end = local_day(d, at)
            day = (start + timedelta(minutes=d.utc_offset_minutes)).strftime("%Y%m%d")
            spent, qty = _ledger(session, campaign_id)
            spent_today, qty_today = _ledger(session, campaign_id, (start, end))
            raised = caller.run(ScriptCall(RAISE, list(counter_keys(campaign_id, day)), [
                spent, spent_today, json.dumps({str(k): v for k, v in qty.items()}),
                json.dumps({str(k): v for k, v in qty_today.items()}), DAY_KEY_SECONDS], int))
            memos = _restore_memos(session, redis, campaign_id) if raised and d.one_per_code else 0
            if raised and (spent or qty):
                log.warning("campaign %s: Redis had lost awards; %s counters raised to the SQL ledger, %s codes "
                            "marked won again", campaign_id, raised, memos)
            repairs.append(Repair(campaign_id, raised, memos))
    finally:
        caller.close()
    return repairs


def _restore_memos(session: Session, redis: Any, campaign_id: int, chunk: int = 1000) -> int:
    """Put back the memo and drawn mark of every valid award (SET NX: a memo Redis kept stays)."""
    rows = session.execute(select(
        Award.id, Award.code, Award.batch_id, Award.role, Award.serial, Award.prize_index, Award.kind,
        Award.amount_fen, Award.points, Award.coupon,
    ).where(Award.campaign_id == campaign_id, Award.status == Award.VALID)).all()
    for i in range(0, len(rows), chunk):
        pipe = redis.pipeline(transaction=False)
        for award_id, code, batch_id, role, serial, index, kind, amount, points, coupon in rows[i:i + chunk]:
            entry = award_id.split("-", 1)[1]
            pipe.set(memo_key(campaign_id, code), json.dumps([index, kind, amount, points, coupon, entry]), nx=True)
            pipe.setbit(drawn_key(campaign_id, batch_id, role), serial, 1)
        pipe.execute()
    return len(rows)


def repair_published(session: Session, redis: Any) -> list[Repair]:
    """`repair_counters` for every campaign whose award stream is registered (every published one)."""
    ids = sorted(campaign_of(_text(s)) for s in redis.smembers(AWARD_STREAMS))
    return [r for r in repair_counters(session, redis, ids) if r.raised]


def _ledger(session: Session, campaign_id: int, period: tuple[datetime, datetime] | None = None
            ) -> tuple[int, dict[int, int]]:
    """(valid cash paid, valid awards per prize index) of one campaign in SQL, over all time or a period."""
    where = [Award.campaign_id == campaign_id, Award.status == Award.VALID]
    if period is not None:
        where += [Award.awarded_at >= period[0], Award.awarded_at < period[1]]
    spent = session.scalar(select(func.coalesce(func.sum(Award.amount_fen), 0)).where(*where)) or 0
    qty = session.execute(select(Award.prize_index, func.count()).where(*where).group_by(Award.prize_index)).all()
    return int(spent), {int(i): int(n) for i, n in qty}


@dataclass(frozen=True)
class Difference:
    campaign_id: int
    what: str  # "spent" or "qty:<prize index>"
    redis: int
    sql: int


def reconcile(session: Session, redis: Any, *, rebuild: bool = False) -> list[Difference]:
    """Compare Redis counters with the SQL ledger of valid awards; with `rebuild`, set Redis from SQL.

    Run it after the award streams are drained (awards still in a stream are in Redis, not yet in SQL).
    """
    diffs: list[Difference] = []
    for campaign in session.scalars(select(Campaign).order_by(Campaign.id)):
        spent_key, _today, qty_key, _qty_today = counter_keys(campaign.id, "")
        spent_sql, qty_sql = _ledger(session, campaign.id)
        spent_redis = int(redis.get(spent_key) or 0)
        qty_redis = {int(k): int(v) for k, v in redis.hgetall(qty_key).items()}
        if spent_redis != spent_sql:
            diffs.append(Difference(campaign.id, "spent", spent_redis, int(spent_sql)))
        for index in sorted(set(qty_sql) | set(qty_redis)):
            if qty_redis.get(index, 0) != qty_sql.get(index, 0):
                diffs.append(Difference(campaign.id, f"qty:{index}", qty_redis.get(index, 0), qty_sql.get(index, 0)))
        if rebuild and any(d.campaign_id == campaign.id for d in diffs):
            pipe = redis.pipeline(transaction=True)
            pipe.set(spent_key, int(spent_sql))
            pipe.delete(qty_key)
            if qty_sql:
                pipe.hset(qty_key, mapping={str(k): int(v) for k, v in qty_sql.items()})
            pipe.execute()
    return diffs
