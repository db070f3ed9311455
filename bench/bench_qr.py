"""Throughput of codegen.qr against qrcode's default path, and of codegen.labels against PDF libraries.

Run with ``python -m bench.bench_qr [n] [processes]``. Prints figures; asserts nothing.

The label comparison draws the same pages three ways: the hand-written writer (codegen.labels), reportlab
and fpdf2, each as its documentation suggests: the QR code as a 1-bit Pillow image of one pixel per
module scaled into the cell, the caption centred below in Courier, one page per 40 labels. A library
that is not installed is reported as such (both are in the dev extra).
"""

from __future__ import annotations

import datetime
import io
import multiprocessing
import pathlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import qrcode
from PIL import Image

from codegen.labels import LabelSheet, LabelSpec, pages, write_label_pdf
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


# --- encoders: module matrices only -----------------------------------------------------------------


def _qrcode_fixed(renderer: QrRenderer) -> Callable[[str], object]:
    """qrcode with the version and mask fixed: what codegen.qr did per code before its tables."""

    def matrix(url: str) -> object:
        code = qrcode.QRCode(version=renderer.version, error_correction=qrcode.constants.ERROR_CORRECT_M,
                             mask_pattern=renderer.mask_pattern)
        code.add_data(qrcode.util.QRData(url.encode("ascii"), qrcode.util.MODE_ALPHA_NUM, False))
        code.make(fit=False)
        return code.modules

    return matrix


def measure_encoders(n: int = 2000) -> dict[str, float | str]:
    """Matrices/s: the table encoder, qrcode (version and mask fixed), and segno and zxing-cpp (C++) when
    installed (neither is a dependency: run `pip install segno zxing-cpp` to see them)."""
    renderer = QrRenderer(SAMPLE)
    renderer.warm()
    urls = sample_urls(n)
    rates: dict[str, float | str] = {
        "codegen.qr tables": _rate(renderer.matrix, urls),
        "qrcode, version and mask fixed": _rate(_qrcode_fixed(renderer), urls[:500]),
    }
    try:
        import segno

        rates["segno, version and mask fixed"] = _rate(
            lambda url: segno.make_qr(url, error="m", version=renderer.version, mask=renderer.mask_pattern,
                                      boost_error=False, mode="alphanumeric").matrix, urls[:500])
    except ImportError:
        rates["segno, version and mask fixed"] = "not installed"
    try:
        import zxingcpp

        rates["zxing-cpp create_barcode (picks its own mask)"] = _rate(
            lambda url: zxingcpp.create_barcode(url, zxingcpp.BarcodeFormat.QRCode, ec_level="M"), urls)
    except ImportError:
        rates["zxing-cpp create_barcode (picks its own mask)"] = "not installed"
    return rates


# --- label sheets: the hand-written writer against PDF libraries ------------------------------------


def _labels(n: int) -> Iterator[tuple[str, str]]:
    for url in sample_urls(n):
        yield url, f"{url.rsplit('/', 1)[1]} #{url[-7:]}"


def _mask_image(renderer: QrRenderer, payload: str) -> Image.Image:
    side = renderer.modules_per_side
    return Image.frombytes("1", (side, side), renderer.mask_rows(payload))


