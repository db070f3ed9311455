"""What the web layer needs to pay prizes: the provider built from the config, the WeChat identity for
OAuth and the JS-SDK, the payout queue, and a few lookups the claim page makes.

With YIMA_PAYOUT_PROVIDER=fake (the default) everything points at the fake WeChat server that `yima run`
starts (app/fake_wechat), with keys generated once under var/fake_wechat/: the real adapter code runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property
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


class PayoutServices:
    """Built with the app; the provider and the merchant's identity are made on first use (the fake's demo
    keys are generated then, not for every app a test builds)."""

    def __init__(self, cfg: Config, sessions: sessionmaker[Session], scanner: Scanner,
                 enqueue: Callable[[int], Any]) -> None:
        self.cfg = cfg
        self.sessions = sessions
        self.scanner = scanner
        self.enqueue = enqueue
        self.provider_name = cfg.payouts.provider
        fake = self.provider_name == "fake"
        self.oauth_base = fake_base(cfg) if fake else cfg.payouts.oauth_base
        self.mp_base = fake_base(cfg) if fake else cfg.payouts.mp_base
        self.confirm_base = fake_base(cfg)  # the fake's confirm page stands in for WeChat's sheet
        self.receipt_key = receipt_key(member_secret(cfg))  # verifies the award receipts a device holds

    @cached_property
    def credentials(self) -> WechatCredentials:
        return credentials(self.cfg)

    @cached_property
    def provider(self) -> Provider:
        return make_provider(self.provider_name, self.credentials)

    @property
    def appid(self) -> str:
        return self.credentials.appid

    @property
    def mchid(self) -> str:
        return self.credentials.mchid

    @cached_property
    def app_secret(self) -> str:
        if self.provider_name == "fake":
            return ensure_demo_keys(self.cfg.var_dir).app_secret
        return self.cfg.payouts.app_secret

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
    queue = Queue(PAYOUT_QUEUE, connection=Redis.from_url(queue_url(cfg), socket_timeout=2, socket_connect_timeout=2))

    def enqueue(payout_id: int) -> Any:
        from app.payout_worker import enqueue_submit

        return enqueue_submit(queue, payout_id)

    return PayoutServices(cfg, sessions, scanner, enqueue)
