"""`yima`: run the whole thing on one machine (`make run`), or seed demo data."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import click

from app.channel_cli import channel_group
from app.channel_seed import password_path, seed_demo_channel
from app.cli_errors import OneLineErrors, run_cli
from app.config import load_config
from app.embedded import stop_embedded_redis
from app.events_cli import events_group
from app.payouts_cli import payouts_group
from app.runtime import connect_database, connect_redis, ops_token, redis_url
from app.seed import seed_demo, seed_demo_campaign, seed_demo_operator
from app.user_cli import user_group


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """yima: one-item-one-code scan-and-reward engine."""


cli.add_command(user_group)
cli.add_command(events_group)
cli.add_command(payouts_group)
cli.add_command(channel_group)


@cli.command("seed")
def seed_cmd() -> None:
    """Create the demo brand, product and activated batch (idempotent).

    \b
    Example:  yima seed
    """
    cfg = load_config()
    db = connect_database(cfg)
    r = connect_redis(cfg)
    info = seed_demo(cfg, db, r)
    seed_demo_campaign(db, r, info.batch_id, mainland_only=True)
    click.echo(f"demo batch {info.batch_id} is active, with a published demo campaign (mainland China)")


@cli.command("worker")
@click.option("--job-seconds", type=click.FloatRange(1, 3600), default=30.0, show_default=True,
              help="How long one drain job runs before it queues its successor.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve the worker's /metrics on this port (default: YIMA_WORKER_METRICS_PORT; 0: off).")
def worker_cmd(job_seconds: float, metrics_port: int | None) -> None:
    """Run an event-drain worker (RQ): scan events flow from Redis into SQL.

    It rides out Redis and SQL outages (retrying with back-off) and stops only on SIGTERM or Ctrl-C.

    \b
    Example:  yima worker --metrics-port 9108
    """
    import dataclasses

    from app.logging_setup import configure
    from app.worker import run_worker

    cfg = load_config()
    if metrics_port is not None:
        cfg = dataclasses.replace(cfg, worker_metrics_port=metrics_port)
    configure(cfg)
    run_worker(cfg, seconds=job_seconds)


@cli.command("run")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="gunicorn workers (default: app/gunicorn_conf.py, 2 per core).")
def run_cmd(workers: int | None) -> None:
    """Start Redis (embedded unless REDIS_URL is set), migrate, seed the demo, then serve with gunicorn
    and run one event-drain worker beside it, until Ctrl-C.

    \b
    Example:  PORT=8080 yima run
    """
    cfg = load_config()
    url = redis_url(cfg)
    db = connect_database(cfg)
    r = connect_redis(cfg)
    info = seed_demo(cfg, db, r)
    seed_demo_campaign(db, r, info.batch_id, mainland_only=True)
    operator = seed_demo_operator(cfg, db)
    channel = seed_demo_channel(cfg, db)
    db.engine.dispose()
    host = cfg.host
    click.echo(f"Redis: {url}   database: {cfg.database_url.split('@')[-1]}")
    bindir = os.path.dirname(sys.executable)
    gunicorn = shutil.which("gunicorn", path=bindir) or "gunicorn"
    yima = shutil.which("yima", path=bindir) or "yima"
    # gunicorn's workers share their metrics through files in var/ (emptied by gunicorn at start); the
    # worker serves its own beside the app's port.
    app_env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(cfg.metrics_dir or cfg.var_dir / "metrics" / "app")}
    worker_port = cfg.worker_metrics_port or cfg.port + 1
    worker_env = {**os.environ, "YIMA_WORKER_METRICS_PORT": str(worker_port)}
    worker_env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # gunicorn's directory, emptied when it starts
    payout_env = {**worker_env, "YIMA_WORKER_METRICS_PORT": str(worker_port + 2)}
    fake_port = cfg.payouts.fake_port or cfg.port + 2
    children = [
        Child("worker", [yima, "worker"], restart=True, env=worker_env),
        Child("payouts", [yima, "payouts", "worker"], restart=True, env=payout_env),
        *([Child("fake-wechat", [yima, "fake-wechat", "--host", host, "--port", str(fake_port)], restart=True)]
          if cfg.payouts.provider == "fake" else []),
        Child("gunicorn", [gunicorn, "--config", "python:app.gunicorn_conf",
                           *(["--workers", str(workers)] if workers else []),
                           "--bind", f"{host}:{cfg.port}", "app:create_app()"], env=app_env),
    ]
    for child in children:
        child.start()
    site = f"http://{host}:{cfg.port}"
    click.echo(f"demo scan pages (open on a phone-sized browser):\n"
               f"  inner code (暗码, reward):  {info.inner_url}\n"
               f"  more inner codes:          {' '.join(info.more_inner)}\n"
               f"  (the demo campaign is mainland China only: the page asks for the phone's location first)\n"
               f"  outer code (明码, trace):   {info.outer_url}\n"
               f"  forged code:               {info.forged_url}")
    token_file = "$YIMA_OPS_TOKEN" if cfg.ops_token else str(cfg.var_dir / "ops_token")
    ops_token(cfg)  # created now if absent, so the file exists before the first API call
    click.echo(f"ops API (campaigns, publish, simulate): Authorization: Bearer <token in {token_file}>")
    click.echo(f"brand console: {site}/ops/   sign in as {operator.email}, password {operator.password} "
               f"(demo operator; kept in {cfg.var_dir / 'demo_password'})")
    click.echo(f"channel desk: {site}/dist   (on a phone; each seat signs in at {site}/ops/login, password "
               f"{channel.password}, kept in {password_path(cfg)})")
    for email, kind, where in channel.seats:
        click.echo(f"  {kind:<12} {email}" + (f"   ({where})" if where else ""))
    click.echo(f"metrics (Prometheus): {site}/metrics (app), http://{host}:{worker_port}/metrics (worker); "
               f"open to {', '.join(str(n) for n in cfg.metrics_allow)}")
    if cfg.payouts.provider == "fake":
        click.echo(f"payouts: the fake WeChat Pay + OAuth server on http://{host}:{fake_port} stands in for WeChat "
                   f"(its confirm page is WeChat's 确认收款 sheet); worker metrics on {worker_port + 2}")
    click.echo(f"yima is up: open {site}/ops/   (Ctrl-C to stop)")
    _supervise(children)


@dataclass
class Child:
    """A process `yima run` supervises; `restart`: started again when it exits, else its exit stops all."""

    name: str
    argv: list[str]
    restart: bool = False
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    delay: float = 1.0  # the next restart's back-off
    env: dict[str, str] | None = None  # None: this process's environment

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, env=self.env)
        self.started = time.monotonic()


def _supervise(children: list[Child], poll: float = 0.5, max_delay: float = 30.0) -> None:
    """Until Ctrl-C or SIGTERM: restart a dead restartable child after back-off; stop every child when
    another one exits (gunicorn restarts its own workers; its master exiting is a real failure)."""

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    due: dict[str, float] = {}
    try:
        while True:
            time.sleep(poll)
            for child in children:
                assert child.proc is not None
                if child.proc.poll() is None:
                    continue
                if not child.restart:
                    click.echo(f"{child.name} exited (status {child.proc.returncode}); stopping", err=True)
                    return
                now = time.monotonic()
                if child.name not in due:
                    if now - child.started > 60:  # it ran a good while: this is no crash loop
                        child.delay = 1.0
                    due[child.name] = now + child.delay
                    click.echo(f"{child.name} exited (status {child.proc.returncode}); restarting it in "
                               f"{child.delay:.0f}s", err=True)
                    child.delay = min(child.delay * 2, max_delay)
                elif now >= due[child.name]:
                    del due[child.name]
                    child.start()
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.proc.kill()


@cli.command("reconcile")
@click.option("--rebuild", is_flag=True, help="Set the Redis counters from the SQL ledger where they differ.")
def reconcile_cmd(rebuild: bool) -> None:
    """Compare every campaign's Redis counters (cash spent, prizes given) with the SQL ledger.

    Run it once the award streams are drained (the worker does that continuously).
    Exit status 1 when they differ (and --rebuild was not given).

    \b
    Example:  yima reconcile            # report
              yima reconcile --rebuild  # after a Redis failover lost writes
    """
    from codegen.db import transaction
    from rules.awards import reconcile

    cfg = load_config()
    db = connect_database(cfg)
    with transaction(db.sessions) as session:
        diffs = reconcile(session, connect_redis(cfg), rebuild=rebuild)
    for d in diffs:
        click.echo(f"campaign {d.campaign_id} {d.what}: Redis {d.redis}, SQL {d.sql}")
    if not diffs:
        click.echo("Redis counters equal the SQL ledger")
    elif rebuild:
        click.echo(f"rebuilt {len({d.campaign_id for d in diffs})} campaign(s) in Redis from SQL")
    else:
        sys.exit(1)


@cli.group("rollups")
def rollups_group() -> None:
    """The dashboard's rollup tables (kept by the worker while it drains)."""


