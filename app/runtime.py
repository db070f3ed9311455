"""Connections built from Config: the SQL engine and the Redis client, shared by web, worker and CLI."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from app.config import Config, ConfigError
from app.embedded import ensure_embedded_redis
from app.varfiles import create_once, private_sqlite_file
from codegen.db import make_engine, make_sessionmaker
from codegen.keys import KeyFileError, Keyring, load_keyring
from risk.gate import RiskGate
from rules.draw_ticket import ticket_key
from rules.enumeration import EnumerationLimits
from rules.ipregion import default_ip_index
from rules.receipts import receipt_key
from rules.region import default_index
from rules.scan import ScanLimits, Scanner, ScanUnavailable
from rules.snapshot import RulesHolder
from schema import upgrade_schema

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


class InvalidRedisUrl(ConfigError, ValueError):
    """A REDIS_URL or YIMA_QUEUE_URL that names no Redis we can connect to (a setting: one `error:` line)."""


def redis_url(cfg: Config) -> str:
    return cfg.redis_url or ensure_embedded_redis(cfg.var_dir)


def queue_url(cfg: Config) -> str:
    """RQ's Redis: YIMA_QUEUE_URL, else REDIS_URL when that is not a cluster (RQ does not support one)."""
    if cfg.queue_url:
        if is_cluster_url(cfg.queue_url):
            raise InvalidRedisUrl("YIMA_QUEUE_URL must name a plain Redis, not a cluster: RQ does not support one")
        return cfg.queue_url
    url = redis_url(cfg)
    if is_cluster_url(url):
        raise InvalidRedisUrl("REDIS_URL names a Redis Cluster: set YIMA_QUEUE_URL to a plain Redis for the queue")
    return url


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def connect_redis_url(url: str, **options: Any) -> redis.Redis | RedisCluster:
    """A client for `url`: `redis://`, `rediss://` and `unix://` give a plain client;
    `redis+cluster://[[user]:password@]host:port[,host:port…]` (TLS: `rediss+cluster://`) a Redis Cluster
    client that discovers the cluster from those nodes (the convention of the `limits` library).
    `options` go to every connection (timeouts, retry policy)."""
    scheme, sep, rest = url.partition("://")
    if scheme.lower() not in CLUSTER_SCHEMES:
        return redis.Redis.from_url(url, **options)
    userinfo, _, hosts = rest.rpartition("@")
    hosts, _, query = hosts.partition("?")
    hosts = hosts.rstrip("/")
    if not sep or not hosts or query:
        raise InvalidRedisUrl("a cluster URL is redis+cluster://[user:password@]host:port[,host:port…]")
    nodes = []
    for node in hosts.split(","):
        host, colon, port = node.strip().rpartition(":")
        if not colon or not host or not port.isdigit():
            raise InvalidRedisUrl(f"cluster node {node!r} is not host:port")
        nodes.append(ClusterNode(host.strip("[]"), int(port)))
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    if username or password:
        options.update(username=unquote(username) or None, password=unquote(password) or None)
    if scheme.lower().startswith("rediss"):
        options["ssl"] = True
    return RedisCluster(startup_nodes=nodes, **options)


def connect_redis(cfg: Config) -> redis.Redis | RedisCluster:
    # Short timeouts and a single quick retry: a request waiting on a dead Redis should fail in
    # well under a second, not sit through redis-py's default exponential back-off.
    return connect_redis_url(
        redis_url(cfg),
        socket_timeout=cfg.redis_timeout,
        socket_connect_timeout=cfg.redis_timeout,
        retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1),
        health_check_interval=30,
    )


def _var_secret(cfg: Config, name: str) -> str:
    return create_once(cfg.var_dir / name, lambda: secrets.token_hex(32).encode())


def secret_key(cfg: Config) -> str:
    """YIMA_SECRET_KEY, else one generated once into var/ so every worker process signs alike."""
    return cfg.secret_key or _var_secret(cfg, "secret_key")


