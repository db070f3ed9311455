"""Every setting yima reads, from environment variables only (12-factor). Documented in README.md."""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    pass


def _default_var_dir() -> Path:
    # A source checkout keeps its state beside the code so every terminal finds the same var/.
    return _REPO / "var" if (_REPO / "pyproject.toml").exists() else Path.cwd() / "var"


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} must be between {low} and {high}")
    return value


# The ops token opens campaigns, publishing and the batch pages: it must be a random secret, not a word.
OPS_TOKEN_MIN_CHARS = 32
OPS_TOKEN_MIN_DISTINCT = 8
OPS_TOKEN_MIN_BITS = 128
MAKE_A_TOKEN = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"  # noqa: S105 (a command)


def token_bits(token: str) -> float:
    """Strength estimate of a random token: length x log2 of the alphabet its character classes span
    (hex: 36 symbols by this count, base64url: 64+). It says nothing of a token a person chose."""
    alphabet = sum(
        size
        for size, present in (
            (10, any(c.isdigit() for c in token)),
            (26, any(c.islower() for c in token)),
            (26, any(c.isupper() for c in token)),
            (33, any(not c.isalnum() for c in token)),
        )
        if present
    )
    return len(token) * math.log2(alphabet) if alphabet else 0.0


def _repeats_a_pattern(token: str) -> bool:
    """True for a short sequence repeated ("changeme-changeme-…", "abab…")."""
    n = len(token)
    return any(token == (token[:p] * (n // p + 1))[:n] for p in range(1, min(n // 2, 256) + 1))


def _ops_token(env: Mapping[str, str]) -> str | None:
    return _strong_token(env, "YIMA_OPS_TOKEN")


def _strong_token(env: Mapping[str, str], name: str) -> str | None:
    token = env.get(name) or None
    if token is not None and (
        len(token) < OPS_TOKEN_MIN_CHARS
        or len(set(token)) < OPS_TOKEN_MIN_DISTINCT
        or _repeats_a_pattern(token)
        or token_bits(token) < OPS_TOKEN_MIN_BITS
    ):
        raise ConfigError(
            f"{name} is too weak: it needs at least {OPS_TOKEN_MIN_CHARS} random characters "
            f"({OPS_TOKEN_MIN_DISTINCT}+ different, no repeated pattern); make one with {MAKE_A_TOKEN}"
        )
    return token


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _networks(env: Mapping[str, str], name: str, default: tuple[IPNetwork, ...]) -> tuple[IPNetwork, ...]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return tuple(ipaddress.ip_network(part.strip()) for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r}: {exc} (give networks like 127.0.0.1/32,10.0.0.0/8)") from None


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name) or default
    if raw.lower() not in (c.lower() for c in choices):
        raise ConfigError(f"{name}={raw!r} must be one of {', '.join(choices)}")
    return next(c for c in choices if c.lower() == raw.lower())


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw not in ("0", "1"):
        raise ConfigError(f"{name}={raw!r} must be 0 or 1")
    return raw == "1"


PAYOUT_PROVIDERS = ("fake", "wechat_transfer", "wechat_redpack")
EXPIRY_POLICIES = ("reissue", "release")
WECHAT_REQUIRED = ("YIMA_WECHAT_MCHID", "YIMA_WECHAT_APPID", "YIMA_WECHAT_APP_SECRET", "YIMA_WECHAT_MCH_KEY_FILE",
                   "YIMA_WECHAT_MCH_SERIAL", "YIMA_WECHAT_PAY_PUBLIC_KEY_FILE", "YIMA_WECHAT_PAY_PUBLIC_KEY_ID",
                   "YIMA_WECHAT_APIV3_KEY", "YIMA_WECHAT_NOTIFY_URL")


@dataclass(frozen=True)
class PayoutConfig:
    """How prizes are paid. `provider` "fake" (the default) pays through the fake WeChat server that `yima run`
    starts on `fake_port`, with keys generated under var/fake_wechat/; the wechat_* rails need every
    YIMA_WECHAT_* credential. Secrets are kept out of repr (a config is never logged with them)."""

    provider: str = "fake"
    fake_port: int = 0  # the fake WeChat server's port (0: PORT + 2)
    api_base: str = "https://api.mch.weixin.qq.com"  # WeChat Pay
    oauth_base: str = "https://open.weixin.qq.com"  # OAuth authorize (the consumer's browser goes there)
    mp_base: str = "https://api.weixin.qq.com"  # OAuth code exchange, access token, jsapi ticket
    mchid: str = ""
    appid: str = ""
    app_secret: str = field(default="", repr=False)
    mch_key_file: Path | None = None
    mch_serial: str = ""
    pay_public_key_file: Path | None = None
    pay_public_key_id: str = ""
    apiv3_key: str = field(default="", repr=False)
    notify_url: str = ""
    v2_key: str = field(default="", repr=False)  # red packets (API v2)
    client_cert_file: Path | None = None  # red packets: the merchant's API certificate (TLS client auth)
    client_key_file: Path | None = None
    rate_per_s: float = 95.0  # the merchant's token bucket, under 商家转账's 100/s (red packets: 1,800/min)
    burst: int = 5  # so no one-second window exceeds the provider's limit
    user_daily_count: int = 10  # payouts per consumer (openid) per China-time day
    user_daily_fen: int = 20_000  # fen per consumer per day
    on_expiry: str = "reissue"  # an unconfirmed bill closed after 24 h: "reissue" a new bill or "release" it
    campaign_fen_per_hour: dict[int, int] = field(default_factory=dict)  # budget pacing: campaign id → fen/hour


@dataclass(frozen=True)
class Config:
    var_dir: Path
    database_url: str
    redis_url: str | None  # None: the embedded Redis under var_dir; redis+cluster://…: Redis Cluster
    queue_url: str | None  # RQ's own Redis (never a cluster: RQ does not support one); None: redis_url
    host: str
    port: int
    keys_file: Path
    hq_public_file: Path
    base_url: str
    max_batch_count: int
    secret_key: str | None
    redis_timeout: float
    scan_limit_ip: int  # scans of one batch from one IP per minute; 0 = off
    scan_limit_device: int
    invalid_limit_ip: int  # invalid codes from one address (IPv6: /64) per 10 minutes before a block; 0 = off
    invalid_limit_device: int
    trusted_proxies: int  # load balancers in front that set X-Forwarded-For
    bench_endpoints: bool  # only `make bench-scan` turns these on
    ops_token: str | None  # Bearer token for the operations API; embedded default: generated into var/
    member_secret: str | None  # MAC key of member tokens; embedded default: generated into var/
    auth_fails_source: int  # wrong ops-token guesses per source address within auth_lock_seconds; 0 = off
    auth_fails_account: int  # ... per account (the ops token; personal tokens; a console e-mail)
    auth_lock_seconds: int  # the counting window, and how long a lockout lasts
    login_fails_account: int = 10  # wrong console passwords per user (e-mail) within auth_lock_seconds; 0 = off
    db_connect_timeout: int = 5  # seconds to open a SQL connection (libpq counts whole seconds, at least 2)
    db_statement_timeout_ms: int = 30_000  # PostgreSQL cancels a statement running longer; 0 = no limit
    health_timeout: float = 1.0  # /healthz waits this long for its probes, then reports the laggards
    drain_lag_max_s: int = 60  # /healthz says "degraded" when an undrained event is older than this

    log_format: str = "text"  # "json": one JSON object per line (deploy/), "text" for a terminal
    log_level: str = "INFO"
    metrics: bool = True  # Prometheus counters on the request path; /metrics
    metrics_allow: tuple[IPNetwork, ...] = LOOPBACK  # who may read /metrics without the token
    metrics_token: str | None = None  # Bearer token that opens /metrics from anywhere
    metrics_dir: Path | None = None  # PROMETHEUS_MULTIPROC_DIR: gunicorn's workers share their samples there
    worker_metrics_port: int = 0  # `yima worker` serves its /metrics here; 0 = not at all
    payouts: PayoutConfig = PayoutConfig()
    ipregion_file: Path | None = None  # IP → city data replacing the shipped one (docs/location.md)
    risk: bool = True  # the risk layer on every scan (docs/risk.md); YIMA_RISK=0 only to measure its cost


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    env = os.environ if environ is None else environ
    var_dir = Path(env.get("YIMA_VAR_DIR") or _default_var_dir()).resolve()
    port = _int(env, "PORT", 8000, 1, 65535)
    redis_ms = _int(env, "YIMA_REDIS_TIMEOUT_MS", 60, 10, 60_000)
    return Config(
        var_dir=var_dir,
        database_url=env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'yima.db'}",
        redis_url=env.get("REDIS_URL") or None,
        queue_url=env.get("YIMA_QUEUE_URL") or None,
        host=env.get("HOST") or "127.0.0.1",
        port=port,
        keys_file=Path(env.get("YIMA_KEYS_FILE") or var_dir / "keys.json"),
        hq_public_file=Path(env.get("YIMA_HQ_PUBLIC_KEYS") or var_dir / "hq-public.json"),
        base_url=(env.get("YIMA_BASE_URL") or f"http://127.0.0.1:{port}").rstrip("/"),
        max_batch_count=_int(env, "YIMA_MAX_BATCH_COUNT", 100_000_000, 1, 1 << 30),
        secret_key=env.get("YIMA_SECRET_KEY") or None,
        redis_timeout=redis_ms / 1000,
        scan_limit_ip=_int(env, "YIMA_SCAN_LIMIT_IP", 60, 0, 1 << 31),
        scan_limit_device=_int(env, "YIMA_SCAN_LIMIT_DEVICE", 20, 0, 1 << 31),
        invalid_limit_ip=_int(env, "YIMA_INVALID_LIMIT_IP", 30, 0, 1 << 31),
        invalid_limit_device=_int(env, "YIMA_INVALID_LIMIT_DEVICE", 10, 0, 1 << 31),
        trusted_proxies=_int(env, "YIMA_TRUSTED_PROXIES", 0, 0, 5),
        bench_endpoints=env.get("YIMA_BENCH_ENDPOINTS") == "1",
        ops_token=_ops_token(env),
        member_secret=env.get("YIMA_MEMBER_SECRET") or None,
        auth_fails_source=_int(env, "YIMA_AUTH_FAILS_PER_SOURCE", 10, 0, 1_000_000),
        auth_fails_account=_int(env, "YIMA_AUTH_FAILS_PER_ACCOUNT", 50, 0, 1_000_000),
        auth_lock_seconds=_int(env, "YIMA_AUTH_LOCK_SECONDS", 300, 1, 86_400),
        login_fails_account=_int(env, "YIMA_LOGIN_FAILS_PER_ACCOUNT", 10, 0, 1_000_000),
        db_connect_timeout=_int(env, "YIMA_DB_CONNECT_TIMEOUT_S", 5, 2, 300),
        db_statement_timeout_ms=_int(env, "YIMA_DB_STATEMENT_TIMEOUT_MS", 30_000, 0, 86_400_000),
        health_timeout=_int(env, "YIMA_HEALTH_TIMEOUT_MS", 1000, 50, 30_000) / 1000,
        drain_lag_max_s=_int(env, "YIMA_DRAIN_LAG_MAX_S", 60, 1, 86_400),
        log_format=_choice(env, "YIMA_LOG_FORMAT", "text", LOG_FORMATS),
        log_level=_choice(env, "YIMA_LOG_LEVEL", "INFO", LOG_LEVELS),
        metrics=_flag(env, "YIMA_METRICS", True),
        metrics_allow=_networks(env, "YIMA_METRICS_ALLOW", LOOPBACK),
        metrics_token=_strong_token(env, "YIMA_METRICS_TOKEN"),
        # prometheus_client itself reads this name (its multiprocess mode); read here too, to expose it.
        metrics_dir=Path(mp) if (mp := env.get("PROMETHEUS_MULTIPROC_DIR")) else None,
        worker_metrics_port=_int(env, "YIMA_WORKER_METRICS_PORT", 0, 0, 65535),
        payouts=_payouts(env),
        ipregion_file=Path(f) if (f := env.get("YIMA_IPREGION_FILE")) else None,
        risk=_flag(env, "YIMA_RISK", True),
    )


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name)
    return Path(raw) if raw else None


