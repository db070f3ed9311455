"""A Lua script on the scan path, called over a connection of its own: one EVALSHA, nothing else.

redis-py's generic command path costs more CPU than the scan script itself: a pool checkout with a poll()
of the socket, the retry wrapper, observability hooks, argument encoding in Python and response callbacks
(measured in `python -m bench.bench_hotscript`). On the hot path we keep what matters of it and drop
the rest:

- the connection is made by the client's own pool class with the pool's own arguments, so the URL's
  options (database, AUTH, TLS, unix socket, timeouts, the retry policy) apply unchanged;
- a connection per concurrent call (one per gunicorn sync worker, one per busy gthread thread), kept
  idle between calls and dropped in a forked child;
- the command is packed by hiredis in C;
- a connection error or timeout is retried as the client's retry policy says, after reconnecting. The
  script must therefore be idempotent for a retried call (scan.lua's replay guard makes it so);
- a flushed script cache (NOSCRIPT) loads the script once and calls again.
"""

from __future__ import annotations

import functools
import hashlib
import os
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from hiredis import pack_command
from redis.exceptions import NoScriptError

_LIVE: weakref.WeakSet[HotScript] = weakref.WeakSet()


def _forget_connections_after_fork() -> None:
    for script in list(_LIVE):
        script._idle = []  # the parent's sockets are not ours to use


os.register_at_fork(after_in_child=_forget_connections_after_fork)


def _with_retry(conn: Any, do: Callable[[], Any]) -> Any:
    """`do()` under the connection's own retry policy, reconnecting after each failure."""
    return conn.retry.call_with_retry(do, lambda _error: conn.disconnect())


class HotScript:
    """`HotScript(redis_client, source)(keys, args)` → the script's reply, like `register_script`."""

    def __init__(self, redis: Any, source: str) -> None:
        self._pool = redis.connection_pool
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        # Idle connections. list.pop()/append() are atomic, so threads share it without a lock; there are
        # as many connections as calls ever ran at once (one per sync worker, one per busy thread).
        self._idle: list[Any] = []
        _LIVE.add(self)

    def __call__(self, keys: Sequence[str | bytes], args: Sequence[str | bytes | int | float]) -> Any:
        # hiredis' stub types the argument as a 1-tuple; it takes any number of parts.
        command = (pack_command(("EVALSHA", self.sha, len(keys), *keys, *args)),)  # type: ignore[arg-type]
        try:
            conn = self._idle.pop()
        except IndexError:
            conn = self._pool.connection_class(**self._pool.connection_kwargs)
        send = functools.partial(self._send, conn, command)
        try:
            try:
                return _with_retry(conn, send)
            except NoScriptError:
                _with_retry(conn, lambda: self._load(conn))
                return _with_retry(conn, send)
        finally:
            # After a socket error redis-py has already disconnected it: the next call reconnects.
            self._idle.append(conn)

    @staticmethod
    def _send(conn: Any, command: tuple[bytes]) -> Any:
        conn.send_packed_command(command)
        return conn.read_response()

    def _load(self, conn: Any) -> None:
        conn.send_command("SCRIPT", "LOAD", self.source)
        conn.read_response()

    def close(self) -> None:
        """Close the idle connections; a later call opens a new one."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.disconnect()
