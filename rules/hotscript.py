"""A Lua script on the scan path, called over a connection of its own: one EVALSHA, nothing else.

redis-py's generic command path costs more CPU than the scan script itself: a pool checkout with a poll()
of the socket, the retry wrapper, observability hooks, argument encoding in Python and response callbacks
(measured in `python -m bench.bench_hotscript`). On the hot path we keep what matters of it and drop
the rest:

- the connection is made by the client's own pool class with the pool's own arguments, so the URL's
  options (database, AUTH, TLS, unix socket, timeouts, the retry policy) apply unchanged;
- a connection per concurrent call (one per gunicorn sync worker, one per busy gthread thread), kept
  idle between calls and dropped in a forked child;
- the command is packed by hiredis in C, written to the connection's socket and its reply read by the
  connection's own parser, without redis-py's per-call bookkeeping (`_exchange`; a connection class
  without those attributes goes through the public API instead);
- a connection error or timeout is retried as the client's retry policy says, after reconnecting. The
  script must therefore be idempotent for a retried call (scan.lua's replay guard makes it so);
- a flushed script cache (NOSCRIPT) loads the script once and calls again.
"""

from __future__ import annotations

import hashlib
import os
import weakref
from collections.abc import Sequence
from typing import Any

from hiredis import pack_command
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

_LIVE: weakref.WeakSet[HotScript] = weakref.WeakSet()


def _forget_connections_after_fork() -> None:
    for script in list(_LIVE):
        script._idle = []  # the parent's sockets are not ours to use


os.register_at_fork(after_in_child=_forget_connections_after_fork)


def _exchange(conn: Any, packed: bytes) -> Any:
    """One command and its reply on the connection's own socket and reply parser.

    The same steps as redis-py's `send_packed_command` + `read_response`, without what a dedicated,
    constantly used connection does not need (a health-check clock per call, the command-shape checks,
    the error-message formatting on the success path): about 6 µs less client CPU per scan call (50 → 44
    µs, an A/B of both call paths on scan.lua, 2026-12-02). Socket failures become redis-py's
    ConnectionError / TimeoutError, after a disconnect, exactly as there.
    """
    sock = conn._sock
    if sock is None:
        conn.connect()
        sock = conn._sock
    try:
        sock.sendall(packed)
        reply = conn._parser.read_response()
    except TimeoutError:  # socket.timeout
        conn.disconnect()
        raise RedisTimeoutError("Timeout talking to Redis") from None
    except OSError as exc:
        conn.disconnect()
        raise RedisConnectionError(f"Error talking to Redis: {exc}") from None
    except BaseException:
        conn.disconnect()  # a half-read reply must never be read by the next call
        raise
    if isinstance(reply, ResponseError):
        raise reply
    return reply


def _public_exchange(conn: Any, packed: bytes) -> Any:
    """`_exchange` through redis-py's public connection API, for a connection class without the
    attributes `_exchange` uses."""
    conn.send_packed_command((packed,))
    return conn.read_response()


class HotScript:
    """`HotScript(redis_client, source)(keys, args)` → the script's reply, like `register_script`."""

    def __init__(self, redis: Any, source: str) -> None:
        self._pool = redis.connection_pool
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        # Idle connections. list.pop()/append() are atomic, so threads share it without a lock; there are
        # as many connections as calls ever ran at once (one per sync worker, one per busy thread).
        self._idle: list[Any] = []
        probe = self._pool.connection_class(**self._pool.connection_kwargs)
        self._exchange = _exchange if hasattr(probe, "_sock") and hasattr(probe, "_parser") else _public_exchange
        _LIVE.add(self)

    def __call__(self, keys: Sequence[str | bytes], args: Sequence[str | bytes | int | float]) -> Any:
        # hiredis' stub types the argument as a 1-tuple; it takes any number of parts.
        packed = pack_command(("EVALSHA", self.sha, len(keys), *keys, *args))  # type: ignore[arg-type]
        try:
            conn = self._idle.pop()
        except IndexError:
            conn = self._pool.connection_class(**self._pool.connection_kwargs)
        try:
            try:
                return self._call(conn, packed)
            except NoScriptError:
                self._call(conn, pack_command(("SCRIPT", "LOAD", self.source)))  # type: ignore[arg-type]
                return self._call(conn, packed)
        finally:
            # After a socket error the connection is already disconnected: the next call reconnects.
            self._idle.append(conn)

    def _call(self, conn: Any, packed: bytes) -> Any:
        """One exchange under the connection's own retry policy. The first attempt runs outside the
        policy's machinery (nothing to set up on the path that almost always succeeds); if it fails,
        its error is handed to the policy as the policy's own first failure, so the number of attempts,
        the back-off and which errors are retried are exactly the policy's."""
        try:
            return self._exchange(conn, packed)
        except Exception as exc:
            first: list[Exception] = [exc]

        def attempt() -> Any:
            if first:
                raise first.pop()
            return self._exchange(conn, packed)

        return conn.retry.call_with_retry(attempt, lambda _error: conn.disconnect())

    def close(self) -> None:
        """Close the idle connections; a later call opens a new one."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.disconnect()
