"""Voucher 核销, the store ledger and settlement statements through the API."""

from __future__ import annotations

from flask import Blueprint

from app.errors import json_errors
from app.rules_api import require_api_token

bp = Blueprint("settlement_api", __name__, url_prefix="/api/v1/channel")
bp.before_request(require_api_token)
json_errors(bp)
