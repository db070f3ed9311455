"""The bulk upload's body (app/shipment_upload.py): JSON, text and CSV into numbered lines."""

from __future__ import annotations

import pytest

from app.shipment_upload import UploadError, from_json, from_text


def test_json_lines_are_numbered_by_position_and_blanks_skipped() -> None:
    up = from_json({"to_distributor": 7, "reference": "SO-1", "codes": ["A", " ", "B"]})
    assert (up.to_distributor, up.to_store, up.reference, up.lines) == (7, None, "SO-1", [(1, "A"), (3, "B")])


@pytest.mark.parametrize("body", [[], {"codes": "A"}, {"codes": [1]}, {"codes": [], "x": 1},
                                  {"codes": [], "to_distributor": True}, {"codes": [], "to_store": 2**31},
                                  {"codes": [], "reference": 5}])
def test_json_shapes_refused(body: object) -> None:
    with pytest.raises(UploadError):
        from_json(body)


def test_csv_with_a_code_column_keeps_the_files_line_numbers() -> None:
    data = '\ufeffwhen,Code\n2026-12-01,"AAA"\n\n2026-12-02,BBB\n'.encode()
    up = from_text(data, "text/csv", {"to_distributor": "3", "reference": "R"})
    assert (up.to_distributor, up.reference, up.lines) == (3, "R", [(2, "AAA"), (4, "BBB")])


def test_text_and_headerless_csv_take_one_code_per_line() -> None:
    for mimetype in ("text/plain", "text/csv"):
        assert from_text(b"A\r\n\r\n https://q.x/q/B \n", mimetype, {}).lines == [(1, "A"), (3, "https://q.x/q/B")]


@pytest.mark.parametrize("data, args", [(b"\xff\xfe", {}), (b"A\x00", {}), (b"A", {"to_distributor": "-1"}),
                                        (b"A", {"to_store": "x"})])
def test_text_refused(data: bytes, args: dict[str, str]) -> None:
    with pytest.raises(UploadError):
        from_text(data, "text/plain", args)
