"""Voucher 核销 on a store clerk's phone: scan the consumer's voucher QR, redeem it once."""

from __future__ import annotations

from flask import Blueprint

from app.errors import page_errors

bp = Blueprint("dist_redeem", __name__, url_prefix="/dist/redeem")
page_errors(bp)
