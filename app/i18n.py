"""The consumer page's two languages: zh-CN by default, English by Accept-Language or the switch."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, request

from app.claim_messages import CLAIM_MESSAGES
from app.location_messages import LOCATION_MESSAGES
from app.risk_messages import RISK_MESSAGES
from app.voucher_messages import VOUCHER_MESSAGES

LANGUAGES = ("zh", "en")
COOKIE = "yima_lang"

MESSAGES: dict[str, dict[str, str]] = {
    "zh": {
        "title": "扫码验真",
        "genuine": "正品验证通过",
        "not_genuine": "非正品码",
        "not_genuine_text": "这不是本品牌发放的二维码，或二维码已损坏。",
        "report_hint": "如怀疑买到假货，请保留商品和购买凭证，联系品牌客服举报。",
        "first_scan": "首次扫码",
        "first_scan_text": "您是第一位扫描此码的人。",
        "repeat": "该码已被扫描 {count} 次",
        "repeat_first": "首次扫描：{time}{place}",
        "repeat_warning": "若您刚刚开封，此码却已被扫过，请谨慎：商品可能被调换。",
        "repeat_mine": "首次扫描就是用这台手机完成的。",
        "not_on_sale": "正品，尚未上市销售",
        "not_on_sale_text": "此商品尚未激活销售，暂不参与活动。",
        "void": "此码已作废",
        "void_text": "此码所属批次区段已作废（如召回或损毁），不参与任何活动。",
        "rate_limited": "操作过于频繁",
        "rate_limited_text": "请稍后再试。",
        "unavailable": "服务繁忙",
        "unavailable_text": "验证服务暂时不可用，请稍后再扫。",
        "product": "产品",
        "brand": "品牌",
        "lot": "批次",
        "production_date": "生产日期",
        "factory": "生产工厂",
        "code_kind_inner": "盖内码（兑奖码）",
        "code_kind_outer": "防伪溯源码",
        "code_kind_case": "箱码",
        "code_kind_pallet": "垛码",
        "code_type": "码类型",
        "serial": "流水号",
        "reward": "扫码有礼",
        "reward_none": "此码暂无进行中的活动。",
        "you_won": "恭喜您获得",
        "already_won": "此码已中奖",
        "cash_amount": "现金红包 ¥{amount}",
        "points_amount": "{points} 积分",
        "thanks": "谢谢参与",
        "coupon_code": "券码：",
        "redeem_hint": "请凭此页面到门店兑换。",
        "already_drawn": "此码已参与过抽奖。",
        "capped": "您已达到本活动的领奖上限。",
        "receipt_no": "中奖凭证号",
        "receipt_hint": "本机已保存中奖凭证；如奖品未显示，请用本机再次扫码。",
        "draw_unavailable": "活动繁忙，请稍后用本机再次扫码参与抽奖。",
        "trace": "溯源信息",
        "switch": "English",
        "unknown_place": "",
    },
    "en": {
        "title": "Verify your product",
        "genuine": "Genuine product",
        "not_genuine": "Not a genuine code",
        "not_genuine_text": "This code was not issued by the brand, or it is damaged.",
        "report_hint": (
            "If you think you bought a counterfeit, keep the product and receipt and report it to the brand."
        ),
        "first_scan": "First scan",
        "first_scan_text": "You are the first person to scan this code.",
        "repeat": "This code has been scanned {count} times",
        "repeat_first": "First scanned {time}{place}",
        "repeat_warning": "If you have just opened this product, be careful: it may have been tampered with.",
        "repeat_mine": "The first scan was made with this phone.",
        "not_on_sale": "Genuine, not yet on sale",
        "not_on_sale_text": "This item has not been released for sale yet and takes part in no promotion.",
        "void": "This code has been voided",
        "void_text": "The range this code belongs to was voided (recall or damage); it takes part in no promotion.",
        "rate_limited": "Too many scans",
        "rate_limited_text": "Please try again in a minute.",
        "unavailable": "Service busy",
        "unavailable_text": "Verification is temporarily unavailable. Please scan again shortly.",
        "product": "Product",
        "brand": "Brand",
        "lot": "Lot",
        "production_date": "Production date",
        "factory": "Factory",
        "code_kind_inner": "Under-cap reward code",
        "code_kind_outer": "Authenticity and trace code",
        "code_kind_case": "Case code",
        "code_kind_pallet": "Pallet code",
        "code_type": "Code type",
        "serial": "Serial",
        "reward": "Rewards",
        "reward_none": "No promotion is running for this code.",
        "you_won": "Congratulations, you won",
        "already_won": "This code has already won",
        "cash_amount": "a ¥{amount} red packet",
        "points_amount": "{points} points",
        "thanks": "Thanks for taking part",
        "coupon_code": "Coupon code:",
        "redeem_hint": "Show this page at a store to redeem it.",
        "already_drawn": "This code has already taken part in the draw.",
        "capped": "You have reached this promotion's prize limit.",
        "receipt_no": "Receipt no.",
        "receipt_hint": "This phone keeps your prize receipt; if the prize ever goes missing, scan again here.",
        "draw_unavailable": "The promotion is busy: scan again with this phone in a moment to take part.",
        "trace": "Trace",
        "switch": "中文",
        "unknown_place": "",
    },
}


for _catalogue in (LOCATION_MESSAGES, CLAIM_MESSAGES, VOUCHER_MESSAGES, RISK_MESSAGES):
    for _lang, _texts in _catalogue.items():
        MESSAGES[_lang].update(_texts)


def choose_language() -> str:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    saved = request.cookies.get(COOKIE)
    if saved in LANGUAGES:
        return saved
    best = request.accept_languages.best_match(["zh", "zh-CN", "en"], default="zh")
    return "en" if best.startswith("en") else "zh"


def translate(key: str, **values: Any) -> str:
    text = MESSAGES[g.get("lang", "zh")].get(key) or MESSAGES["zh"][key]
    return text.format(**values) if values else text


def init_app(app: Flask) -> None:
    app.jinja_env.globals["_"] = translate
