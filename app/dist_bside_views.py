"""B-side scans through the rules engine: a store's 开箱 scan, a waiter's 开瓶 scan."""

from __future__ import annotations

from flask import Blueprint

from app.errors import page_errors

bp = Blueprint("dist_bside", __name__, url_prefix="/dist/scan")
page_errors(bp)
