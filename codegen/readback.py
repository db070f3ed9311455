"""Reconciling the line camera's read-back log with what was generated.

Each log line is a code or a scan URL. A line is foreign when it does not verify under the batch key or
names a serial that was never generated; a code read twice is a duplicate; a generated code never read is
missing (only for the roles the camera reads).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codegen.codeformat import CodeError, Role, extract_code, verify
from codegen.errors import CodegenError, Kind
from codegen.manifest import ManifestError, generated_ranges, load_manifest
from codegen.ranges import Range, format_ranges
from codegen.ticket import BatchTicket

MAX_EXAMPLES = 100


class ReadbackError(CodegenError):
    """The camera's readback file cannot be read as one."""

    code = "invalid_readback"
    kind = Kind.INVALID


@dataclass
class ReadbackReport:
    lines: int = 0
    read: dict[str, int] = field(default_factory=dict)  # distinct codes read, per role
    missing: dict[str, list[Range]] = field(default_factory=dict)
    duplicates: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # (serial, times read)
    duplicate_count: int = 0
    foreign: list[tuple[int, str, str]] = field(default_factory=list)  # (line number, text, why)
    foreign_count: int = 0

    @property
    def missing_count(self) -> int:
        return sum(b - a + 1 for ranges in self.missing.values() for a, b in ranges)

    @property
    def clean(self) -> bool:
        return not (self.missing_count or self.duplicate_count or self.foreign_count)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "read": self.read,
            "missing_count": self.missing_count,
            "missing": {role: [list(r) for r in ranges] for role, ranges in self.missing.items()},
            "duplicate_count": self.duplicate_count,
            "duplicates": {role: [list(d) for d in dups] for role, dups in self.duplicates.items()},
            "foreign_count": self.foreign_count,
            "foreign": [{"line": n, "text": t, "why": w} for n, t, w in self.foreign],
            "clean": self.clean,
        }

    def summary_lines(self) -> list[str]:
        out = [f"{self.lines:,} lines read; distinct codes per role: "
               + (", ".join(f"{r} {n:,}" for r, n in sorted(self.read.items())) or "none")]
        out.append(f"missing: {self.missing_count:,}")
        for role, ranges in sorted(self.missing.items()):
            if ranges:
                out.append(f"  {role} serials {format_ranges(ranges[:MAX_EXAMPLES])}")
        out.append(f"duplicated: {self.duplicate_count:,}")
        for role, dups in sorted(self.duplicates.items()):
            for serial, times in dups:
                out.append(f"  {role} serial {serial} read {times} times")
        out.append(f"foreign: {self.foreign_count:,}")
        for lineno, text, why in self.foreign:
            out.append(f"  line {lineno}: {text[:80]!r} ({why})")
        out.append("OK: every code read exactly once" if self.clean else "NOT OK: see above")
        return out


def _zero_runs(seen: bytearray, offset: int) -> list[Range]:
    return [(offset + m.start(), offset + m.end() - 1) for m in re.finditer(rb"\x00+", seen)]


def readback(
    ticket: BatchTicket, out_dir: Path, log: Iterable[str], roles: set[Role] | None = None
) -> ReadbackReport:
    try:
        manifest = load_manifest(out_dir, ticket)
    except ManifestError as exc:
        raise ReadbackError(str(exc)) from None
    generated = generated_ranges(manifest)
    # One counter byte per generated serial (saturating at 255): flat, and fast to scan for gaps.
    seen: dict[Role, bytearray] = {}
    spans: dict[Role, Range] = {}
    for label, ranges in generated.items():
        role = Role.parse(label)
        spans[role] = (ranges[0][0], ranges[-1][1])
        seen[role] = bytearray(ranges[-1][1] - ranges[0][0] + 1)

    report = ReadbackReport()

    def foreign(lineno: int, text: str, why: str) -> None:
        report.foreign_count += 1
        if len(report.foreign) < MAX_EXAMPLES:
            report.foreign.append((lineno, text, why))

    for lineno, raw in enumerate(log, start=1):
        text = raw.strip()
        if not text:
            continue
        report.lines += 1
        try:
            fields = verify(extract_code(text), ticket.key_for)
        except CodeError as exc:
            foreign(lineno, text, "another batch" if exc.reason == CodeError.UNKNOWN_KEY else exc.reason)
            continue
        span = spans.get(fields.role)
        if span is None or not span[0] <= fields.serial <= span[1]:
            foreign(lineno, text, f"{fields.role.label} serial {fields.serial} was not generated")
            continue
        counts = seen[fields.role]
        idx = fields.serial - span[0]
        if counts[idx] < 255:
            counts[idx] += 1

    wanted = roles if roles is not None else {r for r, c in seen.items() if any(c)}
    for role, counts in seen.items():
        report.read[role.label] = len(counts) - counts.count(0)
        dups = [(spans[role][0] + m.start(), counts[m.start()]) for m in re.finditer(rb"[\x02-\xff]", counts)]
        if dups:
            report.duplicate_count += sum(times - 1 for _, times in dups)
            report.duplicates[role.label] = dups[:MAX_EXAMPLES]
        if role in wanted:
            report.missing[role.label] = _zero_runs(counts, spans[role][0])
    return report
