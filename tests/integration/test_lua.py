"""ScriptCaller against a real Redis: same replies as redis-py's Script, EVALSHA only, NOSCRIPT, batching,
errors, retries, threads, fork."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from rules.lua import LuaScript, ScriptCall, ScriptCaller
from tests.conftest import REDIS_TEST_URL
from tests.support.monitor import script_commands_seen

ECHO = LuaScript.of_source("return {redis.call('INCR', KEYS[1]), ARGV[1], tonumber(ARGV[2]) * 2}")
INCR = LuaScript.of_source("return redis.call('INCR', KEYS[1])")


def echo(key: str = "{t}:n", text: str | bytes = "a", n: float = 1) -> ScriptCall[list[object]]:
    return ScriptCall(ECHO, [key], [text, n], list)


def incr(key: str = "{t}:n") -> ScriptCall[int]:
    return ScriptCall(INCR, [key], [], int)


def test_replies_like_redis_py_script(redis_any: redis.Redis) -> None:
    caller, slow = ScriptCaller(redis_any), redis_any.register_script(ECHO.source)
    assert caller.run(echo(text="héllo", n=21)) == [1, "héllo".encode(), 42]
    assert slow(keys=["{t}:n"], args=["héllo", 21]) == [2, "héllo".encode(), 42]
    assert caller.run(echo(text=b"\x00\xff", n=1.5)) == [3, b"\x00\xff", 3]
    assert ECHO.sha == slow.sha


def test_a_call_is_one_evalsha_and_nothing_else(redis_any: redis.Redis) -> None:
    caller = ScriptCaller(redis_any)
    caller.run_all([echo(), incr()])  # loads the scripts (NOSCRIPT the first time on a fresh server)
    assert script_commands_seen(redis_any, lambda: caller.run(echo())) == ["EVALSHA"]
    batch = [echo("{t}:a"), echo("{t}:b"), incr("{u}:c")]
    assert script_commands_seen(redis_any, lambda: caller.run_all(batch)) == ["EVALSHA"] * 3  # no SCRIPT EXISTS


def test_calls_to_one_server_share_one_round_trip(redis_client: redis.Redis) -> None:
    caller = ScriptCaller(redis_client)
    caller.run(incr())
    sent: list[int] = []
    conn = caller._idle[""][0]
    original = conn.send_packed_command
    conn.send_packed_command = lambda packed, *a, **k: (sent.append(len(packed)), original(packed, *a, **k))[1]
    assert caller.run_all([incr("{t}:n"), incr("{x}:m"), echo("{y}:e", "z", 2)]) == [2, 1, [1, b"z", 4]]
    assert sent == [1]  # three commands joined into one write (one sendall), three replies read back in order


def test_decoded_client_gets_text(redis_client: redis.Redis) -> None:
    decoded = redis.Redis.from_url(REDIS_TEST_URL, decode_responses=True)
    try:
        assert ScriptCaller(decoded).run(echo(text="x")) == [1, "x", 2]
    finally:
        decoded.close()


def test_flushed_script_cache_loads_the_script_again(redis_any: redis.Redis) -> None:
    caller = ScriptCaller(redis_any)
    assert caller.run(echo())[0] == 1
    redis_any.script_flush()  # on a cluster: every master
    assert caller.run_all([echo(), incr("{u}:x")]) == [[2, b"a", 2], 1]  # NOSCRIPT → SCRIPT LOAD → again
    assert redis_any.script_exists(ECHO.sha, INCR.sha) == [True, True]


def test_a_script_error_is_raised_and_the_connection_stays_usable(redis_any: redis.Redis) -> None:
    caller = ScriptCaller(redis_any)
    redis_any.set("{t}:s", "not a number")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        caller.run_all([incr("{t}:s"), incr("{t}:n")])
    assert redis_any.get("{t}:n") == b"1"  # the call after the failing one still ran, its reply was read
    assert caller.run(incr()) == 2  # and the next call does not read a stale reply


def test_unreachable_redis_raises_a_connection_error_quickly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens here
    client = redis.Redis(port=port, socket_timeout=0.06, socket_connect_timeout=0.06, retry=Retry(NoBackoff(), 1))
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        ScriptCaller(client).run(echo())
    assert time.monotonic() - started < 1.0


def test_a_lost_reply_is_retried_on_a_new_connection(redis_any: redis.Redis, lossy_redis_any) -> None:  # type: ignore[no-untyped-def]
    client, proxy = lossy_redis_any
    caller = ScriptCaller(client)
    assert caller.run(echo())[0] == 1  # connected and loaded
    proxy.drop_next_reply()
    assert caller.run(echo())[0] == 3  # ran twice (ECHO is not idempotent): the retry happened
    assert proxy.dropped_replies == 1
    assert redis_any.get("{t}:n") == b"3"


def test_threads_never_share_a_connection_at_once(redis_any: redis.Redis) -> None:
    caller = ScriptCaller(redis_any)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(200):
                caller.run(incr())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert redis_any.get("{t}:n") == b"800"  # no reply read by the wrong thread, none lost
    [idle] = caller._idle.values()  # one server: the master of {t}'s slot on a cluster
    assert 1 <= len(idle) <= 4  # at most one connection per concurrent call, all idle again
    caller.close()
    assert caller._idle == {}


def test_a_forked_child_opens_its_own_connection(redis_client: redis.Redis) -> None:
    caller = ScriptCaller(redis_client)
    assert caller.run(incr()) == 1
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not talk over the parent's socket
        try:
            fresh = caller._idle == {}
            reply = caller.run(incr())
            os.write(write, f"{fresh},{reply}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as fh:
        assert fh.read() == "True,2"
    assert caller.run(incr()) == 3  # the parent's connection is intact


def test_close_drops_the_connection(redis_client: redis.Redis) -> None:
    caller = ScriptCaller(redis_client)
    caller.run(echo())
    (conn,) = caller._idle[""]
    caller.close()
    assert not conn.is_connected
    assert caller.run(echo())[0] == 2  # reconnects on demand


def test_calls_to_keys_of_every_master_each_reach_their_own(redis_any: redis.Redis) -> None:
    """On a cluster a batch of calls spreads over the masters (one exchange per master); on standalone
    Redis it is one exchange. Either way every call ran once, on the server that holds its key."""
    caller = ScriptCaller(redis_any)
    keys = [f"{{k{i}}}:n" for i in range(30)]
    assert caller.run_all([incr(k) for k in keys]) == [1] * 30
    assert caller.run_all([incr(k) for k in keys]) == [2] * 30
    assert [int(redis_any.get(k)) for k in keys] == [2] * 30
    assert len(caller._idle) == (len(redis_any.get_primaries()) if isinstance(redis_any, RedisCluster) else 1)
