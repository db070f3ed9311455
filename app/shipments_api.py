"""Shipments through the API: bulk 出库 from scanner guns, PDAs and CSV files; 入库; undo."""

from __future__ import annotations

from flask import Blueprint

from app.errors import json_errors
from app.rules_api import require_api_token

bp = Blueprint("shipments_api", __name__, url_prefix="/api/v1/channel")
bp.before_request(require_api_token)
json_errors(bp)
