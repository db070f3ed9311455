"""The consumer pages' strings for a voucher prize's redemption QR (zh-CN first, English), merged into
app.i18n's catalogue."""

from __future__ import annotations

VOUCHER_MESSAGES: dict[str, dict[str, str]] = {
    "zh": {
        "voucher_show": "到店出示此码核销",
        "voucher_hint": "店员用手机扫码后点「确认核销」即可兑换；每张券只能核销一次。",
        "voucher_redeemed": "已于 {time} 在 {store} 核销",
        "voucher_void": "此券已作废，不能核销。",
        "voucher_missing": "此券暂时无法核销：请用中奖的手机再扫一次瓶盖码。",
    },
    "en": {
        "voucher_show": "Show this at a store to redeem",
        "voucher_hint": "The clerk scans it and taps 确认核销 (redeem); a voucher is redeemed once.",
        "voucher_redeemed": "Redeemed at {store} on {time}",
        "voucher_void": "This voucher is void and cannot be redeemed.",
        "voucher_missing": "This voucher cannot be redeemed right now: scan the cap again with the winning phone.",
    },
}
