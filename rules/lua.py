"""Lua scripts as yima calls them: EVALSHA and nothing else, on standalone Redis and on Redis Cluster.

redis-py's `Script` queued in a pipeline sends `SCRIPT EXISTS` before every EVALSHA (one more round trip
per winning scan), and its generic command path costs more client CPU than the scan script itself
(`make bench-hotscript`). A `ScriptCaller` keeps what matters of redis-py and drops the rest:

- EVALSHA only; a NOSCRIPT reply (a restarted or flushed server) loads the script once and calls again;
- calls to one server go out together and their replies are read back in order: one round trip per
  server for a scan's draws, however many campaigns it enters;
- connections of its own, made by the client's own pool class with the pool's own arguments (database,
  AUTH, TLS, unix socket, timeouts, retry policy), one per concurrent caller, idle between calls and
  dropped in a forked child. Only public redis-py API is used (`send_packed_command`, `read_response`);
- on a cluster, the connection goes to the master of the slot of the call's first key (every script's
  keys share one slot: tests/unit/test_key_slots.py). A redirect (MOVED/ASK), a cluster that is down or
  a lost connection hands the call to the cluster client's own command path, which follows the
  redirect, refreshes its slot map and retries as configured. A call may therefore run twice: every
  script is idempotent for a retried call (their replay guards);
- on standalone Redis, a lost connection is retried under the connection's own retry policy.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from hiredis import pack_command
from redis.cluster import RedisCluster
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    NoScriptError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

T = TypeVar("T")
Arg = str | bytes | int | float

# Answers that mean "ask the cluster client, it knows how to follow this".
_CLUSTER_HANDOFF = (MovedError, AskError, TryAgainError, ClusterDownError, RedisConnectionError, RedisTimeoutError)


@dataclass(frozen=True)
class LuaScript:
    """One `.lua` file and its SHA1, as EVALSHA names it."""

    name: str
    source: str
    sha: str

    @classmethod
    def of(cls, package: str, filename: str) -> LuaScript:
        return cls.of_source(importlib.resources.files(package).joinpath(filename).read_text("utf-8"), filename)

    @classmethod
    def of_source(cls, source: str, name: str = "inline") -> LuaScript:
        return cls(name, source, hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest())


@dataclass(frozen=True)
class ScriptCall(Generic[T]):
    """One script call: its keys and arguments, and how to read its reply."""

    script: LuaScript
    keys: Sequence[str]
    args: Sequence[Arg]
    parse: Callable[[Any], T]

    def packed(self) -> bytes:
        # hiredis' stub types the argument as a 1-tuple; it takes any number of parts.
        packed: bytes = pack_command(("EVALSHA", self.script.sha, len(self.keys), *self.keys, *self.args))  # type: ignore[arg-type]
        return packed


_LIVE: weakref.WeakSet[ScriptCaller] = weakref.WeakSet()


def _forget_connections_after_fork() -> None:
    for caller in list(_LIVE):
        caller._idle = {}  # the parent's sockets are not ours to use


os.register_at_fork(after_in_child=_forget_connections_after_fork)


def is_cluster(client: Any) -> bool:
    return isinstance(client, RedisCluster)


class ScriptCaller:
    """Runs `ScriptCall`s on one client, standalone or cluster (see the module's docstring)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._cluster = is_cluster(client)
        # Idle connections per server. list.pop()/append() are atomic, so threads share them without a
        # lock; a server has as many connections as calls ever ran on it at once.
        self._idle: dict[str, list[Any]] = {}
        _LIVE.add(self)

    def run(self, call: ScriptCall[T]) -> T:
        reply: T = self.run_all([call])[0]
        return reply

    def run_all(self, calls: Sequence[ScriptCall[Any]]) -> list[Any]:
        """Every call's parsed reply, in order; calls to one server share one round trip."""
        replies: list[Any] = [None] * len(calls)
        for server, indexes in self._by_server(calls).items():
            for i, reply in zip(indexes, self._exchange(server, [calls[i] for i in indexes]), strict=True):
                replies[i] = reply
        return [call.parse(reply) for call, reply in zip(calls, replies, strict=True)]

    def close(self) -> None:
        """Close the idle connections; a later call opens new ones."""
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.disconnect()

    def _by_server(self, calls: Sequence[ScriptCall[Any]]) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {}
        for i, call in enumerate(calls):
            server = self._client.get_node_from_key(call.keys[0]).name if self._cluster else ""
            groups.setdefault(server, []).append(i)
        return groups

    def _pool(self, server: str) -> Any:
        if not self._cluster:
            return self._client.connection_pool
        node = self._client.get_node(node_name=server)
        return self._client.get_redis_connection(node).connection_pool

    def _exchange(self, server: str, calls: list[ScriptCall[Any]]) -> list[Any]:
        """The raw replies of calls to one server. Error replies are kept in place, then settled: NOSCRIPT
        loads and calls again, a cluster redirect goes through the client, anything else is raised."""
        idle = self._idle.setdefault(server, [])
        try:
            conn = idle.pop()
        except IndexError:
            pool = self._pool(server)
            conn = pool.connection_class(**pool.connection_kwargs)
        try:
            replies = self._send(conn, calls)
        except _CLUSTER_HANDOFF:
            if not self._cluster:
                raise
            replies = [self._through_client(call) for call in calls]
        finally:
            idle.append(conn)  # after a socket error it is already disconnected: the next call reconnects
        for i, reply in enumerate(replies):
            if isinstance(reply, NoScriptError):
                self._client.script_load(calls[i].script.source)  # on a cluster: every master
                replies[i] = self._through_client(calls[i])
            elif self._cluster and isinstance(reply, _CLUSTER_HANDOFF):
                replies[i] = self._through_client(calls[i])
            elif isinstance(reply, ResponseError):
                raise reply
        return replies

    def _through_client(self, call: ScriptCall[Any]) -> Any:
        """The call through the client's own command path (redirects, slot-map refresh, retries)."""
        try:
            return self._client.execute_command("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args)
        except NoScriptError:
            self._client.script_load(call.script.source)
            return self._client.execute_command("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args)

    def _send(self, conn: Any, calls: list[ScriptCall[Any]]) -> list[Any]:
        """One exchange, under the connection's own retry policy (standalone), or once (cluster: the
        client's path retries). The first attempt runs outside the policy's machinery, so the path that
        almost always succeeds sets nothing up; its failure counts as the policy's first."""
        packed = [call.packed() for call in calls]
        try:
            return _exchange(conn, packed)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if self._cluster:
                raise
            first: list[Exception] = [exc]

        def attempt() -> list[Any]:
            if first:
                raise first.pop()
            return _exchange(conn, packed)

        result: list[Any] = conn.retry.call_with_retry(attempt, lambda _error: conn.disconnect())
        return result


def _exchange(conn: Any, packed: list[bytes]) -> list[Any]:
    """Send the commands together and read one reply each; an error reply is returned in its place (the
    remaining replies must still be read, or the next call would read them)."""
    try:
        conn.send_packed_command([b"".join(packed)])  # one write for the lot (redis-py writes a list part by part)
        replies = []
        for _ in packed:
            try:
                replies.append(conn.read_response())
            except ResponseError as exc:
                replies.append(exc)
        return replies
    except BaseException:
        conn.disconnect()  # a half-read reply must never be read by the next call
        raise
