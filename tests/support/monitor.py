"""What the server saw: the script commands a test's clients sent, through MONITOR."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis


def script_commands_seen(client: redis.Redis, action: Callable[[], Any]) -> list[str]:
    """The script commands (EVAL, EVALSHA, SCRIPT) clients sent to `client`'s database while `action` ran.
    MONITOR also sees every other database and the commands scripts run; those are left out."""
    db = client.connection_pool.connection_kwargs.get("db", 0)
    seen: list[str] = []
    with client.monitor() as monitor:
        action()
        client.ping()  # a marker: everything before it has been seen
        for event in monitor.listen():
            name = event["command"].split()[0].upper()
            if name == "PING" and event["db"] == db:
                break
            if event["db"] == db and event.get("client_type") != "lua" and name in ("EVAL", "EVALSHA", "SCRIPT"):
                seen.append(name)
    return seen
