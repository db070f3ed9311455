"""领取: a consumer binds an award to their WeChat openid, once, and what the award then becomes.

The web layer has verified the device's signed receipt (rules/receipts.py) and hands over its facts. The
claim row's primary key is the award id, so the first openid wins and any other is refused, whatever the
timing. Only a valid award in the SQL ledger becomes a payout or a points credit: a void one is refused,
and one the drain has not stored yet (it lags a second) is settled by the worker's sweep
(`settle_claims`) once it lands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from payouts.errors import ClaimRefused, PayoutNotFound
from payouts.models import AwardClaim, Payout, PointsEntry
from payouts.points import credit_points, points_balance
from payouts.providers.base import Provider, State, bill_number
from payouts.settings import utc_clock
from payouts.sql_insert import insert_once
from rules.models import Award, Campaign
from rules.receipts import AwardReceipt

__all__ = ["ClaimResult", "PayoutView", "Rail", "claim_award", "payout_for_award", "points_balance", "settle",
           "settle_claims"]

CASH, POINTS = "cash", "points"
SETTLE_WINDOW = timedelta(days=2)  # a claim whose award has not landed by then is left to an operator


@dataclass(frozen=True)
class Rail:
    """What a new payout needs of its provider: the name it is recorded under, its bill number length."""

    name: str
    bill_no_length: int


@dataclass(frozen=True)
class PayoutView:
    """What the claim page shows of a payout (and the confirm step needs)."""

    id: int
    state: State
    amount_fen: int
    attempt: int
    bill_no: str
    reason: str
    package_info: str  # AWAITING_USER: for requestMerchantTransfer


@dataclass(frozen=True)
class ClaimResult:
    award_id: str
    kind: str
    openid: str
    created: bool  # this call made the claim (False: the same openid claimed before)
    waiting: bool  # the award is not in the SQL ledger yet: the worker settles it when it lands
    held: bool = False  # the risk layer holds the award (审核中): the claim is recorded, nothing paid yet
    payout: PayoutView | None = None  # cash
    points_balance: int | None = None  # points
    coupon: str = ""  # coupon / voucher: the code to show

    @property
    def payout_id(self) -> int | None:
        return None if self.payout is None else self.payout.id


def payout_view(p: Payout) -> PayoutView:
    return PayoutView(p.id, State(p.state), p.amount_fen, p.attempt, p.bill_no, p.reason, p.package_info)


def payout_for_award(session: Session, award_id: str) -> PayoutView | None:
    """The award's payout as the page shows it (处理中 / 待确认收款 / 已到账 / 失败); None before there is one."""
    p = session.scalars(select(Payout).where(Payout.award_id == award_id)).first()
    return None if p is None else payout_view(p)


