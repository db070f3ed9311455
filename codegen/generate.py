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
import zipfile
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path

from codegen.codeformat import CodeSigner, Role
from codegen.errors import CodegenError, Kind
from codegen.fileio import file_sha256
from codegen.staging import Staging, StagingInUse, remove_stale
from codegen.ticket import BatchTicket

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "yima-manifest/1"
ITEM_COLUMNS = ("serial", "role", "code", "url", "case")
CASE_COLUMNS = ("serial", "role", "code", "url", "first_item", "last_item")
DEFAULT_CHUNK_ROWS = 100_000
# Below this many codes a worker pool costs more than it saves.
PARALLEL_THRESHOLD = 200_000
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


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


# Rows are produced and written in blocks, so a worker's memory does not grow with --chunk.
_BLOCK = 8192


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


def _blocks(task: _Task) -> Iterator[range]:
    for first in range(task.first, task.last + 1, _BLOCK):
        yield range(first, min(first + _BLOCK, task.last + 1))


def _write_codes_csv(ticket: BatchTicket, task: _Task, signer: CodeSigner, path: Path) -> tuple[int, str]:
    base = ticket.base_url.upper() + "/Q/"
    role = task.role.label
    code = signer.code
    pack, count = ticket.pack, ticket.count
    out = _open_output(path)
    try:
        if task.role is Role.CASE:
            out.write((",".join(CASE_COLUMNS) + "\r\n").encode())
            for block in _blocks(task):
                rows = []
                for serial in block:
                    c = code(serial)
                    last_item = min((serial + 1) * pack, count) - 1
                    rows.append(f"{serial},{role},{c},{base}{c},{serial * pack},{last_item}\r\n")
                out.write("".join(rows).encode("ascii"))
        else:
            out.write((",".join(ITEM_COLUMNS) + "\r\n").encode())
            for block in _blocks(task):
                rows = []
                for serial in block:
                    c = code(serial)
                    rows.append(f"{serial},{role},{c},{base}{c},{serial // pack if pack else ''}\r\n")
                out.write("".join(rows).encode("ascii"))
    finally:
        digest = out.close()
    return out.size, digest


def _codes(task: _Task, signer: CodeSigner) -> Iterator[tuple[int, str]]:
    for serial in range(task.first, task.last + 1):
        yield serial, signer.code(serial)


def _write_qr_zip(ticket: BatchTicket, task: _Task, signer: CodeSigner, fmt: str, path: Path) -> None:
    from codegen.qr import QrRenderer

    renderer = QrRenderer(scan_url(ticket.base_url, signer.code(task.first)))
    render = renderer.png if fmt == "png" else renderer.svg
    with zipfile.ZipFile(path, "x", compression=zipfile.ZIP_STORED) as zf:
        for serial, code in _codes(task, signer):
            info = zipfile.ZipInfo(f"{task.role.label}-{serial:09d}.{fmt}", date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            zf.writestr(info, render(scan_url(ticket.base_url, code)))


def _write_label_pdf(ticket: BatchTicket, task: _Task, signer: CodeSigner, path: Path) -> None:
    from codegen.labels import write_label_pdf
    from codegen.qr import QrRenderer

    renderer = QrRenderer(scan_url(ticket.base_url, signer.code(task.first)))
    labels = ((scan_url(ticket.base_url, code), f"{code} #{serial}") for serial, code in _codes(task, signer))
    write_label_pdf(path, labels, renderer, title=f"{ticket.sku} lot {ticket.lot} {task.role.label}")


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


def _init_worker(ticket: BatchTicket, staging: Path, options: Options, pool: bool = False) -> None:
    if pool:
        reset_worker_signals()
    _worker.update(ticket=ticket, staging=staging, options=options)


def _run_task(task: _Task) -> list[FileEntry]:
    ticket = _worker["ticket"]
    staging = _worker["staging"]
    options = _worker["options"]
    assert isinstance(ticket, BatchTicket) and isinstance(staging, Path) and isinstance(options, Options)
    signer = CodeSigner(ticket.batch_key, role=task.role, key_id=ticket.key_id, batch_id=ticket.batch_id)
    rows = task.last - task.first + 1

    def entry(kind: str, size: int, digest: str) -> FileEntry:
        name = _file_name(kind, task.role, task.chunk)
        return FileEntry(name, kind, task.role.label, task.first, task.last, rows, size, digest)

    csv_path = staging / _file_name("codes", task.role, task.chunk)
    entries = [entry("codes", *_write_codes_csv(ticket, task, signer, csv_path))]
    extras: list[tuple[str, Callable[[Path], None]]] = []
    if options.qr:
        fmt = options.qr
        extras.append(("qr", lambda path: _write_qr_zip(ticket, task, signer, fmt, path)))
    if options.labels:
        extras.append(("labels", lambda path: _write_label_pdf(ticket, task, signer, path)))
    for kind, write in extras:
        path = staging / _file_name(kind, task.role, task.chunk)
        write(path)
        entries.append(entry(kind, path.stat().st_size, file_sha256(path)))
    return entries


def _results(
    ticket: BatchTicket, staging: Path, options: Options, tasks: list[_Task]
) -> Generator[list[FileEntry], None, None]:
    total = sum(t.last - t.first + 1 for t in tasks)
    jobs = options.jobs or (os.cpu_count() or 1)
    if jobs == 1 or total < PARALLEL_THRESHOLD or len(tasks) == 1:
        _init_worker(ticket, staging, options)
        yield from map(_run_task, tasks)
        return
    ctx = multiprocessing.get_context("fork")
    pool = ctx.Pool(min(jobs, len(tasks)), initializer=_init_worker, initargs=(ticket, staging, options, True))
    try:
        yield from pool.imap(_run_task, tasks)
        pool.close()  # every task done: let the workers exit on their own
        pool.join()
    finally:
        pool.terminate()


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
        with closing(_results(ticket, staging, options, tasks)) as results:
            for task, entries in zip(tasks, results, strict=True):
                files.extend(entries)
                if progress:
                    progress(task.last - task.first + 1)
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
