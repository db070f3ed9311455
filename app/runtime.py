"""Connections built from Config: the SQL engine and the Redis client, shared by web, worker and CLI."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Config
from app.embedded import ensure_embedded_redis
from codegen.db import make_engine, make_sessionmaker, upgrade_schema
from codegen.fileio import atomic_write
from codegen.keys import KeyFileError, load_keyring
from rules.region import default_index
from rules.scan import ScanLimits, Scanner, ScanUnavailable


def redis_url(cfg: Config) -> str:
    return cfg.redis_url or ensure_embedded_redis(cfg.var_dir)


def connect_redis(cfg: Config) -> redis.Redis:
    # Short timeouts and a single quick retry: a request waiting on a dead Redis should fail in
    # well under a second, not sit through redis-py's default exponential back-off.
    return redis.Redis.from_url(
        redis_url(cfg),
        socket_timeout=cfg.redis_timeout,
        socket_connect_timeout=cfg.redis_timeout,
        retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1),
        health_check_interval=30,
    )


def secret_key(cfg: Config) -> str:
    """YIMA_SECRET_KEY, else one generated once into var/ so every worker process signs alike."""
    if cfg.secret_key:
        return cfg.secret_key
    path = cfg.var_dir / "secret_key"
    if not path.exists():
        atomic_write(path, secrets.token_hex(32).encode(), mode=0o600)
    return path.read_text().strip()


def make_scanner(cfg: Config, redis_client: redis.Redis, log: logging.Logger) -> Scanner:
    """The scan path's verifier. The app needs the master key file to verify codes; without it, every
    scan answers 503 (never "not genuine": the codes may well be genuine)."""
    try:
        ring = load_keyring(cfg.keys_file)
        key_for = ring.batch_key_or_none
    except KeyFileError as exc:
        log.error("scans cannot be verified: %s", exc)
        message = str(exc)

        def key_for(_key_id: int, _batch_id: int) -> bytes | None:
            raise ScanUnavailable(message)

    limits = ScanLimits(ip_per_window=cfg.scan_limit_ip, device_per_window=cfg.scan_limit_device)
    return Scanner(redis_client, key_for, default_index(), limits)


@dataclass
class Database:
    engine: Engine
    sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = make_sessionmaker(self.engine)


def connect_database(cfg: Config, *, migrate: bool = True) -> Database:
    engine = make_engine(cfg.database_url)
    if migrate:
        upgrade_schema(engine)
    return Database(engine)
