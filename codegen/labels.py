"""Print-ready PDF label sheets, streamed one page at a time.

Each label is its QR code, drawn as a PDF image mask of one sample per module (the
printer scales it to a whole number of printer pixels per module, so edges stay sharp),
and its caption, set as text in the standard Courier font (monospaced, so a caption's
width is known without font files; characters outside Windows-1252 print as "?"). A
page is one Flate-compressed content stream; nothing is rasterised here. A page's bytes
come from :class:`LabelSheet` and are written in order by :class:`LabelPdfWriter`, a
minimal PDF 1.4 writer that keeps memory flat for any number of pages and makes the
output byte-for-byte reproducible (no dates, no IDs). It stays hand-written because
``make bench-codegen`` measures it against reportlab and fpdf2 drawing the same pages.
"""

from __future__ import annotations

import itertools
import math
import pathlib
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from codegen.qr import QrRenderer

_MM_PER_INCH = 25.4
_PT_PER_INCH = 72.0
# Level 6 compresses the content streams to within a few percent of level 9, markedly faster.
_PAGE_ZLIB_LEVEL = 6
_CAPTION_PT = 7.0  # caption type size; shrunk per caption if it would overflow the cell
_MIN_CAPTION_PT = 2.0
_HEADER_PT = 7.0
_COURIER_ADVANCE = 0.6  # every Courier glyph is 600/1000 em wide
_COURIER_ASCENT = 0.63  # its ascender, in em: where a caption's top edge sits above the baseline
_FONT_NAME = b"/F1"


@dataclass(frozen=True)
class LabelSpec:
    """Sheet geometry: a ``columns`` x ``rows`` grid of equal cells inside the margin.

    Defaults are A4 portrait at 300 dpi with 40 labels per page.
    """

    page_mm: tuple[float, float] = (210.0, 297.0)
    dpi: int = 300
    columns: int = 4
    rows: int = 10
    margin_mm: float = 8.0

    def __post_init__(self) -> None:
        width_mm, height_mm = self.page_mm
        if width_mm <= 0 or height_mm <= 0:
            raise ValueError(f"page_mm must be positive, got {self.page_mm}")
        if self.dpi < 72:
            raise ValueError(f"dpi must be at least 72, got {self.dpi}")
        if self.columns < 1 or self.rows < 1:
            raise ValueError(f"columns and rows must be >= 1, got {self.columns}x{self.rows}")
        if self.margin_mm < 0 or 2 * self.margin_mm >= min(width_mm, height_mm):
            raise ValueError(f"margin_mm {self.margin_mm} leaves no printable area")

    @property
    def labels_per_page(self) -> int:
        return self.columns * self.rows

    def mm_to_px(self, mm: float) -> int:
        return round(mm / _MM_PER_INCH * self.dpi)

    @property
    def page_px(self) -> tuple[int, int]:
        return self.mm_to_px(self.page_mm[0]), self.mm_to_px(self.page_mm[1])

    @property
    def page_pt(self) -> tuple[float, float]:
        width_mm, height_mm = self.page_mm
        scale = _PT_PER_INCH / _MM_PER_INCH
        return width_mm * scale, height_mm * scale


def _pt_to_px(points: float, dpi: int) -> int:
    return max(1, round(points / _PT_PER_INCH * dpi))


def _pdf_number(value: float) -> bytes:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return (text if text not in ("", "-0") else "0").encode("ascii")


def _pdf_text_string(text: str) -> bytes:
    """A PDF text string (document info): literal if plain ASCII, else UTF-16BE hex with a BOM."""
    if text.isascii() and text.isprintable():
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return b"(" + escaped.encode("ascii") + b")"
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode("ascii") + b">"


