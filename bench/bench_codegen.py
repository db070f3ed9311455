"""End-to-end throughput and memory of code generation, in one run.

    python -m bench.bench_codegen [--items 1000000] [--big 10000000] [--image-items 10000,100000] [--quick]
                                  [--only csv|images]

Measures, then prints a table and a one-line JSON of every figure:

1. floor: one core, in process, `CodeSigner.code(serial)` in a bare loop (header + HMAC-SHA256 +
   Crockford base32, nothing else), and the plain reference `codeformat.encode` on fewer codes;
2. `codegen generate` on --items items (pack 24) as a real subprocess of the CLI, timed from spawn to
   exit, and its codes/s against the floor (overall and per core);
3. QR rendering figures from bench.bench_qr.measure_qr, when that module is importable;
4. peak RSS of the whole `codegen generate` process tree (main process and its forked pool workers) at
   --items and at --big items, and their ratio;
5. QR images and label sheets through the CLI (`--qr png`, `--labels pdf`, both) at each of
   --image-items, codes/s against the targets, peak RSS of the smallest against the largest run; and
   the label-sheet writer against reportlab and fpdf2 drawing the same pages (bench.bench_qr).

Tickets are made locally (fresh keyring in a temp dir, no database, no Redis); the CLI runs with
YIMA_HQ_PUBLIC_KEYS and YIMA_VAR_DIR pointing into that temp dir. Every output directory is deleted
right after it is measured. --quick uses 100,000 and 1,000,000 items for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from codegen import codeformat, keys
from codegen.codeformat import CodeSigner, Role
from codegen.ticket import BatchTicket, write_ticket

PACK = 24
BASE_URL = "https://q.bench.example"
BATCH_ID = 4242
POLL_SECONDS = 0.05
# Output is about 180 bytes per item (inner + outer + case CSV rows); the brief's floor for the big run.
BYTES_PER_ITEM = 200
MIN_FREE_BIG = 5 * 1024**3
TARGET_SECONDS_PER_1M = 15.0
TARGET_RATIO = 0.5
TARGET_RSS_RATIO = 1.10
TARGET_QR_CODES_PER_S = 3000.0
TARGET_LABEL_CODES_PER_S = 2000.0
TARGET_BOTH_SECONDS_100K = 60.0
CSV_TIMEOUT_PER_ITEM = 30e-6
IMAGE_TIMEOUT_PER_ITEM = 10e-3
IMAGE_VARIANTS = {"qr": ["--qr", "png"], "labels": ["--labels", "pdf"], "both": ["--qr", "png", "--labels", "pdf"]}

# Runs the command, times it with perf_counter around its run (spawn to exit), and reports the peak RSS of
# the largest process among the command and all its reaped descendants (RUSAGE_CHILDREN, KiB on Linux).
# The command runs in its own session so a timeout can kill its pool workers too (subprocess.run would
# kill only the direct child).
_WRAPPER = r"""
import json, os, resource, signal, subprocess, sys, time
timeout = float(sys.argv[1])
cmd = sys.argv[2:]
start = time.perf_counter()
proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
try:
    out, err = proc.communicate(timeout=timeout)
    rc = proc.returncode
except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)
    out, err = proc.communicate()
    rc, err = -1, f"timed out after {timeout:.0f} s\n" + err
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the command and its reaped pool workers
cpu = usage.ru_utime + usage.ru_stime
print(json.dumps({"rc": rc, "seconds": seconds, "maxrss_kib": usage.ru_maxrss, "cpu_seconds": cpu,
                  "stdout": out[-2000:], "stderr": err[-2000:]}))
