"""The README's factory walkthrough through the real `codegen` CLI, on real SQL and Redis."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import qrcode
from click.testing import CliRunner, Result
from PIL import Image

from app.codegen_cli import cli
from tests.conftest import REDIS_TEST_URL


@pytest.fixture
def run(tmp_path: Path, database_url: str, redis_client, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("YIMA_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", REDIS_TEST_URL)
    monkeypatch.setenv("YIMA_MAX_BATCH_COUNT", "50000")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code != 0, result.output
            assert "Traceback" not in result.output
        return result

    return invoke


def _first_code(out: Path, role: str = "inner") -> str:
    return (out / f"{role}-00001.csv").read_text().splitlines()[1].split(",")[2]


def test_factory_walkthrough(run, tmp_path: Path, redis_client) -> None:  # type: ignore[no-untyped-def]
    assert "created master key file" in run("keys", "init").output
    assert "nothing changed" in run("keys", "init").output
    run("brand", "add", "acme", "--name", "Acme Beer", "--base-url", "https://q.acme.example")
    run("product", "add", "--sku", "BEER-500", "--name", "Lager 500ml", "--gtin", "6901234567892")
    out = run("batch", "new", "--sku", "BEER-500", "--lot", "L1", "--count", "1000", "--pack", "24",
              "--date", "2026-11-20", "--ticket", "L1.ticket").output
    assert "batch 1:" in out
    assert redis_client.hget("{b:1}:meta", "quantity") == b"1000"

    out = run("generate", "--ticket", "L1.ticket", "--out", "out", "--chunk", "400").output
    assert "2,042 codes in 7 files" in out
    assert "OK: 7 files match the manifest, 2,042 codes verify" in run("verify", "--ticket", "L1.ticket", "out").output

    code = _first_code(tmp_path / "out")
    assert "GENUINE" in run("verify", "--ticket", "L1.ticket", code.lower()).output
    assert "GENUINE" in run("verify", "--ticket", "L1.ticket", f"https://q.acme.example/q/{code}").output
    tampered = code[:-1] + ("0" if code[-1] != "0" else "1")
    bad = run("verify", "--ticket", "L1.ticket", tampered, ok=False)
    assert "NOT GENUINE" in bad.output and "signature does not match" in bad.output

    ticket = json.loads((tmp_path / "L1.ticket").read_text())
    ticket["ticket"]["count"] = 5000
    (tmp_path / "evil.ticket").write_text(json.dumps(ticket))
    bad = run("generate", "--ticket", "evil.ticket", "--out", "out2", ok=False)
    expected = "error: ticket signature is invalid: the file was altered or not issued by headquarters"
    assert bad.output.strip() == expected
    assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").iterdir())

    assert "active serials: 0-499" in run("activate", "--batch", "1", "--range", "0-499").output
    assert "void serials: 10-19" in run("void", "--batch", "1", "--range", "10-19", "--reason", "damaged").output
    assert "active=0-499\tvoid=10-19" in run("batch", "list").output

    camera = tmp_path / "camera.log"
    urls = [line.split(",")[3] for line in (tmp_path / "out" / "outer-00001.csv").read_text().splitlines()[1:]]
    camera.write_text("\n".join(urls[:399]) + "\n")
    result = run("readback", "--ticket", "L1.ticket", "out", str(camera), "--role", "outer", ok=False)
    assert "missing: 601" in result.output and "outer serials 399-999" in result.output

    run("keys", "rotate")
    run("batch", "new", "--sku", "BEER-500", "--lot", "L2", "--count", "10", "--ticket", "L2.ticket")
    run("generate", "--ticket", "L2.ticket", "--out", "out-l2")
    assert "GENUINE" in run("verify", "--ticket", "L2.ticket", _first_code(tmp_path / "out-l2")).output
    # the old batch's ticket (key id 1) still verifies its own codes after rotation
    assert "GENUINE" in run("verify", "--ticket", "L1.ticket", code).output
    wrong = run("verify", "--ticket", "L2.ticket", code, ok=False)
    assert "not of this batch" in wrong.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("batch", "new", "--sku", "NOPE", "--lot", "L9", "--count", "10", "--ticket", "t"), "unknown SKU"),
        (("batch", "new", "--sku", "S1", "--lot", "L9", "--count", "0", "--ticket", "t"), "at least 1"),
        (("batch", "new", "--sku", "S1", "--lot", "L9", "--count", "60000", "--ticket", "t"), "above the limit"),
        (("batch", "new", "--sku", "S1", "--lot", "L9", "--count", "5", "--ticket", "/proc/nope/t"), "error:"),
        (("activate", "--batch", "77"), "unknown batch 77"),
        (("activate", "--batch", "1", "--range", "5-1"), "0 <= A <= B"),
        (("generate", "--ticket", "missing.ticket", "--out", "o"), "cannot read ticket"),
        (("product", "add", "--sku", "S2", "--name", "x", "--gtin", "123"), "GTIN"),
    ],
)
def test_bad_input_gets_one_clear_error_line(run, args, message) -> None:  # type: ignore[no-untyped-def]
    run("keys", "init")
    run("brand", "add", "acme", "--name", "Acme")
    run("product", "add", "--sku", "S1", "--name", "Thing")
    run("batch", "new", "--sku", "S1", "--lot", "L1", "--count", "5", "--ticket", "L1.ticket")
    result = run(*args, ok=False)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_unwritable_output_dir(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("keys", "init")
    run("brand", "add", "acme", "--name", "Acme")
    run("product", "add", "--sku", "S1", "--name", "Thing")
    run("batch", "new", "--sku", "S1", "--lot", "L1", "--count", "5", "--ticket", "L1.ticket")
    (tmp_path / "afile").write_text("x")
    result = run("generate", "--ticket", "L1.ticket", "--out", "afile/sub", ok=False)
    assert result.output.startswith("error: cannot create output directory")


def test_without_keys_headquarters_commands_say_what_to_do(run) -> None:  # type: ignore[no-untyped-def]
    run("brand", "add", "acme", "--name", "Acme")
    run("product", "add", "--sku", "S1", "--name", "Thing")
    result = run("batch", "new", "--sku", "S1", "--lot", "L1", "--count", "5", "--ticket", "t", ok=False)
    assert "codegen keys init" in result.output


def _zbar(path: Path) -> list[str]:
    result = subprocess.run(["zbarimg", "--quiet", "--raw", str(path)], capture_output=True, text=True, check=False)
    return result.stdout.split()


@pytest.mark.skipif(
    shutil.which("zbarimg") is None or shutil.which("pdftoppm") is None,
    reason="zbarimg (zbar-tools) and pdftoppm (poppler-utils) needed",
)
def test_images_and_labels_scan_as_their_rows_and_progress_moves_within_a_chunk(  # type: ignore[no-untyped-def]
    run, tmp_path: Path
) -> None:
    run("keys", "init")
    run("brand", "add", "acme", "--name", "Acme Beer", "--base-url", "https://q.acme.example")
    run("product", "add", "--sku", "BEER-500", "--name", "Lager 500ml")
    run("batch", "new", "--sku", "BEER-500", "--lot", "L1", "--count", "1000", "--pack", "24", "--ticket", "L1.ticket")
    result = run("generate", "--ticket", "L1.ticket", "--out", "out", "--qr", "png", "--labels", "pdf")
    assert "2,042 codes in 9 files" in result.output

    # One chunk per role (the default chunk is 100,000 rows), yet the progress moves inside each: one
    # line per whole percent, reported after every block of codes.
    progress = [line for line in result.stderr.splitlines() if line.startswith("generating: ")]
    assert progress[0] == "generating: 400 of 2,042 codes (19%)"
    assert progress[-1] == "generating: 2,042 of 2,042 codes (100%)"
    assert len(progress) == 7

    out = tmp_path / "out"
    rows = {role: [line.split(",") for line in (out / f"{role}-00001.csv").read_text().splitlines()[1:]]
            for role in ("inner", "outer", "case")}
    # A sample of every role's PNGs decodes to exactly its row's URL, and is drawn at error correction M
    # with a 4-module quiet zone (docs/code-format.md): the same pixels as qrcode's own at M, border 4.
    for role, role_rows in rows.items():
        with zipfile.ZipFile(out / f"qr-{role}-00001.zip") as zf:
            for serial in (0, len(role_rows) // 2, len(role_rows) - 1):
                png = zf.read(f"{role}-{serial:09d}.png")
                (tmp_path / "code.png").write_bytes(png)
                url = role_rows[serial][3]
                assert _zbar(tmp_path / "code.png") == [url]
                image = Image.open(io.BytesIO(png))
                reference = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=4, border=4)
                reference.add_data(url)
                reference.make(fit=True)
                assert image.size == ((len(reference.modules) + 8) * 4,) * 2
                version = (len(reference.modules) - 17) // 4
                ours = qrcode.QRCode(version=version, error_correction=qrcode.constants.ERROR_CORRECT_M,
                                     box_size=4, border=4, mask_pattern=_mask_of(image, version))
                ours.add_data(url)
                drawn = ours.make_image().get_image().convert("1")
                assert image.convert("1").tobytes() == drawn.tobytes()
    # The first label page of the outer chunk scans as its 40 rows.
    subprocess.run(["pdftoppm", "-r", "150", "-gray", "-png", "-f", "1", "-l", "1", str(out / "labels-outer-00001.pdf"),
                    str(tmp_path / "page")], check=True, capture_output=True)
    (page,) = tmp_path.glob("page-*.png")
    assert sorted(_zbar(page)) == sorted(row[3] for row in rows["outer"][:40])


def _mask_of(image: Image.Image, version: int) -> int:
    """The mask pattern in a PNG's format bits (row 8, columns 0-4 after the quiet zone), EC level checked."""
    grey = image.convert("L")
    bits = [grey.getpixel(((4 + column) * 4 + 1, (4 + 8) * 4 + 1)) == 0 for column in range(5)]
    value = int("".join("1" if bit else "0" for bit in bits), 2) ^ 0b10101  # unmask the 5 data bits
    assert value >> 3 == 0b00, "error correction level is not M"
    return value & 0b111