def _shown_text(text: str) -> bytes:
    """A string for Courier with WinAnsiEncoding; characters it cannot show print as '?'."""
    raw = text.encode("cp1252", "replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


@dataclass(frozen=True)
class _Layout:
    """Geometry shared by every page of one run: cells in printer pixels, drawn in points."""

    page_h_pt: float
    pt_per_px: float
    margin: int
    cell_w: float
    cell_h: float
    padding: int
    qr_scale: int  # printer pixels per module
    qr_side: int  # printer pixels, quiet zone included
    quiet: int  # printer pixels of quiet zone on each side
    modules: int
    caption_px: int
    caption_gap: int

    @classmethod
    def build(cls, spec: LabelSpec, renderer: QrRenderer) -> _Layout:
        page_w, page_h = spec.page_px
        margin = spec.mm_to_px(spec.margin_mm)
        cell_w = (page_w - 2 * margin) / spec.columns
        cell_h = (page_h - 2 * margin) / spec.rows
        padding = max(1, spec.mm_to_px(1.0))
        caption_px = _pt_to_px(_CAPTION_PT, spec.dpi)
        caption_gap = max(1, caption_px // 4)
        side_modules = renderer.modules_per_side + 2 * renderer.border
        room = min(cell_w - 2 * padding, cell_h - 2 * padding - caption_px - caption_gap)
        qr_scale = math.floor(room / side_modules)
        if qr_scale < 1:
            raise ValueError(
                f"label cell of {cell_w:.0f}x{cell_h:.0f} px is too small for a "
                f"{side_modules}-module QR code and a caption at {spec.dpi} dpi"
            )
        return cls(
            page_h_pt=spec.page_pt[1],
            pt_per_px=_PT_PER_INCH / spec.dpi,
            margin=margin,
            cell_w=cell_w,
            cell_h=cell_h,
            padding=padding,
            qr_scale=qr_scale,
            qr_side=side_modules * qr_scale,
            quiet=renderer.border * qr_scale,
            modules=renderer.modules_per_side,
            caption_px=caption_px,
            caption_gap=caption_gap,
        )

    def caption_pt(self, caption: str) -> float:
        """The caption size: _CAPTION_PT, or smaller so that the caption fits the cell width."""
        room = (self.cell_w - 2 * self.padding) * self.pt_per_px
        fitting = room / (_COURIER_ADVANCE * max(1, len(caption)))
        return max(_MIN_CAPTION_PT, min(_CAPTION_PT, fitting))


class LabelSheet:
    """Builds the content stream of one page of labels; the same labels give the same bytes."""

    def __init__(self, renderer: QrRenderer, spec: LabelSpec = LabelSpec(), title: str = "") -> None:
        self.renderer = renderer
        self.spec = spec
        self.title = title
        self.layout = _Layout.build(spec, renderer)  # raises ValueError when a cell is too small
        modules = self.layout.modules
        # Inline image mask: one sample per module, 0 = dark = painted with the fill colour (black).
        self._image_head = b"BI /IM true /W %d /H %d /BPC 1 /F /AHx ID " % (modules, modules)

    @property
    def labels_per_page(self) -> int:
        return self.spec.labels_per_page

    def page(self, number: int, labels: Sequence[tuple[str, str]]) -> bytes:
        """The Flate-compressed content stream of page ``number`` holding ``labels`` (at most a page)."""
        if len(labels) > self.labels_per_page:
            raise ValueError(f"{len(labels)} labels do not fit one page of {self.labels_per_page}")
        layout, columns = self.layout, self.spec.columns
        k, page_h = layout.pt_per_px, layout.page_h_pt
        qr_pt = _pdf_number(layout.modules * layout.qr_scale * k)
        parts: list[bytes] = []
        if self.title:
            header = f"{self.title} - page {number}"
            baseline = layout.margin / 2 * k + _HEADER_PT * 0.3
            parts.append(
                b"BT %s %s Tf %s %s Td %s Tj ET\n"
                % (_FONT_NAME, _pdf_number(_HEADER_PT), _pdf_number(layout.margin * k),
                   _pdf_number(page_h - baseline), _shown_text(header))
            )
        mask_rows = self.renderer.mask_rows
        for index, (payload, caption) in enumerate(labels):
            row, column = divmod(index, columns)
            left = layout.margin + round(column * layout.cell_w)
            top = layout.margin + round(row * layout.cell_h)
            centre_x = left + round(layout.cell_w / 2)
            qr_top = top + layout.padding
            x_px = centre_x - layout.qr_side // 2 + layout.quiet
            bottom_px = qr_top + layout.qr_side - layout.quiet
            parts.append(
                b"q %s 0 0 %s %s %s cm %s%s> EI Q\n"
                % (qr_pt, qr_pt, _pdf_number(x_px * k), _pdf_number(page_h - bottom_px * k),
                   self._image_head, mask_rows(payload).hex().encode("ascii"))
            )
            if caption:
                size = layout.caption_pt(caption)
                width = _COURIER_ADVANCE * size * len(caption)
                caption_top = (qr_top + layout.qr_side + layout.caption_gap) * k
                parts.append(
                    b"BT %s %s Tf %s %s Td %s Tj ET\n"
                    % (_FONT_NAME, _pdf_number(size), _pdf_number(centre_x * k - width / 2),
                       _pdf_number(page_h - caption_top - _COURIER_ASCENT * size), _shown_text(caption))
                )
        return zlib.compress(b"".join(parts), _PAGE_ZLIB_LEVEL)


class LabelPdfWriter:
    """Minimal PDF 1.4 writer: page objects are written as they come, the page tree and xref at the end."""

    CATALOG = 1
    PAGES = 2
    FONT = 3

    def __init__(self, out: BinaryIO, spec: LabelSpec = LabelSpec(), title: str = "") -> None:
        self._out = out
        self._title = title
        self._offsets: dict[int, int] = {}
        self._next_id = 4
        self._position = 0
        self.page_ids: list[int] = []
        w_pt, h_pt = (_pdf_number(v) for v in spec.page_pt)
        self._page_dict = (
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %s %s] /Resources << /Font << %s %d 0 R >> >>"
            % (self.PAGES, w_pt, h_pt, _FONT_NAME, self.FONT)
        )
        # The binary comment line marks the file as binary for transfer tools.
        self._write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        self._write_object(
            self.FONT, b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>"
        )

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._position += len(data)

    def _new_id(self) -> int:
        object_id = self._next_id
        self._next_id += 1
        return object_id

    def _write_object(self, object_id: int, body: bytes, stream: bytes | None = None) -> None:
        self._offsets[object_id] = self._position
        self._write(b"%d 0 obj\n" % object_id + body)
        if stream is not None:
            self._write(b"\nstream\n" + stream + b"\nendstream")
        self._write(b"\nendobj\n")

    def add_page(self, content: bytes) -> None:
        """Append a page whose content stream is ``content`` (as :meth:`LabelSheet.page` returns it)."""
        content_id, page_id = self._new_id(), self._new_id()
        self._write_object(content_id, b"<< /Filter /FlateDecode /Length %d >>" % len(content), content)
        self._write_object(page_id, self._page_dict + b" /Contents %d 0 R >>" % content_id)
        self.page_ids.append(page_id)

    def finish(self) -> int:
        """Write the page tree, document info and xref; return the page count."""
        kids = b" ".join(b"%d 0 R" % page_id for page_id in self.page_ids)
        self._write_object(self.PAGES, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(self.page_ids)))
        self._write_object(self.CATALOG, b"<< /Type /Catalog /Pages %d 0 R >>" % self.PAGES)
        info_id = self._new_id()
        info = b"<< /Producer (yima codegen.labels)"
        if self._title:
            info += b" /Title " + _pdf_text_string(self._title)
        self._write_object(info_id, info + b" >>")
        xref_at = self._position
        lines = [b"xref\n0 %d\n" % self._next_id, b"0000000000 65535 f \n"]
        lines.extend(b"%010d 00000 n \n" % self._offsets[object_id] for object_id in range(1, self._next_id))
        self._write(b"".join(lines))
        self._write(
            b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (self._next_id, self.CATALOG, info_id, xref_at)
        )
        return len(self.page_ids)


