"""The console's words for payout states, event sources and the providers' error codes (zh-CN first).

The codes are WeChat Pay's: 商家转账 (v3) error codes and fail_reason values, and 现金红包 err_code. A code
not listed shows as itself.
"""

from __future__ import annotations

from app.auth import tr

STATES: dict[str, tuple[str, str]] = {
    "pending": ("待发放", "Pending"),
    "submitted": ("处理中", "Submitted"),
    "awaiting_user": ("待确认收款", "Awaiting the consumer"),
    "succeeded": ("已到账", "Paid"),
    "failed": ("失败", "Failed"),
    "expired": ("已过期", "Expired"),
    "cancelled": ("已撤销", "Cancelled"),
    "unknown": ("待查询", "Unclear, querying"),
}
# The pill colour of each state (ops.css .status.<tone>).
TONES = {"pending": "draft", "submitted": "draft", "awaiting_user": "paused", "succeeded": "active",
         "failed": "void", "expired": "void", "cancelled": "ended", "unknown": "paused"}
SOURCES: dict[str, tuple[str, str]] = {
    "submit": ("提交", "submit"), "query": ("查询", "query"), "callback": ("回调", "callback"),
    "operator": ("操作员", "operator"), "expiry": ("过期", "expiry"), "cap": ("限额", "cap"),
    "claim": ("领取", "claim"),
}
REASONS: dict[str, tuple[str, str]] = {
    "SYSTEM_ERROR": ("微信支付系统繁忙", "WeChat Pay busy (system error)"),
    "SYSTEMERROR": ("微信支付系统繁忙", "WeChat Pay busy (system error)"),
    "FREQUENCY_LIMITED": ("请求频率超限", "Rate limited by WeChat Pay"),
    "FREQ_LIMIT": ("请求频率超限", "Rate limited by WeChat Pay"),
    "SECOND_OVER_LIMITED": ("每分钟发放超限", "Per-minute limit reached"),
    "NOT_ENOUGH": ("商户运营账户余额不足", "Merchant balance too low"),
    "NOTENOUGH": ("商户运营账户余额不足", "Merchant balance too low"),
    "INVALID_REQUEST": ("请求无效（如超出单笔或单日额度）", "Invalid request (e.g. over a per-bill or daily limit)"),
    "PARAM_ERROR": ("参数错误", "Parameter error"),
    "NO_AUTH": ("无权限或被微信风控拦截", "Not permitted, or blocked by WeChat's risk control"),
    "USER_ERROR": ("商户账户存在异常", "Merchant account problem"),
    "FATAL_ERROR": ("单号重复但参数不一致", "Bill number reused with other parameters"),
    "SEND_FAILED": ("红包发放失败", "Red packet not sent"),
    "DAY_OVER_LIMITED": ("商户当日发放个数超限", "Merchant's daily count reached"),
    "SENDNUM_LIMIT": ("用户今日领取个数超限", "Consumer's daily count reached"),
    "MONEY_LIMIT": ("金额超出限制", "Amount out of range"),
    "OPENID_ERROR": ("openid 与 appid 不匹配", "openid does not belong to the app id"),
    "OVERDUE_CLOSE": ("用户超时未确认收款，已关闭", "Not confirmed in time; closed"),
    "ACCOUNT_FROZEN": ("用户账户已冻结", "Consumer's account frozen"),
    "REAL_NAME_CHECK_FAIL": ("用户未完成实名认证", "Consumer not real-name verified"),
    "NAME_NOT_CORRECT": ("姓名校验不一致", "Name does not match"),
    "OPENID_INVALID": ("openid 无效", "Invalid openid"),
    "TRANSFER_QUOTA_EXCEED": ("超出商户转账额度", "Over the merchant's transfer quota"),
    "DAY_RECEIVED_QUOTA_EXCEED": ("用户当日收款金额超限", "Consumer's daily amount reached"),
    "MONTH_RECEIVED_QUOTA_EXCEED": ("用户当月收款金额超限", "Consumer's monthly amount reached"),
    "DAY_RECEIVED_COUNT_EXCEED": ("用户当日收款次数超限", "Consumer's daily count reached"),
    "ACCOUNT_NOT_EXIST": ("用户账户不存在", "Consumer's account does not exist"),
    "TRANSFER_RISK": ("转账存在风险，已被拦截", "Blocked as risky"),
    "RECEIVE_ACCOUNT_NOT_PERMMIT": ("用户账户不支持收款", "Consumer's account cannot receive"),
    "PAYER_ACCOUNT_ABNORMAL": ("商户账户异常", "Merchant account abnormal"),
    "PAYEE_ACCOUNT_ABNORMAL": ("用户账户异常", "Consumer's account abnormal"),
    "PRODUCT_AUTH_CHECK_FAIL": ("商户未开通该产品权限", "Product not enabled for the merchant"),
    "TIMEOUT": ("请求超时（将查询）", "Timed out (will query)"),
}
RECONCILE_WHAT: dict[str, tuple[str, str]] = {
    "missing": ("账单有、台账无", "At the provider, not in the ledger"),
    "extra": ("台账有、账单无", "In the ledger, not at the provider"),
    "mismatched": ("金额或状态不一致", "Amount or state differs"),
}


def state_label(state: str) -> str:
    zh, en = STATES.get(state, (state, state))
    return tr(zh, en)


def source_label(source: str) -> str:
    zh, en = SOURCES.get(source, (source, source))
    return tr(zh, en)


def reason_label(code: str) -> str:
    """The provider's code in words; "" for no code, the code itself when it is not one we know."""
    if not code:
        return ""
    zh, en = REASONS.get(code.strip().upper(), (code, code))
    return tr(zh, en)


def reconcile_label(what: str) -> str:
    zh, en = RECONCILE_WHAT.get(what, (what, what))
    return tr(zh, en)


def yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


def masked_openid(openid: str) -> str:
    """Enough to tell consumers apart on a list; the detail page shows it whole."""
    return openid if len(openid) <= 10 else f"{openid[:6]}…{openid[-4:]}"


def recon_side(value: object) -> str:
    """One side of a reconciliation line ({amount_fen, state} or a bare value) in words; "—" for none."""
    if value is None or value == "":
        return "—"
    if isinstance(value, dict):
        words = []
        if isinstance(value.get("amount_fen"), int):
            words.append(yuan(value["amount_fen"]))
        if isinstance(value.get("state"), str):
            words.append(state_label(value["state"]))
        rest = [f"{k}: {v}" for k, v in value.items() if k not in ("amount_fen", "state")]
        return " · ".join(words + rest) or "—"
    return str(value)


def label_helpers() -> dict[str, object]:
    """For a blueprint's context processor."""
    return {"state_label": state_label, "source_label": source_label, "reason_label": reason_label,
            "reconcile_label": reconcile_label, "recon_side": recon_side, "yuan": yuan,
            "masked_openid": masked_openid, "tones": TONES}
