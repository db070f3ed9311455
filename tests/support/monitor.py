"""What the server saw: the script commands a test's clients sent, through MONITOR."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import redis
from redis.cluster import RedisCluster


def script_commands_seen(client: Any, action: Callable[[], Any]) -> list[str]:
    """The script commands (EVAL, EVALSHA, SCRIPT) clients sent to `client`'s database while `action` ran.
    MONITOR also sees every other database and the commands scripts run; those are left out. On a Redis
    Cluster, every master is watched (db 0, the only one), and what they saw is put together."""
    if isinstance(client, RedisCluster):
        servers = [client.get_redis_connection(node) for node in client.get_primaries()]
    else:
        servers = [client]
    with contextlib.ExitStack() as stack:
        monitors = [stack.enter_context(server.monitor()) for server in servers]
        action()
        seen: list[str] = []
        for server, monitor in zip(servers, monitors, strict=True):
            seen += _seen_until_ping(server, monitor)
    return seen


def _seen_until_ping(server: redis.Redis, monitor: Any) -> list[str]:
    db = server.connection_pool.connection_kwargs.get("db", 0)
    server.ping()  # a marker: everything before it has been seen
    seen: list[str] = []
    for event in monitor.listen():
        name = event["command"].split()[0].upper()
        if name == "PING" and event["db"] == db:
            break
        if event["db"] == db and event.get("client_type") != "lua" and name in ("EVAL", "EVALSHA", "SCRIPT"):
            seen.append(name)
    return seen