def pages(labels: Iterable[tuple[str, str]], per_page: int) -> Iterator[list[tuple[str, str]]]:
    """Labels grouped into pages of ``per_page`` (the last one may be short)."""
    iterator = iter(labels)
    while batch := list(itertools.islice(iterator, per_page)):
        yield batch


def write_label_pdf(
    path: pathlib.Path,
    labels: Iterable[tuple[str, str]],
    renderer: QrRenderer,
    spec: LabelSpec = LabelSpec(),  # frozen, so sharing one default is safe
    title: str = "",
) -> int:
    """Write ``(qr_payload, caption)`` labels to a PDF sheet file and return its page count.

    Labels are consumed lazily and each page is written as soon as it is full, so memory
    stays flat whatever the number of labels. Each cell holds the QR code, a whole number
    of printer pixels (at ``spec.dpi``) per module, with its caption centred below. A
    non-empty ``title`` is printed in the top margin of every page with the page number
    and stored as the PDF title. Output is deterministic (no dates, no IDs). ``path`` is
    written in place; an empty ``labels`` gives a valid PDF with no pages.
    """
    sheet = LabelSheet(renderer, spec, title)
    with path.open("wb") as out:
        pdf = LabelPdfWriter(out, spec, title)
        for number, batch in enumerate(pages(labels, sheet.labels_per_page), start=1):
            pdf.add_page(sheet.page(number, batch))
            out.flush()  # finished pages reach the disk as the run progresses
        return pdf.finish()
