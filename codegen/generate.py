"""Line side: turn a batch ticket into printable files, offline (no database, no Redis, no master key).

Output directory, all files named by role and chunk number:

    inner-00001.csv …   暗码 rows      serial,role,code,url,case
    outer-00001.csv …   明码 rows      serial,role,code,url,case
    case-00001.csv …    箱码 rows      serial,role,code,url,first_item,last_item
    qr-inner-00001.zip  optional QR images (<serial>.png|.svg) for the same chunk
    labels-inner-00001.pdf  optional print-ready label sheets for the same chunk
    manifest.json       counts and the SHA-256 of every file; written last

Files are built in a hidden staging directory inside the output directory, moved into place only when
all of them are done, and the manifest is renamed in last: a directory without manifest.json is
incomplete, and on any error nothing is left behind (a caller that wants the same on SIGTERM turns the
signal into an exception, as the CLI does; a staging directory left by `kill -9` is removed by the next
run, see codegen/staging.py). The same ticket gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack, closing
from dataclasses import asdict, dataclass
from pathlib import Path

from codegen.codeformat import CodeSigner, Role
from codegen.errors import CodegenError, Kind
from codegen.fileio import file_sha256
from codegen.labels import LabelPdfWriter, LabelSheet
from codegen.qr import QrRenderer
from codegen.staging import Staging, StagingInUse, remove_stale
from codegen.storedzip import StoredZip
from codegen.ticket import BatchTicket

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "yima-manifest/1"
ITEM_COLUMNS = ("serial", "role", "code", "url", "case")
CASE_COLUMNS = ("serial", "role", "code", "url", "first_item", "last_item")
DEFAULT_CHUNK_ROWS = 100_000
# Below this many codes a worker pool costs more than it saves (CSV only; see PARALLEL_THRESHOLD_IMAGES).
PARALLEL_THRESHOLD = 200_000


class OutputError(CodegenError):
    """The output directory cannot be used (not empty, not writable)."""

    code = "output_unusable"
    kind = Kind.INVALID


@dataclass(frozen=True)
class Options:
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    qr: str | None = None  # "png" | "svg"
    labels: bool = False
    jobs: int = 0  # 0 = all cores for large batches


@dataclass(frozen=True)
class FileEntry:
    name: str
    kind: str  # "codes" | "qr" | "labels"
    role: str
    first_serial: int
    last_serial: int
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class _Task:
    role: Role
    chunk: int
    first: int
    last: int


def scan_url(base_url: str, code: str) -> str:
    """The QR payload: upper-cased so a QR encoder can use its dense alphanumeric mode."""
    return f"{base_url.upper()}/Q/{code}"


def role_counts(ticket: BatchTicket) -> dict[Role, int]:
    counts = {Role.INNER: ticket.count, Role.OUTER: ticket.count}
    if ticket.pack:
        counts[Role.CASE] = ticket.cases
    return counts


def plan(ticket: BatchTicket, chunk_rows: int) -> list[_Task]:
    tasks = []
    for role, count in role_counts(ticket).items():
        for chunk, first in enumerate(range(0, count, chunk_rows), start=1):
            tasks.append(_Task(role, chunk, first, min(first + chunk_rows, count) - 1))
    return tasks


def _file_name(kind: str, role: Role, chunk: int) -> str:
    stem = f"{role.label}-{chunk:05d}"
    return {"codes": f"{stem}.csv", "qr": f"qr-{stem}.zip", "labels": f"labels-{stem}.pdf"}[kind]


# Rows are produced and written in blocks, so a worker's memory does not grow with --chunk. With images a
# block takes a few hundredths of a second, and the progress callback hears of every block.
_BLOCK = 8192
_IMAGE_BLOCK = 400  # ten label pages
# Below this many codes a worker pool costs more than it saves: CSV rows are cheap, images are not.
PARALLEL_THRESHOLD_IMAGES = 4_000


class _HashingFile:
    """A new file opened for writing that hashes what goes through it."""

    def __init__(self, path: Path) -> None:
        self._fh = path.open("xb")
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._sha.update(data)
        self.size += len(data)
        return self._fh.write(data)

    def close(self) -> str:
        self._fh.close()
        return self._sha.hexdigest()


def _open_output(path: Path) -> _HashingFile:
    return _HashingFile(path)


def _blocks(task: _Task, rows: int) -> Iterator[range]:
    for first in range(task.first, task.last + 1, rows):
        yield range(first, min(first + rows, task.last + 1))


class _QrZip:
    """One chunk's QR images, one stored (not deflated: PNGs are compressed already) member per code."""

    def __init__(self, path: Path, fmt: str, role: Role, renderer: QrRenderer) -> None:
        self._zip = StoredZip(path)
        self._render = renderer.png if fmt == "png" else renderer.svg
        self._name = f"{role.label}-{{:09d}}.{fmt}".format

    def add(self, serial: int, url: str) -> None:
        self._zip.add(self._name(serial), self._render(url))

    def finish(self) -> None:
        self._zip.close()

    def close(self) -> None:
        self._zip.abandon()  # after finish() only closes what is closed already


