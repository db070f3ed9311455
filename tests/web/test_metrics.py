"""GET /metrics through the real app (real Redis, real SQL): what scans, draws and requests it counts, and
who may read it. A process's counters live as long as the process, so every test compares a scrape after
with a scrape before."""

from __future__ import annotations

import itertools
import secrets
from pathlib import Path

import pytest
import redis
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from app.seed import seed_demo_campaign
from tests.conftest import REDIS_TEST_URL
from tests.support.proxy import TcpProxy
from tests.web.conftest import make_app, seeded_app

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(app: Flask, **kw: object) -> Samples:
    res = app.test_client().get("/metrics", **kw)  # type: ignore[arg-type]
    assert res.status_code == 200, res.get_data(as_text=True)
    assert res.headers["Content-Type"].startswith("text/plain; version=")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(res.get_data(as_text=True)) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def path(url: str) -> str:
    return "/q/" + url.rsplit("/", 1)[1]


def test_a_real_scan_is_counted_by_outcome_with_its_draws(tmp_path: Path, redis_client: redis.Redis) -> None:
    app, info = seeded_app(tmp_path)
    seed_demo_campaign(app.extensions["yima.db"], app.extensions["yima.redis"], info.batch_id)  # first scan wins
    client = app.test_client()
    before = scrape(app)
    phone = {"code": info.inner_url, "device_id": "phone-1"}
    first = client.post("/api/v1/scans", json=phone).get_json()
    assert first["status"] == "first" and first["reward"][0]["awarded"]
    again = client.post("/api/v1/scans", json=phone).get_json()  # the same phone: its award shown again
    assert again["status"] == "repeat" and again["reward"][0]["outcome"] == "already_won"
    assert client.post("/api/v1/scans", json={"code": info.forged_url}).status_code == 404
    assert client.post("/api/v1/scans", json={"code": 7}).status_code == 400
    assert client.get(path(info.outer_url)).status_code == 200
    after = scrape(app)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("yima_scans_total", channel="api", outcome="first") == 1
    assert delta("yima_scans_total", channel="api", outcome="repeat") == 1
    assert delta("yima_scans_total", channel="api", outcome="not_genuine") == 1
    assert delta("yima_scans_total", channel="api", outcome="invalid_request") == 1
    assert delta("yima_scans_total", channel="page", outcome="first") == 1
    won = first["reward"][0]
    assert delta("yima_draws_total", outcome=won["outcome"]) == 1
    assert delta("yima_draws_total", outcome="already_won") == 1  # the repeat shows the award again ...
    assert delta("yima_awards_total", kind=won["prize"]["kind"]) == 1  # ... and is no second award
    assert delta("yima_award_cash_fen_total") == won["amount_fen"]


def test_latency_histogram_and_responses_per_endpoint_group(tmp_path: Path, redis_client: redis.Redis) -> None:
    app, info = seeded_app(tmp_path)
    client = app.test_client()
    before = scrape(app)
    client.post("/api/v1/scans", json={"code": info.inner_url})
    client.get(path(info.inner_url))
    client.get("/ops/")
    client.get("/no/such/page")
    after = scrape(app)
    for group in ("scan_api", "scan_page", "ops", "unmatched"):
        count = "yima_request_duration_seconds_count"
        assert value(after, count, group=group) - value(before, count, group=group) == 1, group
        assert value(after, "yima_request_duration_seconds_sum", group=group) > value(
            before, "yima_request_duration_seconds_sum", group=group)
        # The +Inf bucket holds every observation; the buckets never decrease.
        buckets = sorted(((float(dict(labels)["le"]), v) for (name, labels), v in after.items()
                          if name == "yima_request_duration_seconds_bucket" and dict(labels)["group"] == group))
        assert buckets[-1] == (float("inf"), value(after, count, group=group))
        assert all(a[1] <= b[1] for a, b in itertools.pairwise(buckets))
    assert value(after, "yima_responses_total", group="unmatched", status="404") >= 1


