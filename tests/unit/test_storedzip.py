import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from codegen import storedzip
from codegen.storedzip import StoredZip


def write(path: Path, members: list[tuple[str, bytes]]) -> None:
    archive = StoredZip(path)
    for name, data in members:
        archive.add(name, data)
    archive.close()


MEMBERS = [(f"inner-{n:09d}.png", bytes([n % 256]) * (n * 37 % 500)) for n in range(300)]


def test_zipfile_reads_every_member_back_stored_at_the_zip_epoch(tmp_path: Path) -> None:
    path = tmp_path / "qr.zip"
    write(path, MEMBERS)
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert [(i.filename, zf.read(i)) for i in zf.infolist()] == MEMBERS
        info = zf.infolist()[7]
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 == 0o100644
    assert [p.name for p in tmp_path.iterdir()] == ["qr.zip"]  # the spilled directory is gone


def test_same_members_give_the_same_bytes(tmp_path: Path) -> None:
    write(tmp_path / "a.zip", MEMBERS)
    write(tmp_path / "b.zip", MEMBERS)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_an_empty_archive_is_valid(tmp_path: Path) -> None:
    write(tmp_path / "empty.zip", [])
    with zipfile.ZipFile(tmp_path / "empty.zip") as zf:
        assert zf.namelist() == []


def test_more_than_65535_members_get_zip64_end_records(tmp_path: Path) -> None:
    path = tmp_path / "many.zip"
    write(path, [(f"{n:06d}", b"%d" % n) for n in range(70_000)])
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        assert len(infos) == 70_000
        assert zf.read(infos[-1]) == b"69999" and zf.read(infos[65_536]) == b"65536"


def test_offsets_past_the_32_bit_limit_go_to_zip64_extra_fields(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # A 4 GiB archive is too big for a unit test: lower the point where ZIP64 starts instead.
    monkeypatch.setattr(storedzip, "_ZIP64_FROM", 2_000)
    path = tmp_path / "far.zip"
    write(path, MEMBERS[:40])
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert [(i.filename, zf.read(i)) for i in zf.infolist()] == MEMBERS[:40]
        assert max(i.header_offset for i in zf.infolist()) > 2_000
    if shutil.which("unzip"):
        assert subprocess.run(["unzip", "-tqq", str(path)], capture_output=True).returncode == 0


@pytest.mark.skipif(shutil.which("unzip") is None, reason="unzip not installed")
def test_unzip_tests_the_archive_clean(tmp_path: Path) -> None:
    path = tmp_path / "qr.zip"
    write(path, MEMBERS)
    result = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True)
    assert result.returncode == 0 and "No errors detected" in result.stdout
