"""Health checks that answer in bounded time whatever their dependency does.

Each check runs in a daemon thread of its own, so a caller (a /healthz request holding one of gunicorn's
few sync workers) waits at most its deadline: a check that has not answered by then is reported as
"timeout" while its thread goes on waiting, and a later request reuses that run instead of piling up
another. A Redis that hangs cannot delay the SQL answer, nor SQL the Redis one.

Threads do not survive fork(): a probe notices it is in a new process (gunicorn forks its workers, and
with `preload_app` after the app was built) and starts its thread there, with fresh locks.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

Check = Callable[[], dict[str, Any] | None]

_probes: weakref.WeakSet[Probe] = weakref.WeakSet()


class Probe:
    def __init__(self, name: str, check: Check) -> None:
        self.name, self._check = name, check
        self._reset()
        _probes.add(self)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None
        self._result: dict[str, Any] | None = None
        self._finished = float("-inf")  # monotonic time the last result arrived
        self._running_since: float | None = None

    def kick(self) -> float:
        """Ask for a run (its thread started if need be); returns the time of asking, for `result`."""
        asked = time.monotonic()
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=f"probe-{self.name}", daemon=True)
                self._thread.start()
            self._wanted.set()
        return asked

    def result(self, asked: float, deadline: float) -> dict[str, Any]:
        """The outcome of a run that ended after `asked`, waiting for it until `deadline` (monotonic)."""
        with self._cond:
            self._cond.wait_for(lambda: self._finished >= asked, max(0.0, deadline - time.monotonic()))
            if self._finished >= asked and self._result is not None:
                return self._result
            since = self._running_since if self._running_since is not None else asked
            return {"ok": False, "error": "timeout", "waiting_s": round(time.monotonic() - since, 1)}

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            start = time.monotonic()
            with self._cond:
                self._running_since = start
            try:
                result: dict[str, Any] = {"ok": True, **(self._check() or {})}
                result.setdefault("ms", round((time.monotonic() - start) * 1000, 2))
            except Exception as exc:  # any failure is the answer, not an error of the prober
                result = {"ok": False, "error": exc.__class__.__name__}
            with self._cond:
                self._result, self._finished, self._running_since = result, time.monotonic(), None
                self._cond.notify_all()


def gather(probes: list[Probe], timeout: float) -> dict[str, dict[str, Any]]:
    """Every probe's answer, all run in parallel, within `timeout` seconds in all."""
    deadline = time.monotonic() + timeout
    asked = [probe.kick() for probe in probes]  # start them all before waiting on any
    return {probe.name: probe.result(when, deadline) for probe, when in zip(probes, asked, strict=True)}


def _after_fork_in_child() -> None:
    for probe in list(_probes):
        probe._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)
