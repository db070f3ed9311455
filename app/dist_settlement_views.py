"""A store's reimbursement ledger and settlement statements; the brand settles them."""

from __future__ import annotations

from flask import Blueprint

from app.errors import page_errors

bp = Blueprint("dist_settlement", __name__, url_prefix="/dist/settlement")
page_errors(bp)