class _LabelFile:
    """One chunk's label sheets: labels gather into pages, each page is written when full."""

    def __init__(self, path: Path, title: str, renderer: QrRenderer) -> None:
        self._sheet = LabelSheet(renderer, title=title)
        self._out = path.open("xb")
        self._pdf = LabelPdfWriter(self._out, self._sheet.spec, title)
        self._pending: list[tuple[str, str]] = []

    def add(self, url: str, caption: str) -> None:
        self._pending.append((url, caption))
        if len(self._pending) == self._sheet.labels_per_page:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._pdf.add_page(self._sheet.page(len(self._pdf.page_ids) + 1, self._pending))
            self._pending = []

    def finish(self) -> None:
        """The last page, the page tree and the xref: only a chunk whose labels all went in gets them."""
        self._flush()
        self._pdf.finish()

    def close(self) -> None:
        self._out.close()


def _write_chunk(
    ticket: BatchTicket, task: _Task, signer: CodeSigner, options: Options, staging: Path,
    report: Callable[[int], None],
) -> list[tuple[str, int, str]]:
    """Write one chunk's CSV, and its QR zip and label PDF when asked, in one pass over its codes.

    Returns (kind, bytes, sha256) per file; calls ``report`` with the number of codes after each block.
    """
    base = ticket.base_url.upper() + "/Q/"
    role = task.role.label
    code = signer.code
    pack, count = ticket.pack, ticket.count
    images = bool(options.qr or options.labels)
    paths = {kind: staging / _file_name(kind, task.role, task.chunk) for kind in ("codes", "qr", "labels")}
    renderer = QrRenderer(base + code(task.first)) if images else None
    with ExitStack() as stack:
        out = _open_output(paths["codes"])
        digest: list[str] = []
        stack.callback(lambda: digest.append(out.close()))
        qr_zip = labels = None
        if options.qr and renderer is not None:
            qr_zip = _QrZip(paths["qr"], options.qr, task.role, renderer)
            stack.callback(qr_zip.close)
        if options.labels and renderer is not None:
            labels = _LabelFile(paths["labels"], f"{ticket.sku} lot {ticket.lot} {role}", renderer)
            stack.callback(labels.close)
        is_case = task.role is Role.CASE
        out.write((",".join(CASE_COLUMNS if is_case else ITEM_COLUMNS) + "\r\n").encode())
        for block in _blocks(task, _IMAGE_BLOCK if images else _BLOCK):
            codes = [code(serial) for serial in block]
            if is_case:
                rows = [
                    f"{serial},{role},{c},{base}{c},{serial * pack},{min((serial + 1) * pack, count) - 1}\r\n"
                    for serial, c in zip(block, codes, strict=True)
                ]
            else:
                rows = [
                    f"{serial},{role},{c},{base}{c},{serial // pack if pack else ''}\r\n"
                    for serial, c in zip(block, codes, strict=True)
                ]
            out.write("".join(rows).encode("ascii"))
            if qr_zip is not None:
                for serial, c in zip(block, codes, strict=True):
                    qr_zip.add(serial, base + c)
            if labels is not None:
                for serial, c in zip(block, codes, strict=True):
                    labels.add(base + c, f"{c} #{serial}")
            report(len(block))
        if qr_zip is not None:
            qr_zip.finish()
        if labels is not None:
            labels.finish()
    written = [("codes", out.size, digest[0])]
    for kind, wanted in (("qr", options.qr), ("labels", options.labels)):
        if wanted:
            path = paths[kind]
            written.append((kind, path.stat().st_size, file_sha256(path)))
    return written


