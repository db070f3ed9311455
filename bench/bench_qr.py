"""Throughput of codegen.qr against qrcode's default path.

Run with ``python bench/bench_qr.py [n] [processes]`` (the yima package must be
importable, e.g. ``pip install -e .``). Prints figures; asserts nothing.
"""

from __future__ import annotations

import io
import multiprocessing
import sys
import time
from collections.abc import Callable

import qrcode

from codegen.qr import QrRenderer

SAMPLE = "HTTPS://YIMA.EXAMPLE/Q/1C0000G00000001ABCDEFGHJKMNP"

_worker_renderer: QrRenderer | None = None


def sample_urls(n: int) -> list[str]:
    """n distinct payloads with the length and charset of SAMPLE."""
    return [f"{SAMPLE[:-7]}{serial:07d}" for serial in range(n)]


def _init_worker(sample: str) -> None:
    global _worker_renderer
    _worker_renderer = QrRenderer(sample)


def _png_bytes(urls: list[str]) -> int:
    assert _worker_renderer is not None
    return sum(len(_worker_renderer.png(url)) for url in urls)


def _rate(render: Callable[[str], object], urls: list[str]) -> float:
    start = time.perf_counter()
    for url in urls:
        render(url)
    return len(urls) / (time.perf_counter() - start)


def _qrcode_make_png(url: str) -> bytes:
    buffer = io.BytesIO()
    qrcode.make(url).save(buffer)
    return buffer.getvalue()


def _qrcode_make_box4_png(url: str) -> bytes:
    buffer = io.BytesIO()
    qrcode.make(url, box_size=4, border=4).save(buffer)
    return buffer.getvalue()


def _pool_rate(urls: list[str], processes: int) -> float:
    chunk = max(1, len(urls) // (processes * 8))
    chunks = [urls[i : i + chunk] for i in range(0, len(urls), chunk)]
    context = multiprocessing.get_context("fork")
    with context.Pool(processes, initializer=_init_worker, initargs=(SAMPLE,)) as pool:
        pool.map(_png_bytes, [urls[:20]] * processes)  # warm up every worker before timing
        start = time.perf_counter()
        pool.map(_png_bytes, chunks)
        return len(urls) / (time.perf_counter() - start)


def measure_qr(n: int = 2000, processes: int = 2) -> dict[str, float]:
    """Render n distinct same-length payloads; return PNG and SVG rates per second.

    Pool start-up is excluded from the multi-process figure; the qrcode.make baseline
    (version fitting, all eight masks, PIL image factory, PNG save; default box_size=10
    and again at box_size=4) uses at most 500 payloads because it is slow.
    """
    urls = sample_urls(n)
    renderer = QrRenderer(SAMPLE)
    renderer.png(urls[0])  # warm caches (qrcode precomputes blank matrices per version)
    png_1 = _rate(renderer.png, urls)
    svg_1 = _rate(renderer.svg, urls)
    png_n = _pool_rate(urls, processes)
    baseline = _rate(_qrcode_make_png, urls[: min(n, 500)])
    baseline_box4 = _rate(_qrcode_make_box4_png, urls[: min(n, 500)])
    return {
        "png_per_s_1proc": png_1,
        "png_per_s_nproc": png_n,
        "svg_per_s_1proc": svg_1,
        "version": renderer.version,
        "processes": processes,
        "qrcode_make_png_per_s": baseline,
        "speedup_vs_qrcode_make": png_1 / baseline,
        # Same pixel size as ours (4 px per module), for a like-for-like comparison.
        "qrcode_make_box4_png_per_s": baseline_box4,
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    processes = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    figures = measure_qr(n, processes)
    print(f"payload {SAMPLE!r} ({len(SAMPLE)} chars) -> QR version {figures['version']}, n={n}")
    print(f"codegen.qr PNG, 1 process:        {figures['png_per_s_1proc']:8.0f} /s")
    print(f"codegen.qr PNG, {processes} processes:      {figures['png_per_s_nproc']:8.0f} /s")
    print(f"codegen.qr SVG, 1 process:        {figures['svg_per_s_1proc']:8.0f} /s")
    print(f"qrcode.make + PIL PNG, 1 process: {figures['qrcode_make_png_per_s']:8.0f} /s")
    print(f"qrcode.make box_size=4 PNG:       {figures['qrcode_make_box4_png_per_s']:8.0f} /s")
    print(f"speed-up vs qrcode.make (PNG, 1 process): {figures['speedup_vs_qrcode_make']:.1f} x")
    print(
        "speed-up vs qrcode.make box_size=4:       "
        f"{figures['png_per_s_1proc'] / figures['qrcode_make_box4_png_per_s']:.1f} x"
    )


if __name__ == "__main__":
    main()
