"""The demo channel `yima run` seeds: its distributors, store, policy and seat users, created once; every
seat signs in with the one demo password and lands on its desk."""

from __future__ import annotations

import stat
from pathlib import Path

from accounts.audit import AuditFilter, count_changes
from app.channel_seed import password_path, seed_demo_channel
from channel import directory
from channel.scope import brand_scope
from tests.web.conftest import seeded_app
from tests.web.console_support import ensure_brand, login


def test_the_demo_channel_is_seeded_once_and_each_seat_signs_in(tmp_path: Path, redis_client) -> None:  # type: ignore[no-untyped-def]
    app, _ = seeded_app(tmp_path)
    cfg, db = app.config["YIMA"], app.extensions["yima.db"]
    first = seed_demo_channel(cfg, db)
    with db.sessions() as s:
        audited = count_changes(s, AuditFilter(actor="seed"))
    again = seed_demo_channel(cfg, db)
    assert again == first
    assert stat.S_IMODE(password_path(cfg).stat().st_mode) == 0o600
    assert password_path(cfg).read_text() == first.password
    brand_id = ensure_brand(app, "demo")
    scope = brand_scope(brand_id, "test", role="analyst")
    with db.sessions() as s:
        assert count_changes(s, AuditFilter(actor="seed")) == audited == 3 + 1 + 1 + 5  # nothing twice
        tree = [(d.code, d.tier, d.territory) for d in directory.list_distributors(s, scope)]
        stores = directory.list_stores(s, scope)
        policy = directory.get_policy(s, brand_id)
    assert tree == [("GD-001", 1, ["44"]), ("GZ-001", 2, ["4401"]), ("XJ-001", 1, ["65"])]
    assert [(v.name, v.adcode, v.registered_at is not None) for v in stores] == [("天河便利店", "440106", True)]
    assert (policy.require_registration, policy.voucher_face_fen, policy.redeem_rebate_fen) == (True, 500, 50)
    for email, word in (("warehouse@demo.yima", "仓库"), ("inspector@demo.yima", "稽查"), ("gd@demo.yima", "经销商"),
                        ("clerk@demo.yima", "门店核销员"), ("waiter@demo.yima", "服务员")):
        client = app.test_client()
        login(client, email, first.password)
        assert word in client.get("/dist").get_data(as_text=True), email
