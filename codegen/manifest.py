"""Reading an output directory's manifest.json (written by `generate`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from codegen.errors import CodegenError, Kind
from codegen.generate import MANIFEST, MANIFEST_FORMAT
from codegen.ranges import Range, merge
from codegen.ticket import BatchTicket


class ManifestError(CodegenError):
    """The output's manifest is missing, unreadable, or not of this ticket."""

    code = "invalid_manifest"
    kind = Kind.INVALID


def load_manifest(out_dir: Path, ticket: BatchTicket) -> dict[str, Any]:
    path = out_dir / MANIFEST
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ManifestError(
            f"no {MANIFEST} in {out_dir}: the output is incomplete (generation did not finish)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ManifestError(f"{path} is unreadable or corrupt") from None
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT or not isinstance(doc.get("files"), list):
        raise ManifestError(f"{path} is not a yima manifest")
    batch = doc.get("batch") or {}
    if batch.get("batch_id") != ticket.batch_id or batch.get("key_id") != ticket.key_id:
        raise ManifestError(
            f"{out_dir} holds batch {batch.get('batch_id')}, not the ticket's batch {ticket.batch_id}"
        )
    return doc


def generated_ranges(manifest: dict[str, Any]) -> dict[str, list[Range]]:
    """Serial ranges per role covered by the manifest's code files."""
    out: dict[str, list[Range]] = {}
    for entry in manifest["files"]:
        if entry.get("kind") == "codes":
            out.setdefault(entry["role"], []).append((int(entry["first_serial"]), int(entry["last_serial"])))
    return {role: merge(r) for role, r in out.items()}
