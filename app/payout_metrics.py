"""Payout metrics: what the engine and the payout worker count, and the open payouts read from SQL at scrape.

The engine (payouts/, which never imports app/) is handed these functions by its caller, the worker:
`count_payout_transition(provider, state)` on every state change, `observe_claim_to_submit(seconds)` when a
bill is first sent, `count_provider_error(provider, reason)` on every provider answer that is not a state.
They need no Flask app, so they work in `yima worker` and its forked jobs alike.

Labels stay bounded (see app/metrics.py): providers and states are fixed sets, and a provider's error code
outside the known ones counts as "other" (its full text is on the payout, in the console).

The open payouts (not terminal) by state, and how long the oldest of each has waited, come from one SQL
query at scrape time on the app's /metrics: the non-terminal rows are few (the index ix_payouts_due leads
with the state), and every app process reports the same figures, so use `max`, not `sum`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from app.metrics import SQL_ERRORS, child
from payouts.models import Payout
from payouts.providers.base import TERMINAL, State

PROVIDERS = frozenset({"wechat_transfer", "wechat_redpack", "fake"})
OPEN_STATES = tuple(s.value for s in State if s not in TERMINAL)
# The provider codes an operator acts on differently (domain-facts §1.1, §1.2); any other is "other".
KNOWN_REASONS = frozenset({
    "SYSTEM_ERROR", "SYSTEMERROR", "FREQUENCY_LIMITED", "FREQ_LIMIT", "SECOND_OVER_LIMITED", "NOT_ENOUGH",
    "NOTENOUGH", "INVALID_REQUEST", "PARAM_ERROR", "NO_AUTH", "USER_ERROR", "FATAL_ERROR", "SEND_FAILED",
    "PROCESSING", "DAY_OVER_LIMITED", "SENDNUM_LIMIT", "MONEY_LIMIT", "OPENID_ERROR", "SIGN_ERROR", "CA_ERROR",
    "TIMEOUT", "LOST_REPLY", "HTTP_5XX", "TRANSFER_RISK", "ACCOUNT_FROZEN", "OPENID_INVALID",
    "DAY_RECEIVED_QUOTA_EXCEED", "DAY_RECEIVED_COUNT_EXCEED", "TRANSFER_QUOTA_EXCEED", "OVERDUE_CLOSE",
})
# Seconds from 领取 to the bill's first submit: pacing (a token, a daily cap) can hold a payout for hours.
SUBMIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, 21600.0, 86400.0)

PAYOUTS = Counter("yima_payouts", "Payout state changes, by provider and the state entered", ["provider", "state"])
SUBMIT_SECONDS = Histogram("yima_payout_submit_seconds", "Time from a claim (领取) to its bill's first submit",
                           buckets=SUBMIT_BUCKETS)
PROVIDER_ERRORS = Counter("yima_payout_provider_errors", "Provider answers that were not a state (refused, "
                          "retry later, unclear), by provider and error code", ["provider", "reason"])


def _provider(name: str) -> str:
    return name if name in PROVIDERS else "other"


def count_payout_transition(provider: str, state: str) -> None:
    """A payout entered `state` (a payouts.providers.base.State value) on `provider`."""
    child(PAYOUTS, _provider(provider), state if state in State.__members__.values() else "other").inc()


def observe_claim_to_submit(seconds: float) -> None:
    """A payout's first bill was sent `seconds` after its claim."""
    SUBMIT_SECONDS.observe(max(0.0, seconds))


def count_provider_error(provider: str, reason: str) -> None:
    """The provider answered with the error code `reason` (FREQUENCY_LIMITED, SYSTEM_ERROR, ...)."""
    code = reason.strip().upper()
    child(PROVIDER_ERRORS, _provider(provider), code if code in KNOWN_REASONS else "other").inc()


class OpenPayoutsCollector(Collector):
    """yima_payouts_open{state} and yima_payouts_oldest_open_age_seconds{state}, from SQL at scrape."""

    def __init__(self, sessions: Any) -> None:
        self.sessions = sessions

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (GaugeMetricFamily("yima_payouts_open", "Payouts not in a final state, by state", labels=["state"]),
                GaugeMetricFamily("yima_payouts_oldest_open_age_seconds",
                                  "Since the last change of the longest-waiting payout in this state (0: none)",
                                  labels=["state"]),
                GaugeMetricFamily("yima_payouts_open_up", "1 when this scrape could read the open payouts"))

    def describe(self) -> Iterator[Metric]:
        """The families, without reading SQL (a registry asks this when the collector is registered)."""
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        count, age, up = self._families()
        query = (select(Payout.state, func.count(Payout.id), func.min(Payout.updated_at))
                 .where(Payout.state.in_(OPEN_STATES)).group_by(Payout.state))
        try:
            with self.sessions() as s:
                found = {state: (int(n), oldest) for state, n, oldest in s.execute(query)}
        except SQLAlchemyError as exc:
            SQL_ERRORS.labels(exc.__class__.__name__).inc()
            up.add_metric([], 0)
            yield up
            return
        now = datetime.now(UTC)
        for state in OPEN_STATES:
            n, oldest = found.get(state, (0, None))
            count.add_metric([state], n)
            if oldest is not None and oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=UTC)  # SQLite hands back naive UTC
            age.add_metric([state], max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
        up.add_metric([], 1)
        yield from (count, age, up)


def init_app(app: Flask) -> None:
    """The open payouts join the app's /metrics (app.metrics.metrics_view reads the collectors list)."""
    if app.config["YIMA"].metrics:
        app.extensions.setdefault("yima.metrics.collectors", []).append(
            OpenPayoutsCollector(app.extensions["yima.db"].sessions))
