"""`yima`: run the whole thing on one machine (`make run`), or seed demo data."""

from __future__ import annotations

import os
import shutil
import sys

import click

from app.config import load_config
from app.embedded import stop_embedded_redis
from app.runtime import connect_database, connect_redis, redis_url
from app.seed import seed_demo


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """yima: one-item-one-code scan-and-reward engine."""


@cli.command("seed")
def seed_cmd() -> None:
    """Create the demo brand, product and activated batch (idempotent).

    \b
    Example:  yima seed
    """
    cfg = load_config()
    db = connect_database(cfg)
    info = seed_demo(cfg, db, connect_redis(cfg))
    click.echo(f"demo batch {info.batch_id} is active")


@cli.command("run")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
def run_cmd(workers: int) -> None:
    """Start Redis (embedded unless REDIS_URL is set), migrate, seed the demo, and serve with gunicorn.

    \b
    Example:  PORT=8080 yima run
    """
    cfg = load_config()
    url = redis_url(cfg)
    db = connect_database(cfg)
    info = seed_demo(cfg, db, connect_redis(cfg))
    db.engine.dispose()
    host = cfg.host
    click.echo(f"Redis: {url}   database: {cfg.database_url.split('@')[-1]}")
    click.echo(f"demo batch {info.batch_id}: inner code {info.inner_url}")
    click.echo(f"                outer code {info.outer_url}")
    click.echo(f"yima is up: open http://{host}:{cfg.port}/   (Ctrl-C to stop)")
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
    os.execv(gunicorn,  # noqa: S606 - replace this process with the server, no shell
             [gunicorn, "--config", "python:app.gunicorn_conf", "--workers", str(workers),
                        "--bind", f"{host}:{cfg.port}", "app:create_app()"])


@cli.command("stop-redis")
def stop_redis_cmd() -> None:
    """Stop the embedded Redis (its data stays in var/ and is reloaded on the next start).

    \b
    Example:  yima stop-redis
    """
    stopped = stop_embedded_redis(load_config().var_dir)
    click.echo("embedded Redis stopped" if stopped else "embedded Redis was not running")


def main() -> None:
    cli(prog_name="yima")
