"""Voucher 核销: a consumer's voucher prize (再来一瓶, 一元乐享) redeemed once, at a qualified store.

The consumer's page shows a QR of `<base_url>/dist/redeem/v/<token>`; the token is the award id and a MAC
under a key only the app holds, so a guessed or enumerated award id redeems nothing. The store's clerk
(核销员) scans it and confirms. Redis decided the prize, SQL guards the money: only a VALID voucher award
in the SQL ledger is redeemed, and the redemption row's primary key (the award id) lets exactly one of two
stores racing on the same voucher win; the other is told where and when it was redeemed. The winner's
transaction also writes the store's ledger line (the brand's face value plus the store's 核销 rebate, from
the brand's ChannelPolicy) and the audit entry, so the three commit or roll back together.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from accounts.audit import record_change
from channel.errors import ChannelNotFound, RedeemRefused
from channel.models import CLERK, DISTRIBUTOR, ChannelPolicy, Store, StoreLedgerLine, VoucherRedemption
from channel.scope import BRAND, ChannelScope
from payouts.sql_insert import insert_once
from rules.models import Award, Campaign

VOUCHER = "voucher"
# What voucher_state says of a voucher.
REDEEMABLE, REDEEMED, PENDING, VOID, NOT_VOUCHER, NOT_FOUND = (
    "redeemable", "redeemed", "pending", "void", "not_voucher", "not_found")
# An award the draw granted reaches SQL through the drain within a second or so; one still missing after
# this long was lost by Redis (the winner's phone restores it by scanning the code again: rules/receipts.py).
PENDING_WINDOW = timedelta(hours=1)
MAC_CHARS = 16  # base32: 80 bits; guessing one token takes ~2^79 tries against a rate-limited page
MAX_TOKEN = 48 + 1 + MAC_CHARS
_AWARD_ID = re.compile(r"^([0-9]{1,10})-([0-9]{1,15})-([0-9]{1,10})$")
_DOMAIN = b"yima/voucher/v1\n"


def voucher_key(secret: bytes) -> bytes:
    """The voucher MAC key, derived from an app secret (as the receipt key is) so no two uses share a key."""
    return hmac.new(secret, b"yima/voucher-key", hashlib.sha256).digest()


def _mac(key: bytes, award_id: str) -> str:
    digest = hmac.new(key, _DOMAIN + award_id.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:MAC_CHARS]


def voucher_token(key: bytes, award_id: str) -> str:
    """`<award id>.<MAC>`: URL-safe, and all QR alphanumeric-mode characters."""
    if not _AWARD_ID.match(award_id):
        raise ValueError(f"not an award id: {award_id!r}")
    return f"{award_id}.{_mac(key, award_id)}"


def token_from_text(text: str) -> str:
    """The token in what a clerk's scanner or keyboard gave: the token, or the redeem URL that ends in it."""
    text = text.strip()[:400]
    return text.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0].split("#", 1)[0]


def award_of_token(key: bytes, token: str) -> str:
    """The award id a token names; ChannelNotFound for anything this deployment did not issue (a forged or
    mangled token reads like a voucher that does not exist)."""
    award_id, _, mac = token.strip().rpartition(".")
    if len(token) > MAX_TOKEN or not _AWARD_ID.match(award_id) or \
            not hmac.compare_digest(mac.upper().encode(), _mac(key, award_id).encode()):
        raise ChannelNotFound("no such voucher")
    return award_id


@dataclass(frozen=True)
class VoucherState:
    """A voucher as the consumer's page and the clerk's phone show it."""

    award_id: str
    state: str  # REDEEMABLE, REDEEMED, PENDING, VOID, NOT_VOUCHER, NOT_FOUND
    brand_id: int | None
    campaign_id: int
    campaign_name: str = ""
    prize_name: str = ""
    code: str = ""
    awarded_at: datetime | None = None
    face_fen: int = 0  # what the brand reimburses the store (its policy today; the ledger line keeps it)
    rebate_fen: int = 0  # the store's 核销 reward
    store_id: int | None = None  # redeemed: where, when, by whom
    store_name: str = ""
    redeemed_at: datetime | None = None
    staff_user_id: int | None = None

    @property
    def total_fen(self) -> int:
        return self.face_fen + self.rebate_fen


@dataclass(frozen=True)
class Redemption:
    award_id: str
    store_id: int
    store_name: str
    redeemed_at: datetime
    face_fen: int
    rebate_fen: int
    ledger_line_id: int

    @property
    def total_fen(self) -> int:
        return self.face_fen + self.rebate_fen


def aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back: they were stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def policy_of(session: Session, brand_id: int) -> ChannelPolicy:
    """The brand's channel policy; a brand that set none: registration required, nothing reimbursed."""
    return session.get(ChannelPolicy, brand_id) or ChannelPolicy(
        brand_id=brand_id, require_registration=True, voucher_face_fen=0, redeem_rebate_fen=0)


def _prize_name(campaign: Campaign | None, index: int) -> str:
    doc = campaign.definition if campaign is not None and isinstance(campaign.definition, dict) else {}
    prizes = doc.get("prizes") or []
    prize = prizes[index] if 0 <= index < len(prizes) else doc.get("consolation") if index == -1 else None
    return str(prize.get("name") or "") if isinstance(prize, dict) else ""


def _landed_by(award_id: str) -> datetime:
    """When the drain should have stored the award: its stream entry's time, plus the window."""
    millis = int(award_id.split("-")[1])
    return datetime.fromtimestamp(min(millis / 1000, 253402214400), UTC) + PENDING_WINDOW


def voucher_state(session: Session, award_id: str, now: datetime | None = None) -> VoucherState:
    """Where a voucher stands, read from the SQL ledger (no scope: the consumer's page asks, by its token)."""
    now = now or datetime.now(UTC)
    campaign_id = int(award_id.split("-", 1)[0])
    campaign = session.get(Campaign, campaign_id)
    brand_id = campaign.brand_id if campaign is not None else None
    award = session.get(Award, award_id)
    if award is None:
        state = PENDING if campaign is not None and now < _landed_by(award_id) else NOT_FOUND
        return VoucherState(award_id, state, brand_id, campaign_id, campaign.name if campaign else "")
    policy = policy_of(session, brand_id) if brand_id is not None else None
    found = VoucherState(award_id, REDEEMABLE, brand_id, campaign_id, campaign.name if campaign else "",
                         _prize_name(campaign, award.prize_index), award.code, aware(award.awarded_at),
                         policy.voucher_face_fen if policy else 0, policy.redeem_rebate_fen if policy else 0)
    done = session.get(VoucherRedemption, award_id)
    if done is not None:  # what the store was credited, as its ledger line keeps it
        line = session.scalar(select(StoreLedgerLine).where(StoreLedgerLine.source == award_id))
        store = session.get(Store, done.store_id)
        return replace(found, state=REDEEMED, face_fen=line.face_fen if line else 0,
                       rebate_fen=line.rebate_fen if line else 0, store_id=done.store_id,
                       store_name=store.name if store else "", redeemed_at=aware(done.redeemed_at),
                       staff_user_id=done.staff_user_id)
    state = VOID if award.status != Award.VALID else NOT_VOUCHER if award.kind != VOUCHER else REDEEMABLE
    return replace(found, state=state)


def read_voucher(session: Session, scope: ChannelScope, key: bytes, token: str,
                 now: datetime | None = None) -> VoucherState:
    """The voucher a token names, for channel staff of its brand (another brand's reads as not found)."""
    found = voucher_state(session, award_of_token(key, token), now)
    if found.brand_id != scope.brand_id:
        raise ChannelNotFound("no such voucher")
    return found


_REFUSALS = {
    PENDING: ("奖品刚刚发出，账本还在入账：请几秒后再试一次 (the prize is not in the ledger yet: try again in a "
              "few seconds)"),
    NOT_FOUND: ("账本中没有这张券：请消费者用中奖的手机再扫一次瓶盖码，然后再核销 (this voucher is not in the "
                "ledger: the consumer scans the cap again with the winning phone, then try again)"),
    VOID: "此券已作废，不能核销 (this voucher is void and is never redeemed)",
    NOT_VOUCHER: "这不是兑换券奖品，不能在门店核销 (this prize is not a voucher)",
}


def _redeemed_refusal(session: Session, award_id: str) -> RedeemRefused:
    done = session.get(VoucherRedemption, award_id, populate_existing=True)
    store = session.get(Store, done.store_id) if done is not None else None
    at = aware(done.redeemed_at) if done is not None else None
    return RedeemRefused("此券已被核销 (already redeemed)", REDEEMED, store=store.name if store else "",
                         at=at.isoformat() if at else "")