def claim_award(session: Session, *, openid: str, receipt: AwardReceipt | None = None, award_id: str = "",
                campaign_id: int = 0, kind: str = "", amount_fen: int = 0, points: int = 0, receipt_code: str = "",
                brand_id: int | None = None, rail: Rail | None = None, provider: Provider | None = None,
                client_ip: str = "", now: datetime | None = None) -> ClaimResult:
    """Bind the award to `openid` and create what it pays (a payout, a points credit). Idempotent for the
    same openid; ClaimRefused for another openid, a void award, or facts that contradict the ledger.

    The award's facts come from the verified `receipt`, or one by one (award_id, campaign_id, kind, ...);
    the ledger's own figures are what is paid (`amount_fen` and `points` are accepted and not trusted).
    `rail` (or the `provider` it is taken from) names the rail a new payout is recorded under and sets
    its bill number's length."""
    now = now or utc_clock()
    if receipt is not None:
        award_id, campaign_id, kind = receipt.award_id, receipt.campaign_id, receipt.kind
        receipt_code = receipt.code  # its amount and points are the draw's word: the ledger's are paid
    if rail is None:
        if provider is None:
            raise ValueError("claim_award needs the rail (or the provider) a payout goes out on")
        rail = Rail(provider.name, provider.bill_no_length)
    if not openid:
        raise ClaimRefused("需要微信身份才能领取 (an openid is required)", "no_openid")
    award = session.get(Award, award_id)
    if award is not None:
        if award.status != Award.VALID:
            raise ClaimRefused("此奖品无效，不能领取 (this award is void and is never paid)", "void")
        if award.campaign_id != campaign_id or (receipt_code and award.code != receipt_code):
            raise ClaimRefused("凭证与奖品不符 (the receipt does not match this award)", "mismatch")
        kind = award.kind
    elif not award_id.startswith(f"{campaign_id}-"):
        raise ClaimRefused("凭证与奖品不符 (the receipt does not match this award)", "mismatch")
    if not brand_id:  # unknown to the caller (0: the code's brand could not be told)
        brand_id = session.scalar(select(Campaign.brand_id).where(Campaign.id == campaign_id))
        if brand_id is None:
            raise PayoutNotFound(f"no campaign {campaign_id}")
    created = insert_once(session, AwardClaim, {"award_id": award_id, "campaign_id": campaign_id,
                                                "brand_id": brand_id, "openid": openid[:64], "kind": kind[:16],
                                                "claimed_at": now})
    claim = session.get(AwardClaim, award_id, populate_existing=True)
    if claim is None or claim.openid != openid[:64]:
        raise ClaimRefused("已被领取 (this award was claimed by someone else)", "claimed")
    if award is None:
        return ClaimResult(award_id, kind, openid, created, waiting=True)
    payout = settle(session, claim, award, rail, now, client_ip)
    held = award.risk_hold == Award.HELD
    return ClaimResult(
        award_id, kind, openid, created, waiting=False, held=held,
        payout=None if payout is None or held else payout_view(payout),
        points_balance=points_balance(session, claim.brand_id, openid) if kind == POINTS else None,
        coupon="" if held else award.coupon,  # a coupon shown is a coupon handed over
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite hands back naive UTC


def settle(session: Session, claim: AwardClaim, award: Award, rail: Rail, now: datetime,
           client_ip: str = "") -> Payout | None:
    """Create the payout (cash) or the points credit of a claimed valid award, once; the payout if any. An
    award the risk layer holds gets neither until a reviewer releases it (risk.review)."""
    if award.status != Award.VALID or award.risk_hold == Award.HELD:
        return None
    if award.kind == CASH and award.amount_fen > 0:
        insert_once(session, Payout, {
            "award_id": award.id, "campaign_id": award.campaign_id, "brand_id": claim.brand_id,
            "openid": claim.openid, "amount_fen": award.amount_fen, "provider": rail.name,
            "state": str(State.PENDING), "attempt": 1, "bill_no": bill_number(award.id, 1, rail.bill_no_length),
            "client_ip": client_ip[:45], "created_at": now, "updated_at": now,
            # the risk layer's payout delay: a flag raised meanwhile holds the award before money leaves
            "next_at": max(now, _aware(award.pay_after)) if award.pay_after else now,
        })
        return session.scalars(select(Payout).where(Payout.award_id == award.id)).first()
    if award.kind == POINTS and award.points:
        credit_points(session, brand_id=claim.brand_id, member=claim.openid, delta=award.points, award_id=award.id,
                      reason=f"award {award.id}", now=now)
    return None


def settle_claims(session: Session, rail: Rail, *, now: datetime | None = None, limit: int = 200) -> int:
    """Settle recent claims whose valid award has since reached the ledger, or has since been released by a
    risk reviewer (a held one waits); how many were settled."""
    now = now or utc_clock()
    no_payout = ~exists().where(Payout.award_id == AwardClaim.award_id)
    no_credit = ~exists().where(PointsEntry.award_id == AwardClaim.award_id)
    rows = session.execute(
        select(AwardClaim, Award).join(Award, Award.id == AwardClaim.award_id)
        .where(AwardClaim.claimed_at >= now - SETTLE_WINDOW, Award.status == Award.VALID,
               Award.risk_hold != Award.HELD,
               ((Award.kind == CASH) & (Award.amount_fen > 0) & no_payout)
               | ((Award.kind == POINTS) & (Award.points != 0) & no_credit))
        .limit(limit)).all()
    for claim, award in rows:
        settle(session, claim, award, rail, now)
    return len(rows)
