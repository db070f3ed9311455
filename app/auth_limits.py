"""Guess limits for the shared-secret logins (ops Bearer token, HTTP Basic): lock out per source and account.

Owns the `{auth:…}` Redis keys. A subject ("src:<address>" or "acct:<name>") that fails `limit` times
within `window` seconds is locked for `window` seconds. While either the source or the account is locked,
every attempt is refused, the right secret included: otherwise a locked-out guesser would only have to
keep going to learn when it hit. Attempts without credentials do not count (a browser's first request
to a Basic page has none). Redis errors propagate: the app answers 503, never an unguarded login.
"""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from logging import Logger
from typing import Any

from flask import Flask, current_app


def _keys(subject: str) -> tuple[str, str]:
    tag = "{auth:" + subject + "}"  # one hash slot per subject: its counter and lock move together
    return f"{tag}:fails", f"{tag}:lock"


@dataclass(frozen=True)
class GuessLimiter:
    redis: Any
    per_source: int  # failures per source within the window; 0 = off
    per_account: int
    window: int  # seconds: counting window and lock length
    log: Logger

    def _subjects(self, source: str, account: str) -> list[tuple[str, int]]:
        pairs = [(f"src:{source}", self.per_source), (f"acct:{account}", self.per_account)]
        return [(s, limit) for s, limit in pairs if limit > 0]

    def locked_for(self, source: str, account: str) -> int:
        """Seconds until both the source and the account may try again (0: neither is locked)."""
        subjects = self._subjects(source, account)
        if not subjects:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for subject, _ in subjects:
            pipe.pttl(_keys(subject)[1])
        return max(math.ceil(ms / 1000) if ms > 0 else 0 for ms in pipe.execute())

    def failed(self, source: str, account: str, what: str) -> int:
        """Count one wrong secret; lock what reached its limit. Returns the seconds locked (0: not locked)."""
        locked = 0
        for subject, limit in self._subjects(source, account):
            fails, lock = _keys(subject)
            pipe = self.redis.pipeline(transaction=True)
            pipe.set(fails, 0, ex=self.window, nx=True)  # the window starts at the first failure
            pipe.incr(fails)
            count = pipe.execute()[1]
            if count >= limit:
                if self.redis.set(lock, 1, ex=self.window, nx=True):
                    # Who and how often, never what was guessed.
                    self.log.warning("auth lockout: %s %s locked for %d s after %d failed attempts "
                                     "(source %s, account %s)", what, subject, self.window, count, source, account)
                locked = self.window
        return locked


def init_app(app: Flask) -> None:
    cfg = app.config["YIMA"]
    app.extensions["yima.guess_limiter"] = GuessLimiter(
        app.extensions["yima.redis"], cfg.auth_fails_source, cfg.auth_fails_account, cfg.auth_lock_seconds, app.logger)
    # Console passwords are per person: a lower per-account limit than the one shared token.
    app.extensions["yima.login_limiter"] = GuessLimiter(
        app.extensions["yima.redis"], cfg.auth_fails_source, cfg.login_fails_account, cfg.auth_lock_seconds, app.logger)


def check_secret(given: str, expected: str, source: str, account: str, what: str) -> int | None:
    """None when `given` is right and nothing is locked; else the seconds to refuse for (0: plain 401)."""
    limiter: GuessLimiter = current_app.extensions["yima.guess_limiter"]
    locked = limiter.locked_for(source, account)
    if locked:
        return locked
    if given and hmac.compare_digest(given.encode(), expected.encode()):
        return None
    return limiter.failed(source, account, what) if given else 0
