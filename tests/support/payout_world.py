"""A small world for the payout engine's tests: a brand, a campaign, awards in the SQL ledger, a clock the
test moves, the scripted provider, and engines built on all of it (a second engine stands for a restart)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from codegen import batches
from codegen.db import transaction
from payouts.claims import ClaimResult, Rail, claim_award
from payouts.engine import PayoutEngine
from payouts.models import Payout, PayoutEvent
from payouts.settings import PayoutSettings
from rules.models import Award, Campaign
from tests.support.scripted_provider import ScriptedProvider

START = datetime(2027, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in China


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class World:
    def __init__(self, sessions: sessionmaker[Session], redis: Any, **settings: Any) -> None:
        self.sessions, self.redis = sessions, redis
        self.clock = Clock()
        self.provider = ScriptedProvider(self.clock)
        self.settings = PayoutSettings(merchant="1900000001", **settings)
        self.engine = self.restart()
        self.serial = 0
        with transaction(sessions) as s:
            brand = batches.add_brand(s, "acme", "Acme", "https://q.acme.example")
            campaign = Campaign(brand_id=brand.id, name="春节扫码红包", status="active", definition={})
            s.add(campaign)
            s.flush()
            self.brand_id, self.campaign_id = brand.id, campaign.id

    def restart(self, **settings: Any) -> PayoutEngine:
        """A new engine on the same database, Redis and provider: what a restarted worker builds."""
        if settings:
            self.settings = dataclasses.replace(self.settings, **settings)
        self.engine = PayoutEngine(self.sessions, self.redis, self.provider, self.settings, self.clock)
        return self.engine

    @property
    def rail(self) -> Rail:
        return self.engine.rail

    def award(self, *, kind: str = "cash", amount_fen: int = 100, points: int = 0, status: str = Award.VALID,
              coupon: str = "", store: bool = True) -> str:
        """A new award id; stored in the ledger unless `store` is False (the drain has not got to it)."""
        self.serial += 1
        award_id = f"{self.campaign_id}-1773108000000-{self.serial}"
        if store:
            self.store(award_id, kind=kind, amount_fen=amount_fen, points=points, status=status, coupon=coupon)
        return award_id

    def store(self, award_id: str, *, kind: str = "cash", amount_fen: int = 100, points: int = 0,
              status: str = Award.VALID, coupon: str = "") -> None:
        serial = int(award_id.rsplit("-", 1)[1])
        with transaction(self.sessions) as s:
            s.add(Award(id=award_id, campaign_id=self.campaign_id, claim=f"C{serial:027d}", code=f"C{serial:027d}",
                        batch_id=1, role="inner", serial=serial, prize_index=0, kind=kind, amount_fen=amount_fen,
                        points=points, coupon=coupon, awarded_at=self.clock(), status=status,
                        void_reason="" if status == Award.VALID else "test"))

    def claim(self, award_id: str, openid: str = "o-alice", kind: str = "cash", **facts: Any) -> ClaimResult:
        with transaction(self.sessions) as s:
            return claim_award(s, rail=self.rail, award_id=award_id, campaign_id=self.campaign_id, openid=openid,
                               kind=kind, now=self.clock(), **facts)

    def payout(self, award_id: str) -> Payout:
        with self.sessions() as s:
            p = s.scalars(select(Payout).where(Payout.award_id == award_id)).one()
            s.expunge(p)
            return p

    def payout_by_id(self, payout_id: int) -> Payout:
        with self.sessions() as s:
            p = s.get(Payout, payout_id)
            assert p is not None
            s.expunge(p)
            return p

    def events(self, payout_id: int) -> list[tuple[str, str, str, str]]:
        with self.sessions() as s:
            rows = s.scalars(select(PayoutEvent).where(PayoutEvent.payout_id == payout_id).order_by(PayoutEvent.id))
            return [(e.source, e.from_state, e.to_state, e.reason) for e in rows]

    def paid_award(self, openid: str = "o-alice", amount_fen: int = 100) -> Payout:
        """An award claimed and submitted (AWAITING_USER at the provider)."""
        award_id = self.award(amount_fen=amount_fen)
        result = self.claim(award_id, openid)
        assert result.payout is not None
        self.engine.advance(result.payout.id)
        return self.payout(award_id)