def _cells(sheet: LabelSheet, count: int) -> Iterator[tuple[float, float, float, float, float]]:
    """Per label, in points from the top-left: QR x, QR y, QR side, caption centre x, caption baseline."""
    layout, columns = sheet.layout, sheet.spec.columns
    k = layout.pt_per_px
    for index in range(count):
        row, column = divmod(index, columns)
        left = layout.margin + round(column * layout.cell_w)
        top = layout.margin + round(row * layout.cell_h)
        centre_x = left + round(layout.cell_w / 2)
        qr_top = top + layout.padding
        yield (
            (centre_x - layout.qr_side // 2 + layout.quiet) * k,
            (qr_top + layout.quiet) * k,
            layout.modules * layout.qr_scale * k,
            centre_x * k,
            (qr_top + layout.qr_side + layout.caption_gap) * k + 0.63 * 7.0,
        )


def _hand_written(path: pathlib.Path, n: int, renderer: QrRenderer) -> None:
    write_label_pdf(path, _labels(n), renderer, title="bench")


def _reportlab(path: pathlib.Path, n: int, renderer: QrRenderer) -> None:
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    sheet = LabelSheet(renderer, title="bench")
    width, height = LabelSpec().page_pt
    pdf = canvas.Canvas(str(path), pagesize=(width, height), invariant=1, pageCompression=1)
    for batch in pages(_labels(n), sheet.labels_per_page):
        for (payload, caption), (x, y, side, centre, baseline) in zip(batch, _cells(sheet, len(batch)), strict=True):
            pdf.drawImage(ImageReader(_mask_image(renderer, payload)), x, height - y - side, side, side)
            pdf.setFont("Courier", sheet.layout.caption_pt(caption))
            pdf.drawCentredString(centre, height - baseline, caption)
        pdf.showPage()
    pdf.save()


def _fpdf2(path: pathlib.Path, n: int, renderer: QrRenderer) -> None:
    from fpdf import FPDF

    sheet = LabelSheet(renderer, title="bench")
    width, height = LabelSpec().page_pt
    pdf = FPDF(unit="pt", format=(width, height))
    pdf.set_creation_date(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))  # reproducible, as ours
    for batch in pages(_labels(n), sheet.labels_per_page):
        pdf.add_page()
        for (payload, caption), (x, y, side, centre, baseline) in zip(batch, _cells(sheet, len(batch)), strict=True):
            pdf.image(_mask_image(renderer, payload), x, y, side, side)
            pdf.set_font("Courier", size=sheet.layout.caption_pt(caption))
            pdf.text(centre - pdf.get_string_width(caption) / 2, baseline, caption)
    pdf.output(str(path))


LABEL_WRITERS: dict[str, Callable[[pathlib.Path, int, QrRenderer], None]] = {
    "hand-written (codegen.labels)": _hand_written,
    "reportlab": _reportlab,
    "fpdf2": _fpdf2,
}


def measure_label_writers(n: int = 2000) -> dict[str, dict[str, float | str]]:
    """Labels/s and bytes per label of each writer on n labels, one process, side by side."""
    renderer = QrRenderer(SAMPLE)
    renderer.warm()
    figures: dict[str, dict[str, float | str]] = {}
    with tempfile.TemporaryDirectory(prefix="yima-bench-labels-") as tmp:
        for name, write in LABEL_WRITERS.items():
            path = pathlib.Path(tmp) / f"{name.split()[0]}.pdf"
            try:
                write(path, 20, renderer)  # imports and first-use caches out of the timing
                start = time.perf_counter()
                write(path, n, renderer)
                seconds = time.perf_counter() - start
            except ImportError as exc:
                figures[name] = {"missing": f"not installed ({exc.name})"}
                continue
            figures[name] = {"labels_per_s": n / seconds, "bytes_per_label": path.stat().st_size / n}
    return figures


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
    for name, rate in measure_encoders(n).items():
        print(f"matrix only, {name:<46} " + (f"{rate:8.0f} /s" if isinstance(rate, float) else rate))
    print_label_writers(measure_label_writers(n))


def print_label_writers(writers: dict[str, dict[str, float | str]]) -> None:
    base = writers["hand-written (codegen.labels)"]["labels_per_s"]
    assert isinstance(base, float)
    for name, row in writers.items():
        if "missing" in row:
            print(f"label sheets, {name:<30} {row['missing']}")
            continue
        rate, size = float(row["labels_per_s"]), float(row["bytes_per_label"])
        print(f"label sheets, {name:<30} {rate:8.0f} labels/s  {size:6.0f} bytes/label  ({rate / base:.2f} x)")


if __name__ == "__main__":
    main()