def test_redis_errors_are_counted_and_the_scan_is_unavailable(tmp_path: Path, redis_client: redis.Redis) -> None:
    url = redis.connection.parse_url(REDIS_TEST_URL)
    proxy = TcpProxy(url.get("host", "127.0.0.1"), int(url.get("port", 6379)))
    try:
        app, info = seeded_app(tmp_path, redis_url=f"redis://127.0.0.1:{proxy.port}/{url.get('db', 0)}",
                               redis_timeout=0.1)
        app.extensions["yima.scanner"].identify(info.inner_url)  # batch facts cached, as on a warm node
        before = scrape(app)
        proxy.set_mode("refuse")
        assert app.test_client().post("/api/v1/scans", json={"code": info.inner_url}).status_code == 503
        after = scrape(app)
    finally:
        proxy.close()
    assert value(after, "yima_scans_total", channel="api", outcome="unavailable") - value(
        before, "yima_scans_total", channel="api", outcome="unavailable") == 1
    errors = sum(v - value(before, n, **dict(labels)) for (n, labels), v in after.items()
                 if n == "yima_redis_errors_total")
    assert errors >= 1  # every failed attempt counts: the first and the policy's retry


def test_sql_errors_are_counted_by_kind(tmp_path: Path, redis_client: redis.Redis) -> None:
    from sqlalchemy import text

    app = make_app(tmp_path)
    before = scrape(app)
    with app.extensions["yima.db"].engine.connect() as conn, pytest.raises(Exception, match="no such table"):
        conn.execute(text("SELECT * FROM no_such_table"))
    after = scrape(app)
    assert value(after, "yima_sql_errors_total", kind="OperationalError") - value(
        before, "yima_sql_errors_total", kind="OperationalError") == 1


def test_metrics_only_for_allowed_networks_or_the_token(tmp_path: Path, redis_client: redis.Redis) -> None:
    token = secrets.token_urlsafe(32)
    app = make_app(tmp_path, metrics_token=token)
    client = app.test_client()
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics").status_code == 200  # loopback: the default YIMA_METRICS_ALLOW
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    res = client.get("/metrics", environ_base=outside)
    assert res.status_code == 403 and b"yima_" not in res.data
    for wrong in ("Bearer wrong", f"Bearer {token}x", token):
        assert client.get("/metrics", environ_base=outside, headers={"Authorization": wrong}).status_code == 403
    res = client.get("/metrics", environ_base=outside, headers={"Authorization": f"Bearer {token}"})
    assert res.status_code == 200 and b"yima_request_duration_seconds" in res.data

    import ipaddress

    wide = make_app(tmp_path / "w", metrics_allow=(ipaddress.ip_network("203.0.113.0/24"),))
    assert wide.test_client().get("/metrics", environ_base=outside).status_code == 200
    assert wide.test_client().get("/metrics").status_code == 403  # loopback no longer listed
    off = make_app(tmp_path / "off", metrics=False)
    assert off.test_client().get("/metrics").status_code == 404


def test_forwarded_for_decides_behind_a_trusted_proxy(tmp_path: Path, redis_client: redis.Redis) -> None:
    app = make_app(tmp_path, trusted_proxies=1)
    client = app.test_client()
    # A public client reaching /metrics through the load balancer (on loopback) is refused.
    assert client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 403
    assert client.get("/metrics").status_code == 200


def test_a_request_through_an_untrusted_proxy_needs_the_token(tmp_path: Path, redis_client: redis.Redis) -> None:
    # No YIMA_TRUSTED_PROXIES, yet a proxy in an allowed network (an ingress) passes a client's request on.
    token = secrets.token_urlsafe(32)
    client = make_app(tmp_path, metrics_token=token).test_client()
    for header in ({"X-Forwarded-For": "198.51.100.7"}, {"Forwarded": "for=198.51.100.7"}):
        assert client.get("/metrics", headers=header).status_code == 403
        assert client.get("/metrics", headers={**header, "Authorization": f"Bearer {token}"}).status_code == 200
