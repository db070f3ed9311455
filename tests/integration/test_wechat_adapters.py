"""The payout adapters against the fake WeChat over real HTTP: every answer the engine relies on."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path

import pytest

from app.fake_wechat.server import FakeWechat
from app.fake_wechat.state import CHINA
from payouts import wechat_crypto, wechat_mp
from payouts.errors import InvalidCallback, InvalidPayout, WechatRefused
from payouts.providers.base import Answer, ProviderReply, State, TransferOrder
from payouts.providers.registry import make_provider
from payouts.providers.wechat_redpack import WechatRedpack
from payouts.providers.wechat_transfer import WechatTransfer
from tests.support.fake_wechat import CallbackSink


def order(no: str = "YA1", amount: int = 88, openid: str = "oUSER1", activity: str = "春节扫码") -> TransferOrder:
    return TransferOrder(bill_no=no, openid=openid, amount_fen=amount, activity=activity, description="现金红包",
                         remark="扫码红包", client_ip="10.0.0.1")


@pytest.fixture
def transfer(fake_wechat: FakeWechat, callback_sink: CallbackSink) -> WechatTransfer:
    provider = make_provider("fake", fake_wechat.credentials(callback_sink.url, timeout_s=2.0))
    assert isinstance(provider, WechatTransfer)
    return provider


@pytest.fixture
def redpack(fake_wechat: FakeWechat) -> WechatRedpack:
    provider = make_provider("wechat_redpack", fake_wechat.credentials("", timeout_s=2.0))
    assert isinstance(provider, WechatRedpack)
    return provider


def test_submit_awaits_the_user_and_gives_what_the_page_needs(transfer: WechatTransfer) -> None:
    reply = transfer.submit(order())
    assert (reply.answer, reply.state) == (Answer.STATE, State.AWAITING_USER)
    assert reply.package_info and reply.provider_bill_id
    params = transfer.confirm_params(reply.package_info)
    assert params["mchId"] == transfer.creds.mchid and params["appId"] == transfer.creds.appid
    assert params == {"mchId": transfer.creds.mchid, "appId": transfer.creds.appid, "package": reply.package_info}
    queried = transfer.query("YA1")
    assert (queried.state, queried.amount_fen, queried.package_info) == (State.AWAITING_USER, 88, reply.package_info)


def test_resubmit_is_idempotent_and_a_mismatch_is_unclear(transfer: WechatTransfer, fake_wechat: FakeWechat) -> None:
    first = transfer.submit(order())
    assert transfer.submit(order()).provider_bill_id == first.provider_bill_id
    mismatch = transfer.submit(order(amount=99))
    assert (mismatch.answer, mismatch.reason) == (Answer.UNCLEAR, "BILL_MISMATCH")
    assert len(fake_wechat.bills()) == 1


def test_system_error_then_success_on_the_same_bill(transfer: WechatTransfer, fake_wechat: FakeWechat) -> None:
    fake_wechat.set_faults(system_errors={"create": 2})
    assert [transfer.submit(order()).answer for _ in range(3)] == [Answer.UNCLEAR, Answer.UNCLEAR, Answer.STATE]
    assert len(fake_wechat.bills()) == 1


def test_a_lost_reply_is_unclear_and_the_query_finds_the_bill(transfer: WechatTransfer,
                                                             fake_wechat: FakeWechat) -> None:
    fake_wechat.set_faults(lost_replies={"create": 1})
    lost = transfer.submit(order())
    assert (lost.answer, lost.reason) == (Answer.UNCLEAR, "TRANSPORT")
    found = transfer.query("YA1")
    assert (found.answer, found.state) == (Answer.STATE, State.AWAITING_USER)
    assert transfer.query("NEVER").answer is Answer.NOT_FOUND


def test_frequency_limited_is_retry_later(transfer: WechatTransfer, fake_wechat: FakeWechat) -> None:
    fake_wechat.set_faults(rate_per_s=0.001)  # the bucket never holds a whole token
    reply = transfer.submit(order())
    assert (reply.answer, reply.reason, reply.pause_rail) == (Answer.RETRY_LATER, "FREQUENCY_LIMITED", False)
    assert reply.retry_after > 0 and fake_wechat.bills() == []


def test_not_enough_pauses_the_rail(transfer: WechatTransfer, fake_wechat: FakeWechat) -> None:
    fake_wechat.set_faults(balance_fen=50)
    reply = transfer.submit(order())
    assert (reply.answer, reply.reason, reply.pause_rail) == (Answer.RETRY_LATER, "NOT_ENOUGH", True)
    fake_wechat.set_faults(balance_fen=1000)
    assert transfer.submit(order()).state is State.AWAITING_USER


def test_bad_parameters_are_rejected(transfer: WechatTransfer) -> None:
    too_long = transfer.submit(order(activity="长" * 33))
    assert (too_long.answer, too_long.reason) == (Answer.REJECTED, "PARAM_ERROR")
    too_much = transfer.submit(order(no="YA2", amount=20001))
    assert (too_much.answer, too_much.reason) == (Answer.REJECTED, "INVALID_REQUEST")


@pytest.mark.parametrize(("status", "code", "message", "answer"), [
    (403, "NO_AUTH", "", Answer.REJECTED),
    (403, "USER_ERROR", "当前商户存在异常", Answer.REJECTED),
    (400, "INVALID_REQUEST", "单号已存在但信息不一致，请查单后比较确认", Answer.UNCLEAR),
    (500, "SYSTEM_ERROR", "", Answer.UNCLEAR),
    (503, "", "", Answer.UNCLEAR),
    (400, "SOMETHING_NEW", "", Answer.UNCLEAR),
    (429, "FREQUENCY_LIMITED", "", Answer.RETRY_LATER),
])
def test_error_codes_the_fake_does_not_produce_map_too(status: int, code: str, message: str,
                                                       answer: Answer) -> None:
    reply: ProviderReply = WechatTransfer._error_reply(status, code, message, query=False)
    assert reply.answer is answer


def test_a_reply_that_does_not_verify_is_unclear(fake_wechat: FakeWechat, callback_sink: CallbackSink,
                                                 tmp_path: Path) -> None:
    _, other_public = wechat_crypto.new_key_pem()
    (tmp_path / "other.pem").write_bytes(other_public)
    creds = dataclasses.replace(fake_wechat.credentials(callback_sink.url),
                                platform_public_key_file=tmp_path / "other.pem")
    reply = make_provider("fake", creds).submit(order())
    assert (reply.answer, reply.reason) == (Answer.UNCLEAR, "UNVERIFIED_REPLY")
    unreachable = dataclasses.replace(fake_wechat.credentials(callback_sink.url), api_base="http://127.0.0.1:1")
    assert make_provider("fake", unreachable).submit(order()).answer is Answer.UNCLEAR


def test_cancel_before_confirmation(transfer: WechatTransfer, fake_wechat: FakeWechat) -> None:
    transfer.submit(order())
    assert transfer.cancel("YA1").state is State.CANCELLED
    assert transfer.cancel("NEVER").answer is Answer.NOT_FOUND
    transfer.submit(order(no="YA2"))
    fake_wechat.confirm("YA2")
    assert transfer.cancel("YA2").answer is Answer.REJECTED
    assert transfer.query("YA2").state is State.SUCCEEDED


def test_callbacks_verify_decrypt_and_arrive_as_often_as_told(transfer: WechatTransfer, fake_wechat: FakeWechat,
                                                              callback_sink: CallbackSink) -> None:
    fake_wechat.set_faults(callback_copies=2)
    transfer.submit(order())
    fake_wechat.confirm("YA1")
    assert len(fake_wechat.wait_deliveries(2)) == 2
    events = [transfer.parse_callback(headers, body) for headers, body in callback_sink.received]
    assert events[0] == events[1]
    assert (events[0].bill_no, events[0].state, events[0].amount_fen) == ("YA1", State.SUCCEEDED, 88)
    headers, body = callback_sink.received[0]
    with pytest.raises(InvalidCallback):
        transfer.parse_callback(headers, body.replace(b"MCHTRANSFER", b"MCHTRANSFEX"))
    with pytest.raises(InvalidCallback):
        transfer.parse_callback({**headers, "Wechatpay-Timestamp": "1"}, body)
    wrong_key = WechatTransfer(dataclasses.replace(transfer.creds, apiv3_key="k" * 32))
    with pytest.raises(InvalidCallback):
        wrong_key.parse_callback(headers, body)


def test_expiry_after_24_hours(transfer: WechatTransfer, fake_wechat: FakeWechat,
                               callback_sink: CallbackSink) -> None:
    transfer.submit(order())
    fake_wechat.advance_clock(24 * 3600 + 1)
    queried = transfer.query("YA1")
    assert (queried.state, queried.reason) == (State.EXPIRED, "OVERDUE_CLOSE")
    fake_wechat.wait_deliveries(1)
    assert transfer.parse_callback(*callback_sink.received[0]).state is State.EXPIRED


def test_per_user_daily_caps_fail_the_bill(transfer: WechatTransfer, fake_wechat: FakeWechat) -> None:
    fake_wechat.set_faults(user_day_count=1)
    assert transfer.submit(order()).state is State.AWAITING_USER
    capped = transfer.submit(order(no="YA2"))
    assert (capped.state, capped.reason) == (State.FAILED, "DAY_RECEIVED_COUNT_EXCEED")
    assert transfer.submit(order(no="YA3", openid="oUSER2")).state is State.AWAITING_USER
    fake_wechat.set_faults(user_day_count=None, user_day_amount_fen=100)
    quota = transfer.submit(order(no="YA4", openid="oUSER2", amount=20))
    assert (quota.state, quota.reason) == (State.FAILED, "DAY_RECEIVED_QUOTA_EXCEED")


def test_the_days_bill(transfer: WechatTransfer, fake_wechat: FakeWechat) -> None:
    transfer.submit(order(amount=100))
    transfer.submit(order(no="YA2", amount=250))
    fake_wechat.confirm("YA2")
    created = datetime.fromtimestamp(fake_wechat.bills()[0]["created_at"], CHINA).date()
    lines = {line.bill_no: line for line in transfer.bill(created)}
    assert (lines["YA1"].amount_fen, lines["YA1"].state) == (100, State.AWAITING_USER)
    assert (lines["YA2"].amount_fen, lines["YA2"].state) == (250, State.SUCCEEDED)
    assert transfer.bill(date(2001, 1, 1)) == []


def test_oauth_code_exchange_and_jsapi_ticket(fake_wechat: FakeWechat) -> None:
    from tests.integration.test_fake_wechat import call

    keys, base = fake_wechat.keys, fake_wechat.base_url
    url = wechat_mp.authorize_url(base, keys.appid, "http://shop.test/cb", "st")
    location = call(url.split("#", 1)[0]).headers["location"]
    code = location.split("code=", 1)[1].split("&", 1)[0]
    openid = wechat_mp.exchange_code(base, keys.appid, keys.app_secret, code)
    assert openid.startswith("o")
    with pytest.raises(WechatRefused) as used:
        wechat_mp.exchange_code(base, keys.appid, keys.app_secret, code)
    assert used.value.errcode == 40029
    with pytest.raises(WechatRefused):
        wechat_mp.access_token(base, keys.appid, "wrong")
    with pytest.raises(wechat_mp.WechatMpError) as unreachable:
        wechat_mp.exchange_code("http://127.0.0.1:1", keys.appid, keys.app_secret, "c")
    assert unreachable.value.errcode == 0
    token = wechat_mp.access_token(base, keys.appid, keys.app_secret)
    ticket = wechat_mp.jsapi_ticket(base, token.value)
    assert ticket.value and ticket.expires_in == 7200
    with pytest.raises(WechatRefused) as stale:
        wechat_mp.jsapi_ticket(base, "nope")
    assert stale.value.errcode == 40001


def test_redpack_rail(redpack: WechatRedpack, fake_wechat: FakeWechat) -> None:
    sent = redpack.submit(order(amount=100))
    assert (sent.answer, sent.state) == (Answer.STATE, State.AWAITING_USER) and sent.provider_bill_id
    assert redpack.submit(order(amount=100)).provider_bill_id == sent.provider_bill_id
    assert redpack.submit(order(amount=101)).answer is Answer.UNCLEAR  # FATAL_ERROR
    assert redpack.query("YA1").state is State.AWAITING_USER
    fake_wechat.confirm("YA1", kind="redpack")
    assert redpack.query("YA1").state is State.SUCCEEDED
    assert redpack.query("NEVER").answer is Answer.NOT_FOUND
    fake_wechat.set_faults(system_errors={"sendredpack": 1}, lost_replies={"gethbinfo": 1})
    assert redpack.submit(order(no="YA2", amount=100)).answer is Answer.UNCLEAR
    assert redpack.submit(order(no="YA2", amount=100)).state is State.AWAITING_USER
    assert redpack.query("YA2").answer is Answer.UNCLEAR
    fake_wechat.advance_clock(24 * 3600 + 1)
    assert redpack.query("YA2").state is State.EXPIRED
    assert redpack.cancel("YA2").answer is Answer.REJECTED and redpack.confirm_params("x") == {}


def test_redpack_limits(redpack: WechatRedpack, fake_wechat: FakeWechat) -> None:
    fake_wechat.set_faults(balance_fen=10)
    broke = redpack.submit(order(amount=100))
    assert (broke.answer, broke.reason, broke.pause_rail) == (Answer.RETRY_LATER, "NOTENOUGH", True)
    fake_wechat.set_faults(balance_fen=None, user_day_count=0)
    capped = redpack.submit(order(amount=100))
    assert (capped.answer, capped.reason) == (Answer.RETRY_LATER, "SENDNUM_LIMIT")
    fake_wechat.set_faults(user_day_count=None, rate_per_s=0.001)
    assert redpack.submit(order(amount=100)).reason == "FREQ_LIMIT"


def test_make_provider_names(fake_wechat: FakeWechat) -> None:
    creds = fake_wechat.credentials("http://127.0.0.1:1/cb")
    assert make_provider("wechat_transfer", creds).name == "wechat_transfer"
    assert make_provider("wechat_transfer", creds).confirm_params("p") == {
        "mchId": creds.mchid, "appId": creds.appid, "package": "p"}
    assert make_provider("wechat_redpack", creds).bill_no_length == 28
    with pytest.raises(InvalidPayout):
        make_provider("alipay", creds)


def test_accepted_first_and_not_found_while_processing(transfer: WechatTransfer, fake_wechat: FakeWechat) -> None:
    fake_wechat.set_faults(accept_async=True, not_found={"query": 1})
    accepted = transfer.submit(order())
    assert (accepted.answer, accepted.state, accepted.package_info) == (Answer.STATE, State.SUBMITTED, "")
    assert transfer.query("YA1").answer is Answer.NOT_FOUND  # the bill exists: the engine must resubmit the same no
    fake_wechat.advance_clock(0)  # a sweep: the bill becomes confirmable
    later = transfer.query("YA1")
    assert later.state is State.AWAITING_USER and later.package_info
    assert transfer.submit(order()).provider_bill_id == accepted.provider_bill_id