def reset_worker_signals() -> None:
    """In a forked pool worker: a worker inherits its parent's signal handlers (a host app or job runner
    may catch SIGTERM), and the pool must be able to terminate it whatever the parent installed. Ctrl-C
    and a closed terminal reach the whole process group: only the parent acts on them (it stops the pool
    and cleans up); a worker that died of them on its own would leave the pool waiting for its task."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


# Worker state, set once per process (fork start method: inherited, never pickled per task).
_worker: dict[str, object] = {}


def _init_worker(
    ticket: BatchTicket, staging: Path, options: Options, report: Callable[[int], None], pool: bool = False
) -> None:
    if pool:
        reset_worker_signals()
    _worker.update(ticket=ticket, staging=staging, options=options, report=report)


def _run_task(task: _Task) -> list[FileEntry]:
    ticket = _worker["ticket"]
    staging = _worker["staging"]
    options = _worker["options"]
    report = _worker["report"]
    assert isinstance(ticket, BatchTicket) and isinstance(staging, Path) and isinstance(options, Options)
    assert callable(report)
    signer = CodeSigner(ticket.batch_key, role=task.role, key_id=ticket.key_id, batch_id=ticket.batch_id)
    rows = task.last - task.first + 1
    return [
        FileEntry(_file_name(kind, task.role, task.chunk), kind, task.role.label, task.first, task.last, rows,
                  size, digest)
        for kind, size, digest in _write_chunk(ticket, task, signer, options, staging, report)
    ]


class _SharedCount:
    """Codes done, counted by pool workers in shared memory and read by the parent."""

    def __init__(self, ctx: multiprocessing.context.ForkContext) -> None:
        self._value = ctx.Value("q", 0)

    def add(self, n: int) -> None:
        with self._value.get_lock():
            self._value.value += n

    def read(self) -> int:
        return int(self._value.value)


# How often the parent looks at the workers' shared count while it waits for a chunk.
_POLL_SECONDS = 0.25


def _results(
    ticket: BatchTicket, staging: Path, options: Options, tasks: list[_Task], progress: Callable[[int], None]
) -> Generator[list[FileEntry], None, None]:
    """Each task's entries, in task order; ``progress`` hears of codes as blocks of them are done."""
    total = sum(t.last - t.first + 1 for t in tasks)
    jobs = options.jobs or (os.cpu_count() or 1)
    threshold = PARALLEL_THRESHOLD_IMAGES if (options.qr or options.labels) else PARALLEL_THRESHOLD
    if jobs == 1 or total < threshold or len(tasks) == 1:
        _init_worker(ticket, staging, options, progress)
        yield from map(_run_task, tasks)
        return
    if options.qr or options.labels:
        # The encoding tables, built once here, reach every forked worker instead of being built in each.
        first = CodeSigner(ticket.batch_key, role=Role.INNER, key_id=ticket.key_id, batch_id=ticket.batch_id)
        QrRenderer(scan_url(ticket.base_url, first.code(0))).warm()
    ctx = multiprocessing.get_context("fork")
    done = _SharedCount(ctx)
    reported = 0

    def catch_up() -> None:
        nonlocal reported
        now = done.read()
        if now > reported:
            progress(now - reported)
            reported = now

    pool = ctx.Pool(min(jobs, len(tasks)), initializer=_init_worker,
                    initargs=(ticket, staging, options, done.add, True))
    try:
        # imap keeps task order; each task streams its files block by block, so memory stays flat.
        results = pool.imap(_run_task, tasks)
        while True:
            try:
                entries = results.next(timeout=_POLL_SECONDS)
            except multiprocessing.TimeoutError:
                catch_up()
                continue
            except StopIteration:
                break
            catch_up()
            yield entries
        pool.close()  # every task done: let the workers exit on their own
        pool.join()
    finally:
        pool.terminate()


def _ignore(_codes: int) -> None:
    pass


def prepare_output_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output directory {out_dir}: {exc.strerror}") from None
    if not out_dir.is_dir():
        raise OutputError(f"{out_dir} is not a directory")
    try:
        remove_stale(out_dir)  # an interrupted run's hidden leftovers would block every re-run
    except StagingInUse as exc:
        raise OutputError(str(exc)) from None
    entries = sorted(p.name for p in out_dir.iterdir())
    if entries:
        shown = ", ".join(entries[:3]) + (", …" if len(entries) > 3 else "")
        raise OutputError(f"output directory {out_dir} is not empty (holds {shown}): "
                          "generate into a new, empty directory")
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise OutputError(f"output directory {out_dir} is not writable")


def manifest_document(ticket: BatchTicket, options: Options, files: list[FileEntry]) -> dict[str, object]:
    counts: dict[str, int] = {role.label: n for role, n in role_counts(ticket).items()}
    return {
        "format": MANIFEST_FORMAT,
        "batch": ticket.metadata(),
        "layout": {
            "chunk_rows": options.chunk_rows,
            "item_columns": list(ITEM_COLUMNS),
            "case_columns": list(CASE_COLUMNS),
            "encoding": "ascii, CRLF line ends, header row",
            "qr": options.qr,
            "labels": "pdf" if options.labels else None,
        },
        "counts": {**counts, "codes": sum(counts.values()), "files": len(files)},
        "files": [asdict(f) for f in files],
    }


def generate(
    ticket: BatchTicket,
    out_dir: Path,
    options: Options = Options(),
    progress: Callable[[int], None] | None = None,
) -> dict[str, object]:
    """Write every file for the batch into `out_dir` (must be empty) and return the manifest."""
    if options.chunk_rows < 1:
        raise OutputError("chunk size must be at least 1 row")
    if options.qr not in (None, "png", "svg"):
        raise OutputError(f"unknown QR format {options.qr!r}: use png or svg")
    prepare_output_dir(out_dir)
    owned = Staging(out_dir)
    staging = owned.path
    moved: list[Path] = []
    try:
        tasks = plan(ticket, options.chunk_rows)
        files: list[FileEntry] = []
        # closing(): on an error the pool is stopped here, before its staging directory is removed.
        with closing(_results(ticket, staging, options, tasks, progress or _ignore)) as results:
            for entries in results:
                files.extend(entries)
        for f in files:
            (staging / f.name).rename(out_dir / f.name)
            moved.append(out_dir / f.name)
        manifest = manifest_document(ticket, options, files)
        tmp = staging / MANIFEST
        tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        tmp.rename(out_dir / MANIFEST)
        return manifest
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        raise
    finally:
        owned.remove()
