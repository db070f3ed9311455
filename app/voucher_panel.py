"""The consumer's side of 核销: the redemption QR of a voucher prize on the scan and claim pages.

The QR encodes `<base_url>/dist/redeem/v/<token>` (channel/vouchers.py): the clerk's phone opens it and
redeems. It is drawn here as an inline SVG (no external service, nothing the CSP refuses). The scan page
never waits on SQL: it shows the QR at once and asks for the voucher's state afterwards (htmx, from
GET /dist/redeem/v/<token>/panel), which also tells the consumer when the store has redeemed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import qrcode
from flask import current_app, url_for
from markupsafe import Markup

from app.runtime import member_secret
from channel.vouchers import VoucherState, voucher_key, voucher_token

CHINA = ZoneInfo("Asia/Shanghai")
_KEY = "yima.voucher_key"


def app_voucher_key() -> bytes:
    """The app's voucher MAC key, derived once from its member secret (as the receipt key is)."""
    ext = current_app.extensions
    if _KEY not in ext:
        ext[_KEY] = voucher_key(member_secret(current_app.config["YIMA"]))
    return ext[_KEY]  # type: ignore[no-any-return]


def qr_svg(text: str) -> Markup:
    """`text` as a QR symbol (level M), an SVG of one path of dark-module runs on a white square."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    qr.add_data(text)
    qr.make(fit=True)
    modules = qr.get_matrix()  # the quiet zone included
    parts: list[str] = []
    for y, row in enumerate(modules):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            start = x
            while x < len(row) and row[x]:
                x += 1
            parts.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
    side = len(modules)
    return Markup(  # noqa: S704 - built only from numbers
        f'<svg xmlns="http://www.w3.org/2000/svg" class="voucher-qr" viewBox="0 0 {side} {side}" '
        f'shape-rendering="crispEdges" role="img" aria-label="QR"><rect width="{side}" height="{side}" '
        f'fill="#fff"/><path fill="#000" d="{"".join(parts)}"/></svg>')


@dataclass(frozen=True)
class VoucherPanel:
    award_id: str
    token: str
    url: str  # what the QR encodes
    state: VoucherState | None = None  # None: not read (the scan page asks for it afterwards)

    @property
    def svg(self) -> Markup:
        return qr_svg(self.url)

    @property
    def redeemed_at(self) -> str:
        at = self.state.redeemed_at if self.state else None
        return at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if isinstance(at, datetime) else ""


def voucher_panel(award_id: str, state: VoucherState | None = None) -> VoucherPanel | None:
    """The panel of an award's voucher; None for an id that is not an award's."""
    try:
        token = voucher_token(app_voucher_key(), award_id)
    except ValueError:
        return None
    url = current_app.config["YIMA"].base_url + url_for("dist_redeem.voucher", token=token)
    return VoucherPanel(award_id, token, url, state)
