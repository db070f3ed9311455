"""Checking a generated directory: every file against the manifest, every code against the batch key."""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codegen.codeformat import CodeError, CodeSigner, Role, verify
from codegen.fileio import file_sha256
from codegen.generate import (
    CASE_COLUMNS,
    ITEM_COLUMNS,
    MANIFEST,
    PARALLEL_THRESHOLD,
    reset_worker_signals,
    role_counts,
    scan_url,
)
from codegen.manifest import ManifestError, generated_ranges, load_manifest
from codegen.ticket import BatchTicket

MAX_PROBLEMS_PER_FILE = 20


@dataclass
class VerifyReport:
    files: int = 0
    codes: int = 0
    problems: list[str] = field(default_factory=list)


def _check_codes_file(ticket: BatchTicket, path: Path, entry: dict[str, Any]) -> tuple[int, list[str]]:
    """Every row of one code file: expected serial order, role, code (re-signed and compared), URL."""
    role = Role.parse(entry["role"])
    signer = CodeSigner(ticket.batch_key, role=role, key_id=ticket.key_id, batch_id=ticket.batch_id)
    problems: list[str] = []
    name = path.name

    def problem(msg: str) -> None:
        if len(problems) < MAX_PROBLEMS_PER_FILE:
            problems.append(f"{name}: {msg}")

    columns = CASE_COLUMNS if role is Role.CASE else ITEM_COLUMNS
    expected_serial = int(entry["first_serial"])
    rows = 0
    with path.open("r", encoding="ascii", errors="replace", newline="") as fh:
        if fh.readline().rstrip("\r\n") != ",".join(columns):
            problem("header row is not " + ",".join(columns))
        for lineno, line in enumerate(fh, start=2):
            parts = line.rstrip("\r\n").split(",")
            rows += 1
            if len(parts) != len(columns):
                problem(f"line {lineno}: {len(parts)} fields, expected {len(columns)}")
                expected_serial += 1
                continue
            serial_s, role_s, code, url = parts[:4]
            if serial_s != str(expected_serial) or role_s != role.label:
                problem(f"line {lineno}: serial/role {serial_s}/{role_s}, expected {expected_serial}/{role.label}")
            if code != signer.code(expected_serial):
                try:
                    fields = verify(code, ticket.key_for)
                    where = f"{fields.role.label} serial {fields.serial}"
                    problem(f"line {lineno}: genuine code of {where} in the wrong row")
                except CodeError as exc:
                    problem(f"line {lineno}: code does not verify ({exc})")
            elif url != scan_url(ticket.base_url, code):
                problem(f"line {lineno}: URL does not match the code")
            expected_serial += 1
    if rows != entry["rows"] or expected_serial - 1 != entry["last_serial"]:
        problem(f"{rows} rows, manifest says {entry['rows']}")
    return rows, problems


def _check_job(args: tuple[BatchTicket, Path, dict[str, Any]]) -> tuple[int, list[str]]:
    return _check_codes_file(*args)


def verify_output(out_dir: Path, ticket: BatchTicket, jobs: int = 0) -> VerifyReport:
    report = VerifyReport()
    try:
        manifest = load_manifest(out_dir, ticket)
    except ManifestError as exc:
        report.problems.append(str(exc))
        return report

    listed = {entry["name"] for entry in manifest["files"]}
    for path in sorted(out_dir.iterdir()):
        if path.name != MANIFEST and not path.name.startswith(".") and path.name not in listed:
            report.problems.append(f"{path.name}: not in the manifest")

    code_jobs = []
    for entry in manifest["files"]:
        path = out_dir / entry["name"]
        if not path.is_file():
            report.problems.append(f"{entry['name']}: missing")
            continue
        report.files += 1
        if path.stat().st_size != entry["bytes"] or file_sha256(path) != entry["sha256"]:
            report.problems.append(f"{entry['name']}: SHA-256 does not match the manifest (altered or truncated)")
            continue
        if entry["kind"] == "codes":
            code_jobs.append((ticket, path, entry))

    expected = {role.label: [(0, n - 1)] for role, n in role_counts(ticket).items()}
    if generated_ranges(manifest) != expected:
        report.problems.append("the code files do not cover every serial of the batch exactly")

    total = sum(int(e["rows"]) for _, _, e in code_jobs)
    jobs = jobs or (os.cpu_count() or 1)
    if jobs > 1 and total >= PARALLEL_THRESHOLD and len(code_jobs) > 1:
        pool = multiprocessing.get_context("fork").Pool(min(jobs, len(code_jobs)), initializer=reset_worker_signals)
        try:
            results = pool.map(_check_job, code_jobs)
            pool.close()
            pool.join()
        finally:
            pool.terminate()
    else:
        results = [_check_job(job) for job in code_jobs]
    for rows, problems in results:
        report.codes += rows
        report.problems.extend(problems)
    return report
