"""The body of a bulk 出库 upload (POST /api/v1/channel/shipments), read into numbered lines.

Three shapes, as scanner guns, PDAs and spreadsheets send them:
- JSON: {"to_distributor": id | "to_store": id, "reference": "...", "codes": ["<code or scan URL>", ...]};
  a code's line number is its position in `codes`, from 1.
- text/plain: one code or scan URL per line.
- text/csv: a header row naming a `code` column (any case; other columns are ignored), or no header and one
  code per line. Line numbers are the file's own, header included, so a spreadsheet user finds the row.
Blank lines are skipped. A UTF-8 byte-order mark (Excel's CSV) is dropped. The receiver and reference come
from the query string for the text shapes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from app.errors import RequestError
from codegen.errors import Kind

SQL_INT_MAX = (1 << 31) - 1
JSON_FIELDS = frozenset({"to_distributor", "to_store", "reference", "codes"})


class UploadError(RequestError):
    """The upload is not in a shape the API reads; the message says why."""

    code = "invalid_request"
    kind = Kind.INVALID


@dataclass(frozen=True)
class Upload:
    to_distributor: int | None
    to_store: int | None
    reference: str
    lines: list[tuple[int, str]]


def _id(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if not value.isdigit() or len(value) > 10:
            raise UploadError(f"{name} must be an id (a positive integer)")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= SQL_INT_MAX:
        raise UploadError(f"{name} must be an id (a positive integer)")
    return value


def _reference(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UploadError("reference must be a string")
    return value


def from_json(body: Any) -> Upload:
    if not isinstance(body, dict):
        raise UploadError("the body must be a JSON object")
    unknown = body.keys() - JSON_FIELDS
    if unknown:
        raise UploadError(f"unknown field(s): {', '.join(sorted(unknown))}")
    codes = body.get("codes")
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise UploadError("codes must be a list of codes or scan URLs (strings)")
    lines = [(n, c) for n, c in enumerate(codes, start=1) if c.strip()]
    return Upload(_id(body.get("to_distributor"), "to_distributor"), _id(body.get("to_store"), "to_store"),
                  _reference(body.get("reference")), lines)


def from_text(data: bytes, mimetype: str, args: dict[str, str]) -> Upload:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadError("the body must be UTF-8 text") from None
    if "\x00" in text:
        raise UploadError("the body must be text")
    lines = _csv_lines(text) if mimetype == "text/csv" else None
    if lines is None:
        lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    return Upload(_id(args.get("to_distributor"), "to_distributor"), _id(args.get("to_store"), "to_store"),
                  args.get("reference", ""), lines)


def _csv_lines(text: str) -> list[tuple[int, str]] | None:
    """The `code` column with each row's line number; None when the first row names no `code` column."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return None
    names = [h.strip().lower() for h in header]
    if "code" not in names:
        return None
    at = names.index("code")
    lines = []
    try:
        for row in reader:
            if at < len(row) and row[at].strip():
                lines.append((reader.line_num, row[at].strip()))
    except csv.Error as exc:
        raise UploadError(f"line {reader.line_num}: not CSV ({exc})") from None
    return lines

