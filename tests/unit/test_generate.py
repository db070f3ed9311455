"""The line side: generate → verify → readback, on real files in a temp directory."""

from __future__ import annotations

import errno
import hashlib
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from codegen import generate as gen
from codegen.codeformat import Role, verify
from codegen.keys import derive_batch_key
from codegen.readback import readback
from codegen.ticket import BatchTicket
from codegen.verify_output import verify_output


def make_ticket(count: int = 250, pack: int = 24, batch_id: int = 3) -> BatchTicket:
    return BatchTicket(
        batch_id=batch_id, key_id=1, brand="acme", sku="BEER-500", product_name="Lager", gtin=None,
        lot="L1", factory="", line="", production_date=None, count=count, pack=pack,
        base_url="https://q.acme.example", batch_key=derive_batch_key(bytes(32), 1, batch_id),
    )


def _rows(path: Path) -> list[list[str]]:
    return [line.split(",") for line in path.read_text("ascii").splitlines()]


def _tree(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


def test_generate_writes_chunked_files_and_manifest(tmp_path: Path) -> None:
    ticket = make_ticket()
    manifest = gen.generate(ticket, tmp_path / "out", gen.Options(chunk_rows=100))
    out = tmp_path / "out"
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "case-00001.csv",
        "inner-00001.csv", "inner-00002.csv", "inner-00003.csv",
        "manifest.json",
        "outer-00001.csv", "outer-00002.csv", "outer-00003.csv",
    ]
    assert manifest["counts"] == {"inner": 250, "outer": 250, "case": 11, "codes": 511, "files": 7}
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest
    for entry in on_disk["files"]:
        data = (out / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]

    rows = _rows(out / "inner-00003.csv")
    assert rows[0] == ["serial", "role", "code", "url", "case"]
    assert [r[0] for r in rows[1:]] == [str(s) for s in range(200, 250)]
    _serial, _role, code, url, case = rows[-1]
    fields = verify(code, ticket.key_for)
    assert (fields.role, fields.serial, fields.batch_id) == (Role.INNER, 249, 3)
    assert url == f"HTTPS://Q.ACME.EXAMPLE/Q/{code}" and case == str(249 // 24)

    cases = _rows(out / "case-00001.csv")
    assert cases[0] == ["serial", "role", "code", "url", "first_item", "last_item"]
    assert cases[1][4:] == ["0", "23"] and cases[-1][4:] == ["240", "249"]  # the last case is partial


def test_inner_and_outer_codes_differ_for_the_same_item(tmp_path: Path) -> None:
    gen.generate(make_ticket(count=10, pack=0), tmp_path / "o")
    inner = {r[0]: r[2] for r in _rows(tmp_path / "o" / "inner-00001.csv")[1:]}
    outer = {r[0]: r[2] for r in _rows(tmp_path / "o" / "outer-00001.csv")[1:]}
    assert inner.keys() == outer.keys() and not set(inner.values()) & set(outer.values())
    assert not (tmp_path / "o" / "case-00001.csv").exists()


def test_same_ticket_gives_byte_identical_output_serial_and_parallel(tmp_path: Path) -> None:
    ticket = make_ticket(count=gen.PARALLEL_THRESHOLD // 2 + 10, pack=12)
    gen.generate(ticket, tmp_path / "a", gen.Options(chunk_rows=20_000, jobs=1))
    gen.generate(ticket, tmp_path / "b", gen.Options(chunk_rows=20_000, jobs=2))
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")


def test_output_dir_must_be_empty(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "other.txt").write_text("x")
    with pytest.raises(gen.OutputError, match="not empty"):
        gen.generate(make_ticket(), out)


def test_unwritable_output_dir_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(gen.OutputError):
        gen.generate(make_ticket(), target / "out")


def test_a_failure_midway_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = gen._open_output
    calls = {"n": 0}

    def failing_open(path: Path) -> gen._HashingFile:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path)

    monkeypatch.setattr(gen, "_open_output", failing_open)
    out = tmp_path / "out"
    with pytest.raises(OSError):
        gen.generate(make_ticket(), out, gen.Options(chunk_rows=50, jobs=1))
    assert calls["n"] == 3
    assert list(out.iterdir()) == []


def _can_mount_tmpfs(target: Path) -> bool:
    target.mkdir()
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(target)],
                        capture_output=True, check=False).returncode == 0
    return ok


