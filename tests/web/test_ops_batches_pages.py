"""The batch pages: list and details, activation and void through codegen.batches (SQL history and the Redis
state the scan path reads), a reason required to void, audited; analysts read only; another brand is 404."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from accounts.audit import AuditFilter, list_changes
from app.seed import DemoInfo
from codegen import batches
from codegen.batch_state import read_batch_state
from codegen.db import transaction
from reports.rebuild import rebuild_rollups
from rules.models import ScanEvent
from tests.web.conftest import seeded_app
from tests.web.console_support import add_user, ensure_brand, login, post_form


@pytest.fixture
def console(tmp_path: Path, redis_client: redis.Redis) -> Iterator[tuple[Flask, DemoInfo]]:
    app, info = seeded_app(tmp_path)
    add_user(app, "op@demo.example", "operator")
    add_user(app, "an@demo.example", "analyst")
    add_user(app, "op@other.example", "operator", "other")
    yield app, info


def text(res: Any) -> str:
    return str(res.get_data(as_text=True))


def scans(app: Flask, batch_id: int, kinds: list[str]) -> None:
    with transaction(app.extensions["yima.db"].sessions) as s:
        for i, kind in enumerate(kinds):
            s.add(ScanEvent(id=f"{batch_id}-{i}-0", batch_id=batch_id, serial=i, role="inner", code=f"C{i}",
                            kind=kind, scan_count=1, scanned_at=datetime.now(UTC)))
        s.flush()
        rebuild_rollups(s)  # the drain keeps the rollups as it inserts (tests/integration/test_rollups.py)


def new_batch(app: Flask, brand: str, lot: str, count: int = 500) -> int:
    brand_id = ensure_brand(app, brand)
    with transaction(app.extensions["yima.db"].sessions) as s:
        b = s.get(batches.Brand, brand_id)
        assert b is not None
        if not any(p.sku == "P1" for p in b.products):
            batches.add_product(s, b, "P1", "第二产品", None)
        return batches.create_batch(s, b, batches.BatchRequest(sku="P1", lot=lot, count=count), key_id=1,
                                    max_count=1_000_000).id


def test_the_list_and_details_show_facts_ranges_and_scans(console: tuple[Flask, DemoInfo]) -> None:
    app, info = console
    scans(app, info.batch_id, ["first", "first", "repeat", "not_on_sale", "void", "first"])
    theirs = new_batch(app, "other", "OTHER-1")
    client = app.test_client()
    login(client, "an@demo.example")
    page = text(client.get("/ops/batches?brand=demo"))
    assert "DEMO-L1" in page and "演示拉格 Demo Lager 500ml" in page and "OTHER-1" not in page
    assert f'href="/ops/batches/{info.batch_id}"' in page
    detail = text(client.get(f"/ops/batches/{info.batch_id}"))
    assert "Demo Factory" in detail and "0-999" in detail and "首次扫码" in detail
    figures = dict(zip(["first", "repeat", "not_on_sale", "void"],
                       [int(v) for v in _figures(detail)], strict=True))
    assert figures == {"first": 3, "repeat": 1, "not_on_sale": 1, "void": 1}
    assert 'action="/ops/batches' not in detail and "只能查看" in detail  # analyst: no forms
    assert client.get(f"/ops/batches/{theirs}").status_code == 404  # another brand's batch
    assert client.get("/ops/batches/999999").status_code == 404
    assert client.get("/ops/batches/99999999999").status_code == 404  # past SQL's int: still a 404
    assert client.get("/ops/batches?brand=other").status_code == 404


def _figures(page: str) -> list[str]:
    import re

    return re.findall(r'<div class="figure"><div class="value">([0-9,]+)</div>', page)


def test_an_operator_voids_with_a_reason_and_activates(console: tuple[Flask, DemoInfo]) -> None:
    app, _info = console
    r = app.extensions["yima.redis"]
    fresh = new_batch(app, "demo", "DEMO-L2", 1000)
    client = app.test_client()
    login(client, "op@demo.example")
    where = f"/ops/batches/{fresh}"

    res = post_form(client, f"{where}/void", {"range": "10-19", "reason": ""}, token_from=where)
    assert res.status_code == 400 and "请填写作废原因" in text(res) and 'value="10-19"' in text(res)
    res = post_form(client, f"{where}/activate", {"range": "0-5000"}, token_from=where)
    assert res.status_code == 400 and "last serial 999" in text(res)
    assert read_batch_state(r, fresh) is None  # nothing reached Redis

    res = post_form(client, f"{where}/activate", {"range": "0-499"}, token_from=where)
    assert res.status_code == 303
    res = post_form(client, f"{where}/void", {"range": "100-149", "reason": "卷材损坏"}, token_from=where)
    assert res.status_code == 303
    page = text(client.get(where))
    assert "已作废 100-149" in page and "卷材损坏" in page and "0-499" in page and "100-149" in page
    meta, active, void = read_batch_state(r, fresh) or ({}, [], [])
    assert meta["status"] == "active" and active == [(0, 499)] and void == [(100, 149)]
    post_form(client, f"{where}/activate", {"range": ""}, token_from=where)  # blank: the whole batch
    assert (read_batch_state(r, fresh) or ({}, [], []))[1] == [(0, 999)]

    with app.extensions["yima.db"].sessions() as s:
        entries = list_changes(s, AuditFilter(target=f"batch:{fresh}"))
    assert [e.action for e in entries] == ["batch.activate", "batch.void", "batch.activate"]
    assert entries[1].note == "卷材损坏" and entries[1].after["void"] == "100-149"
    assert entries[1].before == {"active": "0-499", "void": ""} and "op@demo.example" in entries[1].actor


def test_analysts_and_other_brands_cannot_change_a_batch(console: tuple[Flask, DemoInfo]) -> None:
    app, info = console
    where = f"/ops/batches/{info.batch_id}"
    analyst = app.test_client()
    login(analyst, "an@demo.example")
    res = post_form(analyst, f"{where}/void", {"range": "1-2", "reason": "x"}, token_from=where)
    assert res.status_code == 403
    stranger = app.test_client()
    login(stranger, "op@other.example")
    res = post_form(stranger, f"{where}/void", {"range": "1-2", "reason": "x"})
    assert res.status_code == 404
    operator = app.test_client()
    login(operator, "op@demo.example")
    assert operator.post(f"{where}/void", data={"range": "1-2", "reason": "x"}).status_code == 400  # no CSRF
    with app.extensions["yima.db"].sessions() as s:
        assert not [r for r in batches.get_batch(s, info.batch_id).ranges if r.kind == "void"]
