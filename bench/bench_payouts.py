"""Payouts against the fake WeChat server (issue 12's performance clause): submits sustained at >= 90 % of
the provider's configured rate with no FREQUENCY_LIMITED storm, and claim -> submit p50/p95/p99.

    python -m bench.bench_payouts [--quick] [--rate 100] [--awards 1000] [--second-rate 30]
                                  [--second-awards 600] [--latency-rate 20] [--latency-seconds 20]
                                  [--workers 1] [--claim-threads 4] [--burst N] [--warmup 7.5]
                                  [--fake-port 0] [--keep-logs] [--run-leftover-jobs]
                                  [--redis-url URL] [--pg-admin-url URL] [--max-seconds 900]

Every process on this box, nothing pinned, as a user runs them: `yima fake-wechat` (its create limit,
`rate_per_s`, set to --rate through its control API), --workers x `yima payouts worker` (the token bucket
from the environment: YIMA_PAYOUT_RATE_MILLI + YIMA_PAYOUT_BURST = the provider's limit, the split of
docs/payouts.md, e.g. 95 + 5 under 100/s), and this process claiming as the web's claim does: valid cash
rows in `awards`, then `payouts.claims.claim_award` and `app.payout_worker.enqueue_submit` onto the RQ
queue, from --claim-threads threads. A PostgreSQL database `yima_bench_payouts_<pid>` (made, migrated,
dropped at the end even on failure, Ctrl-C or --max-seconds), the Redis DB of --redis-url (flushed at
start and end only), a temp YIMA_VAR_DIR shared by the fake and the workers (the fake's keys).

Phases, one run:
  1. throughput: --awards claimed at once; submits/s at the fake from its first to its last bill (and from
     the payouts' first submit), / the provider's rate (target >= 0.90); the fake's 429 FREQUENCY_LIMITED
     answers (from its access log; target 0: no storm); every payout AWAITING_USER; one bill per award;
  2. latency: claims at --latency-rate/s for --latency-seconds s (below the limit): claim -> first submit
     (claimed_at -> the payout's first SUBMITTED event, what the engine's hook observes) and claim -> bill
     accepted by the fake, p50/p95/p99;
  3. throughput again at --second-rate (the legacy red packets' 1,800/min = 30/s; 0 skips it), the workers
     restarted on that configuration: the bucket follows the configuration.
Each phase's claims start --warmup s after its workers (mid-way through a sweep job, as on a box up for
hours). The submit jobs still queued once every payout has its bill are redundant (another job's sweep
submitted their payouts): counted, then removed so they do not disturb the next phase
(--run-leftover-jobs lets the worker run them, timed). Figures are printed, never asserted; the exit
status is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shlex
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from rq import Queue
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.payout_worker import SWEEP_JOB_PREFIX
from bench.payout_figures import (
    BillCheck,
    bucket_split,
    busiest_window,
    check_bills,
    percentile,
    refusals_in_log,
    sustained_rate,
    table,
    verdict,
)
from bench.payout_stack import PAYOUT_QUEUE, FakeServer, Workers, child_env
from payouts.providers.base import State

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
RATIO_TARGET = 0.90
AMOUNT_FEN = 100
OPEN_STATES = [str(s) for s in (State.PENDING, State.SUBMITTED, State.UNKNOWN)]


def say(message: str) -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PhaseResult:
    name: str
    limit: float  # the provider's limit (the fake's rate_per_s)
    bucket: tuple[float, int]  # yima's token bucket: rate, burst
    awards: int
    claim_s: float = 0.0  # how long this process took to make the claims
    payouts: int = 0
    awaiting: int = 0  # payouts in AWAITING_USER at the end
    states: dict[str, int] = field(default_factory=dict)
    fake_rate: float = float("nan")  # bills/s at the fake, first to last
    after_claims_rate: float = float("nan")  # the same over the bills after the last claim was made
    claims_done_at: float = 0.0  # unix time the last claim was made
    submit_rate: float = float("nan")  # first submits/s in the ledger, first to last
    busiest_s: int = 0  # most bills the fake took in any one second
    refused: int = 0  # the fake's 429 FREQUENCY_LIMITED answers
    ledger_limited: int = 0  # payout events recording FREQUENCY_LIMITED
    bills: BillCheck = field(default_factory=lambda: BillCheck(0, 0, 0))
    to_submit: list[float] = field(default_factory=list)  # claim -> first submit, s
    to_bill: list[float] = field(default_factory=list)  # claim -> bill accepted at the fake, s
    drain_s: float = float("nan")  # first claim -> last bill at the fake
    jobs_left: int = 0  # jobs queued once every payout had its bill (redundant submit jobs, a sweep)
    jobs_left_s: float = 0.0  # how long the worker(s) took to run them
    timed_out: bool = False

    @property
    def ratio(self) -> float:
        return self.fake_rate / self.limit


class Bench:
    """The running stack and the domain objects the claims need."""

    def __init__(self, args: argparse.Namespace, sessions: sessionmaker[Session], r: redis.Redis, env: dict[str, str],
                 fake: FakeServer, log_dir: Path) -> None:
        from app.config import load_config
        from app.payout_wiring import make_provider

        self.args, self.sessions, self.redis, self.env, self.fake, self.log_dir = args, sessions, r, env, fake, log_dir
        self.provider = make_provider(load_config(env))  # what the web's claim passes to claim_award
        self.queue = Queue(PAYOUT_QUEUE, connection=redis.Redis.from_url(args.redis_url, socket_timeout=5))
        self.workers: Workers | None = None
        self.bucket = (0.0, 0)
        self.serial = 0
        with self.sessions.begin() as s:
            from codegen import batches

            self.brand_id = batches.add_brand(s, "bench-payouts", "Bench payouts", "https://q.bench.example").id

    # --- the stack --------------------------------------------------------------------------------------

    def configure(self, limit: float, label: str) -> tuple[float, int]:
        """The fake emptied (its bills are this phase's alone) and limited to `limit`/s; the workers
        (re)started when the bucket split of `limit` differs from theirs, then left --warmup s so the claims
        land in a sweep chain that is running as it would on a box up for hours, not at its first job."""
        rate, burst = bucket_split(limit) if self.args.burst is None else (limit - self.args.burst, self.args.burst)
        self.fake.control("reset", {})
        self.fake.control("faults", {"rate_per_s": limit})
        if self.workers is None or self.bucket != (rate, burst):
            if self.workers is not None:
                self.workers.stop()
            env = {**self.env, "YIMA_PAYOUT_RATE_MILLI": str(round(rate * 1000)), "YIMA_PAYOUT_BURST": str(burst)}
            self.workers = Workers(self.args.workers, env, self.log_dir, label).start(self.queue.connection)
            self.bucket = (rate, burst)
            time.sleep(self.args.warmup)
        return rate, burst

    def stop(self) -> None:
        if self.workers is not None:
            self.workers.stop()

    # --- claims as the web makes them -------------------------------------------------------------------

    def campaign(self, name: str) -> int:
        from rules.models import Campaign

        with self.sessions.begin() as s:
            c = Campaign(brand_id=self.brand_id, name=name, status="active", definition={})
            s.add(c)
            s.flush()
            return c.id

    def awards(self, campaign_id: int, count: int) -> list[str]:
        """`count` valid cash awards in the SQL ledger (as the drain stores them)."""
        from rules.models import Award

        now = datetime.now(UTC)
        ids = []
        with self.sessions.begin() as s:
            for _ in range(count):
                self.serial += 1
                award_id = f"{campaign_id}-{int(now.timestamp() * 1000)}-{self.serial}"
                code = f"B{self.serial:027d}"
                s.add(Award(id=award_id, campaign_id=campaign_id, claim=code, code=code, batch_id=1, role="inner",
                            serial=self.serial, prize_index=0, kind="cash", amount_fen=AMOUNT_FEN, points=0,
                            coupon="", awarded_at=now, status=Award.VALID))
                ids.append(award_id)
        return ids

    def claim(self, campaign_id: int, award_id: str) -> None:
        """The web's POST /claim/<award_id>: claim_award in one transaction, then the submit job queued."""
        from app.payout_worker import enqueue_submit
        from payouts.claims import claim_award

        with self.sessions.begin() as s:
            result = claim_award(s, openid=f"o-bench-{award_id}", award_id=award_id, campaign_id=campaign_id,
                                 kind="cash", brand_id=self.brand_id, provider=self.provider,
                                 client_ip="127.0.0.1", now=datetime.now(UTC))
        if result.payout_id is not None and result.created:
            enqueue_submit(self.queue, result.payout_id)

    def claim_all(self, campaign_id: int, award_ids: Sequence[str], pace_per_s: float = 0.0) -> float:
        """Claim every award from --claim-threads threads, at once or one every 1/pace_per_s s (open loop:
        a late claim does not push the next one back); seconds taken."""
        started = time.monotonic()
        errors: list[BaseException] = []

        def one(i: int, award_id: str) -> None:
            if pace_per_s:
                delay = started + i / pace_per_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            try:
                self.claim(campaign_id, award_id)
            except Exception as exc:  # reported after the pool ends: one failure must not hang the others
                errors.append(exc)

        with ThreadPoolExecutor(self.args.claim_threads, "claim") as pool:
            for i, award_id in enumerate(award_ids):
                pool.submit(one, i, award_id)
        if errors:
            raise RuntimeError(f"{len(errors)} claims failed; the first: {errors[0]!r}") from errors[0]
        return time.monotonic() - started

    # --- waiting and measuring --------------------------------------------------------------------------

    def wait_settled(self, campaign_id: int, count: int, timeout_s: float) -> bool:
        """True once every payout of the campaign has left PENDING/SUBMITTED/UNKNOWN (False: timed out)."""
        from payouts.models import Payout

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.workers is not None
            self.workers.check()
            with self.sessions() as s:
                total = s.scalar(select(func.count(Payout.id)).where(Payout.campaign_id == campaign_id)) or 0
                still = s.scalar(select(func.count(Payout.id)).where(Payout.campaign_id == campaign_id,
                                                                       Payout.state.in_(OPEN_STATES))) or 0
            if total >= count and still == 0:
                return True
            time.sleep(0.25)
        return False

    def wait_queue_idle(self, result: PhaseResult) -> None:
        """The submit jobs left once every payout has its bill are redundant (another job's sweep submitted
        their payouts), one forked job each: count them, then remove them from the queue (the sweep job
        stays), or with --run-leftover-jobs let the worker run them and time it. Left in, they would
        disturb the next phase, and the run would outlast the 300 s after which the engine queries every
        unconfirmed bill (no callback comes for them here), a wave of queries that is not this bench's."""
        started = time.monotonic()
        result.jobs_left = self.queue.count
        if not self.args.run_leftover_jobs:
            for job_id in self.queue.get_job_ids():
                if not job_id.startswith(SWEEP_JOB_PREFIX):
                    self.queue.remove(job_id)
            result.jobs_left_s = math.nan
            return
        deadline = started + result.jobs_left * 0.5 + 30
        while time.monotonic() < deadline and self.queue.count > 1:
            time.sleep(0.25)
        result.jobs_left_s = time.monotonic() - started

    def measure(self, result: PhaseResult, campaign_id: int, log_from: int, started_at: float) -> None:
        from payouts.models import AwardClaim, Payout, PayoutEvent

        with self.sessions() as s:
            rows = s.execute(select(Payout.id, Payout.award_id, Payout.bill_no, Payout.state, AwardClaim.claimed_at)
                             .join(AwardClaim, AwardClaim.award_id == Payout.award_id)
                             .where(Payout.campaign_id == campaign_id)).all()
            first_submit = dict(s.execute(
                select(PayoutEvent.payout_id, func.min(PayoutEvent.at))
                .join(Payout, Payout.id == PayoutEvent.payout_id)
                .where(Payout.campaign_id == campaign_id, PayoutEvent.to_state == State.SUBMITTED)
                .group_by(PayoutEvent.payout_id)).all())
            result.ledger_limited = s.scalar(
                select(func.count(PayoutEvent.id)).join(Payout, Payout.id == PayoutEvent.payout_id)
                .where(Payout.campaign_id == campaign_id, PayoutEvent.reason == "FREQUENCY_LIMITED")) or 0
        ours = {row.bill_no for row in rows}
        fake_bills = [b for b in self.fake.control("bills")["bills"] if b["kind"] == "transfer"]
        created = {b["out_bill_no"]: float(b["created_at"]) for b in fake_bills}
        result.payouts = len(rows)
        result.states = {}
        for row in rows:
            result.states[row.state] = result.states.get(row.state, 0) + 1
        result.awaiting = result.states.get(State.AWAITING_USER, 0)
        result.bills = check_bills([(row.award_id, row.bill_no) for row in rows],
                                   [b["out_bill_no"] for b in fake_bills])
        moments = [created[n] for n in ours if n in created]
        result.fake_rate = sustained_rate(moments)
        result.after_claims_rate = sustained_rate(m for m in moments if m >= result.claims_done_at)
        result.busiest_s = busiest_window(moments)
        result.submit_rate = sustained_rate(ts(t) for t in first_submit.values())
        result.drain_s = max(moments) - started_at if moments else float("nan")
        for row in rows:
            claimed = ts(row.claimed_at)
            if row.id in first_submit:
                result.to_submit.append(ts(first_submit[row.id]) - claimed)
            if row.bill_no in created:
                result.to_bill.append(created[row.bill_no] - claimed)
        result.refused = refusals_in_log(self.fake.log_text(log_from))

    # --- the phases -------------------------------------------------------------------------------------

    def throughput(self, limit: float, awards: int, label: str) -> PhaseResult:
        bucket = self.configure(limit, label)
        result = PhaseResult(f"throughput @ {limit:g}/s", limit, bucket, awards)
        campaign_id = self.campaign(f"bench throughput {label}")
        award_ids = self.awards(campaign_id, awards)
        say(f"  {result.name}: bucket {bucket[0]:g}/s + burst {bucket[1]}, {awards:,} awards claimed at once ...")
        log_from, started_at = self.fake.log_size(), time.time()
        result.claim_s = self.claim_all(campaign_id, award_ids)
        result.claims_done_at = time.time()
        result.timed_out = not self.wait_settled(campaign_id, awards, timeout_s=awards / limit * 3 + 60)
        self.wait_queue_idle(result)
        self.measure(result, campaign_id, log_from, started_at)
        say(f"    claims made in {result.claim_s:.1f} s; bills at {result.fake_rate:.1f}/s "
            f"(ratio {result.ratio:.3f}); {result.refused} FREQUENCY_LIMITED")
        return result

    def latency(self, limit: float, pace: float, seconds: float) -> PhaseResult:
        bucket = self.configure(limit, "latency")
        count = max(2, round(pace * seconds))
        result = PhaseResult(f"latency @ {pace:g} claims/s", limit, bucket, count)
        campaign_id = self.campaign("bench latency")
        award_ids = self.awards(campaign_id, count)
        say(f"  {result.name}: {count:,} claims over {seconds:g} s, provider limit {limit:g}/s ...")
        log_from, started_at = self.fake.log_size(), time.time()
        result.claim_s = self.claim_all(campaign_id, award_ids, pace_per_s=pace)
        result.claims_done_at = time.time()
        result.timed_out = not self.wait_settled(campaign_id, count, timeout_s=60)
        self.wait_queue_idle(result)
        self.measure(result, campaign_id, log_from, started_at)
        say(f"    claim -> submit p50 {ms(percentile(result.to_submit, 50))}, "
            f"p95 {ms(percentile(result.to_submit, 95))}")
        return result


def ts(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def report(results: Sequence[PhaseResult], args: argparse.Namespace, command: str,
           load: tuple[tuple[float, float, float], tuple[float, float, float]]) -> bool:
    rows: list[list[str]] = []
    ok = True

    def add(phase: str, what: str, figure: str, target: str, mark: str) -> None:
        nonlocal ok
        ok = ok and mark != "MISS"
        rows.append([phase, what, figure, target, mark])

    for r in results:
        if r.name.startswith("throughput"):
            add(r.name, "bills/s at the fake, first to last", f"{r.fake_rate:.1f}", "", "")
            add("", "  / provider rate", f"{r.ratio:.3f}", f">= {RATIO_TARGET:.2f}", verdict(r.ratio, RATIO_TARGET))
            add("", "  the same after the last claim was made", f"{r.after_claims_rate:.1f}", "", "")
            add("", "first submits/s in the ledger", f"{r.submit_rate:.1f}", "", "")
            # At the fake's clock: bunching on the way (threads, scheduling) can put a few more in a second than
            # the bucket let go; the fake's own 429s are the verdict.
            add("", "most bills in one second at the fake", f"{r.busiest_s}", f"(limit {r.limit:g})", "-")
            add("", "FREQUENCY_LIMITED from the fake", f"{r.refused} (ledger {r.ledger_limited})", "0 (no storm)",
                verdict(r.refused, 0, higher_is_better=False))
            add("", "claims made / drained", f"{r.claim_s:.1f} s / {r.drain_s:.1f} s", "", "")
            left = "removed" if math.isnan(r.jobs_left_s) else f"run in {r.jobs_left_s:.0f} s"
            add("", "jobs queued after the last bill", f"{r.jobs_left} ({left})", "", "")
        else:
            for name, values in (("claim -> first submit", r.to_submit), ("claim -> bill at the fake", r.to_bill)):
                add(r.name, f"{name} p50 / p95 / p99",
                    " / ".join(ms(percentile(values, q)) for q in (50, 95, 99)), "(figure)", "-")
        add("", "AWAITING_USER / payouts / awards", f"{r.awaiting} / {r.payouts} / {r.awards}", "all",
            "PASS" if r.awaiting == r.payouts == r.awards and not r.timed_out else "MISS")
        add("", "one bill per award at the fake",
            f"missing {r.bills.missing}, extra {r.bills.extra}, repeated {r.bills.repeated}", "exact",
            "PASS" if r.bills.exact else "MISS")
        if r.name.startswith("throughput"):
            rows.append(["", "bucket (YIMA_PAYOUT_RATE_MILLI, _BURST)", f"{r.bucket[0]:g}/s + {r.bucket[1]}", "", ""])
    say("")
    say(table(rows, ["phase", "what", "figure", "target", ""]))
    start, end = load
    say(f"\nload average (1/5/15 min) at start {start[0]:.2f} {start[1]:.2f} {start[2]:.2f}, at end "
        f"{end[0]:.2f} {end[1]:.2f} {end[2]:.2f}; {os.cpu_count()} CPUs; {args.workers} payout worker(s), "
        f"{args.claim_threads} claim threads; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    say(f"command: {command}")
    return ok


def run(args: argparse.Namespace, command: str) -> int:
    from app.fake_wechat.keys import ensure_demo_keys
    from bench.bench_dashboard import bench_database
    from codegen.db import make_engine, make_sessionmaker
    from schema import upgrade_schema

    load_start = os.getloadavg()
    r = redis.Redis.from_url(args.redis_url, socket_timeout=10)
    r.flushdb()
    results: list[PhaseResult] = []
    try:
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(bench_database(args.pg_admin_url, "yima_bench_payouts_"))
            engine = make_engine(url)
            stack.callback(engine.dispose)
            upgrade_schema(engine)
            var_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="yima-bench-payouts-")))
            ensure_demo_keys(var_dir)  # before the fake and the workers start, so neither races to make them
            fake_port = args.fake_port or free_port()
            env = child_env(database_url=url, redis_url=args.redis_url, var_dir=var_dir, fake_port=fake_port,
                            notify_port=fake_port + 1, rate_per_s=args.rate, burst=5)
            fake = FakeServer(env, var_dir / "fake-wechat.log", fake_port).start()
            stack.callback(fake.stop)
            fake.wait_ready()
            bench = Bench(args, make_sessionmaker(engine), r, env, fake, var_dir)
            stack.callback(bench.stop)
            say(f"  fake WeChat on {fake.base_url}; logs in {var_dir} (removed at the end)")
            results.append(bench.throughput(args.rate, args.awards, "first"))
            if args.latency_seconds > 0:
                results.append(bench.latency(args.rate, args.latency_rate, args.latency_seconds))
            if args.second_rate > 0:
                results.append(bench.throughput(args.second_rate, args.second_awards, "second"))
            if args.keep_logs:
                keep = Path(tempfile.mkdtemp(prefix="yima-bench-payouts-logs-"))
                for log in var_dir.glob("*.log"):
                    (keep / log.name).write_bytes(log.read_bytes())
                say(f"  logs kept in {keep}")
    finally:
        r.flushdb()
        r.close()
    ok = report(results, args, command, (load_start, os.getloadavg()))
    return 0 if ok else 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m bench.bench_payouts", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="~30 s: 300 awards at --rate, 5 s of latency, 150 awards at --second-rate")
    p.add_argument("--rate", type=float, default=100.0, help="the provider's limit, creates/s (商家转账: 100)")
    p.add_argument("--awards", type=int, default=None, help="awards claimed at once in phase 1 (default 1,000)")
    p.add_argument("--second-rate", type=float, default=30.0, help="phase 3's provider limit (0: skip)")
    p.add_argument("--second-awards", type=int, default=None, help="awards in phase 3 (default 600)")
    p.add_argument("--latency-rate", type=float, default=20.0, help="claims/s in phase 2")
    p.add_argument("--latency-seconds", type=float, default=None, help="phase 2's length (default 20; 0 skips)")
    p.add_argument("--burst", type=int, default=None,
                   help="the bucket's burst (default: limit/20, at least 2); its rate is the limit minus it")
    p.add_argument("--workers", type=int, default=1, help="`yima payouts worker` processes")
    p.add_argument("--warmup", type=float, default=7.5,
                   help="s between the workers' start and the first claims (7.5: mid-way through the second "
                        "5-s sweep job, where a burst lands on average)")
    p.add_argument("--claim-threads", type=int, default=4, help="threads making claims (web requests)")
    p.add_argument("--fake-port", type=int, default=int(env("YIMA_BENCH_FAKE_PORT", "0")),
                   help="the fake's port (0: a free one); the next port is its (closed) notify URL")
    p.add_argument("--redis-url", default=env("YIMA_BENCH_REDIS_URL", DEFAULT_REDIS_URL),
                   help="a Redis DB this bench may flush")
    p.add_argument("--pg-admin-url", default=env("YIMA_BENCH_PG_URL", DEFAULT_PG_ADMIN_URL))
    p.add_argument("--max-seconds", type=int, default=None, help="hard limit for the run (default 900; quick 180)")
    p.add_argument("--keep-logs", action="store_true", help="copy the fake's and workers' logs out before cleanup")
    p.add_argument("--run-leftover-jobs", action="store_true",
                   help="let the worker run the redundant submit jobs left after each phase (timed) instead of "
                        "removing them")
    args = p.parse_args(argv)
    quick = args.quick
    args.awards = args.awards or (300 if quick else 1000)
    args.second_awards = args.second_awards or (150 if quick else 600)
    args.latency_seconds = args.latency_seconds if args.latency_seconds is not None else (5.0 if quick else 20.0)
    args.max_seconds = args.max_seconds or (180 if quick else 900)
    return args


def _raise_timeout(_signum: int, _frame: Any) -> None:
    raise TimeoutError("bench_payouts ran past --max-seconds; cleaning up")


def _raise_exit(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m bench.bench_payouts " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    say(f"bench-payouts: provider limit {args.rate:g}/s then {args.second_rate:g}/s, {args.awards:,} + "
        f"{args.second_awards:,} awards, latency {args.latency_rate:g}/s for {args.latency_seconds:g} s; "
        f"Redis {args.redis_url}; {os.cpu_count()} CPUs")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGALRM, _raise_timeout)
        signal.signal(signal.SIGTERM, _raise_exit)
        signal.alarm(args.max_seconds)
    started = time.monotonic()
    try:
        return run(args, command)
    finally:
        signal.alarm(0)
        say(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
