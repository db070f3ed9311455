"""Fast, deterministic QR rendering for one batch of same-shaped payloads.

A printing line renders hundreds of thousands of codes whose payloads all have the
same length and charset. ``qrcode`` spends most of its time choosing a version and
trying all eight mask patterns for every code; :class:`QrRenderer` makes both choices
once from a sample payload and then only encodes data. Pixels are produced here
(a 1-bit PNG written with zlib, or a Pillow bitmap) rather than through qrcode's
image factories, which are several times slower than the encoding itself.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import qrcode
from PIL import Image
from qrcode import constants, util

ALPHANUMERIC_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")

_ERROR_CORRECTION = {
    "L": constants.ERROR_CORRECT_L,
    "M": constants.ERROR_CORRECT_M,
    "Q": constants.ERROR_CORRECT_Q,
    "H": constants.ERROR_CORRECT_H,
}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Level 6 compresses these tiny bitmaps as well as level 9 in a fraction of the time.
_PNG_ZLIB_LEVEL = 6


def _alphanumeric_bits(length: int, version: int) -> int:
    """Bits one alphanumeric-mode segment of ``length`` chars needs in ``version``."""
    count_bits: int = util.length_in_bits(util.MODE_ALPHA_NUM, version)
    return 4 + count_bits + 11 * (length // 2) + 6 * (length % 2)


def _check_alphanumeric(data: str) -> None:
    if not isinstance(data, str):
        raise TypeError(f"QR payload must be str, got {type(data).__name__}")
    bad = sorted(set(data) - ALPHANUMERIC_CHARS)
    if bad:
        raise ValueError(
            f"QR payload {data!r} is not QR alphanumeric mode: characters {bad!r} are "
            "not allowed (only 0-9, A-Z, space and $%*+-./: ; upper-case the URL)"
        )


def _bitmap_rows(modules: Sequence[Sequence[bool]], module_px: int, border: int) -> tuple[int, list[bytes]]:
    """Pack a module matrix into 1-bit rows (1 = white), scaled and with a quiet zone.

    Returns the side length in pixels and one packed row per *module* row; each row
    must be repeated ``module_px`` times. Rows are padded to whole bytes, which is the
    layout both PNG (bit depth 1) and Pillow's mode "1" raw buffers use.
    """
    side_px = (len(modules) + 2 * border) * module_px
    row_bytes = (side_px + 7) // 8
    pad = "0" * (row_bytes * 8 - side_px)
    dark, light = "0" * module_px, "1" * module_px
    pixel = {True: dark, False: light}.__getitem__
    quiet = light * border
    blank = int("1" * side_px + pad, 2).to_bytes(row_bytes, "big")
    rows = [blank] * border
    for row in modules:
        bits = quiet + "".join(map(pixel, row)) + quiet + pad
        rows.append(int(bits, 2).to_bytes(row_bytes, "big"))
    rows.extend([blank] * border)
    return side_px, rows


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


class QrRenderer:
    """Render QR codes for one batch of payloads with a fixed version and mask.

    ``sample`` is a representative payload: the smallest version that holds it in
    alphanumeric mode at ``error_correction`` is chosen, and the mask pattern qrcode
    rates best for it is reused for every later payload. Any mask yields a valid code;
    fixing it only gives up qrcode's per-code readability heuristic.
    """

    version: int
    mask_pattern: int
    capacity: int  # longest payload (in characters) the fixed version can hold

    def __init__(
        self,
        sample: str,
        *,
        module_px: int = 4,
        border: int = 4,
        error_correction: str = "M",
    ) -> None:
        if error_correction not in _ERROR_CORRECTION:
            raise ValueError(f"error_correction must be one of L, M, Q, H, got {error_correction!r}")
        if module_px < 1:
            raise ValueError(f"module_px must be >= 1, got {module_px}")
        if border < 0:
            raise ValueError(f"border must be >= 0, got {border}")
        _check_alphanumeric(sample)
        self.module_px = module_px
        self.border = border
        self.error_correction = error_correction
        self._ec_level = _ERROR_CORRECTION[error_correction]

        self.version = self._smallest_version(len(sample))
        self.capacity = self._capacity(self.version)
        # qrcode's penalty rules pick the mask for the sample; every later payload reuses it.
        probe = qrcode.QRCode(version=self.version, error_correction=self._ec_level)
        probe.add_data(util.QRData(sample, mode=util.MODE_ALPHA_NUM))
        self.mask_pattern = int(probe.best_mask_pattern())

    def _bit_limit(self, version: int) -> int:
        limit: int = util.BIT_LIMIT_TABLE[self._ec_level][version]
        return limit

    def _smallest_version(self, length: int) -> int:
        for version in range(1, 41):
            if _alphanumeric_bits(length, version) <= self._bit_limit(version):
                return version
        raise ValueError(
            f"sample payload of {length} characters does not fit any QR version "
            f"at error correction {self.error_correction}"
        )

    def _capacity(self, version: int) -> int:
        bit_limit = self._bit_limit(version)
        length = 0
        while _alphanumeric_bits(length + 1, version) <= bit_limit:
            length += 1
        return length

    @property
    def modules_per_side(self) -> int:
        """Modules per side, quiet zone excluded."""
        return 17 + 4 * self.version

    def _modules(self, data: str) -> list[list[bool]]:
        _check_alphanumeric(data)
        if len(data) > self.capacity:
            raise ValueError(
                f"QR payload of {len(data)} characters does not fit version {self.version}"
                f"-{self.error_correction} (at most {self.capacity} alphanumeric characters)"
            )
        code = qrcode.QRCode(
            version=self.version,
            error_correction=self._ec_level,
            mask_pattern=self.mask_pattern,
        )
        # check_data=False: the payload was validated above and is pure ASCII.
        code.add_data(util.QRData(data.encode("ascii"), util.MODE_ALPHA_NUM, False))
        code.make(fit=False)
        modules: list[list[bool]] = code.modules
        return modules

    def matrix(self, data: str) -> list[list[bool]]:
        """Return the module matrix for ``data`` (True = dark), quiet zone excluded."""
        return [[bool(cell) for cell in row] for row in self._modules(data)]

    def image(self, data: str, module_px: int | None = None) -> Image.Image:
        """Return a mode "1" Pillow image of the code, quiet zone included.

        ``module_px`` overrides the renderer's pixels per module (label sheets scale
        codes to their cell size).
        """
        scale = self.module_px if module_px is None else module_px
        if scale < 1:
            raise ValueError(f"module_px must be >= 1, got {scale}")
        side_px, rows = _bitmap_rows(self._modules(data), scale, self.border)
        raw = b"".join(row * scale for row in rows)
        return Image.frombytes("1", (side_px, side_px), raw)

    def png(self, data: str) -> bytes:
        """Return a 1-bit grayscale PNG of the code, quiet zone included.

        Written directly with zlib (no ancillary chunks), so equal input gives
        byte-identical output.
        """
        side_px, rows = _bitmap_rows(self._modules(data), self.module_px, self.border)
        # Each scanline is prefixed by filter type 0 (None).
        raw = b"".join((b"\x00" + row) * self.module_px for row in rows)
        header = struct.pack(">IIBBBBB", side_px, side_px, 1, 0, 0, 0, 0)
        return b"".join(
            (
                _PNG_SIGNATURE,
                _png_chunk(b"IHDR", header),
                _png_chunk(b"IDAT", zlib.compress(raw, _PNG_ZLIB_LEVEL)),
                _png_chunk(b"IEND", b""),
            )
        )

    def svg(self, data: str) -> bytes:
        """Return a compact SVG: one ``<path>`` of dark-module runs, units = modules.

        The viewBox includes the quiet zone; width/height match the PNG in pixels.
        The background is left transparent so the code can sit on any label stock.
        """
        modules = self._modules(data)
        border = self.border
        parts: list[str] = []
        for y, row in enumerate(modules, start=border):
            x, count = 0, len(row)
            while x < count:
                if not row[x]:
                    x += 1
                    continue
                start = x
                while x < count and row[x]:
                    x += 1
                run = x - start
                parts.append(f"M{start + border} {y}h{run}v1h-{run}z")
        side = len(modules) + 2 * border
        side_px = side * self.module_px
        return (
            '<svg xmlns="http://www.w3.org/2000/svg" '
            f'width="{side_px}" height="{side_px}" viewBox="0 0 {side} {side}" '
            f'shape-rendering="crispEdges"><path d="{"".join(parts)}"/></svg>'
        ).encode("ascii")
