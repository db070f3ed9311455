"""窜货 on a phone: a distributor's report, the brand's alerts, the inspector's (稽查) scan."""

from __future__ import annotations

from flask import Blueprint

from app.errors import page_errors

bp = Blueprint("dist_diversion", __name__, url_prefix="/dist/diversion")
page_errors(bp)