def _payouts(env: Mapping[str, str]) -> PayoutConfig:
    provider = _choice(env, "YIMA_PAYOUT_PROVIDER", "fake", PAYOUT_PROVIDERS)
    if provider != "fake":
        missing = [name for name in WECHAT_REQUIRED if not env.get(name)]
        if provider == "wechat_redpack":
            missing += [n for n in ("YIMA_WECHAT_V2_KEY", "YIMA_WECHAT_CLIENT_CERT_FILE",
                                    "YIMA_WECHAT_CLIENT_KEY_FILE") if not env.get(n)]
        if missing:
            raise ConfigError(f"YIMA_PAYOUT_PROVIDER={provider} needs {', '.join(missing)} (README: payouts)")
        apiv3 = env.get("YIMA_WECHAT_APIV3_KEY", "")
        if len(apiv3.encode()) != 32:
            raise ConfigError("YIMA_WECHAT_APIV3_KEY must be the merchant's 32-character APIv3 key")
    rate_milli = _int(env, "YIMA_PAYOUT_RATE_MILLI", 95_000, 1, 10_000_000)
    return PayoutConfig(
        provider=provider,
        fake_port=_int(env, "YIMA_FAKE_WECHAT_PORT", 0, 0, 65535),
        api_base=(env.get("YIMA_WECHAT_API_BASE") or PayoutConfig.api_base).rstrip("/"),
        oauth_base=(env.get("YIMA_WECHAT_OAUTH_BASE") or PayoutConfig.oauth_base).rstrip("/"),
        mp_base=(env.get("YIMA_WECHAT_MP_BASE") or PayoutConfig.mp_base).rstrip("/"),
        mchid=env.get("YIMA_WECHAT_MCHID", ""),
        appid=env.get("YIMA_WECHAT_APPID", ""),
        app_secret=env.get("YIMA_WECHAT_APP_SECRET", ""),
        mch_key_file=_path(env, "YIMA_WECHAT_MCH_KEY_FILE"),
        mch_serial=env.get("YIMA_WECHAT_MCH_SERIAL", ""),
        pay_public_key_file=_path(env, "YIMA_WECHAT_PAY_PUBLIC_KEY_FILE"),
        pay_public_key_id=env.get("YIMA_WECHAT_PAY_PUBLIC_KEY_ID", ""),
        apiv3_key=env.get("YIMA_WECHAT_APIV3_KEY", ""),
        notify_url=env.get("YIMA_WECHAT_NOTIFY_URL", ""),
        v2_key=env.get("YIMA_WECHAT_V2_KEY", ""),
        client_cert_file=_path(env, "YIMA_WECHAT_CLIENT_CERT_FILE"),
        client_key_file=_path(env, "YIMA_WECHAT_CLIENT_KEY_FILE"),
        rate_per_s=rate_milli / 1000,
        burst=_int(env, "YIMA_PAYOUT_BURST", 5, 1, 100_000),
        user_daily_count=_int(env, "YIMA_PAYOUT_USER_DAILY_COUNT", 10, 0, 1_000_000),
        user_daily_fen=_int(env, "YIMA_PAYOUT_USER_DAILY_FEN", 20_000, 0, 1 << 31),
        on_expiry=_choice(env, "YIMA_PAYOUT_ON_EXPIRY", "reissue", EXPIRY_POLICIES),
        campaign_fen_per_hour=_campaign_pace(env, "YIMA_PAYOUT_CAMPAIGN_PACE"),
    )


def _campaign_pace(env: Mapping[str, str], name: str) -> dict[int, int]:
    """"12:5000,15:20000": campaign 12 pays out at most 5,000 fen (50 元) an hour, campaign 15 200 元."""
    pace: dict[int, int] = {}
    for part in (env.get(name) or "").split(","):
        if not part.strip():
            continue
        campaign, _, fen = part.partition(":")
        if not (campaign.strip().isdigit() and fen.strip().isdigit() and int(fen) > 0):
            raise ConfigError(f"{name}={env.get(name)!r}: give campaign:fen_per_hour pairs, e.g. 12:5000,15:20000")
        pace[int(campaign)] = int(fen)
    return pace
