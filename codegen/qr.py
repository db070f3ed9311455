"""Fast, deterministic QR rendering for one batch of same-shaped payloads.

A printing line renders hundreds of thousands of codes whose payloads all have the
same length and charset. :class:`QrRenderer` chooses the version and the mask once,
from a sample payload. With both fixed, a QR symbol is an affine function of its data
codewords over GF(2): the function patterns, format bits and mask are constant, the
Reed-Solomon codewords are linear in the data, and placement is a fixed permutation.
So the renderer asks ``qrcode`` once per (version, level, mask) for the symbol of
every single data bit, keeps one table per data codeword (256 symbols, each a Python
int holding the whole matrix), and then encodes a payload by XOR-ing one table entry
per codeword: no Reed-Solomon arithmetic and no module placement per code. The result
is the symbol ``qrcode`` itself would draw with the same version and mask (a test
compares them). Pixels are produced here (a 1-bit PNG written with zlib, or a Pillow
bitmap) rather than through qrcode's image factories.
"""

from __future__ import annotations

import functools
import struct
import zlib
from dataclasses import dataclass

import qrcode
from PIL import Image
from qrcode import base, constants, util

ALPHANUMERIC_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")

_ERROR_CORRECTION = {
    "L": constants.ERROR_CORRECT_L,
    "M": constants.ERROR_CORRECT_M,
    "Q": constants.ERROR_CORRECT_Q,
    "H": constants.ERROR_CORRECT_H,
}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Level 4 compresses these tiny bitmaps within a few percent of level 9 in about half the time of
# level 6; deflating is the largest part of what a PNG costs.
_PNG_ZLIB_LEVEL = 4


_ALPHANUMERIC_ORDER = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
# Byte -> alphanumeric value (0-44), 0xFF for a byte the mode cannot hold.
_ALPHANUMERIC_VALUES = bytes(
    _ALPHANUMERIC_ORDER.index(chr(b)) if chr(b) in ALPHANUMERIC_CHARS else 0xFF for b in range(256)
)
_PAD_CODEWORDS = (0xEC, 0x11)  # ISO/IEC 18004 pad bytes, alternating


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


def _matrix_bits(modules: list[list[bool | None]]) -> int:
    """A module matrix as one int, row-major, the top-left module in the highest bit (1 = dark)."""
    bits = 0
    for row in modules:
        for cell in row:
            bits = (bits << 1) | bool(cell)
    return bits


@dataclass(frozen=True)
class _AffineSymbol:
    """Every symbol of one (version, level, mask): ``zero`` XOR one ``tables`` entry per data codeword."""

    side: int
    zero: int
    tables: tuple[tuple[int, ...], ...]  # tables[i][value]: what codeword i = value adds to the matrix


def _symbol_bits(version: int, ec_level: int, mask: int, codewords: list[int]) -> int:
    """The symbol ``qrcode`` draws for these data codewords (Reed-Solomon added, placed, masked)."""
    buffer = util.BitBuffer()
    for codeword in codewords:
        buffer.put(codeword, 8)
    code = qrcode.QRCode(version=version, error_correction=ec_level, mask_pattern=mask)
    code.data_cache = util.create_bytes(buffer, base.rs_blocks(version, ec_level))  # data + RS, interleaved
    code.makeImpl(False, mask)
    return _matrix_bits(code.modules)


# qrcode's Reed-Solomon cannot divide a zero block, so effects are measured against all-ones codewords.
_REFERENCE_CODEWORD = 0xFF


@functools.lru_cache(maxsize=8)
def _codeword_tables(version: int, ec_level: int) -> tuple[tuple[int, ...], ...]:
    """tables[i][value]: what data codeword i = value flips in the symbol. The mask cancels out of every
    difference, so one set of tables serves all eight masks."""
    data_count = sum(block.data_count for block in base.rs_blocks(version, ec_level))
    reference = [_REFERENCE_CODEWORD] * data_count
    at_reference = _symbol_bits(version, ec_level, 0, reference)
    tables = []
    for index in range(data_count):
        flipped = list(reference)
        bit_effects = []
        for bit in range(8):
            flipped[index] = _REFERENCE_CODEWORD ^ (1 << bit)
            bit_effects.append(_symbol_bits(version, ec_level, 0, flipped) ^ at_reference)
        table = [0] * 256
        for value in range(1, 256):
            low = value & -value  # the lowest set bit: table[value] = table[value without it] ^ its effect
            table[value] = table[value ^ low] ^ bit_effects[low.bit_length() - 1]
        tables.append(tuple(table))
    return tuple(tables)


@functools.lru_cache(maxsize=16)
def _affine_symbol(version: int, ec_level: int, mask: int) -> _AffineSymbol:
    tables = _codeword_tables(version, ec_level)
    reference = [_REFERENCE_CODEWORD] * len(tables)
    zero = _symbol_bits(version, ec_level, mask, reference)
    for table in tables:
        zero ^= table[_REFERENCE_CODEWORD]
    return _AffineSymbol(side=17 + 4 * version, zero=zero, tables=tables)


