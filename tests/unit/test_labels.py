import pathlib
import re
import shutil
import subprocess
import zlib
from collections.abc import Iterator

import pytest

from codegen.labels import LabelSpec, write_label_pdf
from codegen.qr import QrRenderer

SAMPLE = "HTTPS://YIMA.EXAMPLE/Q/1C0000G00000001ABCDEFGHJKMNP"


def payload(serial: int) -> str:
    return f"{SAMPLE[:-7]}{serial:07d}"


def labels(count: int) -> Iterator[tuple[str, str]]:
    for serial in range(count):
        code = payload(serial).rsplit("/", 1)[1]
        yield payload(serial), f"{code[:4]}-{code[4:8]}-{code[8:12]}-{code[12:16]}… #{serial:06d}"


@pytest.fixture(scope="module")
def renderer() -> QrRenderer:
    return QrRenderer(SAMPLE)


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b(?!s)", pdf))


def assert_xref_points_at_objects(pdf: bytes) -> None:
    startxref = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", pdf).group(1))  # type: ignore[union-attr]
    assert pdf[startxref:].startswith(b"xref\n0 ")
    header = re.match(rb"xref\n0 (\d+)\n", pdf[startxref:])
    assert header is not None
    size = int(header.group(1))
    entries = pdf[startxref + header.end() :].split(b"\n")[:size]
    assert entries[0] == b"0000000000 65535 f "
    for number, entry in enumerate(entries[1:], start=1):
        offset = int(entry[:10])
        assert pdf[offset:].startswith(b"%d 0 obj\n" % number), number
    assert b"/Size %d" % size in pdf


def page_contents(pdf: bytes) -> list[bytes]:
    """Every page's content stream, inflated (pages are the only Flate streams written)."""
    streams = re.findall(rb"/Filter /FlateDecode /Length (\d+) >>\nstream\n", pdf)
    out, at = [], 0
    for length in streams:
        at = pdf.index(b"/Filter /FlateDecode /Length " + length, at)
        start = pdf.index(b"stream\n", at) + len(b"stream\n")
        out.append(zlib.decompress(pdf[start : start + int(length)]))
        at = start
    return out


def test_85_labels_on_4x10_give_three_pages(tmp_path: pathlib.Path, renderer: QrRenderer) -> None:
    path = tmp_path / "labels.pdf"
    assert write_label_pdf(path, labels(85), renderer) == 3
    pdf = path.read_bytes()
    assert pdf.startswith(b"%PDF-1.4\n")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert page_count(pdf) == 3
    assert b"/Count 3" in pdf
    # Each label: one image mask of one sample per module (29 for version 3) and its caption as text.
    contents = page_contents(pdf)
    assert [c.count(b"BI /IM true /W 29 /H 29 /BPC 1") for c in contents] == [40, 40, 5]
    assert [c.count(b") Tj ET") for c in contents] == [40, 40, 5]
    # A4 at 300 dpi, 4 x 10 cells: 7 printer pixels per module, 29 modules = 203 px = 48.72 pt.
    assert contents[0].count(b"q 48.72 0 0 48.72 ") == 40
    assert pdf.count(b"/MediaBox [0 0 595.2756 841.8898]") == 3
    assert_xref_points_at_objects(pdf)


@pytest.mark.parametrize(("count", "pages"), [(1, 1), (40, 1), (41, 2), (80, 2), (81, 3)])
def test_page_count_rounds_up(tmp_path: pathlib.Path, renderer: QrRenderer, count: int, pages: int) -> None:
    path = tmp_path / "labels.pdf"
    assert write_label_pdf(path, labels(count), renderer) == pages
    assert page_count(path.read_bytes()) == pages


def test_no_labels_give_a_valid_empty_document(tmp_path: pathlib.Path, renderer: QrRenderer) -> None:
    path = tmp_path / "empty.pdf"
    assert write_label_pdf(path, [], renderer) == 0
    pdf = path.read_bytes()
    assert b"/Count 0" in pdf
    assert_xref_points_at_objects(pdf)


def test_output_is_deterministic(tmp_path: pathlib.Path, renderer: QrRenderer) -> None:
    first, second = tmp_path / "a.pdf", tmp_path / "b.pdf"
    write_label_pdf(first, labels(45), renderer, title="Batch 7")
    write_label_pdf(second, list(labels(45)), QrRenderer(SAMPLE), title="Batch 7")
    assert first.read_bytes() == second.read_bytes()
    assert b"CreationDate" not in first.read_bytes()
    assert b"ModDate" not in first.read_bytes()


def test_content_changes_with_labels_and_captions(tmp_path: pathlib.Path, renderer: QrRenderer) -> None:
    with_captions, without = tmp_path / "a.pdf", tmp_path / "b.pdf"
    write_label_pdf(with_captions, labels(3), renderer)
    write_label_pdf(without, [(p, "") for p, _ in labels(3)], renderer)
    assert with_captions.read_bytes() != without.read_bytes()