def member_secret(cfg: Config) -> bytes:
    """YIMA_MEMBER_SECRET, else one generated once into var/member_secret."""
    return (cfg.member_secret or _var_secret(cfg, "member_secret")).encode()


def ops_token(cfg: Config) -> str:
    """YIMA_OPS_TOKEN, else one generated once into var/ops_token (the embedded default)."""
    return cfg.ops_token or _var_secret(cfg, "ops_token")


class KeyringLookup:
    """Batch keys from the master key file. Without the file every lookup raises ScanUnavailable (a 503,
    never "not genuine": the codes may well be genuine), and the file is looked for again every 5 s, so
    a node started before `codegen keys init` recovers on its own."""

    def __init__(self, path: Path, log: logging.Logger, retry_seconds: float = 5.0) -> None:
        self._path, self._log, self._retry = path, log, retry_seconds
        self._ring: Keyring | None = None
        self._error = ""
        self._next_try = 0.0
        self._load()

    def _load(self) -> None:
        try:
            self._ring = load_keyring(self._path)
        except KeyFileError as exc:
            if str(exc) != self._error:
                self._log.error("scans cannot be verified: %s", exc)
            self._error = str(exc)
            self._next_try = time.monotonic() + self._retry

    def __call__(self, key_id: int, batch_id: int) -> bytes | None:
        if self._ring is None and time.monotonic() >= self._next_try:
            self._load()
        if self._ring is None:
            raise ScanUnavailable(self._error)
        return self._ring.batch_key_or_none(key_id, batch_id)


def make_scanner(cfg: Config, redis_client: redis.Redis | RedisCluster, log: logging.Logger) -> Scanner:
    """The scan path's verifier; app nodes hold the master key file (they are headquarters)."""
    limits = ScanLimits(ip_per_window=cfg.scan_limit_ip, device_per_window=cfg.scan_limit_device,
                        invalid=EnumerationLimits(per_ip=cfg.invalid_limit_ip, per_device=cfg.invalid_limit_device))
    rules = RulesHolder(redis_client)
    # YIMA_IPREGION_FILE (not yet in app/config.py): another build of rules/data/ipregion_v4.bin.gz.
    ip_file = getattr(cfg, "ipregion_file", None)
    return Scanner(redis_client, KeyringLookup(cfg.keys_file, log), default_index(), limits, rules=rules.current,
                   member_secret=member_secret(cfg), receipt_key=receipt_key(member_secret(cfg)),
                   ip_regions=default_ip_index(str(ip_file) if ip_file else None),
                   ticket_key=ticket_key(member_secret(cfg)),
                   risk=RiskGate(redis_client, default_index()) if cfg.risk else None)


@dataclass
class Database:
    engine: Engine
    sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = make_sessionmaker(self.engine)


def connect_database(cfg: Config, *, migrate: bool = True, tolerate_outage: bool = False) -> Database:
    """The SQL engine, every connection bounded by the configured connect and statement timeouts.

    `tolerate_outage`: a database that cannot be reached for the migration is logged, not raised (the web
    app: scans need no SQL, and a gunicorn worker that fails to boot stops the whole server).
    """
    private_sqlite_file(cfg.database_url, cfg.var_dir)
    if migrate:
        # A migration may legitimately run longer than any request's statement: no statement limit here.
        migrator = make_engine(cfg.database_url, connect_timeout=cfg.db_connect_timeout)
        try:
            upgrade_schema(migrator)
        except (DBAPIError, PoolTimeout) as exc:
            if not tolerate_outage:
                raise
            logging.getLogger("yima").error("database unreachable, schema not checked: %s", exc.__class__.__name__)
        finally:
            migrator.dispose()
    engine = make_engine(cfg.database_url, connect_timeout=cfg.db_connect_timeout,
                         statement_timeout_ms=cfg.db_statement_timeout_ms)
    return Database(engine)
