"""The redemption lookup on a phone: scan or type a code, see what it is and where it has been."""

from __future__ import annotations

from flask import Blueprint

from app.errors import page_errors

bp = Blueprint("dist_lookup", __name__, url_prefix="/dist/lookup")
page_errors(bp)