def test_title_is_stored_in_document_info(tmp_path: pathlib.Path, renderer: QrRenderer) -> None:
    path = tmp_path / "labels.pdf"
    write_label_pdf(path, labels(2), renderer, title="Batch (7) \\ east")
    assert b"/Title (Batch \\(7\\) \\\\ east)" in path.read_bytes()
    write_label_pdf(path, labels(2), renderer, title="批次 7")
    assert b"/Title <FEFF" + "批次 7".encode("utf-16-be").hex().upper().encode() + b">" in path.read_bytes()
    write_label_pdf(path, labels(2), renderer)
    assert b"/Title" not in path.read_bytes()


def test_pages_are_written_before_labels_are_exhausted(tmp_path: pathlib.Path, renderer: QrRenderer) -> None:
    path = tmp_path / "labels.pdf"
    seen_on_disk: list[int] = []

    def watching_labels() -> Iterator[tuple[str, str]]:
        for serial, label in enumerate(labels(120)):
            if serial == 80:  # the first label of page 3: pages 1 and 2 are already out
                seen_on_disk.append(page_count(path.read_bytes()))
            yield label

    assert write_label_pdf(path, watching_labels(), renderer) == 3
    assert seen_on_disk == [2]


def test_custom_spec_changes_grid_and_page_size(tmp_path: pathlib.Path, renderer: QrRenderer) -> None:
    spec = LabelSpec(page_mm=(100.0, 150.0), dpi=203, columns=2, rows=3, margin_mm=4.0)
    assert spec.labels_per_page == 6
    assert spec.page_px == (799, 1199)
    path = tmp_path / "labels.pdf"
    assert write_label_pdf(path, labels(7), renderer, spec) == 2
    pdf = path.read_bytes()
    contents = page_contents(pdf)
    assert [c.count(b"BI /IM true") for c in contents] == [6, 1]
    assert b"/MediaBox [0 0 283.4646 425.1969]" in pdf


@pytest.mark.parametrize(
    "kwargs",
    [
        {"columns": 0},
        {"rows": 0},
        {"dpi": 10},
        {"page_mm": (0.0, 297.0)},
        {"margin_mm": 110.0},
        {"margin_mm": -1.0},
    ],
)
def test_spec_rejects_impossible_geometry(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LabelSpec(**kwargs)  # type: ignore[arg-type]


def test_cell_too_small_for_code_is_an_error(tmp_path: pathlib.Path, renderer: QrRenderer) -> None:
    spec = LabelSpec(columns=40, rows=60)
    with pytest.raises(ValueError, match="too small"):
        write_label_pdf(tmp_path / "labels.pdf", labels(1), renderer, spec)


def test_invalid_payload_raises(tmp_path: pathlib.Path, renderer: QrRenderer) -> None:
    with pytest.raises(ValueError, match="alphanumeric"):
        write_label_pdf(tmp_path / "labels.pdf", [(SAMPLE.lower(), "x")], renderer)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (apt poppler-utils) not installed")
def test_pdftoppm_renders_every_page(tmp_path: pathlib.Path, renderer: QrRenderer) -> None:
    path = tmp_path / "labels.pdf"
    write_label_pdf(path, labels(85), renderer, title="Batch 7")
    subprocess.run(
        ["pdftoppm", "-r", "30", "-gray", str(path), str(tmp_path / "page")], check=True, capture_output=True
    )
    pages = sorted(tmp_path.glob("page-*.pgm"))
    assert len(pages) == 3
    # PGM header: width and height of A4 at 30 dpi (poppler rounds up).
    width, height = map(int, pages[0].read_bytes().split(b"\n")[1].split())
    assert (abs(width - 248) <= 1, abs(height - 351) <= 1) == (True, True)


@pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("zbarimg") is None,
    reason="pdftoppm (poppler-utils) and zbarimg (zbar-tools) needed",
)
def test_every_code_on_a_printed_page_scans(tmp_path: pathlib.Path, renderer: QrRenderer) -> None:
    path = tmp_path / "labels.pdf"
    write_label_pdf(path, labels(40), renderer)
    subprocess.run(
        ["pdftoppm", "-r", "150", "-gray", "-png", str(path), str(tmp_path / "page")], check=True, capture_output=True
    )
    (page,) = tmp_path.glob("page-*.png")
    result = subprocess.run(["zbarimg", "--quiet", "--raw", str(page)], capture_output=True, text=True)
    assert sorted(result.stdout.split()) == sorted(payload(serial) for serial in range(40))


def test_header_and_captions_are_courier_text_in_windows_1252(tmp_path: pathlib.Path, renderer: QrRenderer) -> None:
    path = tmp_path / "labels.pdf"
    write_label_pdf(path, labels(41), renderer, title="批次 (7) lot")
    pdf = path.read_bytes()
    assert b"/BaseFont /Courier /Encoding /WinAnsiEncoding" in pdf
    first, second = page_contents(pdf)
    # Characters Courier cannot show print as "?"; parentheses are escaped; the page number follows.
    assert b"(?? \\(7\\) lot - page 1) Tj" in first and b"(?? \\(7\\) lot - page 2) Tj" in second
    # The caption's ellipsis is in Windows-1252 (0x85), so it prints as itself.
    assert b"\x85 #000040) Tj" in second
