"""Print-ready PDF label sheets, streamed one page at a time.

Each page is rasterised with Pillow into a 1-bit bitmap at the printer's resolution
and written as a single Flate-compressed image XObject. The PDF is written here
rather than with Pillow's PDF plugin because that plugin either keeps every page in
memory (``save_all``) or re-parses and extends the whole file for every page
(``append=True``, quadratic in the page count), and it stamps the current time as
CreationDate. Writing the few PDF objects ourselves keeps memory flat for any number
of labels and makes the output byte-for-byte reproducible.
"""

from __future__ import annotations

import functools
import itertools
import math
import pathlib
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageDraw, ImageFont

from codegen.qr import QrRenderer

_MM_PER_INCH = 25.4
_PT_PER_INCH = 72.0
# Level 6 compresses a mostly-white page bitmap to within a few percent of level 9 and
# is markedly faster; pages dominate the cost of a 100,000-label run.
_PAGE_ZLIB_LEVEL = 6
_CAPTION_PT = 7.0  # caption type size; shrunk per caption if it would overflow the cell
_MIN_CAPTION_PX = 8
_HEADER_PT = 7.0

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont | ImageFont.TransposedFont


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


@functools.lru_cache(maxsize=64)
def _font(size_px: int) -> Font:
    return ImageFont.load_default(size=size_px)


def _pt_to_px(points: float, dpi: int) -> int:
    return max(1, round(points / _PT_PER_INCH * dpi))


def _printable(font: Font, text: str) -> str:
    # Without FreeType, load_default() falls back to a Latin-1 bitmap font.
    if isinstance(font, ImageFont.FreeTypeFont):
        return text
    return text.encode("latin-1", "replace").decode("latin-1")


@dataclass(frozen=True)
class _Layout:
    """Pixel geometry shared by every page of one run."""

    page_w: int
    page_h: int
    margin: int
    cell_w: float
    cell_h: float
    padding: int
    qr_scale: int
    qr_side: int
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
            page_w=page_w,
            page_h=page_h,
            margin=margin,
            cell_w=cell_w,
            cell_h=cell_h,
            padding=padding,
            qr_scale=qr_scale,
            qr_side=side_modules * qr_scale,
            caption_px=caption_px,
            caption_gap=caption_gap,
        )

    def caption_font(self, caption: str) -> Font:
        """Largest font up to the caption size whose rendering fits the cell width."""
        size = self.caption_px
        limit = self.cell_w - 2 * self.padding
        while size > _MIN_CAPTION_PX and _font(size).getlength(caption) > limit:
            size -= 1
        return _font(size)


