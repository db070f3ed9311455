"""A fake WeChat shipped with yima: Pay v3 商家转账, legacy 现金红包 (v2 XML), OAuth and the MP API, on
its own port, so the real adapters (payouts/providers) run end to end in `make run` and the tests.

Start it with `yima fake-wechat --port N`, or in-process with `app.fake_wechat.server.FakeWechat`
(tests/support/fake_wechat.py). Its keys and state live under `<var_dir>/fake_wechat/`.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from app.fake_wechat.context import Fake
from app.fake_wechat.keys import ensure_demo_keys
from app.fake_wechat.notifier import Ticker
from app.fake_wechat.state import Clock, FakeState
from payouts import wechat_crypto


def create_fake_app(var_dir: Path, clock: Clock | None = None, *, persist: bool = True) -> Flask:
    """The fake's Flask app. Its background ticker (callbacks, expiry, saves) is running on return;
    `app.extensions["fake_wechat_ticker"].stop()` stops it."""
    from app.fake_wechat import confirm_views, control_views, redpack_views, transfer_views

    keys = ensure_demo_keys(var_dir)
    state = FakeState(clock or Clock(), keys.directory / "state.json" if persist else None)
    app = Flask(__name__)
    app.extensions["fake_wechat"] = Fake(state, keys, wechat_crypto.load_public_key(keys.merchant_public_file),
                                         wechat_crypto.load_private_key(keys.platform_key_file))
    for module in (transfer_views, confirm_views, control_views, redpack_views):
        app.register_blueprint(module.bp)
    ticker = Ticker(state, app.extensions["fake_wechat"].platform_key, keys.platform_key_id, keys.mchid,
                    keys.apiv3_key)
    ticker.start()
    app.extensions["fake_wechat_ticker"] = ticker
    return app
