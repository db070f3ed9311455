"""出库 / 入库 on a phone: build a shipment by scanning case codes, ship it, confirm receipt, undo."""

from __future__ import annotations

from flask import Blueprint

from app.errors import page_errors

bp = Blueprint("dist_ship", __name__, url_prefix="/dist/shipments")
page_errors(bp)