@rollups_group.command("rebuild")
def rollups_rebuild_cmd() -> None:
    """Rebuild the scan and award rollups from the stored events and awards.

    For a database that held events before it had rollups, or rollups found wrong. The worker may keep
    draining meanwhile (on PostgreSQL its rollup updates wait for the rebuild). Forged-attempt counts
    have no stored events and are kept as they are; so are the scan rollups of months whose events were
    dropped (`yima events drop`).

    \b
    Example:  yima rollups rebuild
    """
    from codegen.db import transaction
    from reports.rebuild import rebuild_rollups, vacuum_rollups

    db = connect_database(load_config())
    started = time.monotonic()
    with transaction(db.sessions) as session:
        rebuilt = rebuild_rollups(session)
    vacuum_rollups(db.engine)
    for r in rebuilt:
        click.echo(f"{r.table}: {r.rows} rows")
    click.echo(f"rollups rebuilt in {time.monotonic() - started:.1f} s")


@cli.command("fake-wechat")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8090, show_default=True)
def fake_wechat_cmd(host: str, port: int) -> None:
    """Serve the fake WeChat (Pay v3 商家转账, 现金红包, OAuth, MP API, confirm page) until Ctrl-C.

    Its keys and bills live under var/fake_wechat/; its control API is under /_fake/ (loopback only).

    \b
    Example:  yima fake-wechat --port 8090
    """
    from werkzeug.serving import run_simple

    from app.fake_wechat import create_fake_app
    from app.fake_wechat.server import PathOnlyLog

    click.echo(f"fake WeChat on http://{host}:{port}")
    run_simple(host, port, create_fake_app(load_config().var_dir), threaded=True, request_handler=PathOnlyLog)


@cli.command("stop-redis")
def stop_redis_cmd() -> None:
    """Stop the embedded Redis (its data stays in var/ and is reloaded on the next start).

    \b
    Example:  yima stop-redis
    """
    stopped = stop_embedded_redis(load_config().var_dir)
    click.echo("embedded Redis stopped" if stopped else "embedded Redis was not running")


def main() -> None:
    run_cli(cli, "yima")
