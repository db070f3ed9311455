"""The fake WeChat server over real HTTP: what it checks, what it answers, what it sends, how it is steered."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from app.fake_wechat.server import FakeWechat
from payouts import wechat_crypto
from payouts.providers.transport import HttpReply, call
from tests.support.fake_wechat import CallbackSink

PREFIX = "/v3/fund-app/mch-transfer/transfer-bills"


def signed(fw: FakeWechat, method: str, path: str, body: dict[str, Any] | None = None,
           key_file: Any = None) -> HttpReply:
    text = "" if body is None else json.dumps(body, ensure_ascii=False)
    key = wechat_crypto.load_private_key(key_file or fw.keys.merchant_key_file)
    auth = wechat_crypto.authorization(key, fw.keys.mchid, fw.keys.merchant_serial, method, path, text)
    return call(fw.base_url + path, method, text.encode() if body is not None else None,
                {"Authorization": auth, "Content-Type": "application/json"})


def bill_body(fw: FakeWechat, no: str = "B1", amount: int = 88, notify: str = "https://example.com/cb",
              **changes: Any) -> dict[str, Any]:
    body = {"appid": fw.keys.appid, "out_bill_no": no, "transfer_scene_id": "1000", "openid": "oUSER1",
            "transfer_amount": amount, "transfer_remark": "扫码红包", "notify_url": notify,
            "transfer_scene_report_infos": [{"info_type": "活动名称", "info_content": "春节扫码"},
                                            {"info_type": "奖励说明", "info_content": "现金红包"}]}
    body.update(changes)
    return body


def reply_verifies(fw: FakeWechat, reply: HttpReply) -> bool:
    h = reply.headers
    public = wechat_crypto.load_public_key(fw.keys.platform_public_file)
    message = wechat_crypto.response_message(h["wechatpay-timestamp"], h["wechatpay-nonce"], reply.text)
    return h["wechatpay-serial"] == fw.keys.platform_key_id and wechat_crypto.verify(
        public, message, h["wechatpay-signature"])


def test_create_answers_wait_user_confirm_signed_with_the_platform_key(fake_wechat: FakeWechat) -> None:
    reply = signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat))
    data = json.loads(reply.body)
    assert reply.status == 200 and data["state"] == "WAIT_USER_CONFIRM" and data["package_info"]
    assert data["out_bill_no"] == "B1" and data["transfer_bill_no"]
    assert reply_verifies(fake_wechat, reply)
    assert [b["out_bill_no"] for b in fake_wechat.bills()] == ["B1"]


def test_a_request_not_signed_by_the_merchant_is_refused(fake_wechat: FakeWechat, tmp_path: Any) -> None:
    other, _ = wechat_crypto.new_key_pem()
    (tmp_path / "other.pem").write_bytes(other)
    reply = signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat), key_file=tmp_path / "other.pem")
    assert reply.status == 401 and json.loads(reply.body)["code"] == "SIGN_ERROR"
    assert reply_verifies(fake_wechat, reply)
    unsigned = call(fake_wechat.base_url + PREFIX + "/out-bill-no/B1")
    assert unsigned.status == 401
    assert fake_wechat.bills() == []


@pytest.mark.parametrize(("changes", "status", "code"), [
    ({"out_bill_no": "has-dash"}, 400, "PARAM_ERROR"),
    ({"out_bill_no": "X" * 33}, 400, "PARAM_ERROR"),
    ({"transfer_scene_id": "1005"}, 400, "PARAM_ERROR"),
    ({"transfer_amount": 9}, 400, "INVALID_REQUEST"),
    ({"transfer_remark": "长" * 33}, 400, "PARAM_ERROR"),
    ({"transfer_scene_report_infos": []}, 400, "PARAM_ERROR"),
    ({"transfer_scene_report_infos": [{"info_type": "活动名称", "info_content": "x"}]}, 400, "PARAM_ERROR"),
    ({"notify_url": "https://example.com/cb?x=1"}, 400, "PARAM_ERROR"),
    ({"appid": "wxother"}, 400, "INVALID_REQUEST"),
    ({"user_recv_perception": "退款"}, 400, "INVALID_REQUEST"),
])
def test_create_validates_fields_as_wechat_does(fake_wechat: FakeWechat, changes: dict[str, Any], status: int,
                                                code: str) -> None:
    reply = signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat, **changes))
    assert (reply.status, json.loads(reply.body)["code"]) == (status, code)
    assert fake_wechat.bills() == []


def test_a_reused_bill_number_is_idempotent_and_a_mismatch_is_refused(fake_wechat: FakeWechat) -> None:
    first = json.loads(signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat)).body)
    again = json.loads(signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat)).body)
    assert again["transfer_bill_no"] == first["transfer_bill_no"]
    other = signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat, amount=99))
    assert other.status == 400 and "单号已存在但信息不一致" in json.loads(other.body)["message"]
    assert len(fake_wechat.bills()) == 1


def test_query_and_cancel(fake_wechat: FakeWechat) -> None:
    assert signed(fake_wechat, "GET", f"{PREFIX}/out-bill-no/NOPE").status == 404
    signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat))
    found = json.loads(signed(fake_wechat, "GET", f"{PREFIX}/out-bill-no/B1").body)
    assert found["state"] == "WAIT_USER_CONFIRM" and found["transfer_amount"] == 88 and found["openid"] == "oUSER1"
    cancelled = json.loads(signed(fake_wechat, "POST", f"{PREFIX}/out-bill-no/B1/cancel").body)
    assert cancelled["state"] == "CANCELLED"
    signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat, no="B2"))
    fake_wechat.confirm("B2")
    refused = signed(fake_wechat, "POST", f"{PREFIX}/out-bill-no/B2/cancel")
    assert refused.status == 400 and fake_wechat.bill("B2")["state"] == "SUCCESS"  # type: ignore[index]


def test_confirm_page_moves_the_bill_to_success_and_returns(fake_wechat: FakeWechat,
                                                            callback_sink: CallbackSink) -> None:
    package = json.loads(signed(fake_wechat, "POST", PREFIX,
                                bill_body(fake_wechat, notify=callback_sink.url)).body)["package_info"]
    page = call(f"{fake_wechat.base_url}/fake/confirm?{urlencode({'package': package, 'return': 'http://x/done'})}")
    assert page.status == 200 and "确认收款" in page.text and "¥0.88" in page.text and "Confirm receipt" in page.text
    post = call(f"{fake_wechat.base_url}/fake/confirm", "POST",
                urlencode({"package": package, "return": "http://x/done"}).encode(),
                {"Content-Type": "application/x-www-form-urlencoded"})
    assert post.status == 303 and post.headers["location"] == "http://x/done"
    assert fake_wechat.bill("B1")["state"] == "SUCCESS"  # type: ignore[index]
    assert fake_wechat.wait_deliveries(1)[0]["state"] == "SUCCESS"


def test_callbacks_are_encrypted_signed_and_duplicated_on_request(fake_wechat: FakeWechat,
                                                                   callback_sink: CallbackSink) -> None:
    fake_wechat.set_faults(callback_copies=3)
    signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat, notify=callback_sink.url))
    fake_wechat.confirm("B1")
    assert len(fake_wechat.wait_deliveries(3)) == 3
    headers, body = callback_sink.received[0]
    envelope = json.loads(body)
    assert envelope["event_type"] == "MCHTRANSFER.BILL.FINISHED"
    plain = json.loads(wechat_crypto.decrypt_resource(fake_wechat.keys.apiv3_key, envelope["resource"]))
    assert plain["out_bill_no"] == "B1" and plain["state"] == "SUCCESS" and plain["transfer_amount"] == 88
    public = wechat_crypto.load_public_key(fake_wechat.keys.platform_public_file)
    message = wechat_crypto.response_message(headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"],
                                             body.decode())
    assert wechat_crypto.verify(public, message, headers["Wechatpay-Signature"])


def test_a_failed_callback_is_retried(fake_wechat: FakeWechat, callback_sink: CallbackSink) -> None:
    callback_sink.status = 500
    signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat, notify=callback_sink.url))
    fake_wechat.confirm("B1")
    assert fake_wechat.wait_deliveries(1, ok_only=False)[0]["status"] == 500
    callback_sink.status = 200
    ok = fake_wechat.wait_deliveries(1)
    assert ok[0]["attempt"] == 2


def test_suppressed_callbacks_send_nothing(fake_wechat: FakeWechat, callback_sink: CallbackSink) -> None:
    fake_wechat.set_faults(callbacks_suppressed=True)
    signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat, notify=callback_sink.url))
    fake_wechat.confirm("B1")
    signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat, no="B2", notify=callback_sink.url))
    fake_wechat.set_faults(callbacks_suppressed=False)
    fake_wechat.confirm("B2")
    assert [d["out_bill_no"] for d in fake_wechat.wait_deliveries(1)] == ["B2"]


def test_unconfirmed_bills_close_after_24_hours_by_the_clock(fake_wechat: FakeWechat,
                                                             callback_sink: CallbackSink) -> None:
    signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat, notify=callback_sink.url))
    fake_wechat.advance_clock(24 * 3600 - 60)
    assert fake_wechat.bill("B1")["state"] == "WAIT_USER_CONFIRM"  # type: ignore[index]
    fake_wechat.advance_clock(120)
    found = json.loads(signed(fake_wechat, "GET", f"{PREFIX}/out-bill-no/B1").body)
    assert (found["state"], found["fail_reason"]) == ("FAIL", "OVERDUE_CLOSE")
    assert fake_wechat.wait_deliveries(1)[0]["state"] == "FAIL"


def test_control_api_over_http(fake_wechat: FakeWechat) -> None:
    base = fake_wechat.base_url + "/_fake"
    set_faults = call(base + "/faults", "POST", json.dumps({"system_errors": {"create": 1}}).encode())
    assert json.loads(set_faults.body)["system_errors"] == {"create": 1}
    assert signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat)).status == 500
    assert signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat)).status == 200
    assert call(base + "/faults", "POST", json.dumps({"nope": 1}).encode()).status == 400
    assert json.loads(call(base + "/clock", "POST", json.dumps({"advance": 90}).encode()).body)["offset"] == 90
    assert json.loads(call(base + "/bills/transfer/B1/confirm", "POST").body)["state"] == "SUCCESS"
    assert [b["state"] for b in json.loads(call(base + "/bills").body)["bills"]] == ["SUCCESS"]
    assert call(base + "/reset", "POST").status == 200
    assert json.loads(call(base + "/bills").body)["bills"] == []


def test_fund_flow_bill_lists_the_days_bills(fake_wechat: FakeWechat) -> None:
    signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat, no="B1", amount=100))
    signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat, no="B2", amount=250))
    fake_wechat.confirm("B2")
    day = fake_wechat.bills()[0]
    from app.fake_wechat.state import Bill
    bill_date = Bill(**day).day()
    meta = json.loads(signed(fake_wechat, "GET", f"/v3/bill/fundflowbill?bill_date={bill_date}").body)
    parts = urlsplit(meta["download_url"])
    csv = signed(fake_wechat, "GET", f"{parts.path}?{parts.query}").text
    rows = csv.splitlines()
    assert rows[0].startswith("记账时间,微信支付业务单号,商户单号")
    assert "`B2" in rows[2] and "`2.50" in rows[2] and "`SUCCESS" in rows[2]
    assert rows[-1] == "`2,`0,`0.00,`2,`3.50"
    assert parse_qs(parts.query)["token"]


def test_oauth_gives_each_browser_one_openid_and_codes_are_single_use(fake_wechat: FakeWechat) -> None:
    keys = fake_wechat.keys
    query = urlencode({"appid": keys.appid, "redirect_uri": "http://shop.test/cb?x=1", "response_type": "code",
                       "scope": "snsapi_base", "state": "s1"})
    first = call(f"{fake_wechat.base_url}/connect/oauth2/authorize?{query}")
    assert first.status == 302
    location = urlsplit(first.headers["location"])
    args = parse_qs(location.query)
    assert location.netloc == "shop.test" and args["state"] == ["s1"] and args["x"] == ["1"]
    cookie = first.headers["set-cookie"].split(";", 1)[0]
    again = call(f"{fake_wechat.base_url}/connect/oauth2/authorize?{query}", headers={"Cookie": cookie})
    other = call(f"{fake_wechat.base_url}/connect/oauth2/authorize?{query}")

    def exchange(code: str) -> dict[str, Any]:
        q = urlencode({"appid": keys.appid, "secret": keys.app_secret, "code": code,
                       "grant_type": "authorization_code"})
        return json.loads(call(f"{fake_wechat.base_url}/sns/oauth2/access_token?{q}").body)  # type: ignore[no-any-return]

    code = args["code"][0]
    openid = exchange(code)["openid"]
    assert exchange(code)["errcode"] in (40029, 40163)
    assert exchange(parse_qs(urlsplit(again.headers["location"]).query)["code"][0])["openid"] == openid
    assert exchange(parse_qs(urlsplit(other.headers["location"]).query)["code"][0])["openid"] != openid


def test_redpack_send_and_query(fake_wechat: FakeWechat) -> None:
    from payouts.providers.wechat_redpack import v2_sign

    keys = fake_wechat.keys
    fields = {"mch_billno": "R1", "mch_id": keys.mchid, "wxappid": keys.appid, "send_name": "yima",
              "re_openid": "oUSER1", "total_amount": "100", "total_num": "1", "wishing": "恭喜",
              "client_ip": "127.0.0.1", "act_name": "扫码", "remark": "备注", "scene_id": "PRODUCT_2",
              "nonce_str": "n1"}
    fields["sign"] = v2_sign(fields, keys.v2_key)
    xml = "<xml>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</xml>"
    sent = call(f"{fake_wechat.base_url}/mmpaymkttransfers/sendredpack", "POST", xml.encode()).text
    assert "<result_code><![CDATA[SUCCESS]]></result_code>" in sent
    bad = call(f"{fake_wechat.base_url}/mmpaymkttransfers/sendredpack", "POST",
               xml.replace(fields["sign"], "0" * 32).encode()).text
    assert "SIGN_ERROR" in bad
    assert fake_wechat.bill("R1", kind="redpack")["state"] == "SENT"  # type: ignore[index]


def test_bills_survive_a_restart_when_persisted(tmp_path: Any) -> None:
    from tests.support.fake_wechat import free_port

    with FakeWechat(tmp_path, port=free_port(), persist=True) as fw:
        signed(fw, "POST", PREFIX, bill_body(fw))
    with FakeWechat(tmp_path, port=free_port(), persist=True) as fw:
        assert [b["out_bill_no"] for b in fw.bills()] == ["B1"]
        assert json.loads(signed(fw, "GET", f"{PREFIX}/out-bill-no/B1").body)["state"] == "WAIT_USER_CONFIRM"


def test_the_access_log_leaves_out_query_strings(fake_wechat: FakeWechat, caplog: pytest.LogCaptureFixture) -> None:
    keys = fake_wechat.keys
    query = urlencode({"appid": keys.appid, "secret": keys.app_secret, "grant_type": "client_credential"})
    with caplog.at_level("INFO", logger="werkzeug"):
        assert call(f"{fake_wechat.base_url}/cgi-bin/token?{query}").status == 200
    assert "/cgi-bin/token" in caplog.text and keys.app_secret not in caplog.text


def test_suppressing_and_delaying_callbacks(fake_wechat: FakeWechat, callback_sink: CallbackSink) -> None:
    fake_wechat.set_faults(callback_delay_s=3600)
    signed(fake_wechat, "POST", PREFIX, bill_body(fake_wechat, notify=callback_sink.url))
    fake_wechat.confirm("B1")
    assert fake_wechat.wait_deliveries(1, timeout_s=0.5, ok_only=False) == []


def test_demo_keys_are_made_once_private_and_never_shown(tmp_path: Any) -> None:
    from app.fake_wechat.keys import ensure_demo_keys

    keys = ensure_demo_keys(tmp_path)
    assert ensure_demo_keys(tmp_path) == keys
    assert {oct(p.stat().st_mode & 0o777) for p in keys.directory.iterdir()} == {"0o600"}
    assert len(keys.apiv3_key) == 32 and keys.apiv3_key not in repr(keys) and keys.app_secret not in repr(keys)
    creds = keys.credentials("http://127.0.0.1:1/", "http://127.0.0.1:2/cb")
    assert creds.api_base == "http://127.0.0.1:1" and creds.merchant_key_file == keys.merchant_key_file
