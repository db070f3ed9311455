"""`yima events …`: the monthly partitions of scan_events on PostgreSQL, their archives and retention.

See docs/retention.md. Each command is one transaction: a failure leaves the partitions as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy.orm import Session

from app.cli_errors import fail
from app.config import load_config
from app.runtime import connect_database
from codegen.db import transaction
from rules.partitions import (
    MONTHS_AHEAD,
    Month,
    PartitionError,
    archive_before,
    drop_before,
    ensure_partitions,
    list_partitions,
)


@click.group("events")
def events_group() -> None:
    """Stored scan events (PostgreSQL): monthly partitions, archives, retention."""


def _month(_ctx: click.Context, _param: click.Parameter, value: str) -> Month:
    try:
        return Month.parse(value)
    except PartitionError as exc:
        raise click.BadParameter(str(exc)) from None


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _range(lower: datetime | None, upper: datetime | None) -> str:
    if upper is None:
        return "(anything no month partition takes)"
    start = "beginning" if lower is None else str(Month.of(lower))
    return f"{start} .. {Month.of(upper)} (excl.)"


@contextmanager
def _session() -> Iterator[Session]:
    """One transaction on the configured database; a PartitionError is the command's one-line error."""
    db = connect_database(load_config())
    try:
        with transaction(db.sessions) as session:
            yield session
    except PartitionError as exc:
        fail(str(exc))
    finally:
        db.engine.dispose()


@events_group.command("partitions")
@click.option("--exact", is_flag=True, help="Count the rows (a scan of every partition) instead of estimating.")
def partitions_cmd(exact: bool) -> None:
    """List the partitions of scan_events: months covered, rows, size on disk, archived or not.

    \b
    Example:  yima events partitions --exact
    """
    with _session() as session:
        parts = list_partitions(session, exact=exact)
    click.echo(f"{'partition':<24} {'months':<34} {'rows' if exact else '~rows':>12} {'size':>10}  archived")
    for p in parts:
        click.echo(f"{p.name:<24} {_range(p.lower, p.upper):<34} {p.rows:>12,} {_size(p.bytes):>10}  "
                   f"{'yes' if p.archived else '-'}")


@events_group.command("make-partitions")
@click.option("--months", type=click.IntRange(0, 24), default=MONTHS_AHEAD, show_default=True,
              help="How many months after this one.")
def make_partitions_cmd(months: int) -> None:
    """Create this month's and the next months' partitions (the worker does it every 10 minutes).

    \b
    Example:  yima events make-partitions --months 6
    """
    with _session() as session:
        made = ensure_partitions(session, datetime.now(UTC), months)
    click.echo(f"made {', '.join(made)}" if made else "every partition was there already")


@events_group.command("archive")
@click.option("--before", "month", required=True, callback=_month, metavar="YYYY-MM",
              help="Archive the months before this one.")
@click.option("--to", "directory", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for <partition>.csv.gz and <partition>.manifest.json.")
def archive_cmd(month: Month, directory: Path) -> None:
    """Write each month before YYYY-MM not archived yet to a gzip CSV with a manifest (rows, SHA-256).

    Files appear complete or not at all (written under .part, renamed; the manifest last).

    \b
    Example:  yima events archive --before 2026-07 --to /backup/yima-events
    """
    try:
        with _session() as session:
            done = archive_before(session, month, directory)
    except OSError as exc:
        fail(f"cannot write the archive: {exc}")
    for a in done:
        click.echo(f"{a.partition}: {a.rows:,} rows -> {a.file} (sha256 {a.sha256})")
    if not done:
        click.echo(f"nothing to archive before {month}")


@events_group.command("drop")
@click.option("--before", "month", required=True, callback=_month, metavar="YYYY-MM",
              help="Drop the months before this one.")
@click.option("--force", is_flag=True, help="Drop months that were not archived (their events are gone for good).")
def drop_cmd(month: Month, force: bool) -> None:
    """Drop the partitions of the months before YYYY-MM; only archived ones unless --force.

    The dashboards' rollups are kept: dropped months still show there.

    \b
    Example:  yima events drop --before 2026-07
    """
    with _session() as session:
        dropped = drop_before(session, month, force=force)
    click.echo(f"dropped {', '.join(dropped)}" if dropped else f"no partition before {month}")
