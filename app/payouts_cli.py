"""`yima payouts …`: the payout worker, reconciliation with the provider's bill, and the operator's steps
(list, retry, cancel, resume a paused rail). Domain errors become one `error:` line (app/cli_errors.py)."""

from __future__ import annotations

from datetime import date, datetime

import click

from app import payout_wiring
from app.cli_errors import fail
from app.config import load_config
from app.runtime import connect_database
from codegen.db import transaction
from payouts.operations import list_payouts, retry_payout
from payouts.reconcile import reconcile_day


@click.group("payouts")
def payouts_group() -> None:
    """Cash prizes on their way to consumers: worker, reconciliation, retry and cancel."""


@payouts_group.command("worker")
@click.option("--job-seconds", type=click.FloatRange(1, 600), default=5.0, show_default=True,
              help="How long one sweep job runs before it queues its successor.")
def worker_cmd(job_seconds: float) -> None:
    """Run a payout worker (RQ queue yima-payouts): submits, queries, expiry, late claims.

    It rides out Redis and SQL outages (retrying with back-off) and stops only on SIGTERM or Ctrl-C.

    \b
    Example:  yima payouts worker
    """
    from app.logging_setup import configure
    from app.payout_worker import run_payout_worker

    cfg = load_config()
    payout_wiring.make_provider(cfg)  # a missing or unknown provider is one error line now, not a failing job
    configure(cfg)
    run_payout_worker(cfg, seconds=job_seconds)


def _day(_ctx: click.Context, _param: click.Parameter, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@payouts_group.command("reconcile")
@click.option("--date", "day", required=True, callback=_day, help="The China-time day, YYYY-MM-DD.")
def reconcile_cmd(day: date) -> None:
    """Compare the provider's bill of a day with the ledger; exit 1 when anything differs.

    \b
    Example:  yima payouts reconcile --date 2027-03-10
    """
    cfg = load_config()
    provider = payout_wiring.make_provider(cfg)
    db = connect_database(cfg)
    try:
        with transaction(db.sessions) as session:
            report = reconcile_day(session, provider, day)
    finally:
        db.engine.dispose()
    click.echo(f"{day}: {report.matched} matched, {len(report.missing)} missing, {len(report.extra)} extra, "
               f"{len(report.mismatched)} mismatched (reconciliation {report.id})")
    for entry in report.missing + report.extra + report.mismatched:
        ledger, provider_side = entry["ledger"] or {}, entry["provider"] or {}
        click.echo(f"  {entry['what']:<10} {entry['bill_no']:<32} ledger {ledger.get('state', '-')}/"
                   f"{ledger.get('amount_fen', '-')} fen, provider {provider_side.get('state', '-')}/"
                   f"{provider_side.get('amount_fen', '-')} fen")
    if not report.clean:
        fail("the provider's bill and the ledger differ", 1)


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


@payouts_group.command("list")
@click.option("--state", default=None, help="Only payouts in this state (pending, submitted, failed, ...).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def list_cmd(state: str | None, limit: int) -> None:
    """Payouts, newest first.

    \b
    Example:  yima payouts list --state failed
    """
    db = connect_database(load_config())
    try:
        with db.sessions() as session:
            rows = list_payouts(session, state=state, limit=limit)
    finally:
        db.engine.dispose()
    click.echo(f"{'id':>6}  {'state':<13} {'fen':>7}  {'try':>3}  {'bill':<32} {'reason':<20} updated (UTC)")
    for p in rows:
        click.echo(f"{p.id:>6}  {p.state:<13} {p.amount_fen:>7}  {p.attempt:>3}  {p.bill_no:<32} "
                   f"{p.reason[:20]:<20} {_when(p.updated_at)}")


@payouts_group.command("retry")
@click.argument("payout_id", type=int)
@click.option("--actor", default="cli", show_default=True, help="Who retries (recorded in the history).")
def retry_cmd(payout_id: int, actor: str) -> None:
    """Send a failed, expired or cancelled payout again, under a new bill number."""
    db = connect_database(load_config())
    try:
        with transaction(db.sessions) as session:
            payout = retry_payout(session, payout_id, actor)  # the bill number's length: the payout's rail
            click.echo(f"payout {payout.id}: attempt {payout.attempt}, bill {payout.bill_no}, pending")
    finally:
        db.engine.dispose()


@payouts_group.command("cancel")
@click.argument("payout_id", type=int)
@click.option("--actor", default="cli", show_default=True, help="Who cancels (recorded in the history).")
def cancel_cmd(payout_id: int, actor: str) -> None:
    """Cancel a payout the consumer has not confirmed (the provider is asked when a bill exists)."""
    engine = payout_wiring.make_payout_engine(load_config())
    try:
        click.echo(f"payout {payout_id}: {engine.cancel_payout(payout_id, actor)}")
    finally:
        engine.close()


@payouts_group.command("resume-rail")
def resume_rail_cmd() -> None:
    """Let submits go again after the provider paused the rail (NOT_ENOUGH: top the account up first)."""
    engine = payout_wiring.make_payout_engine(load_config())
    try:
        click.echo(f"rail {engine.settings.merchant} resumed; {engine.resume_rail()} payouts due again")
    finally:
        engine.close()
