"""`codegen`: the factory and headquarters command line.

Headquarters commands (keys, brand, product, batch, activate, void) use the database, Redis and the
master key file. Line commands (generate, verify, readback) need only a batch ticket and the
headquarters public key file: they work offline.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from app.cli_errors import OneLineErrors, fail, run_cli
from app.config import Config, load_config
from codegen import keys
from codegen.codeformat import CodeError, Role, extract_code, verify
from codegen.generate import Options, generate, prepare_output_dir
from codegen.ranges import format_ranges
from codegen.readback import readback
from codegen.ticket import BatchTicket, read_ticket, write_ticket
from codegen.verify_output import verify_output

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# Line commands (generate, verify, readback) run on factory PCs, often in scripts: they import neither
# SQLAlchemy, Alembic nor redis-py. Headquarters commands import what they need inside the command.


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """yima codegen: keys, products, batches, and the printing line's code files.

    \b
    Headquarters:  codegen keys init · codegen brand add · codegen product add
                   codegen batch new · codegen activate · codegen void
    Line (offline): codegen generate · codegen verify · codegen readback
    """
    ctx.obj = load_config()


def _cfg() -> Config:
    obj = click.get_current_context().obj
    assert isinstance(obj, Config)
    return obj


@contextmanager
def _session() -> Iterator[Session]:
    from app.runtime import connect_database
    from codegen.db import transaction

    db = connect_database(_cfg())
    try:
        with transaction(db.sessions) as session:
            yield session
    finally:
        db.engine.dispose()


def _ticket(path: Path, hq_public: Path | None) -> BatchTicket:
    return read_ticket(path, keys.load_public_keys(hq_public or _cfg().hq_public_file))


_HQ_PUBLIC = click.option(
    "--hq-public",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Headquarters public key file (default: $YIMA_HQ_PUBLIC_KEYS or var/hq-public.json).",
)


# --- keys -------------------------------------------------------------------------------------------


@cli.group("keys")
def keys_group() -> None:
    """Headquarters master keys (never leave headquarters)."""


@keys_group.command("init")
def keys_init() -> None:
    """Create the master key file if absent, and the public key file factories need.

    \b
    Example:  codegen keys init
    """
    cfg = _cfg()
    ring, created = keys.init_keyring(cfg.keys_file)
    keys.save_public_keys(cfg.hq_public_file, ring)
    if created:
        click.echo(f"created master key file {cfg.keys_file} (key id {ring.current}, mode 600)")
    else:
        click.echo(f"master key file {cfg.keys_file} exists (current key id {ring.current}); nothing changed")
    click.echo(f"public key file for factories: {cfg.hq_public_file}")


@keys_group.command("rotate")
def keys_rotate() -> None:
    """Add a new key id and make it current; codes of older key ids keep verifying.

    \b
    Example:  codegen keys rotate
    """
    cfg = _cfg()
    ring = keys.rotate_keyring(cfg.keys_file)
    keys.save_public_keys(cfg.hq_public_file, ring)
    click.echo(f"new current key id {ring.current}; public key file updated: {cfg.hq_public_file}")


@keys_group.command("show")
def keys_show() -> None:
    """List key ids with fingerprints (never the keys).

    \b
    Example:  codegen keys show
    """
    ring = keys.load_keyring(_cfg().keys_file)
    for kid in sorted(ring.keys):
        mark = " (current)" if kid == ring.current else ""
        click.echo(f"key id {kid}: fingerprint {keys.fingerprint(ring.keys[kid])}{mark}")


# --- brand and product ------------------------------------------------------------------------------


@cli.group("brand")
def brand_group() -> None:
    """Brands (each has its own scan base URL)."""


@brand_group.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="Display name, e.g. 青岛演示啤酒.")
@click.option("--base-url", help="Scan URL base printed in every code (default: $YIMA_BASE_URL).")
def brand_add(slug: str, name: str, base_url: str | None) -> None:
    """Add a brand.

    \b
    Example:  codegen brand add acme --name "Acme Beer" --base-url https://q.acme.example
    """
    from codegen import batches

    with _session() as session:
        brand = batches.add_brand(session, slug, name, base_url or _cfg().base_url)
        click.echo(f"brand {brand.slug} ({brand.name}) scans at {brand.base_url}/q/<CODE>")


@brand_group.command("list")
def brand_list() -> None:
    """List brands.

    \b
    Example:  codegen brand list
    """
    from sqlalchemy import select

    from codegen.models import Brand

    with _session() as session:
        for brand in session.scalars(select(Brand).order_by(Brand.slug)):
            click.echo(f"{brand.slug}\t{brand.name}\t{brand.base_url}")


@cli.group("product")
def product_group() -> None:
    """Products (SKUs)."""


@product_group.command("add")
@click.option("--sku", required=True, help="Stock-keeping unit, unique per brand.")
@click.option("--name", required=True, help="Product name shown to consumers.")
@click.option("--gtin", help="GTIN-8/12/13/14; the check digit is verified.")
@click.option("--brand", "brand_slug", help="Brand slug (needed only when there are several).")
def product_add(sku: str, name: str, gtin: str | None, brand_slug: str | None) -> None:
    """Add a product.

    \b
    Example:  codegen product add --sku BEER-500 --name "Lager 500ml" --gtin 06901234567892
    """
    from codegen import batches

    with _session() as session:
        brand = batches.resolve_brand(session, brand_slug)
        product = batches.add_product(session, brand, sku, name, gtin)
        click.echo(f"product {product.sku} ({product.name}) added to {brand.slug}")


# --- batch ------------------------------------------------------------------------------------------


@cli.group("batch")
def batch_group() -> None:
    """Production batches."""


@batch_group.command("new")
@click.option("--sku", required=True)
@click.option("--lot", required=True, help="Production lot, unique per product.")
@click.option("--count", required=True, type=int, help="Number of items (each gets an inner and an outer code).")
@click.option("--pack", type=int, default=0, show_default=True, help="Items per case (0: no case codes).")
@click.option("--factory", default="", help="Factory name.")
@click.option("--line", default="", help="Production line.")
@click.option("--date", "production_date", type=click.DateTime(["%Y-%m-%d"]), help="Production date YYYY-MM-DD.")
@click.option("--brand", "brand_slug", help="Brand slug (needed only when there are several).")
@click.option("--ticket", "ticket_path", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write the batch ticket for the factory.")
def batch_new(
    sku: str, lot: str, count: int, pack: int, factory: str, line: str,
    production_date: Any, brand_slug: str | None, ticket_path: Path,
) -> None:
    """Register a batch and write its ticket (the only thing the factory line needs).

    \b
    Example:  codegen batch new --sku BEER-500 --lot L2026-11-23 --count 100000 --pack 24 --ticket L1.ticket
    """
    from app.runtime import connect_redis
    from codegen import batches

    cfg = _cfg()
    if ticket_path.exists():
        fail(f"{ticket_path} already exists: tickets are never overwritten, choose another path")
    if not ticket_path.parent.is_dir():  # a typo in the path must not grow a directory tree
        fail(f"directory {ticket_path.parent.absolute()} does not exist: create it first, or choose another --ticket")
    ring = keys.load_keyring(cfg.keys_file)
    r = connect_redis(cfg)
    req = batches.BatchRequest(
        sku=sku, lot=lot, count=count, pack=pack, factory=factory, line=line,
        production_date=production_date.date() if production_date else None,
    )
    with _session() as session:
        brand = batches.resolve_brand(session, brand_slug)
        batch = batches.create_batch(session, brand, req, key_id=ring.current, max_count=cfg.max_batch_count)
        write_ticket(ticket_path, batches.make_ticket(batch, ring), ring.signing_key(batch.key_id))
        try:
            batches.sync_batch(r, batch)
        except BaseException:
            ticket_path.unlink(missing_ok=True)
            raise
        click.echo(f"batch {batch.id}: {sku} lot {lot}, {count:,} items, pack {pack}, key id {batch.key_id}")
        click.echo(f"ticket written to {ticket_path} (status: created; activate it when it ships)")


@batch_group.command("list")
def batch_list() -> None:
    """List batches, newest first.

    \b
    Example:  codegen batch list
    """
    from codegen import batches

    with _session() as session:
        for b in batches.list_batches(session):
            active, void = batches.effective_ranges(b)
            click.echo(
                f"{b.id}\t{b.product.sku}\t{b.lot}\t{b.quantity}\t{b.status}"
                f"\tactive={format_ranges(active) or '-'}\tvoid={format_ranges(void) or '-'}"
            )


@batch_group.command("sync")
@click.argument("batch_id", type=int, required=False)
@click.option("--all", "sync_all", is_flag=True, help="Rewrite every batch's Redis state from SQL.")
def batch_sync(batch_id: int | None, sync_all: bool) -> None:
    """Rewrite a batch's Redis state from SQL (after Redis lost data).

    \b
    Example:  codegen batch sync --all
    """
    from app.runtime import connect_redis
    from codegen import batches

    if batch_id is None and not sync_all:
        fail("name a batch id or pass --all")
    r = connect_redis(_cfg())
    with _session() as session:
        if sync_all:
            todo = batches.list_batches(session, limit=1_000_000)
        else:
            todo = [batches.get_batch(session, batch_id or 0)]
        for b in todo:
            batches.sync_batch(r, b)
        click.echo(f"synced {len(todo)} batch(es) to Redis")


def _which_batch(command: Any) -> Any:
    """--batch ID, or --lot LOT (with --sku / --brand when several products share the lot)."""
    for option in reversed([
        click.option("--batch", "batch_id", type=int, help="Batch id (batch new prints it: \"batch 7: …\")."),
        click.option("--lot", help="Or the batch's production lot, as given to batch new."),
        click.option("--sku", help="With --lot: the product, when several share the lot name."),
        click.option("--brand", "brand_slug", help="With --lot: the brand, when several share the SKU."),
    ]):
        command = option(command)
    return command


def _batch_id(session: Session, batch_id: int | None, lot: str | None, sku: str | None, brand: str | None) -> int:
    from codegen import batches

    if (batch_id is None) == (lot is None):
        fail("name the batch with --batch ID or --lot LOT (one of them)")
    return batch_id if batch_id is not None else batches.find_batch_id(session, lot or "", sku, brand)


@cli.command("activate")
@_which_batch
@click.option("--range", "serial_range", help="Serials A-B (inclusive); default the whole batch.")
def activate_cmd(
    batch_id: int | None, lot: str | None, sku: str | None, brand_slug: str | None, serial_range: str | None
) -> None:
    """Put a batch or a serial range on sale (its codes start earning rewards).

    \b
    Examples:  codegen activate --batch 1 --range 0-49999
               codegen activate --lot L2026-11-23
    """
    from app.runtime import connect_redis
    from codegen import batches

    r = connect_redis(_cfg())
    with _session() as session:
        batch_id = _batch_id(session, batch_id, lot, sku, brand_slug)
        batch = batches.activate(session, r, batch_id, serial_range)
        active, _ = batches.effective_ranges(batch)
        click.echo(f"batch {batch.id} active serials: {format_ranges(active)}")


@cli.command("void")
@_which_batch
@click.option("--range", "serial_range", required=True, help="Serials A-B (inclusive).")
@click.option("--reason", default="", help="Why (damaged roll, recall …); kept in the history.")
def void_cmd(
    batch_id: int | None, lot: str | None, sku: str | None, brand_slug: str | None, serial_range: str, reason: str
) -> None:
    """Void a serial range for good (damaged roll, recall).

    \b
    Examples:  codegen void --batch 1 --range 1200-1299 --reason "damaged roll"
               codegen void --lot L2026-11-23 --range 1200-1299 --reason "damaged roll"
    """
    from app.runtime import connect_redis
    from codegen import batches

    r = connect_redis(_cfg())
    with _session() as session:
        batch_id = _batch_id(session, batch_id, lot, sku, brand_slug)
        batch = batches.void(session, r, batch_id, serial_range, reason)
        _, void = batches.effective_ranges(batch)
        click.echo(f"batch {batch.id} void serials: {format_ranges(void)}")


@cli.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (the other commands do this on their own too).

    \b
    Example:  DATABASE_URL=postgresql+psycopg://yima@db/yima codegen db upgrade
    """
    from app.runtime import connect_database

    db = connect_database(_cfg())
    db.engine.dispose()
    click.echo("schema is up to date")


