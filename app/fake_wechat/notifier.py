"""The fake's background thread: callbacks for terminal 商家转账 bills, expiry sweeps, state saves.

A callback is what WeChat posts to the bill's notify_url: a JSON envelope (event_type
MCHTRANSFER.BILL.FINISHED) whose `resource` is the bill encrypted with AEAD_AES_256_GCM under the APIv3
key, signed with the platform key in the Wechatpay-* headers. A delivery that does not get a 2xx is
retried on a short schedule (WeChat's is minutes; the fake's is seconds so tests finish). Duplicates and
delays are injected through Faults.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from app.fake_wechat.state import Bill, FakeState, rfc3339
from payouts import wechat_crypto

log = logging.getLogger(__name__)
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
EVENT_TYPE = "MCHTRANSFER.BILL.FINISHED"


@dataclass
class Delivery:
    bill_no: str
    state: str
    url: str
    body: str
    copy: int
    attempt: int = 0


def callback_body(bill: Bill, mchid: str, apiv3_key: str) -> str:
    """The JSON a callback carries for one bill (its resource encrypted)."""
    plain = {"out_bill_no": bill.out_bill_no, "transfer_bill_no": bill.bill_id, "state": bill.state,
             "mch_id": mchid, "transfer_amount": bill.amount_fen, "openid": bill.openid,
             "create_time": rfc3339(bill.created_at), "update_time": rfc3339(bill.updated_at)}
    if bill.fail_reason:
        plain["fail_reason"] = bill.fail_reason
    resource = wechat_crypto.encrypt_resource(apiv3_key, json.dumps(plain, ensure_ascii=False).encode(),
                                              "mch_payment")
    resource["original_type"] = "mch_payment"
    envelope = {"id": str(uuid.uuid4()), "create_time": rfc3339(bill.updated_at), "resource_type":
                "encrypt-resource", "event_type": EVENT_TYPE, "summary": "商家转账单据终态通知",
                "resource": resource}
    return json.dumps(envelope, ensure_ascii=False)


def signed_headers(key: rsa.RSAPrivateKey, key_id: str, body: str) -> dict[str, str]:
    """Wechatpay-* headers over a reply or callback body (real time: the receiver checks freshness)."""
    timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
    return {"Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce, "Wechatpay-Serial": key_id,
            "Wechatpay-Signature": wechat_crypto.sign(key, wechat_crypto.response_message(timestamp, nonce, body)),
            "Wechatpay-Signature-Type": wechat_crypto.SCHEMA}


class Ticker(threading.Thread):
    def __init__(self, state: FakeState, key: rsa.RSAPrivateKey, key_id: str, mchid: str, apiv3_key: str,
                 interval_s: float = 0.1) -> None:
        super().__init__(name="fake-wechat-ticker", daemon=True)
        self.state, self._key, self._key_id = state, key, key_id
        self._mchid, self._apiv3_key, self._interval = mchid, apiv3_key, interval_s
        self._queue: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
        self.state.save()

    def run(self) -> None:
        while not self._stop_event.wait(self._interval):
            try:
                self.tick()
            except Exception:  # keep the fake alive; the test that caused it sees the consequence
                log.exception("fake WeChat ticker failed")

    def tick(self) -> None:
        self.state.sweep()
        self._take_outbox()
        now = time.monotonic()
        while self._queue and self._queue[0][0] <= now and not self._stop_event.is_set():
            _, _, delivery = heapq.heappop(self._queue)
            self._send(delivery)
        self.state.save()

    def _take_outbox(self) -> None:
        with self.state.lock:
            bills, self.state.outbox = self.state.outbox, []
            faults = self.state.faults
            copies, delay = faults.callback_copies, faults.callback_delay_s
        for bill in bills:
            body = callback_body(bill, self._mchid, self._apiv3_key)
            for copy in range(max(1, int(copies))):
                self._push(time.monotonic() + float(delay), Delivery(bill.out_bill_no, bill.state,
                                                                     bill.notify_url, body, copy))

    def _push(self, due: float, delivery: Delivery) -> None:
        heapq.heappush(self._queue, (due, next(self._seq), delivery))

    def _send(self, delivery: Delivery) -> None:
        delivery.attempt += 1
        headers = {"Content-Type": "application/json", **signed_headers(self._key, self._key_id, delivery.body)}
        request = urllib.request.Request(  # noqa: S310
            delivery.url, data=delivery.body.encode(), headers=headers, method="POST")
        try:
            # notify_url is http(s): the create view refuses anything else
            with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310
                status = reply.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:  # refused, reset, timeout
            status = 0
            log.info("fake WeChat callback for %s not delivered: %s", delivery.bill_no, type(exc).__name__)
        with self.state.lock:
            self.state.deliveries.append({"out_bill_no": delivery.bill_no, "state": delivery.state,
                                          "copy": delivery.copy, "attempt": delivery.attempt, "status": status})
        if not 200 <= status < 300 and delivery.attempt <= len(RETRY_DELAYS_S):
            self._push(time.monotonic() + RETRY_DELAYS_S[delivery.attempt - 1], delivery)