def redeem_voucher(session: Session, scope: ChannelScope, token: str, now: datetime, *,
                   key: bytes) -> Redemption:
    """Redeem the voucher `token` names at the clerk's store, in the caller's transaction: the redemption,
    its ledger line and the audit entry. ChannelForbidden for any seat but a store's clerk; ChannelNotFound
    for a token not issued here or of another brand; RedeemRefused (reason pending / not_found / void /
    not_voucher / redeemed / unregistered) for a voucher that cannot be redeemed here, now."""
    found = voucher_state(session, award_of_token(key, token), now)
    award_id = found.award_id
    if found.brand_id != scope.brand_id:  # another brand's voucher reads like none (before any 403)
        raise ChannelNotFound("no such voucher")
    scope.require(scope.may_redeem, "redeem vouchers (only a store's clerk, 核销员, may)")
    if found.state == REDEEMED:
        raise _redeemed_refusal(session, award_id)
    if found.state != REDEEMABLE:
        raise RedeemRefused(_REFUSALS[found.state], found.state)
    store = session.get(Store, scope.store_id)
    if store is None or store.brand_id != scope.brand_id or store.disabled:
        raise ChannelNotFound("this seat's store no longer exists")
    policy = policy_of(session, scope.brand_id)
    if policy.require_registration and store.registered_at is None:
        raise RedeemRefused("本店尚未登记，不能核销：请先在「开箱扫码」扫一个本店进货的箱码完成登记 (this store is not "
                            "registered yet: scan a case code of goods it received at 开箱 first)", "unregistered",
                            store=store.name)
    award = session.get(Award, award_id)
    assert award is not None  # REDEEMABLE: the ledger holds it
    won = insert_once(session, VoucherRedemption, {
        "award_id": award_id, "brand_id": scope.brand_id, "campaign_id": award.campaign_id, "store_id": store.id,
        "staff_user_id": scope.user_id, "code": award.code, "redeemed_at": now})
    if not won:  # another store got there first (or this clerk, a moment ago)
        raise _redeemed_refusal(session, award_id)
    line = StoreLedgerLine(brand_id=scope.brand_id, store_id=store.id, staff_user_id=scope.user_id,
                           kind=StoreLedgerLine.REDEMPTION, source=award_id, face_fen=policy.voucher_face_fen,
                           rebate_fen=policy.redeem_rebate_fen, at=now)
    session.add(line)
    session.flush()
    record_change(session, scope.actor, "voucher.redeem", f"award:{award_id}", brand_id=scope.brand_id,
                  after={"store_id": store.id, "store": store.name, "code": award.code,
                         "face_fen": line.face_fen, "rebate_fen": line.rebate_fen, "ledger_line": line.id})
    return Redemption(award_id, store.id, store.name, now, line.face_fen, line.rebate_fen, line.id)


def redeem(sessions: sessionmaker[Session], scope: ChannelScope, token: str, now: datetime, *,
           key: bytes) -> Redemption:
    """`redeem_voucher` in its own transaction (what the pages and the API call). Two stores racing: on
    PostgreSQL the loser's INSERT ... ON CONFLICT waits for the winner's commit and then finds its row; on
    SQLite (pysqlite opens the write transaction at the first INSERT) the loser waits on the file lock
    (busy_timeout) and then finds it the same way."""
    with sessions.begin() as session:
        return redeem_voucher(session, scope, token, now, key=key)


# Who reads a store's money (redemptions, ledger, statements): brand staff, a distributor's staff (their
# stores'), a store's clerk (its own). Waiters, the warehouse and inspectors have no business there.
LEDGER_READERS = (BRAND, DISTRIBUTOR, CLERK)


def require_ledger_reader(scope: ChannelScope) -> None:
    scope.require(scope.kind in LEDGER_READERS, "read the store ledger")


def list_redemptions(session: Session, scope: ChannelScope, *, limit: int = 50,
                     before: tuple[datetime, str] | None = None) -> list[VoucherRedemption]:
    """The redemptions the caller sees, newest first (a store's own; a distributor's stores'; brand-wide),
    before the (redeemed_at, award_id) of the last row of the previous page."""
    require_ledger_reader(scope)
    query = select(VoucherRedemption).where(VoucherRedemption.brand_id == scope.brand_id)
    if scope.store_id is not None:
        query = query.where(VoucherRedemption.store_id == scope.store_id)
    elif scope.distributor_ids is not None:
        query = query.join(Store, Store.id == VoucherRedemption.store_id).where(
            Store.distributor_id.in_(scope.distributor_ids))
    if before is not None:
        at, award_id = before
        query = query.where((VoucherRedemption.redeemed_at < at)
                            | ((VoucherRedemption.redeemed_at == at) & (VoucherRedemption.award_id < award_id)))
    return list(session.scalars(query.order_by(VoucherRedemption.redeemed_at.desc(),
                                               VoucherRedemption.award_id.desc()).limit(limit)))