@functools.lru_cache(maxsize=16)
def _spread_table(scale: int) -> tuple[int, ...]:
    """byte -> the same 8 bits each repeated ``scale`` times (order kept)."""
    table = []
    for byte in range(256):
        spread = 0
        for bit in range(7, -1, -1):
            spread = (spread << scale) | (((1 << scale) - 1) if byte >> bit & 1 else 0)
        table.append(spread)
    return tuple(table)


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
        self._count_bits: int = util.length_in_bits(util.MODE_ALPHA_NUM, self.version)
        self._data_bits = self._bit_limit(self.version)
        self._pad = bytes(_PAD_CODEWORDS * (self._data_bits // 16 + 1))
        self._symbol: _AffineSymbol | None = None  # built on first use: a few hundred qrcode symbols

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

    def _data_codewords(self, data: str) -> bytes:
        """The payload as data codewords: mode, count, 11 bits per pair, terminator, pad bytes."""
        try:
            values = data.encode("ascii").translate(_ALPHANUMERIC_VALUES)
        except (UnicodeEncodeError, AttributeError):
            values = b"\xff"
        if b"\xff" in values:
            _check_alphanumeric(data)  # raises with the offending characters named
        length = len(values)
        if length > self.capacity:
            raise ValueError(
                f"QR payload of {length} characters does not fit version {self.version}"
                f"-{self.error_correction} (at most {self.capacity} alphanumeric characters)"
            )
        count_bits = self._count_bits
        acc: int = (util.MODE_ALPHA_NUM << count_bits) | length
        for i in range(0, length - 1, 2):
            acc = (acc << 11) | (values[i] * 45 + values[i + 1])
        if length % 2:
            acc = (acc << 6) | values[-1]
        used = _alphanumeric_bits(length, self.version)
        filler = min(self._data_bits - used, 4)  # terminator: up to four zero bits
        filler += -(used + filler) % 8  # then zeros to a whole codeword
        data_bytes = (used + filler) // 8
        return (acc << filler).to_bytes(data_bytes, "big") + self._pad[: self._data_bits // 8 - data_bytes]

    def warm(self) -> None:
        """Build the encoding tables now (a few hundred qrcode symbols), e.g. before forking workers."""
        self._bits("")

    def _bits(self, data: str) -> int:
        """The module matrix of ``data`` as one int (row-major, top-left highest, 1 = dark)."""
        symbol = self._symbol
        if symbol is None:
            symbol = self._symbol = _affine_symbol(self.version, self._ec_level, self.mask_pattern)
        bits = symbol.zero
        for table, codeword in zip(symbol.tables, self._data_codewords(data), strict=True):
            bits ^= table[codeword]
        return bits

    def _rows(self, data: str, scale: int, border: int) -> tuple[int, list[bytes]]:
        """Pack the code into 1-bit rows (1 = white), scaled and with a quiet zone.

        Returns the side length in pixels and one packed row per *module* row; each row
        must be repeated ``scale`` times. Rows are padded to whole bytes with zero bits,
        the layout both PNG (bit depth 1) and Pillow's mode "1" raw buffers use.
        """
        bits = self._bits(data)
        side = self.modules_per_side
        side_px = (side + 2 * border) * scale
        row_bytes = (side_px + 7) // 8
        pad = row_bytes * 8 - side_px
        white = ((1 << side_px) - 1) << pad
        left = border * scale + pad
        spread = _spread_table(scale)
        chunk = 8 * scale
        row_mask = (1 << side) - 1
        blank = white.to_bytes(row_bytes, "big")
        rows = [blank] * border
        for shift in range(side * (side - 1), -1, -side):
            row = (bits >> shift) & row_mask
            dark = 0
            offset = 0
            while row:
                dark |= spread[row & 0xFF] << offset
                row >>= 8
                offset += chunk
            rows.append((white ^ (dark << left)).to_bytes(row_bytes, "big"))
        rows.extend([blank] * border)
        return side_px, rows

    def matrix(self, data: str) -> list[list[bool]]:
        """Return the module matrix for ``data`` (True = dark), quiet zone excluded."""
        bits = self._bits(data)
        side = self.modules_per_side
        text = format(bits, f"0{side * side}b")
        return [[cell == "1" for cell in text[start : start + side]] for start in range(0, side * side, side)]

    def mask_rows(self, data: str) -> bytes:
        """One pixel per module, no quiet zone, rows padded to whole bytes, 0 = dark.

        The sample layout of a PDF image mask (a stencil that paints its 0 samples).
        """
        _, rows = self._rows(data, 1, 0)
        return b"".join(rows)

    def image(self, data: str, module_px: int | None = None) -> Image.Image:
        """Return a mode "1" Pillow image of the code, quiet zone included.

        ``module_px`` overrides the renderer's pixels per module.
        """
        scale = self.module_px if module_px is None else module_px
        if scale < 1:
            raise ValueError(f"module_px must be >= 1, got {scale}")
        side_px, rows = self._rows(data, scale, self.border)
        raw = b"".join(row * scale for row in rows)
        return Image.frombytes("1", (side_px, side_px), raw)

    def png(self, data: str) -> bytes:
        """Return a 1-bit grayscale PNG of the code, quiet zone included.

        Written directly with zlib (no ancillary chunks), so equal input gives
        byte-identical output.
        """
        side_px, rows = self._rows(data, self.module_px, self.border)
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
        modules = self.matrix(data)
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
