"""What the web layer needs to pay prizes: the provider built from the config, the WeChat identity for
OAuth and the JS-SDK, the payout queue, and a few lookups the claim page makes.

With YIMA_PAYOUT_PROVIDER=fake (the default) everything points at the fake WeChat server that `yima run`
starts (app/fake_wechat), with keys generated once under var/fake_wechat/: the real adapter code runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from redis import Redis
from rq import Queue
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Config
from app.fake_wechat.keys import ensure_demo_keys
from app.runtime import member_secret, queue_url
from payouts.models import AwardClaim, Payout, PointsEntry
from payouts.providers.base import Provider, State, WechatCredentials
from payouts.providers.registry import make_provider
from rules.receipts import AwardReceipt, receipt_key
from rules.scan import NotGenuine, Scanner

PAYOUT_QUEUE = "yima-payouts"


def fake_base(cfg: Config) -> str:
    return f"http://{cfg.host}:{cfg.payouts.fake_port or cfg.port + 2}"


def credentials(cfg: Config) -> WechatCredentials:
    """The merchant's credentials: from the environment, or the fake's demo keys."""
    p = cfg.payouts
    if p.provider == "fake":
        keys = ensure_demo_keys(cfg.var_dir)
        return keys.credentials(api_base=fake_base(cfg), notify_url=f"{cfg.base_url}/wechat/pay/notify")
    assert p.mch_key_file is not None and p.pay_public_key_file is not None  # load_config requires them
    return WechatCredentials(
        api_base=p.api_base, mchid=p.mchid, appid=p.appid, merchant_key_file=p.mch_key_file,
        merchant_serial=p.mch_serial, platform_public_key_file=p.pay_public_key_file,
        platform_key_id=p.pay_public_key_id, apiv3_key=p.apiv3_key, notify_url=p.notify_url, v2_key=p.v2_key,
        client_cert_file=p.client_cert_file, client_key_file=p.client_key_file)


@dataclass
class PayoutServices:
    sessions: sessionmaker[Session]
    provider: Provider
    provider_name: str
    appid: str
    app_secret: str
    oauth_base: str
    mp_base: str
    confirm_base: str  # the fake's confirm page stands in for WeChat's requestMerchantTransfer sheet
    mchid: str
    enqueue: Callable[[int], Any]
    scanner: Scanner
    receipt_key: bytes  # verifies the award receipts a device holds (rules/receipts.py)

    def enqueue_submit(self, payout_id: int) -> None:
        """Queue the payout's submit now (low claim → submit latency); the worker's sweep catches it
        anyway if the queue is down, so a failure here is logged, not raised."""
        try:
            self.enqueue(payout_id)
        except Exception:  # Redis down: the sweep submits it within a second of it coming back
            logging.getLogger("yima.payouts").warning("payout %s not queued; the sweep will submit it", payout_id)

    def brand_of(self, receipt: AwardReceipt) -> int:
        try:
            return self.scanner.identify(receipt.code)[2].brand_id
        except NotGenuine:
            return 0

    def claimed_by(self, award_id: str) -> str | None:
        with self.sessions() as db:
            return db.scalar(select(AwardClaim.openid).where(AwardClaim.award_id == award_id))

    def points_credited(self, award_id: str) -> bool:
        with self.sessions() as db:
            return db.scalar(select(PointsEntry.id).where(PointsEntry.award_id == award_id)) is not None

    def confirm_target(self, payout: Payout) -> dict[str, str] | None:
        """How the page lets the consumer confirm an AWAITING_USER transfer: WeChat's JS parameters, and
        (the fake) the URL of its confirm page."""
        if payout.state != State.AWAITING_USER or not payout.package_info:
            return None
        params = self.provider.confirm_params(payout.package_info)
        if self.provider_name == "fake":
            params = {**params, "fake_url": f"{self.confirm_base}/fake/confirm?"
                      + urlencode({"package": payout.package_info})}
        return params


def make_payout_services(cfg: Config, sessions: sessionmaker[Session], scanner: Scanner) -> PayoutServices:
    creds = credentials(cfg)
    p = cfg.payouts
    provider = make_provider(p.provider, creds)
    queue = Queue(PAYOUT_QUEUE, connection=Redis.from_url(queue_url(cfg), socket_timeout=2, socket_connect_timeout=2))

    def enqueue(payout_id: int) -> Any:
        from app.payout_worker import enqueue_submit

        return enqueue_submit(queue, payout_id)

    fake = p.provider == "fake"
    keys = ensure_demo_keys(cfg.var_dir) if fake else None
    base = fake_base(cfg)
    return PayoutServices(
        sessions=sessions, provider=provider, provider_name=p.provider, appid=creds.appid,
        app_secret=keys.app_secret if keys else p.app_secret,
        oauth_base=base if fake else p.oauth_base, mp_base=base if fake else p.mp_base, confirm_base=base,
        mchid=creds.mchid, enqueue=enqueue, scanner=scanner, receipt_key=receipt_key(member_secret(cfg)))
