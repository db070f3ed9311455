"""The channel's phone pages (/dist): the home page with the tiles of what this seat may do, and the brand
picker for brand staff with several brands. Each room has its own module (shipments, lookup, 核销, 窜货,
B-side scans); they share the scope from app/channel_access.py and the layout templates/dist/base.html.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from app.auth import current_principal, login_required, tr
from app.brand_scope import readable_brands
from app.channel_access import page_scope
from app.errors import page_errors
from channel.errors import ChannelNotFound
from channel.scope import ChannelScope

bp = Blueprint("dist", __name__, url_prefix="/dist")
page_errors(bp)

SEAT_WORDS = {"brand": ("品牌管理", "Brand staff"), "warehouse": ("仓库", "Warehouse"),
              "inspector": ("稽查", "Inspector"), "distributor": ("经销商", "Distributor"),
              "clerk": ("门店核销员", "Store clerk"),
              "waiter": ("服务员 / 导购", "Waiter")}


@bp.app_context_processor
def channel_helpers() -> dict[str, Any]:
    def seat_label(scope: ChannelScope) -> str:
        zh, en = SEAT_WORDS.get(scope.kind, (scope.kind, scope.kind))
        return tr(zh, en)

    return {"seat_label": seat_label}

# (endpoint, zh, en, who may see it): "all" or seat kinds / "brand" (brand staff). A tile whose page is not
# registered is left out (has_endpoint in the template).
TILES = (
    ("dist_ship.new", "扫码出库", "Ship cases (出库)", ("brand", "warehouse", "distributor")),
    ("dist_ship.inbox", "确认入库", "Receive (入库)", ("brand", "distributor", "clerk")),
    ("dist_ship.index", "出入库记录", "Shipments", ("brand", "warehouse", "distributor", "clerk")),
    ("dist_lookup.page", "查码", "Look a code up", "all"),
    ("dist_redeem.scan", "扫码核销", "Redeem a voucher", ("clerk",)),
    ("dist_bside.open_case", "开箱扫码", "Open a case", ("clerk", "waiter")),
    ("dist_bside.open_bottle", "开瓶扫码", "Open a bottle", ("waiter",)),
    ("dist_settlement.index", "结算对账", "Settlement", ("brand", "clerk")),
    ("dist_diversion.report", "窜货报告", "Diversion report", ("brand", "inspector", "distributor")),
    ("dist_diversion.inspect", "稽查扫码", "Inspect a code", ("brand", "inspector")),
)


@bp.route("")
@login_required
def home() -> Any:
    who = current_principal()
    assert who is not None
    try:
        scope = page_scope()
    except ChannelNotFound:
        if request.args.get("brand"):
            raise  # a brand named that the caller may not see (or none such): 404
        return render_template("dist/choose_brand.html", brands=readable_brands(who)), (200 if who.brands else 404)
    tiles = [(e, zh, en) for e, zh, en, kinds in TILES if kinds == "all" or scope.kind in kinds]
    return render_template("dist/home.html", scope=scope, tiles=tiles)
