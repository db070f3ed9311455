"""Builds the payout engine (payouts/) from the app's config: the one place the worker and the commands
wire it. The provider is the one the web layer uses (app.payout_services: the configured rail and its
credentials, or the fake WeChat server's); the pacing and caps come from `cfg.payouts`."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import Config
from payouts.engine import PayoutEngine, PayoutHooks
from payouts.providers.base import Provider
from payouts.settings import Clock, PayoutSettings, utc_clock


def payout_settings(cfg: Config, merchant: str = "") -> PayoutSettings:
    """PayoutSettings from `cfg.payouts`: every field it shares with PayoutSettings (rate_per_s, burst,
    user_daily_count, user_daily_fen, on_expiry, ...); the rest keep PayoutSettings' defaults. `merchant`
    (the token bucket's and the pause flag's name) is the merchant id."""
    section = cfg.payouts
    names = {f.name for f in dataclasses.fields(PayoutSettings)}
    values: dict[str, Any] = {name: getattr(section, name) for name in names if hasattr(section, name)}
    values["merchant"] = merchant or getattr(section, "mchid", "") or "default"
    return PayoutSettings(**values)


def make_provider(cfg: Config) -> Provider:
    from app.payout_services import credentials
    from payouts.providers.registry import make_provider as adapter

    return adapter(cfg.payouts.provider, credentials(cfg))


def make_payout_engine(cfg: Config, *, sessions: sessionmaker[Session] | None = None, redis_client: Any = None,
                       provider: Provider | None = None, clock: Clock = utc_clock,
                       hooks: PayoutHooks | None = None) -> PayoutEngine:
    """The engine on the configured database, Redis and provider; a caller that already holds a session
    factory or a Redis client (the web app) passes them in."""
    if sessions is None:
        from app.runtime import connect_database

        sessions = connect_database(cfg, migrate=False).sessions
    if redis_client is None:
        from app.runtime import connect_redis

        redis_client = connect_redis(cfg)
    provider = provider or make_provider(cfg)
    merchant = ""
    if cfg.payouts.provider == "fake":
        from app.payout_services import credentials

        merchant = credentials(cfg).mchid
    return PayoutEngine(sessions, redis_client, provider, payout_settings(cfg, merchant), clock, hooks)