# --- line side --------------------------------------------------------------------------------------


class _Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


@contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGTERM (a job runner, `kill`), SIGHUP (a closed terminal or SSH session) and SIGINT become an
    exception, so generate's cleanup runs and removes its staging directory instead of leaving it."""
    caught = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

    def interrupt(signum: int, _frame: object) -> None:
        for sig in caught:  # the cleanup is short: a second signal must not cut it off half-way
            signal.signal(sig, signal.SIG_IGN)
        raise _Interrupted(signum)

    previous = {sig: signal.signal(sig, interrupt) for sig in caught}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _ProgressLines:
    """Progress for a log rather than a terminal: one line each time the whole percentage grows."""

    def __init__(self, label: str, total: int) -> None:
        self._label, self._total, self._done, self._shown = label, max(total, 1), 0, -1

    def __enter__(self) -> _ProgressLines:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass

    def update(self, codes: int) -> None:
        self._done += codes
        percent = self._done * 100 // self._total
        if percent > self._shown:
            self._shown = percent
            click.echo(f"{self._label}: {self._done:,} of {self._total:,} codes ({percent}%)", err=True)


def _progress(label: str, total: int) -> Any:
    """A bar on a terminal; in a script or a log, a line per percent (a bar there prints nothing until done)."""
    if not sys.stderr.isatty():
        return _ProgressLines(label, total)
    return click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True, show_eta=True)


