"""Builds the payout engine (payouts/) from the app's config: the one place the app layer wires it.

MINIMAL WIRING, to be replaced when app/config.py grows its payout fields. Until then `cfg.payouts` is
read with getattr and may be absent:
- `cfg.payouts.<field>` for every field of `payouts.settings.PayoutSettings` that it has (rate_per_s,
  burst, user_daily_count, user_daily_fen, campaign_fen_per_hour, on_expiry, ...): absent ones keep the
  dataclass's defaults; `merchant` falls back to `cfg.payouts.credentials.mchid`, then "default";
- `cfg.payouts.provider`: a Provider object (used as it is), or a rail name ("wechat_transfer",
  "wechat_redpack"; "fake" is wechat_transfer against the fake server). A name is looked up as the module
  `payouts.providers.<name>` (for "fake": wechat_transfer), whose `make_provider(credentials)` builds it
  from `cfg.payouts.credentials` (a payouts.providers.base.WechatCredentials). No provider: ConfigError.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import Config, ConfigError
from payouts.engine import PayoutEngine
from payouts.providers.base import Provider
from payouts.settings import Clock, PayoutSettings, utc_clock

RAIL_MODULES = {"wechat_transfer": "wechat_transfer", "wechat_redpack": "wechat_redpack", "fake": "wechat_transfer"}


def payout_settings(cfg: Config) -> PayoutSettings:
    section = getattr(cfg, "payouts", None)
    if section is None:
        return PayoutSettings()
    values: dict[str, Any] = {f.name: getattr(section, f.name) for f in dataclasses.fields(PayoutSettings)
                              if getattr(section, f.name, None) is not None}
    if "merchant" not in values:
        mchid = getattr(getattr(section, "credentials", None), "mchid", "")
        values["merchant"] = mchid or "default"
    return PayoutSettings(**values)


def make_provider(cfg: Config) -> Provider:
    section = getattr(cfg, "payouts", None)
    chosen = getattr(section, "provider", None)
    if chosen is not None and not isinstance(chosen, str):
        return chosen  # type: ignore[no-any-return]
    name = chosen or "fake"
    module_name = RAIL_MODULES.get(name)
    if module_name is None:
        raise ConfigError(f"unknown payout provider {name!r}; one of {', '.join(sorted(RAIL_MODULES))}")
    try:
        module = importlib.import_module(f"payouts.providers.{module_name}")
    except ModuleNotFoundError:
        raise ConfigError(f"payout provider {name!r} is not installed (payouts/providers/{module_name}.py)") from None
    credentials = getattr(section, "credentials", None)
    if credentials is None:
        raise ConfigError(f"payout provider {name!r} needs its WeChat Pay credentials (cfg.payouts.credentials)")
    return module.make_provider(credentials)  # type: ignore[no-any-return]


def make_payout_engine(cfg: Config, *, sessions: sessionmaker[Session] | None = None, redis_client: Any = None,
                       provider: Provider | None = None, clock: Clock = utc_clock) -> PayoutEngine:
    """The engine on the configured database, Redis and provider; a caller that already holds a session
    factory or a Redis client (the web app) passes them in."""
    if sessions is None:
        from app.runtime import connect_database

        sessions = connect_database(cfg, migrate=False).sessions
    if redis_client is None:
        from app.runtime import connect_redis

        redis_client = connect_redis(cfg)
    return PayoutEngine(sessions, redis_client, provider or make_provider(cfg), payout_settings(cfg), clock)