"""


# --- floor ------------------------------------------------------------------------------------------


def measure_floor(n: int, n_ref: int) -> dict[str, float]:
    """Codes/s of CodeSigner.code (n codes) and of codeformat.encode (n_ref codes), one core."""
    batch_key = bytes(range(32))
    signer = CodeSigner(batch_key, role=Role.INNER, key_id=1, batch_id=BATCH_ID)
    code = signer.code
    for serial in range(1000):  # warm the serial table and the allocator
        code(serial)
    start = time.perf_counter()
    for serial in range(n):
        code(serial)
    signer_s = time.perf_counter() - start

    encode = codeformat.encode
    start = time.perf_counter()
    for serial in range(n_ref):
        encode(batch_key, role=Role.INNER, key_id=1, batch_id=BATCH_ID, serial=serial)
    ref_s = time.perf_counter() - start

    # The two must agree, or the floor measures the wrong thing.
    assert code(n_ref - 1) == encode(batch_key, role=Role.INNER, key_id=1, batch_id=BATCH_ID, serial=n_ref - 1)
    return {
        "floor_codes": n,
        "floor_seconds": signer_s,
        "floor_codes_per_s": n / signer_s,
        "encode_codes": n_ref,
        "encode_seconds": ref_s,
        "encode_codes_per_s": n_ref / ref_s,
        "signer_speedup_vs_encode": (n / signer_s) / (n_ref / ref_s),
    }


# --- process-tree memory poller ---------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(x) for x in text.split()]
    except FileNotFoundError:
        return []
    except OSError:
        return _children_by_scan(pid)


def _children_by_scan(pid: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo and len(out) < 10_000:
        for child in _children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def _status_kib(pid: int, field_name: str, filename: str = "status") -> int | None:
    try:
        with open(f"/proc/{pid}/{filename}") as fh:
            for line in fh:
                if line.startswith(field_name):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class TreePoller:
    """Every 50 ms, sums VmRSS and Pss over every descendant of `root` (not `root` itself)."""

    root: int
    max_single_rss_kib: int = 0
    max_tree_rss_kib: int = 0
    max_tree_pss_kib: int = 0
    max_processes: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> TreePoller:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss_sum = pss_sum = live = 0
            for pid in _descendants(self.root):
                rss = _status_kib(pid, "VmRSS:")
                if rss is None:  # exited, or a zombie with no memory left
                    continue
                live += 1
                rss_sum += rss
                self.max_single_rss_kib = max(self.max_single_rss_kib, rss)
                pss_sum += _status_kib(pid, "Pss:", "smaps_rollup") or 0
            self.max_tree_rss_kib = max(self.max_tree_rss_kib, rss_sum)
            self.max_tree_pss_kib = max(self.max_tree_pss_kib, pss_sum)
            self.max_processes = max(self.max_processes, live)
            self.samples += 1
            self._stop.wait(POLL_SECONDS)


# --- codegen generate as a subprocess ---------------------------------------------------------------


def _codegen_command() -> list[str]:
    exe = Path(sys.executable).parent / "codegen"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("codegen")
    if found:
        return [found]
    return [sys.executable, "-c", "from app.codegen_cli import main; main()"]


class Workspace:
    """A temp dir with a fresh keyring, the public key file and a private var dir for the CLI."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="yima-bench-"))
        self.ring, _ = keys.init_keyring(self.root / "keys.json")
        self.public = self.root / "hq-public.json"
        keys.save_public_keys(self.public, self.ring)
        (self.root / "var").mkdir()
        self.env = {**os.environ, "YIMA_HQ_PUBLIC_KEYS": str(self.public), "YIMA_VAR_DIR": str(self.root / "var")}

    def ticket(self, count: int) -> Path:
        ring = self.ring
        ticket = BatchTicket(
            batch_id=BATCH_ID, key_id=ring.current, brand="bench", sku="BENCH-500", product_name="Bench lager",
            gtin=None, lot=f"L-BENCH-{count}", factory="bench", line="1", production_date=None,
            count=count, pack=PACK, base_url=BASE_URL, batch_key=ring.batch_key(ring.current, BATCH_ID),
        )
        path = self.root / f"bench-{count}.ticket"
        if not path.exists():
            write_ticket(path, ticket, ring.signing_key(ring.current))
        return path

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def expected_codes(items: int) -> int:
    return 2 * items + -(-items // PACK)


def run_generate(ws: Workspace, items: int, extra: list[str] | None = None) -> dict[str, object]:
    """One `codegen generate` run: wall time, manifest counts, peak RSS (single process and tree)."""
    out_parent = Path(tempfile.mkdtemp(prefix="yima-bench-out-"))
    out_dir = out_parent / "out"
    # Far above the expected time, so only a hang hits it.
    timeout = 60 + items * (IMAGE_TIMEOUT_PER_ITEM if extra else CSV_TIMEOUT_PER_ITEM)
    cmd = [*_codegen_command(), "generate", "--ticket", str(ws.ticket(items)), "--out", str(out_dir), *(extra or [])]
    try:
        wrapper = subprocess.Popen(
            [sys.executable, "-c", _WRAPPER, str(timeout), *cmd],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ws.env,
        )
        poller = TreePoller(wrapper.pid).start()
        try:
            stdout, stderr = wrapper.communicate(timeout=timeout + 60)
        except subprocess.TimeoutExpired:
            wrapper.kill()  # the wrapper kills its own command on its timeout; this is the last resort
            wrapper.communicate()
            raise
        finally:
            poller.stop()
        if wrapper.returncode != 0:
            raise RuntimeError(f"wrapper failed ({wrapper.returncode}): {stderr.strip()[-500:]}")
        report = json.loads(stdout.strip().splitlines()[-1])
        if report["rc"] != 0:
            raise RuntimeError(f"codegen generate exited {report['rc']}: {report['stderr'].strip()[-500:]}")
        manifest = json.loads((out_dir / "manifest.json").read_text("utf-8"))
        counts = manifest["counts"]
        if counts["codes"] != expected_codes(items):
            raise RuntimeError(f"manifest says {counts['codes']} codes, expected {expected_codes(items)}")
        out_bytes = sum(f["bytes"] for f in manifest["files"])
        seconds = float(report["seconds"])
        return {
            "items": items,
            "codes": counts["codes"],
            "files": counts["files"],
            "output_bytes": out_bytes,
            "seconds": seconds,
            "codes_per_s": counts["codes"] / seconds,
            # CPU time of the whole tree: on a box shared with other work, codes per CPU-second is the
            # figure that does not move with the neighbours' load.
            "cpu_seconds": float(report["cpu_seconds"]),
            "codes_per_cpu_s": counts["codes"] / max(float(report["cpu_seconds"]), 1e-9),
            "ru_maxrss_single_kib": int(report["maxrss_kib"]),
            "polled_max_single_rss_kib": poller.max_single_rss_kib,
            "polled_max_tree_rss_kib": poller.max_tree_rss_kib,
            "polled_max_tree_pss_kib": poller.max_tree_pss_kib,
            "max_processes": poller.max_processes,
            "poll_samples": poller.samples,
        }
    finally:
        shutil.rmtree(out_parent, ignore_errors=True)


def free_bytes(path: str) -> int:
    return shutil.disk_usage(path).free


# --- QR ---------------------------------------------------------------------------------------------


def measure_qr_figures() -> tuple[dict[str, object] | None, str]:
    try:
        from bench.bench_qr import measure_qr
    except Exception as exc:  # any import problem: the QR part is optional here
        return None, f"QR: bench_qr not available ({exc.__class__.__name__}: {exc})"
    try:
        return dict(measure_qr()), ""
    except Exception as exc:
        return None, f"QR: measure_qr failed ({exc.__class__.__name__}: {exc})"


# --- QR images and label sheets through the CLI ------------------------------------------------------


def run_image_variants(
    ws: Workspace, image_items: list[int], log: Callable[[str], None]
) -> dict[str, object]:
    """`codegen generate --qr png`, `--labels pdf` and both at each item count, then the label writers."""
    runs: dict[str, dict[int, dict[str, object]]] = {name: {} for name in IMAGE_VARIANTS}
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    for items in image_items:
        for name, extra in IMAGE_VARIANTS.items():
            log(f"codegen generate {' '.join(extra)}: {items:,} items")
            runs[name][items] = run_generate(ws, items, extra)
    log("label sheets: hand-written writer vs reportlab vs fpdf2 (bench.bench_qr)")
    from bench.bench_qr import measure_label_writers

    return {"runs": runs, "writers": measure_label_writers(2000), "load": load}


def print_image_variants(image_runs: dict[str, object], image_items: list[int], figures: dict[str, object]) -> None:
    runs = image_runs["runs"]
    assert isinstance(runs, dict)
    print("-- 5. QR images and label sheets (CLI subprocess, spawn to exit, pack 24) " + "-" * 17)
    print(f"load average at the start of the runs: {image_runs['load']}  (other work on the box slows wall time)")
    print(f"{'variant':<10}{'items':>10}{'codes':>10}{'seconds':>10}{'codes/s':>10}{'CPU s':>8}{'codes/CPU s':>12}"
          f"{'tree RSS':>10}  target")
    targets = {"qr": TARGET_QR_CODES_PER_S, "labels": TARGET_LABEL_CODES_PER_S}
    checks: dict[str, bool] = {}
    for name in IMAGE_VARIANTS:
        for items in image_items:
            run = runs[name][items]
            rate, seconds = float(run["codes_per_s"]), float(run["seconds"])
            if name in targets:
                ok = rate >= targets[name]
                target = f">= {targets[name]:,.0f} codes/s: {_ok(ok)}"
            elif items == 100_000:
                ok = seconds <= TARGET_BOTH_SECONDS_100K
                target = f"<= {TARGET_BOTH_SECONDS_100K:.0f} s at 100,000 items: {_ok(ok)}"
            else:
                ok, target = True, ""
            checks[f"{name}_{items}"] = ok
            print(f"{name:<10}{items:>10,}{int(run['codes']):>10,}{seconds:>10.2f}{rate:>10,.0f}"
                  f"{float(run['cpu_seconds']):>8.1f}{float(run['codes_per_cpu_s']):>12,.0f}"
                  f"{_mib(run['polled_max_tree_rss_kib']):>10}  {target}")
    if len(image_items) > 1:
        small, large = min(image_items), max(image_items)
        for name in IMAGE_VARIANTS:
            peaks = [int(runs[name][n]["polled_max_tree_rss_kib"]) for n in (large, small)]
            ratio = peaks[0] / peaks[1]
            checks[f"{name}_rss_flat"] = ratio <= TARGET_RSS_RATIO
            print(f"{'peak tree RSS ' + format(large, ',') + ' / ' + format(small, ',') + ' items, ' + name:<58} "
                  f"{ratio:.3f}   target <= {TARGET_RSS_RATIO}: {_ok(ratio <= TARGET_RSS_RATIO)}")
    writers = image_runs["writers"]
    assert isinstance(writers, dict)
    print("label sheets, 2,000 labels, one process, the same pages (QR image + Courier caption):")
    from bench.bench_qr import print_label_writers

    print_label_writers(writers)
    figures["images"] = {"runs": runs, "writers": writers, "targets_ok": checks}


# --- report -----------------------------------------------------------------------------------------


def _mib(kib: object) -> str:
    return f"{int(kib) / 1024:,.0f} MiB" if isinstance(kib, int) and kib else "-"  # type: ignore[arg-type]


def _ok(good: bool) -> str:
    return "OK" if good else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_codegen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=None, help="Items for the timed run (default 1,000,000).")
    parser.add_argument("--big", type=int, default=None, help="Items for the RSS run (default 10,000,000; 0: skip).")
    parser.add_argument("--image-items", default=None,
                        help="Comma-separated item counts for the QR/label runs (default 10000,100000).")
    parser.add_argument("--only", choices=["csv", "images"], help="Run only the CSV part (1-4) or the images (5).")
    parser.add_argument("--quick", action="store_true", help="Smoke run: 100,000 and 1,000,000 items.")
    args = parser.parse_args(argv)
    image_items = [int(n) for n in (args.image_items or ("10000" if args.quick else "10000,100000")).split(",")]
    items = args.items if args.items is not None else (100_000 if args.quick else 1_000_000)
    big = args.big if args.big is not None else (1_000_000 if args.quick else 10_000_000)
    if items < 1 or big < 0:
        parser.error("--items must be at least 1 and --big at least 0")
    floor_n = 200_000 if args.quick else 1_000_000
    cores = os.cpu_count() or 1
    figures: dict[str, object] = {"cores": cores, "pack": PACK}
    notes: list[str] = []

    def log(msg: str) -> None:
        print(f"[bench] {msg}", file=sys.stderr, flush=True)

    run_csv = args.only != "images"
    floor: dict[str, float] = {}
    floor_rate = 0.0
    if run_csv:
        log(f"floor: {floor_n:,} codes with CodeSigner, {floor_n // 10:,} with encode")
        floor = measure_floor(floor_n, max(1000, floor_n // 10))
        figures.update(floor)
        floor_rate = floor["floor_codes_per_s"]

    ws = Workspace()
    try:
        gen: dict[str, object] | None = None
        qr: dict[str, object] | None = None
        qr_note = ""
        big_run: dict[str, object] | None = None
        if run_csv:
            tmp = tempfile.gettempdir()
            need = items * BYTES_PER_ITEM * 2
            if free_bytes(tmp) < need:
                notes.append(f"generate run skipped: {free_bytes(tmp) / 1024**3:.1f} GiB free in {tmp}, "
                             f"need ~{need / 1024**3:.1f} GiB")
            else:
                log(f"codegen generate: {items:,} items")
                gen = run_generate(ws, items)
                figures["generate"] = gen

            log("QR: measure_qr()")
            qr, qr_note = measure_qr_figures()
            if qr is not None:
                figures["qr"] = qr

            if big:
                free = free_bytes(tmp)
                need_big = max(MIN_FREE_BIG, big * BYTES_PER_ITEM * 2)
                if free < need_big:
                    notes.append(f"big run skipped: {free / 1024**3:.1f} GiB free in {tmp}, "
                                 f"need {need_big / 1024**3:.1f} GiB")
                else:
                    log(f"codegen generate: {big:,} items (RSS)")
                    big_run = run_generate(ws, big)
                    figures["big"] = big_run
        image_runs = run_image_variants(ws, image_items, log) if args.only != "csv" else None
    finally:
        ws.close()

    # --- table ---
    w = 58
    print()
    print("yima codegen benchmark")
    print("=" * 92)
    print(f"{'cores (os.cpu_count())':<{w}} {cores}")
    if run_csv:
        print("-- 1. floor: one core, in process, bare loop " + "-" * 46)
        print(f"{'CodeSigner.code  (' + format(floor_n, ',') + ' codes)':<{w}} "
              f"{floor_rate:>12,.0f} codes/s")
        print(f"{'codeformat.encode (' + format(floor['encode_codes'], ',.0f') + ' codes, reference)':<{w}} "
              f"{floor['encode_codes_per_s']:>12,.0f} codes/s")
        print(f"{'CodeSigner speed-up over encode':<{w}} {floor['signer_speedup_vs_encode']:>12.2f} x")

        print("-- 2. codegen generate (CLI subprocess, spawn to exit) " + "-" * 36)
        if gen is not None:
            seconds = float(gen["seconds"])  # type: ignore[arg-type]
            rate = float(gen["codes_per_s"])  # type: ignore[arg-type]
            ratio = rate / floor_rate
            per_core = rate / cores / floor_rate
            per_1m = seconds * 1_000_000 / items
            figures["generate"].update(  # type: ignore[union-attr]
                ratio_vs_floor=ratio, ratio_per_core_vs_floor=per_core, seconds_per_1m_items=per_1m,
                target_seconds_ok=per_1m <= TARGET_SECONDS_PER_1M, target_ratio_ok=ratio >= TARGET_RATIO,
            )
            print(f"{'items / codes (inner+outer+case, pack 24) / files':<{w}} "
                  f"{items:,} / {gen['codes']:,} / {gen['files']}")
            print(f"{'output size':<{w}} {int(gen['output_bytes']) / 1024**2:>12,.1f} MiB")  # type: ignore[call-overload]
            print(f"{'wall time':<{w}} {seconds:>12.2f} s"
                  f"   target <= {TARGET_SECONDS_PER_1M:.0f} s per 1M items: {per_1m:.2f} s/1M  {_ok(per_1m <= 15)}")
            print(f"{'generate codes/s (manifest codes / wall time)':<{w}} {rate:>12,.0f} codes/s")
            print(f"{'ratio generate ÷ floor (all ' + str(cores) + ' cores vs 1 core)':<{w}} {ratio:>12.2f}"
                  f"   target >= {TARGET_RATIO}: {_ok(ratio >= TARGET_RATIO)}")
            print(f"{'ratio per core (generate codes/s ÷ ' + str(cores) + ' cores ÷ floor)':<{w}} {per_core:>12.2f}")
        else:
            print("generate run skipped (see notes)")

        print("-- 3. QR (bench.bench_qr.measure_qr) " + "-" * 54)
        if qr is not None:
            procs = qr.get("processes", 2)
            print(f"{'QR version':<{w}} {qr.get('version')}")
            print(f"{'codegen.qr PNG, 1 process':<{w}} {float(qr['png_per_s_1proc']):>12,.0f} /s")  # type: ignore[arg-type]
            print(f"{'codegen.qr PNG, ' + str(procs) + ' processes':<{w}} "
                  f"{float(qr['png_per_s_nproc']):>12,.0f} /s")  # type: ignore[arg-type]
            print(f"{'codegen.qr SVG, 1 process':<{w}} {float(qr['svg_per_s_1proc']):>12,.0f} /s")  # type: ignore[arg-type]
            for key, label in (("qrcode_make_png_per_s", "qrcode.make PNG (default box 10), 1 process"),
                               ("qrcode_make_box4_png_per_s", "qrcode.make PNG box_size=4, 1 process")):
                if key in qr:
                    print(f"{label:<{w}} {float(qr[key]):>12,.0f} /s")  # type: ignore[arg-type]
            if "speedup_vs_qrcode_make" in qr:
                print(f"{'speed-up vs qrcode.make (PNG, 1 process)':<{w}} "
                      f"{float(qr['speedup_vs_qrcode_make']):>12.1f} x")  # type: ignore[arg-type]
            if "qrcode_make_box4_png_per_s" in qr:
                print(f"{'speed-up vs qrcode.make box_size=4':<{w}} "
                      f"{float(qr['png_per_s_1proc']) / float(qr['qrcode_make_box4_png_per_s']):>12.1f} x")  # type: ignore[arg-type]
        else:
            print(qr_note)

        print("-- 4. peak RSS of the codegen generate process tree " + "-" * 39)
        runs = [(r["items"], r) for r in (gen, big_run) if r is not None]
        if runs:
            head = f"{'':<30}" + "".join(f"{format(n, ',') + ' items':>20}" for n, _ in runs)
            if len(runs) == 2:
                head += f"{'ratio':>10}"
            print(head)
            rows = (
                ("ru_maxrss_single_kib", "max single process (rusage)"),
                ("polled_max_single_rss_kib", "max single process (polled)"),
                ("polled_max_tree_rss_kib", "max tree sum RSS (polled)"),
                ("polled_max_tree_pss_kib", "max tree sum PSS (polled)"),
            )
            for key, label in rows:
                line = f"{label:<30}" + "".join(f"{_mib(r[key]):>20}" for _, r in runs)
                if len(runs) == 2 and runs[0][1][key]:
                    line += f"{int(runs[1][1][key]) / int(runs[0][1][key]):>10.3f}"  # type: ignore[call-overload]
                print(line)
            print(f"{'processes in tree (max)':<30}" + "".join(f"{r['max_processes']:>20}" for _, r in runs))
            if big_run is not None and gen is not None:
                tree_ratio = int(big_run["polled_max_tree_rss_kib"]) / int(gen["polled_max_tree_rss_kib"])  # type: ignore[call-overload]
                single_ratio = int(big_run["ru_maxrss_single_kib"]) / int(gen["ru_maxrss_single_kib"])  # type: ignore[call-overload]
                figures["rss_ratio_tree"] = tree_ratio
                figures["rss_ratio_single"] = single_ratio
                figures["rss_ratio_ok"] = max(tree_ratio, single_ratio) <= TARGET_RSS_RATIO
                print(f"{'RSS ratio big/small (tree sum RSS, single rusage)':<{w}} "
                      f"{tree_ratio:.3f}, {single_ratio:.3f}   target <= {TARGET_RSS_RATIO}: "
                      f"{_ok(max(tree_ratio, single_ratio) <= TARGET_RSS_RATIO)}")
            if big_run is not None:
                print(f"{format(big, ',') + ' items: wall time / codes/s':<{w}} "
                      f"{float(big_run['seconds']):.1f} s / {float(big_run['codes_per_s']):,.0f} codes/s"  # type: ignore[arg-type]
                      f" ({int(big_run['output_bytes']) / 1024**3:.2f} GiB written, deleted)")  # type: ignore[call-overload]
    if image_runs is not None:
        print_image_variants(image_runs, image_items, figures)
    for note in notes:
        print(f"note: {note}")
    print("=" * 92)
    print(json.dumps(figures, sort_keys=True, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
