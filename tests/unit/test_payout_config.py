"""The payouts settings read from the environment (app/config.py): defaults, the real rails' required
credentials, budget pacing, and secrets kept out of repr."""

from __future__ import annotations

import pytest

from app.config import ConfigError, load_config

REAL = {"YIMA_PAYOUT_PROVIDER": "wechat_transfer", "YIMA_WECHAT_MCHID": "1900000001", "YIMA_WECHAT_APPID": "wx1",
        "YIMA_WECHAT_APP_SECRET": "app-secret-value", "YIMA_WECHAT_MCH_KEY_FILE": "/run/secrets/mch.pem",
        "YIMA_WECHAT_MCH_SERIAL": "5157F09EFDC096DE15EBE81A47057A72", "YIMA_WECHAT_PAY_PUBLIC_KEY_FILE": "/run/pub.pem",
        "YIMA_WECHAT_PAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0114", "YIMA_WECHAT_APIV3_KEY": "k" * 32,
        "YIMA_WECHAT_NOTIFY_URL": "https://yima.example/wechat/pay/notify"}


def test_the_default_is_the_fake_rail_under_wechats_rate_limit() -> None:
    p = load_config({}).payouts
    assert (p.provider, p.rate_per_s, p.burst, p.on_expiry) == ("fake", 95.0, 5, "reissue")
    assert p.rate_per_s + p.burst <= 100  # 商家转账 allows 100 per second


def test_a_real_rail_needs_every_credential_and_a_32_character_apiv3_key() -> None:
    p = load_config(REAL).payouts
    assert (p.provider, p.mchid, p.api_base) == ("wechat_transfer", "1900000001", "https://api.mch.weixin.qq.com")
    with pytest.raises(ConfigError, match="YIMA_WECHAT_APIV3_KEY, YIMA_WECHAT_NOTIFY_URL"):
        load_config({k: v for k, v in REAL.items() if k not in ("YIMA_WECHAT_APIV3_KEY", "YIMA_WECHAT_NOTIFY_URL")})
    with pytest.raises(ConfigError, match="32-character"):
        load_config({**REAL, "YIMA_WECHAT_APIV3_KEY": "short"})
    with pytest.raises(ConfigError, match="YIMA_WECHAT_V2_KEY"):
        load_config({**REAL, "YIMA_PAYOUT_PROVIDER": "wechat_redpack"})
    with pytest.raises(ConfigError, match="must be one of"):
        load_config({"YIMA_PAYOUT_PROVIDER": "alipay"})


def test_secrets_stay_out_of_the_configs_repr() -> None:
    shown = repr(load_config(REAL))
    assert "app-secret-value" not in shown and "k" * 32 not in shown and "1900000001" in shown


def test_campaign_pacing_pairs() -> None:
    assert load_config({"YIMA_PAYOUT_CAMPAIGN_PACE": "12:5000, 15:20000"}).payouts.campaign_fen_per_hour == {
        12: 5000, 15: 20000}
    for bad in ("12", "12:0", "x:5", "12:-5"):
        with pytest.raises(ConfigError, match="campaign:fen_per_hour"):
            load_config({"YIMA_PAYOUT_CAMPAIGN_PACE": bad})
