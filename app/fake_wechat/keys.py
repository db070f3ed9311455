"""The demo merchant's identity, shared by the fake WeChat server and yima's side of `make run`.

Made once under `<var_dir>/fake_wechat/` and reused: the merchant key pair (yima signs requests with the
private half; the fake verifies with the public half), the fake platform key pair (the fake signs replies
and callbacks; yima verifies with the public half), the APIv3 key (callback encryption), the v2 key (red
packet MD5 signatures), the app secret (OAuth, JS-SDK tickets), and the ids. Every file is 0600; nothing
here is ever logged (DemoKeys' repr shows only the ids).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from payouts.providers.base import WechatCredentials
from payouts.wechat_crypto import new_key_pem

DIR_NAME = "fake_wechat"
_FILES = ("merchant_key.pem", "merchant_public.pem", "platform_key.pem", "platform_public.pem", "ids.json",
          "secrets.json")


@dataclass(frozen=True)
class DemoKeys:
    directory: Path
    mchid: str
    appid: str
    merchant_serial: str  # the merchant certificate serial yima puts in Authorization
    platform_key_id: str  # PUB_KEY_ID_…: the fake's Wechatpay-Serial
    merchant_key_file: Path  # yima: signs requests
    merchant_public_file: Path  # the fake: verifies them
    platform_key_file: Path  # the fake: signs replies and callbacks
    platform_public_file: Path  # yima: verifies them
    apiv3_key: str  # 32 characters
    v2_key: str  # 32 characters (red packets)
    app_secret: str  # OAuth code exchange and the JS-SDK access token

    def __repr__(self) -> str:
        return f"DemoKeys(directory={str(self.directory)!r}, mchid={self.mchid!r}, appid={self.appid!r})"

    def credentials(self, api_base: str, notify_url: str, timeout_s: float = 5.0) -> WechatCredentials:
        """yima's side of this identity, pointed at the fake at `api_base`."""
        return WechatCredentials(
            api_base=api_base.rstrip("/"), mchid=self.mchid, appid=self.appid,
            merchant_key_file=self.merchant_key_file, merchant_serial=self.merchant_serial,
            platform_public_key_file=self.platform_public_file, platform_key_id=self.platform_key_id,
            apiv3_key=self.apiv3_key, notify_url=notify_url, v2_key=self.v2_key, timeout_s=timeout_s)


def ensure_demo_keys(var_dir: Path) -> DemoKeys:
    """The demo identity under var_dir/fake_wechat/, created on first use. Safe when two processes start
    at once (`make run` starts the fake and the web app together): the set is built in a temporary
    directory and renamed into place; the loser of the race reads the winner's."""
    target = var_dir / DIR_NAME
    if not all((target / name).exists() for name in _FILES):
        var_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".fake_wechat-", dir=var_dir))
        try:
            _write_new_set(staging)
            try:
                staging.rename(target)
            except OSError:  # another process won (or an incomplete old set is in the way)
                if not all((target / name).exists() for name in _FILES):
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return _load(target)


def _write_new_set(directory: Path) -> None:
    merchant_key, merchant_public = new_key_pem()
    platform_key, platform_public = new_key_pem()
    ids = {"mchid": "1900" + str(secrets.randbelow(10**6)).zfill(6), "appid": "wxfake" + secrets.token_hex(6),
           "merchant_serial": secrets.token_hex(20).upper(),
           "platform_key_id": "PUB_KEY_ID_01" + str(secrets.randbelow(10**20)).zfill(20)}
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    secret_values = {name: "".join(secrets.choice(alphabet) for _ in range(32))
                     for name in ("apiv3_key", "v2_key", "app_secret")}
    contents = {"merchant_key.pem": merchant_key, "merchant_public.pem": merchant_public,
                "platform_key.pem": platform_key, "platform_public.pem": platform_public,
                "ids.json": json.dumps(ids, indent=1).encode(), "secrets.json": json.dumps(secret_values).encode()}
    for name, data in contents.items():
        fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)


def _load(directory: Path) -> DemoKeys:
    ids = json.loads((directory / "ids.json").read_text())
    secret_values = json.loads((directory / "secrets.json").read_text())
    return DemoKeys(
        directory=directory, mchid=ids["mchid"], appid=ids["appid"], merchant_serial=ids["merchant_serial"],
        platform_key_id=ids["platform_key_id"], merchant_key_file=directory / "merchant_key.pem",
        merchant_public_file=directory / "merchant_public.pem", platform_key_file=directory / "platform_key.pem",
        platform_public_file=directory / "platform_public.pem", apiv3_key=secret_values["apiv3_key"],
        v2_key=secret_values["v2_key"], app_secret=secret_values["app_secret"])
