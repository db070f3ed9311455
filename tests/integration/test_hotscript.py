"""HotScript against a real Redis: same replies as redis-py's Script, NOSCRIPT, errors, retries, threads, fork."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from rules import hotscript
from rules.hotscript import HotScript
from tests.conftest import REDIS_TEST_URL

ECHO = "-- KEYS[1] = a counter\nreturn {redis.call('INCR', KEYS[1]), ARGV[1], tonumber(ARGV[2]) * 2}"


def test_replies_like_redis_py_script(redis_client: redis.Redis) -> None:
    fast, slow = HotScript(redis_client, ECHO), redis_client.register_script(ECHO)
    assert fast(["{t}:n"], ["héllo", 21]) == [1, "héllo".encode(), 42]
    assert slow(keys=["{t}:n"], args=["héllo", 21]) == [2, "héllo".encode(), 42]
    assert fast(["{t}:n"], [b"\x00\xff", 1.5]) == [3, b"\x00\xff", 3]
    assert fast.sha == slow.sha


def test_decoded_client_gets_text(redis_client: redis.Redis) -> None:
    decoded = redis.Redis.from_url(REDIS_TEST_URL, decode_responses=True)
    try:
        assert HotScript(decoded, ECHO)(["{t}:n"], ["x", 1]) == [1, "x", 2]
    finally:
        decoded.close()


def test_flushed_script_cache_loads_the_script_again(redis_client: redis.Redis) -> None:
    script = HotScript(redis_client, ECHO)
    assert script(["{t}:n"], ["a", 1])[0] == 1
    redis_client.script_flush()
    assert script(["{t}:n"], ["a", 1])[0] == 2  # NOSCRIPT → SCRIPT LOAD → called once more
    assert redis_client.script_exists(script.sha) == [True]


def test_a_script_error_is_a_response_error_and_the_connection_stays_usable(redis_client: redis.Redis) -> None:
    script = HotScript(redis_client, "return redis.call('INCR', KEYS[1])")
    redis_client.set("{t}:s", "not a number")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        script(["{t}:s"], [])
    assert script(["{t}:n"], []) == 1


def test_unreachable_redis_raises_a_connection_error_quickly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens here
    client = redis.Redis(port=port, socket_timeout=0.06, socket_connect_timeout=0.06, retry=Retry(NoBackoff(), 1))
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        HotScript(client, ECHO)(["{t}:n"], ["a", 1])
    assert time.monotonic() - started < 1.0


def test_a_lost_reply_is_retried_on_a_new_connection(redis_client: redis.Redis, lossy_redis) -> None:  # type: ignore[no-untyped-def]
    client, proxy = lossy_redis
    script = HotScript(client, ECHO)
    assert script(["{t}:n"], ["a", 1])[0] == 1  # connected and loaded
    proxy.drop_next_reply()
    assert script(["{t}:n"], ["a", 1])[0] == 3  # ran twice (ECHO is not idempotent): the retry happened
    assert proxy.dropped_replies == 1
    assert redis_client.get("{t}:n") == b"3"


def test_threads_never_share_a_connection_at_once(redis_client: redis.Redis) -> None:
    script = HotScript(redis_client, "return redis.call('INCR', KEYS[1])")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(200):
                script(["{t}:n"], [])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert redis_client.get("{t}:n") == b"800"  # no reply read by the wrong thread, none lost
    assert 1 <= len(script._idle) <= 4  # at most one connection per concurrent call, all idle again
    script.close()
    assert script._idle == []


def test_a_forked_child_opens_its_own_connection(redis_client: redis.Redis) -> None:
    script = HotScript(redis_client, "return redis.call('INCR', KEYS[1])")
    assert script(["{t}:n"], []) == 1
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not talk over the parent's socket
        try:
            fresh = script._idle == []
            reply = script(["{t}:n"], [])
            os.write(write, f"{fresh},{reply}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as fh:
        assert fh.read() == "True,2"
    assert script(["{t}:n"], []) == 3  # the parent's connection is intact


def test_close_drops_the_connection(redis_client: redis.Redis) -> None:
    script = HotScript(redis_client, ECHO)
    script(["{t}:n"], ["a", 1])
    (conn,) = script._idle
    script.close()
    assert not conn.is_connected
    assert script(["{t}:n"], ["a", 1])[0] == 2  # reconnects on demand


@pytest.mark.parametrize("exchange", [hotscript._exchange, hotscript._public_exchange], ids=["direct", "public-api"])
def test_both_exchanges_reply_load_and_raise_alike(redis_client: redis.Redis, exchange) -> None:  # type: ignore[no-untyped-def]
    script = HotScript(redis_client, ECHO)
    script._exchange = exchange
    assert script(["{t}:n"], ["a", 1]) == [1, b"a", 2]
    redis_client.script_flush()
    assert script(["{t}:n"], ["b", 2]) == [2, b"b", 4]  # NOSCRIPT → load → again
    failing = HotScript(redis_client, "return redis.call('INCR', KEYS[1])")
    failing._exchange = exchange
    redis_client.set("{t}:s", "x")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        failing(["{t}:s"], [])
    assert failing(["{t}:n"], []) == 3  # the connection that carried the error is still usable


def test_the_direct_exchange_is_chosen_for_redis_py_connections(redis_client: redis.Redis) -> None:
    assert HotScript(redis_client, ECHO)._exchange is hotscript._exchange
