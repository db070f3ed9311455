"""The channel in the console: distributors (territories, tiers), stores, channel staff, the brand's channel policy."""

from __future__ import annotations

from flask import Blueprint

from app.errors import page_errors

bp = Blueprint("ops_channel", __name__, url_prefix="/ops/channel")
page_errors(bp)
