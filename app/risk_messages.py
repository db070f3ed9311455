"""The consumer page's strings for the risk layer's decisions (zh-CN first, English), merged into app.i18n's
catalogue. Truthful and polite: the code is genuine either way, and the page says what happens next."""

from __future__ import annotations

RISK_MESSAGES: dict[str, dict[str, str]] = {
    "zh": {
        "risk_hold": "为保障活动公平，这份奖品需要人工审核；审核通过后即可领取到账，一般在 1 个工作日内。",
        "risk_challenge": "这里扫码的人较多，本次先不抽奖。请过几分钟再扫一次，瓶盖码仍然有效。",
        "risk_no_prize": "本次扫码已验证为正品，但不参与抽奖：这部手机或账号近期的扫码触发了活动的防刷规则。"
                         "如有疑问，请联系品牌客服。",
        "risk_block": "本次扫码已验证为正品。这部手机或账号的活动奖励已暂停；如认为有误，请联系品牌客服申诉。",
    },
    "en": {
        "risk_hold": "To keep the campaign fair this prize is reviewed by a person first; once approved you can "
                     "claim it, usually within one working day.",
        "risk_challenge": "Many people are scanning here right now, so there is no draw this time. Scan again in "
                          "a few minutes: the code is still valid.",
        "risk_no_prize": "This code is genuine, but this scan does not enter the draw: recent scans from this "
                         "phone or account tripped the campaign's anti-abuse rules. Contact the brand if in doubt.",
        "risk_block": "This code is genuine. Rewards are paused for this phone or account; if you think this is a "
                      "mistake, contact the brand to appeal.",
    },
}
