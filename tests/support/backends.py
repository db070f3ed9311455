"""The Redis backends the Redis-facing tests run on, as `limits` tests every storage: standalone Redis
(REDIS_TEST_URL) and a real Redis Cluster (REDIS_CLUSTER_TEST_URL).

The cluster is the one at REDIS_CLUSTER_TEST_URL (default redis+cluster://127.0.0.1:7000, which
`.ci/run` starts) when it answers and is healthy; when nothing answers there, the session starts a
private 3-master cluster (tests/support/redis_cluster.py) on YIMA_TEST_CLUSTER_PORTS or free ports, so
the cluster tests run on a fresh machine too rather than skip. A cluster has db 0 only; every master is
flushed before and after each test. RQ never runs on a cluster (YIMA_QUEUE_URL): a backend's
`queue_url` is the standalone test DB in both cases.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from app.runtime import connect_redis_url
from tests.support.proxy import TcpProxy
from tests.support.redis_cluster import LocalCluster, cluster_problem, free_port_range

# Which backends the parametrized tests run on. `make test-redis62` keeps to standalone: its point is the
# 6.2 server, and the cluster was already tested by `make test`.
BACKENDS = tuple(os.environ.get("YIMA_TEST_REDIS_BACKENDS", "standalone,cluster").split(","))
CLUSTER_SCHEME = "redis+cluster://"

AnyRedis = redis.Redis | RedisCluster


def cluster_url_default() -> str:
    return os.environ.get("REDIS_CLUSTER_TEST_URL", "redis+cluster://127.0.0.1:7000")


def cluster_addresses(url: str) -> list[tuple[str, int]]:
    """redis+cluster://h1:p1,h2:p2/0 → [(h1, p1), (h2, p2)]."""
    netloc = url[len(CLUSTER_SCHEME):].split("/", 1)[0].rsplit("@", 1)[-1]
    return [(urlsplit(f"//{hp}").hostname or "127.0.0.1", urlsplit(f"//{hp}").port or 6379)
            for hp in netloc.split(",")]


def connect(url: str, **options: Any) -> AnyRedis:
    """A client for a redis:// or redis+cluster:// URL, made as the app makes its own."""
    return connect_redis_url(url, **options)


def flush(client: AnyRedis) -> None:
    """Empty the DB; on a cluster, every master (FLUSHDB goes to all primaries)."""
    client.flushdb()


@dataclass
class RedisBackend:
    """One backend under test: its name (the test id), the URL the app and workers take, and the
    standalone URL RQ's queue lives on."""

    name: str
    url: str
    queue_url: str
    _clients: list[AnyRedis] = field(default_factory=list, repr=False)

    @property
    def is_cluster(self) -> bool:
        return self.name == "cluster"

    def client(self, **options: Any) -> AnyRedis:
        """A new client, closed when the test ends."""
        client = connect(self.url, **options)
        self._clients.append(client)
        return client

    def flush(self) -> None:
        with contextlib.closing(connect(self.url)) as client:
            flush(client)
        if self.queue_url != self.url:
            with contextlib.closing(redis.Redis.from_url(self.queue_url)) as queue:
                queue.flushdb()

    def close(self) -> None:
        while self._clients:
            self._clients.pop().close()


def healthy_cluster(url: str) -> bool:
    """True when a healthy cluster answers at `url`; False when nothing answers there at all. A node that
    answers but is not a healthy cluster is an error: the suite would otherwise test against it."""
    ports = [p for _, p in cluster_addresses(url)]
    problem = cluster_problem(ports)
    if problem == "no node answers":
        return False
    if problem is not None:
        raise RuntimeError(f"REDIS_CLUSTER_TEST_URL={url} answers but is not a healthy cluster: {problem} "
                           "(`python -m tests.support.redis_cluster start --ports …` resets it)")
    return True


@contextlib.contextmanager
def session_cluster(workdir: Path) -> Iterator[str]:
    """The URL of the cluster the session tests on: REDIS_CLUSTER_TEST_URL's, else a private one."""
    url = cluster_url_default()
    if healthy_cluster(url):
        yield url
        return
    with LocalCluster(free_port_range(3), workdir) as cluster:
        yield cluster.url


class ProxyGroup:
    """TcpProxies in front of every node of a cluster that lose one reply between them: the next reply
    any of them carries (`drop_next_reply`), as one TcpProxy does in front of a standalone Redis."""

    def __init__(self, ports: list[int]) -> None:
        self._armed = threading.Event()
        self.by_port = {p: TcpProxy("127.0.0.1", p, drop_reply=self._armed) for p in ports}

    def drop_next_reply(self) -> None:
        self._armed.set()

    @property
    def dropped_replies(self) -> int:
        return sum(p.dropped_replies for p in self.by_port.values())

    def remap(self, address: tuple[str, int]) -> tuple[str, int]:
        return "127.0.0.1", self.by_port[address[1]].port

    def close(self) -> None:
        for proxy in self.by_port.values():
            proxy.close()


@contextlib.contextmanager
def lossy_client(backend: RedisBackend) -> Iterator[tuple[AnyRedis, Any]]:
    """A client of `backend` through proxies that can lose a reply (redis-py then retries), and the
    proxy (or group of proxies, one per cluster node) to arm with `drop_next_reply()`."""
    if not backend.is_cluster:
        url = redis.connection.parse_url(backend.url)
        proxy = TcpProxy(url.get("host", "127.0.0.1"), int(url.get("port", 6379)))
        client: AnyRedis = redis.Redis(host="127.0.0.1", port=proxy.port, db=int(url.get("db", 0)),
                                       socket_timeout=1, retry=Retry(NoBackoff(), 2))
        try:
            yield client, proxy
        finally:
            client.close()
            proxy.close()
        return
    with contextlib.closing(connect(backend.url)) as direct:
        ports = [node.port for node in direct.get_nodes()]  # type: ignore[union-attr]
    group = ProxyGroup(ports)
    first = group.by_port[ports[0]]
    client = RedisCluster(host="127.0.0.1", port=first.port, address_remap=group.remap, socket_timeout=1,
                          retry=Retry(NoBackoff(), 2))
    try:
        yield client, group
    finally:
        client.close()
        group.close()


# Fixtures (tests/conftest.py loads this module as a plugin) ---------------------------------------------

@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The cluster this session tests on (see the module docstring)."""
    with session_cluster(tmp_path_factory.mktemp("redis-cluster")) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def redis_backend(request: pytest.FixtureRequest) -> Iterator[RedisBackend]:
    """Each test that takes it runs on standalone Redis and on a Redis Cluster, both flushed around it."""
    from tests.conftest import REDIS_TEST_URL as standalone  # conftest loads this module: import late
    url = standalone if request.param == "standalone" else request.getfixturevalue("redis_cluster_url")
    backend = RedisBackend(request.param, url, queue_url=standalone)
    backend.flush()
    yield backend
    backend.close()
    backend.flush()


@pytest.fixture
def redis_any(redis_backend: RedisBackend) -> AnyRedis:
    """A client of the backend under test (standalone or cluster), the parametrized `redis_client`."""
    return redis_backend.client()


@pytest.fixture
def lossy_redis_any(redis_backend: RedisBackend) -> Iterator[tuple[AnyRedis, Any]]:
    """`lossy_redis` for the backend under test."""
    with lossy_client(redis_backend) as pair:
        yield pair
