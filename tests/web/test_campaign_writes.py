"""The campaign API's write safety over HTTP: edits carry the edit_version they were made on, creates and
clones carry an Idempotency-Key, every problem of a definition comes back at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from app.seed import DemoInfo
from tests.web.conftest import seeded_app
from tests.web.test_rules_api import AUTH, TOKEN, guangdong


@pytest.fixture
def ops(tmp_path: Path, redis_client: redis.Redis) -> Iterator[tuple[FlaskClient, DemoInfo]]:
    app, info = seeded_app(tmp_path, ops_token=TOKEN)
    yield app.test_client(), info


def test_three_unknown_references_and_the_structural_problems_come_back_together(ops) -> None:  # type: ignore[no-untyped-def]
    client, info = ops
    doc = guangdong(info.batch_id, brand="demoo", scope={"batches": [999]}, regions={"include": ["99"]},
                    window={"start": "2026-12-01T00:00:00+08:00", "end": "later"}, exclusive="yes",
                    prizes=[{"kind": "cash", "min_fen": 1, "weight": 0.6}])
    res = client.post("/api/v1/campaigns", json=doc, headers=AUTH)
    assert res.status_code == 400
    assert [p["field"] for p in res.get_json()["error"]["problems"]] == [
        "brand", "exclusive", "window.end", "scope.batches", "regions.include", "prizes[0].min_fen"]


def test_an_edit_sends_the_version_it_was_made_on(ops) -> None:  # type: ignore[no-untyped-def]
    client, info = ops
    cid = client.post("/api/v1/campaigns", json=guangdong(info.batch_id), headers=AUTH).get_json()["id"]
    url = f"/api/v1/campaigns/{cid}"
    read = client.get(url, headers=AUTH).get_json()

    # Without a version there is no telling whose edit it overwrites: refused, whatever else is wrong.
    blind = client.put(url, json=guangdong(info.batch_id, name="blind"), headers=AUTH)
    assert blind.status_code == 400
    assert [p["field"] for p in blind.get_json()["error"]["problems"]] == ["edit_version"]
    for bad in ("1", True, 1.0, None):
        res = client.put(url, json={**read["definition"], "edit_version": bad}, headers=AUTH)
        assert res.status_code == 400, bad

    mine = client.put(url, json={**read["definition"], "name": "mine", "edit_version": read["edit_version"]},
                      headers=AUTH)
    assert mine.status_code == 200 and mine.get_json()["edit_version"] == 2
    assert "edit_version" not in mine.get_json()["definition"]  # the version is not part of the definition

    theirs = client.put(url, json={**read["definition"], "name": "theirs", "edit_version": read["edit_version"]},
                        headers=AUTH)
    assert theirs.status_code == 409
    error = theirs.get_json()["error"]
    assert error["code"] == "edit_conflict" and error["current_edit_version"] == 2
    assert "changed meanwhile" in error["message"]
    assert client.get(url, headers=AUTH).get_json()["name"] == "mine"
    assert client.put("/api/v1/campaigns/999", json={**read["definition"], "edit_version": 1},
                      headers=AUTH).status_code == 404


def test_a_create_repeated_under_its_idempotency_key_makes_one_campaign(ops) -> None:  # type: ignore[no-untyped-def]
    client, info = ops
    key = {**AUTH, "Idempotency-Key": "8d6c3f0e-5b1a-4c8e-9f2d-1a2b3c4d5e6f"}
    first = client.post("/api/v1/campaigns", json=guangdong(info.batch_id), headers=key)
    again = client.post("/api/v1/campaigns", json=guangdong(info.batch_id), headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json() == again.get_json()
    assert len(client.get("/api/v1/campaigns", headers=AUTH).get_json()["campaigns"]) == 1

    other = client.post("/api/v1/campaigns", json=guangdong(info.batch_id, name="other"), headers=key)
    assert other.status_code == 422 and other.get_json()["error"]["code"] == "idempotency_key_reused"
    for bad in ("", "x" * 256, "naïve", "two words"):
        res = client.post("/api/v1/campaigns", json=guangdong(info.batch_id), headers={**AUTH, "Idempotency-Key": bad})
        assert res.status_code == 400 and res.get_json()["error"]["problems"][0]["field"] == "Idempotency-Key"
    assert len(client.get("/api/v1/campaigns", headers=AUTH).get_json()["campaigns"]) == 1


def test_clone(ops) -> None:  # type: ignore[no-untyped-def]
    client, info = ops
    source = client.post("/api/v1/campaigns", json=guangdong(info.batch_id), headers=AUTH).get_json()
    url = f"/api/v1/campaigns/{source['id']}/clone"
    plain = client.post(url, headers=AUTH)
    assert plain.status_code == 201
    copy = plain.get_json()
    assert (copy["status"], copy["name"], copy["edit_version"]) == ("draft", "广东首扫必中 (副本)", 1)
    assert copy["definition"] == {**source["definition"], "name": "广东首扫必中 (副本)"}
    key = {**AUTH, "Idempotency-Key": "clone-1"}
    named = [client.post(url, json={"name": "广东 一月"}, headers=key) for _ in range(2)]
    assert [r.status_code for r in named] == [201, 200] and named[0].get_json() == named[1].get_json()
    assert client.post(url, json={"name": 5}, headers=AUTH).status_code == 400
    assert client.post(url, json={"name": ""}, headers=AUTH).get_json()["error"]["problems"][0]["field"] == "name"
    assert client.post(url, json={"nam": "x"}, headers=AUTH).status_code == 400
    assert client.post("/api/v1/campaigns/999/clone", headers=AUTH).status_code == 404


def simulate(client: FlaskClient, info: DemoInfo, **over: Any) -> dict[str, Any]:
    res = client.post("/api/v1/simulate", headers=AUTH,
                      json={"batch_id": info.batch_id, "serial": 5, "adcode": "440305",
                            "at": "2027-01-10T12:00:00+08:00"})
    assert res.status_code == 200
    [verdict] = [v for v in res.get_json()["campaigns"] if v["name"] == over["name"]]
    return verdict  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("over", "odds"),
    [
        # 首扫必中 with a thanks consolation: the consolation comes up whenever no red packet is drawn.
        ({}, (0.6, 0.4, 0.0)),
        # No consolation: a miss is nothing.
        ({"first_scan_wins": False, "consolation": None}, (0.6, 0.0, 0.4)),
        # A consolation without 首扫必中 still comes up on a miss.
        ({"first_scan_wins": False}, (0.6, 0.4, 0.0)),
        # Every 4th scan draws: a quarter of the above.
        ({"first_scan_wins": False, "ordinal": {"kind": "every_nth", "n": 4}}, (0.15, 0.1, 0.75)),
    ],
)
def test_simulate_reports_the_real_probabilities(ops, over: dict[str, Any],  # type: ignore[no-untyped-def]
                                                  odds: tuple[float, float, float]) -> None:
    client, info = ops
    doc = guangdong(info.batch_id, name="odds", **over)
    assert client.post("/api/v1/campaigns", json=doc, headers=AUTH).status_code == 201
    v = simulate(client, info, name="odds")
    assert (v["win_probability"], v["consolation_probability"], v["miss_probability"]) == odds
    assert v["prizes"][0]["probability"] == odds[0]
    assert (v["consolation"] or {}).get("probability", 0.0) == odds[1]
