"""`yima channel …`: the channel's commands for headquarters (the pages and the worker do the daily work)."""

from __future__ import annotations

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import load_config
from app.runtime import connect_database
from channel.errors import ChannelNotFound
from channel.ladder import Month, ladder_bonuses, ladder_brands, set_waiter_ladder
from channel.scope import brand_scope
from codegen.db import transaction
from codegen.models import Brand


@click.group("channel")
def channel_group() -> None:
    """The channel: distributors, stores and their B-side rewards."""


def _brand_id(session: Session, slug: str) -> int:
    brand_id = session.scalar(select(Brand.id).where(Brand.slug == slug))
    if brand_id is None:
        raise ChannelNotFound(f"no brand {slug!r}")
    return int(brand_id)


@channel_group.command("ladder")
@click.option("--month", "month_text", required=True, help="The month that ended, e.g. 2026-12 (China time).")
@click.option("--brand", "slug", default=None, help="One brand's slug (default: every brand with a ladder).")
def ladder_cmd(month_text: str, slug: str | None) -> None:
    """Pay the waiters' monthly ladder of a month that has ended: one store-ledger line per waiter and store
    who reached a tier (the highest). Safe to run again: a line already written is not written twice.
    The worker runs it by itself early in the next month.

    \b
    Example:  yima channel ladder --month 2026-12
              yima channel ladder --month 2026-12 --brand demo
    """
    month = Month.parse(month_text)
    db = connect_database(load_config())
    with transaction(db.sessions) as session:
        brands = [_brand_id(session, slug)] if slug else ladder_brands(session)
        written = sum(ladder_bonuses(session, brand_id, month) for brand_id in brands)
    click.echo(f"{month}: {written} ladder line(s) written for {len(brands)} brand(s)")


@channel_group.command("waiter-ladder")
@click.option("--brand", "slug", required=True, help="The brand's slug.")
@click.argument("tiers", nargs=-1)
def waiter_ladder_cmd(slug: str, tiers: tuple[str, ...]) -> None:
    """Set a brand's waiter ladder: tiers as BOTTLES:YUAN (cumulative; the highest reached is paid).
    No tiers: no ladder. Written to the audit log.

    \b
    Example:  yima channel waiter-ladder --brand demo 50:50 100:150 200:400
    """
    try:
        raw = [[int(b), round(float(y) * 100)] for b, _, y in (t.partition(":") for t in tiers)]
    except ValueError:
        raise click.BadParameter("each tier is BOTTLES:YUAN, e.g. 50:50") from None
    db = connect_database(load_config())
    with transaction(db.sessions) as session:
        scope = brand_scope(_brand_id(session, slug), "cli", role="admin")
        saved = set_waiter_ladder(session, scope, raw)
    click.echo(f"{slug}: " + (", ".join(f"{b} bottles → {fen / 100:g} 元" for b, fen in saved) or "no ladder"))
