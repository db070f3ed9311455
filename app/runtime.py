"""Connections built from Config: the SQL engine and the Redis client, shared by web, worker and CLI."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Config
from app.embedded import ensure_embedded_redis
from codegen.db import make_engine, make_sessionmaker, upgrade_schema


def redis_url(cfg: Config) -> str:
    return cfg.redis_url or ensure_embedded_redis(cfg.var_dir)


def connect_redis(cfg: Config) -> redis.Redis:
    return redis.Redis.from_url(
        redis_url(cfg),
        socket_timeout=cfg.redis_timeout,
        socket_connect_timeout=cfg.redis_timeout,
        health_check_interval=30,
    )


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