def _render_page(
    labels: list[tuple[str, str]],
    layout: _Layout,
    spec: LabelSpec,
    renderer: QrRenderer,
    header: str,
) -> Image.Image:
    page = Image.new("1", (layout.page_w, layout.page_h), 1)
    draw = ImageDraw.Draw(page)
    draw.fontmode = "1"  # crisp 1-bit glyphs; anti-aliasing would be thresholded anyway
    if header:
        font = _font(_pt_to_px(_HEADER_PT, spec.dpi))
        draw.text((layout.margin, layout.margin // 2), _printable(font, header), fill=0, font=font, anchor="lm")
    for index, (payload, caption) in enumerate(labels):
        row, column = divmod(index, spec.columns)
        left = layout.margin + round(column * layout.cell_w)
        top = layout.margin + round(row * layout.cell_h)
        centre_x = left + round(layout.cell_w / 2)
        qr_top = top + layout.padding
        page.paste(renderer.image(payload, layout.qr_scale), (centre_x - layout.qr_side // 2, qr_top))
        if caption:
            font = layout.caption_font(caption)
            caption_y = qr_top + layout.qr_side + layout.caption_gap
            draw.text((centre_x, caption_y), _printable(font, caption), fill=0, font=font, anchor="mt")
    return page


def _pdf_number(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text or "0"


def _pdf_text_string(text: str) -> bytes:
    """A PDF text string: literal if plain ASCII, else UTF-16BE hex with a BOM."""
    if text.isascii() and text.isprintable():
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return b"(" + escaped.encode("ascii") + b")"
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode("ascii") + b">"


class _PdfStream:
    """Minimal PDF 1.4 writer: objects are written as they come, xref at the end."""

    CATALOG = 1
    PAGES = 2

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._offsets: dict[int, int] = {}
        self._next_id = 3
        self._position = 0
        self.page_ids: list[int] = []
        # The binary comment line marks the file as binary for transfer tools.
        self._write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._position += len(data)

    def new_id(self) -> int:
        object_id = self._next_id
        self._next_id += 1
        return object_id

    def write_object(self, object_id: int, body: bytes, stream: bytes | None = None) -> None:
        self._offsets[object_id] = self._position
        self._write(b"%d 0 obj\n" % object_id + body)
        if stream is not None:
            self._write(b"\nstream\n" + stream + b"\nendstream")
        self._write(b"\nendobj\n")

    def add_page(self, bitmap: Image.Image, page_pt: tuple[float, float]) -> None:
        width, height = bitmap.size
        # Mode "1" packs 8 pixels per byte with 1 = white, exactly DeviceGray at 1 bpc.
        data = zlib.compress(bitmap.tobytes(), _PAGE_ZLIB_LEVEL)
        image_id, content_id, page_id = self.new_id(), self.new_id(), self.new_id()
        self.write_object(
            image_id,
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
            b" /BitsPerComponent 1 /Filter /FlateDecode /Length %d >>" % (width, height, len(data)),
            data,
        )
        w_pt, h_pt = (_pdf_number(v).encode("ascii") for v in page_pt)
        content = b"q " + w_pt + b" 0 0 " + h_pt + b" 0 0 cm /Im0 Do Q"
        self.write_object(content_id, b"<< /Length %d >>" % len(content), content)
        self.write_object(
            page_id,
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %s %s] /Resources << /XObject << /Im0 %d 0 R >> >>"
            b" /Contents %d 0 R >>" % (self.PAGES, w_pt, h_pt, image_id, content_id),
        )
        self.page_ids.append(page_id)

    def finish(self, title: str) -> None:
        kids = b" ".join(b"%d 0 R" % page_id for page_id in self.page_ids)
        self.write_object(self.PAGES, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(self.page_ids)))
        self.write_object(self.CATALOG, b"<< /Type /Catalog /Pages %d 0 R >>" % self.PAGES)
        info_id = self.new_id()
        info = b"<< /Producer (yima codegen.labels)"
        if title:
            info += b" /Title " + _pdf_text_string(title)
        self.write_object(info_id, info + b" >>")
        xref_at = self._position
        lines = [b"xref\n0 %d\n" % self._next_id, b"0000000000 65535 f \n"]
        lines.extend(b"%010d 00000 n \n" % self._offsets[object_id] for object_id in range(1, self._next_id))
        self._write(b"".join(lines))
        self._write(
            b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (self._next_id, self.CATALOG, info_id, xref_at)
        )


def _pages(labels: Iterable[tuple[str, str]], per_page: int) -> Iterator[list[tuple[str, str]]]:
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
    stays flat whatever the number of labels. Each cell holds the QR code, scaled by a
    whole number of printer pixels per module to fill the cell, with its caption centred
    below. A non-empty ``title`` is printed in the top margin of every page with the page
    number and stored as the PDF title. Output is deterministic (no dates, no IDs).
    ``path`` is written in place; an empty ``labels`` gives a valid PDF with no pages.
    """
    layout = _Layout.build(spec, renderer)
    page_pt = spec.page_pt
    with path.open("wb") as out:
        pdf = _PdfStream(out)
        for number, batch in enumerate(_pages(labels, spec.labels_per_page), start=1):
            header = f"{title} - page {number}" if title else ""
            pdf.add_page(_render_page(batch, layout, spec, renderer, header), page_pt)
            out.flush()  # finished pages reach the disk as the run progresses
        pdf.finish(title)
        return len(pdf.page_ids)