@cli.command("generate")
@click.option("--ticket", "ticket_path", required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="A new or empty directory.")
@click.option("--chunk", "chunk_rows", type=click.IntRange(1), default=100_000, show_default=True,
              help="Rows per file.")
@click.option("--qr", type=click.Choice(["png", "svg"]), help="Also write QR images (one zip per chunk).")
@click.option("--labels", type=click.Choice(["pdf"]), help="Also write print-ready label sheets.")
@click.option("--jobs", type=click.IntRange(0), default=0, help="Worker processes (0: all cores for large batches).")
@_HQ_PUBLIC
def generate_cmd(
    ticket_path: Path, out_dir: Path, chunk_rows: int, qr: str | None, labels: str | None, jobs: int,
    hq_public: Path | None,
) -> None:
    """Generate the batch's code files from its ticket (offline).

    \b
    Example:  codegen generate --ticket L1.ticket --out out/L1 --chunk 50000 --qr png
    """
    ticket = _ticket(ticket_path, hq_public)
    options = Options(chunk_rows=chunk_rows, qr=qr, labels=labels == "pdf", jobs=jobs)
    prepare_output_dir(out_dir)  # fail before the progress bar starts
    total = 2 * ticket.count + ticket.cases  # inner + outer per item, one per case
    try:
        with _signals_raise(), _progress("generating", total) as bar:
            manifest = generate(ticket, out_dir, options, progress=bar.update)
    except _Interrupted as exc:
        fail(f"stopped by {exc.name}; nothing was kept in {out_dir}", status=128 + exc.signum)
    counts = manifest["counts"]
    assert isinstance(counts, dict)
    click.echo(
        f"batch {ticket.batch_id}: {counts['codes']:,} codes in {counts['files']} files under {out_dir} "
        f"(inner {counts['inner']:,}, outer {counts['outer']:,}, case {counts.get('case', 0):,}); "
        f"manifest.json written last"
    )


