"""Awards from the campaigns' Redis streams into the SQL ledger, and the reconciliation of the two.

Every published campaign's stream `{c:<id>}:awards` is listed in `yima:award-streams`. The ledger
accepts an award only if no valid award holds the same claim and the campaign's valid cash stays within
its budget; otherwise the award is stored void with the reason, so it is never paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rules.campaign import parse_definition
from rules.draw import awards_key
from rules.models import Award, Campaign, CouponCode

AWARD_STREAMS = "yima:award-streams"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def campaign_of(stream: str) -> int:
    return int(stream.split("}", 1)[0].removeprefix("{c:"))


def register_award_streams(redis: Any, campaign_ids: list[int]) -> None:
    if campaign_ids:
        redis.sadd(AWARD_STREAMS, *[awards_key(c) for c in campaign_ids])


class AwardSink:
    registry = AWARD_STREAMS

    def __init__(self) -> None:
        self._budgets: dict[int, int] = {}

    def row(self, stream: str, entry_id: str, data: dict[Any, Any]) -> dict[str, Any]:
        f = {_text(k): _text(v) for k, v in data.items()}
        campaign_id = campaign_of(stream)
        return {
            "id": f"{campaign_id}-{entry_id}",
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
            "ingested_at": datetime.now(UTC),
        }

    def _budget(self, session: Session, campaign_id: int) -> int | None:
        row = session.get(Campaign, campaign_id, with_for_update=True)  # one ledger writer per campaign
        if row is None:
            return None
        return int(parse_definition(row.definition).budget_fen)

    def _one_per_code(self, session: Session, campaign_id: int) -> bool:
        row = session.get(Campaign, campaign_id)
        return bool(row is None or row.definition.get("caps", {}).get("one_per_code", True))

    def store(self, session: Session, rows: list[dict[str, Any]]) -> int:
        new = 0
        for row in sorted(rows, key=lambda r: r["id"]):
            if session.get(Award, row["id"]) is not None:
                continue  # redelivered: stored before
            campaign_id = row["campaign_id"]
            claim = row["code"] if self._one_per_code(session, campaign_id) else row["id"]
            budget = self._budget(session, campaign_id)
            status, reason = Award.VALID, ""
            taken = session.scalar(select(Award.id).where(
                Award.campaign_id == campaign_id, Award.claim == claim, Award.status == Award.VALID))
            spent = session.scalar(select(func.coalesce(func.sum(Award.amount_fen), 0)).where(
                Award.campaign_id == campaign_id, Award.status == Award.VALID)) or 0
            if budget is None:
                status, reason = Award.VOID, "unknown campaign"
            elif taken is not None:
                status, reason = Award.VOID, f"code already awarded by {taken} (Redis lost the claim?)"
            elif spent + row["amount_fen"] > budget:
                status, reason = Award.VOID, f"over budget: {spent} + {row['amount_fen']} > {budget} fen"
            coupon = None
            if row["coupon"]:
                coupon = session.scalar(select(CouponCode).where(
                    CouponCode.campaign_id == campaign_id, CouponCode.code == row["coupon"]))
                if status == Award.VALID and (coupon is None or coupon.status != CouponCode.AVAILABLE):
                    status, reason = Award.VOID, f"coupon {row['coupon']!r} unknown or already handed out"
            session.add(Award(**row, claim=claim, status=status, void_reason=reason))
            if coupon is not None and status == Award.VALID:
                coupon.status, coupon.award_id = CouponCode.ASSIGNED, row["id"]
            session.flush()
            new += 1
        return new


def init_missing_counters(session: Session, redis: Any, campaign_ids: list[int]) -> list[int]:
    """Set a campaign's Redis counters from SQL when Redis has none (a new or wiped Redis).

    Counters that exist are left alone: they may hold awards the worker has not drained yet, and
    lowering them to the SQL figure would let the draw overspend. `reconcile` is the tool for those.
    """
    done = []
    for campaign_id in campaign_ids:
        tag = f"{{c:{campaign_id}}}"
        if redis.exists(f"{tag}:spent", f"{tag}:qty"):
            continue
        spent, qty = _ledger(session, campaign_id)
        pipe = redis.pipeline(transaction=True)
        pipe.set(f"{tag}:spent", spent)
        if qty:
            pipe.hset(f"{tag}:qty", mapping={str(k): v for k, v in qty.items()})
        pipe.execute()
        done.append(campaign_id)
    return done


def _ledger(session: Session, campaign_id: int) -> tuple[int, dict[int, int]]:
    """(valid cash paid, valid awards per prize index) of one campaign in SQL."""
    spent = session.scalar(select(func.coalesce(func.sum(Award.amount_fen), 0)).where(
        Award.campaign_id == campaign_id, Award.status == Award.VALID)) or 0
    qty = session.execute(
        select(Award.prize_index, func.count()).where(Award.campaign_id == campaign_id, Award.status == Award.VALID)
        .group_by(Award.prize_index)).all()
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
        tag = f"{{c:{campaign.id}}}"
        spent_sql, qty_sql = _ledger(session, campaign.id)
        spent_redis = int(redis.get(f"{tag}:spent") or 0)
        qty_redis = {int(k): int(v) for k, v in redis.hgetall(f"{tag}:qty").items()}
        if spent_redis != spent_sql:
            diffs.append(Difference(campaign.id, "spent", spent_redis, int(spent_sql)))
        for index in sorted(set(qty_sql) | set(qty_redis)):
            if qty_redis.get(index, 0) != qty_sql.get(index, 0):
                diffs.append(Difference(campaign.id, f"qty:{index}", qty_redis.get(index, 0), qty_sql.get(index, 0)))
        if rebuild and any(d.campaign_id == campaign.id for d in diffs):
            pipe = redis.pipeline(transaction=True)
            pipe.set(f"{tag}:spent", int(spent_sql))
            pipe.delete(f"{tag}:qty")
            if qty_sql:
                pipe.hset(f"{tag}:qty", mapping={str(k): int(v) for k, v in qty_sql.items()})
            pipe.execute()
    return diffs