def test_a_really_full_disk_leaves_nothing_behind(tmp_path: Path) -> None:
    disk = tmp_path / "small"
    if not _can_mount_tmpfs(disk):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        out = disk / "out"
        with pytest.raises(OSError) as info:
            gen.generate(make_ticket(count=20_000, pack=0), out, gen.Options(chunk_rows=2_000, jobs=1))
        assert info.value.errno == errno.ENOSPC
        assert list(out.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_verify_output_passes_a_good_directory(tmp_path: Path) -> None:
    ticket = make_ticket()
    gen.generate(ticket, tmp_path / "out", gen.Options(chunk_rows=100))
    report = verify_output(tmp_path / "out", ticket)
    assert report.problems == [] and report.files == 7 and report.codes == 511


def test_verify_output_finds_a_tampered_file(tmp_path: Path) -> None:
    ticket = make_ticket()
    out = tmp_path / "out"
    gen.generate(ticket, out, gen.Options(chunk_rows=100))
    path = out / "outer-00002.csv"
    text = path.read_text()
    path.write_text(text.replace(",outer,1", ",outer,2", 1))
    report = verify_output(out, ticket)
    assert any("outer-00002.csv: SHA-256" in p for p in report.problems)


def test_verify_output_checks_every_code_even_with_a_matching_manifest(tmp_path: Path) -> None:
    """Someone re-hashes the manifest after swapping two rows' codes: the per-code check still fails."""
    ticket = make_ticket()
    out = tmp_path / "out"
    gen.generate(ticket, out, gen.Options(chunk_rows=100))
    path = out / "inner-00001.csv"
    lines = path.read_bytes().decode("ascii").split("\r\n")
    a, b = lines[5].split(","), lines[6].split(",")
    a[2], b[2] = b[2], a[2]
    lines[5], lines[6] = ",".join(a), ",".join(b)
    path.write_bytes("\r\n".join(lines).encode("ascii"))
    manifest = json.loads((out / "manifest.json").read_text())
    for entry in manifest["files"]:
        if entry["name"] == path.name:
            entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
            entry["bytes"] = path.stat().st_size
    (out / "manifest.json").write_text(json.dumps(manifest))
    problems = verify_output(out, ticket).problems
    assert any("line 6: genuine code of inner serial 5 in the wrong row" in p for p in problems)


def test_verify_output_reports_missing_manifest_and_extra_files(tmp_path: Path) -> None:
    ticket = make_ticket()
    out = tmp_path / "out"
    gen.generate(ticket, out)
    (out / "stray.csv").write_text("x")
    assert any("stray.csv: not in the manifest" in p for p in verify_output(out, ticket).problems)
    (out / "manifest.json").unlink()
    assert "incomplete" in verify_output(out, ticket).problems[0]


def test_verify_output_rejects_another_batchs_directory(tmp_path: Path) -> None:
    gen.generate(make_ticket(batch_id=3), tmp_path / "out")
    problems = verify_output(tmp_path / "out", make_ticket(batch_id=4)).problems
    assert "not the ticket's batch 4" in problems[0]


def test_readback_reports_missing_duplicated_and_foreign(tmp_path: Path) -> None:
    ticket = make_ticket(count=100, pack=0)
    out = tmp_path / "out"
    gen.generate(ticket, out)
    outer = [r[3] for r in _rows(out / "outer-00001.csv")[1:]]  # the URLs, as a camera reads them
    other = make_ticket(count=5, pack=0, batch_id=9)
    gen.generate(other, tmp_path / "other")
    foreign_code = _rows(tmp_path / "other" / "outer-00001.csv")[1][2]
    log = outer[:40] + outer[41:] + [outer[7], outer[7].lower(), "", foreign_code, "garbage"]
    report = readback(ticket, out, log)
    assert report.missing == {"outer": [(40, 40)]}  # inner was never read: not reported missing
    assert report.duplicates == {"outer": [(7, 3)]} and report.duplicate_count == 2
    assert report.foreign_count == 2 and {f[2] for f in report.foreign} == {"another batch", "malformed"}
    assert not report.clean
    clean = readback(ticket, out, outer)
    assert clean.clean and clean.read == {"inner": 0, "outer": 100}


def test_qr_zip_and_label_pdf_on_request(tmp_path: Path) -> None:
    ticket = make_ticket(count=45, pack=0)
    out = tmp_path / "out"
    manifest = gen.generate(ticket, out, gen.Options(qr="png", labels=True))
    kinds = sorted((e["kind"], e["role"]) for e in manifest["files"])  # type: ignore[index,union-attr]
    assert kinds == [("codes", "inner"), ("codes", "outer"), ("labels", "inner"), ("labels", "outer"),
                     ("qr", "inner"), ("qr", "outer")]
    with zipfile.ZipFile(out / "qr-inner-00001.zip") as zf:
        names = zf.namelist()
        assert names[0] == "inner-000000000.png" and len(names) == 45
        assert zf.read(names[0]).startswith(b"\x89PNG")
    pdf = (out / "labels-outer-00001.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")
    assert verify_output(out, ticket).problems == []
    again = tmp_path / "again"
    gen.generate(ticket, again, gen.Options(qr="png", labels=True))
    assert _tree(out) == _tree(again)


def test_images_in_a_pool_match_one_process_and_every_code_reaches_the_progress(tmp_path: Path) -> None:
    ticket = make_ticket(count=2_060, pack=0)  # 4,120 codes: a pool from PARALLEL_THRESHOLD_IMAGES
    assert 2 * ticket.count >= gen.PARALLEL_THRESHOLD_IMAGES
    options = gen.Options(chunk_rows=1_500, qr="png", labels=True)
    serial_progress: list[int] = []
    pooled_progress: list[int] = []
    gen.generate(ticket, tmp_path / "a", gen.Options(**{**options.__dict__, "jobs": 1}), serial_progress.append)
    gen.generate(ticket, tmp_path / "b", gen.Options(**{**options.__dict__, "jobs": 2}), pooled_progress.append)
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    total = 2 * ticket.count
    # One process: a report per block of 400 codes, in order; chunks of 1,500 and 560 rows per role.
    assert serial_progress == [400, 400, 400, 300, 400, 160] * 2
    # The pool's workers count in shared memory; the parent passes the counts on as they grow.
    assert sum(pooled_progress) == sum(serial_progress) == total
    assert all(step > 0 for step in pooled_progress)
