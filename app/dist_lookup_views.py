"""The redemption lookup on a phone: scan or type a code, see what it is and where it has been.

GET /dist/lookup shows the scan box; GET /dist/lookup?code=… (a shared link, what a phone's scanner opens)
and POST (the box; htmx swaps in only the result card) answer with the lookup. Every channel seat and
brand staff may look up their brand's codes (channel/lookup.py decides what each may see).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, current_app, render_template, request
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.auth import login_required, tr
from app.campaign_labels import value_label
from app.channel_access import code_keys, page_scope
from app.console_format import local_time
from app.errors import page_errors
from app.payout_labels import STATES as PAYOUT_STATES
from channel.lookup import CodeLookup, lookup_code
from channel.scope import ChannelScope

bp = Blueprint("dist_lookup", __name__, url_prefix="/dist/lookup")
page_errors(bp)

# The clerk's words for what the lookup answers (channel/lookup.py's codes).
WORDS: dict[str, tuple[str, str]] = {
    "malformed": ("这不是有效的码：可能输错、扫描不完整，或是其他系统的条码。",
                  "Not a code at all: a typo, a partial scan, or another system's barcode."),
    "not_this_brand": ("这不是本品牌的码。", "Not a code of this brand."),
    "forged": ("伪造码：码的签名不符，或此码从未印制。",
               "Forged: its signature does not match, or it was never printed."),
    "on_sale": ("在售", "On sale"), "not_on_sale": ("正品，尚未激活上市", "Genuine, not on sale yet"),
    "void": ("已作废", "Void"),
    "inner": ("盖内码", "inner code"), "outer": ("盖外码", "outer code"), "case": ("箱码", "case code"),
    "first": ("首次扫码", "first scan"), "repeat": ("重复扫码", "repeat"),
    "gps": ("手机定位", "phone location"), "ip": ("IP 推断", "from IP"), "none": ("位置未知", "no location"),
    "warehouse": ("品牌仓库", "Brand warehouse"), "distributor": ("其他经销商", "another distributor"),
    "store": ("其他门店", "another store"),
    "shipped": ("已发货", "shipped"), "received": ("已收货", "received"),
}


def words(key: str) -> str:
    zh, en = WORDS.get(key) or value_label(key)
    return tr(zh, en)


def money(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


def payout_state(state: str) -> str:
    zh, en = PAYOUT_STATES.get(state, (state, state))
    return tr(zh, en)


@bp.context_processor
def lookup_helpers() -> dict[str, Any]:
    return {"words": words, "money": money, "payout_state": payout_state, "local_time": local_time}


@contextmanager
def lookup_session(engine: Engine) -> Iterator[Session]:
    """A session outside any transaction: the lookup only reads, and on a busy database host the BEGIN and
    ROLLBACK round trips cost it as much as its queries (bench/channel_lookup.py measured both ways)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn, Session(conn) as session:
        yield session


def run_lookup(scope: ChannelScope, text: str) -> CodeLookup:
    """The one domain call, with the app's keyring lookup and Redis (also used by the API)."""
    ext = current_app.extensions
    with lookup_session(ext["yima.db"].engine) as s:
        return lookup_code(s, scope, text, code_keys(), redis=ext["yima.redis"])


@bp.route("", methods=["GET", "POST"])
@login_required
def page() -> Any:
    scope = page_scope()
    text = (request.form.get("code", "") if request.method == "POST" else request.args.get("code", "")).strip()
    result = run_lookup(scope, text) if text else None
    if request.method == "POST" and request.headers.get("HX-Request"):
        return render_template("dist/lookup_result.html", result=result, asked=bool(text))
    return render_template("dist/lookup.html", scope=scope, result=result, code=text, asked=bool(text))
