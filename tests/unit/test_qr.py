import io
import pathlib
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
import qrcode
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from codegen.qr import ALPHANUMERIC_CHARS, QrRenderer

SAMPLE = "HTTPS://YIMA.EXAMPLE/Q/1C0000G00000001ABCDEFGHJKMNP"


def payload(serial: int) -> str:
    """A payload of the same length and charset as SAMPLE."""
    return f"{SAMPLE[:-7]}{serial:07d}"


@pytest.fixture(scope="module")
def renderer() -> QrRenderer:
    return QrRenderer(SAMPLE)


def png_modules(png: bytes, module_px: int, border: int) -> tuple[Image.Image, list[list[bool]]]:
    """Decode a PNG and sample the centre pixel of every module (True = dark)."""
    image = Image.open(io.BytesIO(png))
    image.load()
    modules = image.width // module_px
    grey = image.convert("L")
    matrix = [
        [grey.getpixel((x * module_px + module_px // 2, y * module_px + module_px // 2)) == 0 for x in range(modules)]
        for y in range(modules)
    ]
    return image, matrix


def finder_at(matrix: list[list[bool]], top: int, left: int) -> bool:
    for r in range(7):
        for c in range(7):
            ring = r in (0, 6) or c in (0, 6)
            core = 2 <= r <= 4 and 2 <= c <= 4
            if matrix[top + r][left + c] != (ring or core):
                return False
    return True


def test_sample_picks_smallest_alphanumeric_version(renderer: QrRenderer) -> None:
    # 51 alphanumeric chars: version 2-M holds 38, version 3-M holds 61.
    assert renderer.version == 3
    assert renderer.capacity == 61
    assert QrRenderer("HTTPS://YIMA.EXAMPLE/Q/1").version == 2
    assert QrRenderer(SAMPLE, error_correction="H").version > renderer.version


@pytest.mark.parametrize("level", ["L", "M", "Q", "H"])
def test_version_choice_agrees_with_qrcode_best_fit(level: str) -> None:
    for length in range(1, 400, 13):
        sample = "A" * length
        reference = qrcode.QRCode(error_correction=getattr(qrcode.constants, f"ERROR_CORRECT_{level}"))
        reference.add_data(qrcode.util.QRData(sample, mode=qrcode.util.MODE_ALPHA_NUM))
        assert QrRenderer(sample, error_correction=level).version == reference.best_fit(), length


def test_matrix_is_square_with_three_finder_patterns(renderer: QrRenderer) -> None:
    matrix = renderer.matrix(SAMPLE)
    side = 17 + 4 * renderer.version
    assert len(matrix) == side
    assert all(len(row) == side for row in matrix)
    assert all(isinstance(cell, bool) for row in matrix for cell in row)
    assert finder_at(matrix, 0, 0)
    assert finder_at(matrix, 0, side - 7)
    assert finder_at(matrix, side - 7, 0)
    assert not finder_at(matrix, side - 7, side - 7)


def test_matrix_matches_qrcode_with_same_version_and_mask(renderer: QrRenderer) -> None:
    reference = qrcode.QRCode(version=renderer.version, mask_pattern=renderer.mask_pattern)
    reference.add_data(payload(42))
    reference.make(fit=False)
    assert renderer.matrix(payload(42)) == [[bool(c) for c in row] for row in reference.modules]


def test_version_and_mask_stay_fixed_across_payloads(renderer: QrRenderer) -> None:
    version, mask = renderer.version, renderer.mask_pattern
    matrices = [renderer.matrix(payload(serial)) for serial in (0, 1, 999_999)]
    short = renderer.matrix("HTTPS://YIMA.EXAMPLE")  # would fit version 1 on its own
    assert (renderer.version, renderer.mask_pattern) == (version, mask)
    for matrix in [*matrices, short]:
        assert len(matrix) == 17 + 4 * version
        # Format information (row 8 left of the timing column) encodes EC level and mask.
        assert matrix[8][:6] == matrices[0][8][:6]
    assert matrices[0] != matrices[1]


@pytest.mark.parametrize(("module_px", "border"), [(4, 4), (1, 0), (3, 2)])
def test_png_size_and_pixels_match_matrix(module_px: int, border: int) -> None:
    renderer = QrRenderer(SAMPLE, module_px=module_px, border=border)
    png = renderer.png(payload(7))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image, pixels = png_modules(png, module_px, border)
    side = (17 + 4 * renderer.version + 2 * border) * module_px
    assert image.size == (side, side)
    assert image.mode in ("1", "L")
    matrix = renderer.matrix(payload(7))
    assert [row[border : len(row) - border] for row in pixels[border : len(pixels) - border]] == matrix
    quiet = (
        pixels[:border] + pixels[len(pixels) - border :] + [row[:border] + row[len(row) - border :] for row in pixels]
    )
    assert not any(any(row) for row in quiet)


def test_png_is_deterministic(renderer: QrRenderer) -> None:
    first = renderer.png(payload(5))
    assert renderer.png(payload(5)) == first
    assert QrRenderer(SAMPLE).png(payload(5)) == first
    assert renderer.png(payload(6)) != first


def test_image_uses_requested_scale(renderer: QrRenderer) -> None:
    image = renderer.image(SAMPLE, module_px=7)
    assert image.mode == "1"
    assert image.size == ((17 + 4 * renderer.version + 2 * renderer.border) * 7,) * 2


def svg_matrix(svg: bytes, side: int) -> list[list[bool]]:
    root = ET.fromstring(svg)
    paths = root.findall("{http://www.w3.org/2000/svg}path")
    assert len(paths) == 1
    matrix = [[False] * side for _ in range(side)]
    for x, y, run, back in re.findall(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z", paths[0].attrib["d"]):
        assert run == back
        for dx in range(int(run)):
            matrix[int(y)][int(x) + dx] = True
    return matrix


def test_svg_is_one_path_of_the_matrix(renderer: QrRenderer) -> None:
    svg = renderer.svg(payload(3))
    root = ET.fromstring(svg)
    side = 17 + 4 * renderer.version + 2 * renderer.border
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.attrib["viewBox"] == f"0 0 {side} {side}"
    assert root.attrib["width"] == str(side * renderer.module_px)
    drawn = svg_matrix(svg, side)
    border = renderer.border
    assert [row[border : side - border] for row in drawn[border : side - border]] == renderer.matrix(payload(3))
    assert renderer.svg(payload(3)) == svg


@pytest.mark.parametrize(
    "bad",
    [
        SAMPLE.lower(),
        "HTTPS://YIMA.EXAMPLE/Q/1C0000G00000001ABCDEFGHJKMNp",
        "HTTPS://YIMA.EXAMPLE/Q/1C0000G00000001ABCDEFGHJKMN?",
        "HTTPS://YIMA.EXAMPLE/Q/1C0000G00000001ABCDEFGHJKMN_",
        "HTTPS://YIMA.EXAMPLE/Q/1C0000G00000001ABCDEFGHJKMNÉ",
    ],
)
def test_rejects_non_alphanumeric_payloads(renderer: QrRenderer, bad: str) -> None:
    for render in (renderer.png, renderer.svg, renderer.matrix):
        with pytest.raises(ValueError, match="alphanumeric"):
            render(bad)


def test_rejects_payload_too_long_for_fixed_version(renderer: QrRenderer) -> None:
    longest = "A" * renderer.capacity
    assert len(renderer.matrix(longest)) == 17 + 4 * renderer.version
    with pytest.raises(ValueError, match=rf"does not fit version {renderer.version}-M"):
        renderer.png(longest + "A")


def test_rejects_bad_construction_arguments() -> None:
    with pytest.raises(ValueError, match="alphanumeric"):
        QrRenderer("https://yima.example/q/1")
    with pytest.raises(ValueError, match="does not fit any QR version"):
        QrRenderer("A" * 5000)
    with pytest.raises(ValueError, match="error_correction"):
        QrRenderer(SAMPLE, error_correction="X")
    with pytest.raises(ValueError, match="module_px"):
        QrRenderer(SAMPLE, module_px=0)
    with pytest.raises(ValueError, match="border"):
        QrRenderer(SAMPLE, border=-1)


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=sorted(ALPHANUMERIC_CHARS), min_size=0, max_size=61))
def test_any_alphanumeric_payload_within_capacity_renders(data: str) -> None:
    renderer = QrRenderer(SAMPLE, module_px=2, border=1)
    _, pixels = png_modules(renderer.png(data), 2, 1)
    assert [row[1:-1] for row in pixels[1:-1]] == renderer.matrix(data)


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbarimg (apt zbar-tools) not installed")
def test_png_decodes_with_zbarimg(renderer: QrRenderer, tmp_path: pathlib.Path) -> None:
    for serial in (0, 123_456):
        path = tmp_path / f"{serial}.png"
        path.write_bytes(renderer.png(payload(serial)))
        result = subprocess.run(["zbarimg", "--quiet", "--raw", str(path)], capture_output=True, text=True, check=True)
        assert result.stdout.strip() == payload(serial)


def test_mask_rows_are_the_matrix_one_sample_per_module_zero_dark(renderer: QrRenderer) -> None:
    side = renderer.modules_per_side
    row_bytes = (side + 7) // 8
    raw = renderer.mask_rows(payload(11))
    assert len(raw) == side * row_bytes
    rows = [
        int.from_bytes(raw[i : i + row_bytes], "big") >> (row_bytes * 8 - side) for i in range(0, len(raw), row_bytes)
    ]
    assert [[not (row >> (side - 1 - x)) & 1 for x in range(side)] for row in rows] == renderer.matrix(payload(11))


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from("LMQH"),
    st.text(alphabet=sorted(ALPHANUMERIC_CHARS), min_size=1, max_size=120),
    st.text(alphabet=sorted(ALPHANUMERIC_CHARS), min_size=0, max_size=120),
)
def test_table_encoding_draws_what_qrcode_draws(level: str, sample: str, data: str) -> None:
    """The precomputed-table encoder against qrcode itself, over versions, levels and payload lengths."""
    renderer = QrRenderer(sample, error_correction=level)
    data = data[: renderer.capacity]
    reference = qrcode.QRCode(
        version=renderer.version,
        error_correction=getattr(qrcode.constants, f"ERROR_CORRECT_{level}"),
        mask_pattern=renderer.mask_pattern,
    )
    reference.add_data(qrcode.util.QRData(data, mode=qrcode.util.MODE_ALPHA_NUM))
    reference.make(fit=False)
    assert renderer.matrix(data) == [[bool(c) for c in row] for row in reference.modules]