@cli.command("verify")
@click.option("--ticket", "ticket_path", required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.argument("target")
@_HQ_PUBLIC
def verify_cmd(ticket_path: Path, target: str, hq_public: Path | None) -> None:
    """Verify an output directory (every file and code) or one code / scan URL.

    \b
    Examples:  codegen verify --ticket L1.ticket out/L1
               codegen verify --ticket L1.ticket 1080000100000…
               codegen verify --ticket L1.ticket https://q.acme.example/q/1080000100000…
    """
    ticket = _ticket(ticket_path, hq_public)
    if Path(target).is_dir():
        report = verify_output(Path(target), ticket)
        for problem in report.problems[:50]:
            click.echo(f"problem: {problem}", err=True)
        if report.problems:
            fail(f"{len(report.problems)} problem(s) in {target}; {report.codes:,} codes checked")
        click.echo(f"OK: {report.files} files match the manifest, {report.codes:,} codes verify")
        return
    try:
        fields = verify(extract_code(target), ticket.key_for)
    except CodeError as exc:
        reason = "not of this batch" if exc.reason == CodeError.UNKNOWN_KEY else str(exc)
        fail(f"NOT GENUINE for batch {ticket.batch_id}: {reason}")
    limit = ticket.cases if fields.role is Role.CASE else ticket.count
    if fields.serial >= limit:
        fail(f"NOT GENUINE for batch {ticket.batch_id}: serial {fields.serial} is beyond the batch")
    click.echo(
        f"GENUINE: batch {fields.batch_id} ({ticket.sku} lot {ticket.lot}), {fields.role.label} serial {fields.serial}"
    )


@cli.command("readback")
@click.option("--ticket", "ticket_path", required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.argument("camera_log", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--role", "roles", multiple=True, type=click.Choice(["inner", "outer", "case"]),
              help="Roles the camera reads (default: those seen in the log).")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@_HQ_PUBLIC
def readback_cmd(
    ticket_path: Path, out_dir: Path, camera_log: Path, roles: tuple[str, ...], as_json: bool,
    hq_public: Path | None,
) -> None:
    """Compare the line camera's read-back log (one code or URL per line) with what was generated.

    Exit status 0 when every generated code was read exactly once, 1 otherwise.

    \b
    Example:  codegen readback --ticket L1.ticket out/L1 camera.log --role outer
    """
    ticket = _ticket(ticket_path, hq_public)
    with camera_log.open("r", encoding="utf-8", errors="replace") as fh:
        report = readback(ticket, out_dir, fh, {Role.parse(r) for r in roles} or None)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for line in report.summary_lines():
            click.echo(line)
    if not report.clean:
        sys.exit(1)


def main() -> None:
    run_cli(cli, "codegen")

