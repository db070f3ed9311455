"""The redemption lookup through the API: GET /api/v1/channel/codes/<code> (a bare code) and
POST /api/v1/channel/lookup {"code": "<code or scan URL>"} (a scan URL does not fit in a path segment).

A seat's token (role "channel") or a brand token looks up codes of its brand; the platform token names the
brand with ?brand=<slug>. A code that is not genuine is an answer (200, "genuine": false, with the reason),
not an error: it is what the caller asked to know.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

from flask import Blueprint, jsonify, request

from app.api import BadRequest
from app.channel_access import api_scope
from app.dist_lookup_views import WORDS, run_lookup
from app.errors import json_errors
from app.rules_api import require_api_token
from channel.lookup import CodeLookup
from codegen.codeformat import MAX_INPUT_LENGTH

bp = Blueprint("lookup_api", __name__, url_prefix="/api/v1/channel")
bp.before_request(require_api_token)
json_errors(bp)


@bp.get("/codes/<code>")
def code(code: str) -> Any:
    return jsonify(lookup_json(run_lookup(api_scope(), code)))


@bp.post("/lookup")
def lookup() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) - {"code"}:
        raise BadRequest('the body must be a JSON object {"code": "<code or scan URL>"}')
    text = body.get("code")
    if not isinstance(text, str) or not text or len(text) > MAX_INPUT_LENGTH:
        raise BadRequest(f"code must be a code or a scan URL of 1 to {MAX_INPUT_LENGTH} characters")
    return jsonify(lookup_json(run_lookup(api_scope(), text)))


def lookup_json(result: CodeLookup) -> dict[str, Any]:
    """The lookup as JSON (app/openapi_lookup.py documents it): times in ISO 8601 UTC, dates ISO."""
    out: dict[str, Any] = _plain(result)
    out["reason"] = result.reason or None
    out["message"] = WORDS[result.reason][1] if result.reason else "A genuine code of this brand."
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
