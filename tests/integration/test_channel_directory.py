"""The channel directory on real SQL (SQLite and PostgreSQL): distributors with territories and tiers,
stores, channel staff and the policy; who may read and write what; every write in the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from accounts.audit import AuditFilter, count_changes, list_changes
from accounts.models import ChannelSeat
from accounts.tokens import resolve_token
from accounts.users import authenticate
from channel import directory as d
from channel.errors import ChannelConflict, ChannelForbidden, ChannelNotFound, InvalidChannel
from channel.models import Distributor
from channel.scope import ChannelScope, brand_scope, seat_scope
from channel.staff import add_staff, issue_staff_token, list_staff, set_staff_disabled
from codegen import batches
from codegen.db import make_engine, make_sessionmaker, transaction
from schema import upgrade_schema

PASSWORD = "correct horse battery staple"


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    upgrade_schema(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@dataclass
class Brands:
    a: int
    b: int

    def op(self, brand: int) -> ChannelScope:
        return brand_scope(brand, f"user:1 op@{brand}", role="operator", user_id=1)

    def analyst(self, brand: int) -> ChannelScope:
        return brand_scope(brand, "user:2 analyst", role="analyst", user_id=2)


@pytest.fixture
def brands(sessions: sessionmaker[Session]) -> Brands:
    with transaction(sessions) as s:
        a = batches.add_brand(s, "a", "品牌 A", "https://a.example")
        b = batches.add_brand(s, "b", "品牌 B", "https://b.example")
        return Brands(a.id, b.id)


def _tree(sessions: sessionmaker[Session], brands: Brands) -> dict[str, int]:
    """In brand a: GD (广东) ⊃ GZ (广州), and XJ (新疆); a store in 天河 under GZ."""
    with transaction(sessions) as s:
        op = brands.op(brands.a)
        gd = d.create_distributor(s, op, code="GD-001", name="华南总经销", territory=["44"])
        gz = d.create_distributor(s, op, code="GZ-001", name="广州经销商", territory=["440100"], parent_id=gd.id)
        xj = d.create_distributor(s, op, code="XJ-001", name="新疆经销商", territory=["65"])
        store = d.create_store(s, op, name="天河便利店", adcode="440106", distributor_id=gz.id, registered=True)
        return {"gd": gd.id, "gz": gz.id, "xj": xj.id, "store": store.id}


def test_distributors_list_as_a_tree_with_tiers_and_place_names(sessions, brands) -> None:  # type: ignore[no-untyped-def]
    ids = _tree(sessions, brands)
    with sessions() as s:
        listed = d.list_distributors(s, brands.analyst(brands.a))
    assert [(v.code, v.tier) for v in listed] == [("GD-001", 1), ("GZ-001", 2), ("XJ-001", 1)]
    gz = listed[1]
    assert gz.territory == ["4401"] and gz.territory_names == ["广东省 广州市"]  # "440100" read as the city
    assert gz.parent_id == ids["gd"] and gz.parent_label == "GD-001 华南总经销" and gz.stores == 1
    assert listed[2].territory_names == ["新疆维吾尔自治区"]
    with sessions() as s:
        entries = list_changes(s, AuditFilter(brand_ids=frozenset({brands.a})))
    assert sorted(e.action for e in entries) == ["distributor.create"] * 3 + ["store.create"]
    assert {e.actor for e in entries} == {f"user:1 op@{brands.a}"}


@pytest.mark.parametrize("territory, message", [
    ([], "at least one"), ("44", "a list"), (["4"], "'4'"), (["99"], "'99'"), (["4499"], "'4499'"),
    (["440199"], "'440199'"), (["４４"], "'４４'"), (["1100"], "'1100'"), ([44], "a list")])
def test_a_territory_names_real_provinces_cities_and_districts(sessions, brands, territory, message) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s, pytest.raises(InvalidChannel, match=message) as refused:
        d.create_distributor(s, brands.op(brands.a), code="X-1", name="x", territory=territory)
    assert refused.value.field == "territory"


def test_covered_prefixes_collapse_and_full_codes_read_as_prefixes(sessions, brands) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        v = d.create_distributor(s, brands.op(brands.a), code="N-1", name="北方", territory=[
            "110000", "1101", "440106", "4401", "659001"])
    assert v.territory == ["11", "4401", "659001"]
    assert v.territory_names == ["北京市", "广东省 广州市", "新疆维吾尔自治区 石河子市"]


def test_tiers_nest_inside_their_parents_and_never_loop(sessions, brands) -> None:  # type: ignore[no-untyped-def]
    ids = _tree(sessions, brands)
    op = brands.op(brands.a)
    with transaction(sessions) as s, pytest.raises(InvalidChannel, match="outside the territory of GD-001"):
        d.create_distributor(s, op, code="SZ-001", name="深圳", territory=["4403", "4501"], parent_id=ids["gd"])
    with transaction(sessions) as s, pytest.raises(InvalidChannel, match="under itself"):
        d.update_distributor(s, op, ids["gd"], parent_id=ids["gz"])
    with transaction(sessions) as s, pytest.raises(InvalidChannel, match="under itself"):
        d.update_distributor(s, op, ids["gd"], parent_id=ids["gd"])
    with transaction(sessions) as s, pytest.raises(InvalidChannel, match="no distributor"):
        d.create_distributor(s, brands.op(brands.b), code="B-1", name="b", territory=["44"], parent_id=ids["gd"])
    # Narrowing GD to Shenzhen would strand GZ (a sub-distributor in Guangzhou) and its store.
    with transaction(sessions) as s, pytest.raises(InvalidChannel, match="sub-distributor GZ-001"):
        d.update_distributor(s, op, ids["gd"], territory=["4403"])
    with transaction(sessions) as s, pytest.raises(InvalidChannel, match="store 天河便利店"):
        d.update_distributor(s, op, ids["gz"], territory=["440104"])
    with transaction(sessions) as s:  # lifting GZ to tier 1 is fine, and recorded with before and after
        assert d.update_distributor(s, op, ids["gz"], parent_id=None).tier == 1
    with sessions() as s:
        entry = list_changes(s, AuditFilter(action="distributor.update"))[0]
    assert entry.before["parent_id"] == ids["gd"] and entry.after["parent_id"] is None


def test_codes_are_unique_per_brand(sessions, brands) -> None:  # type: ignore[no-untyped-def]
    _tree(sessions, brands)
    with transaction(sessions) as s, pytest.raises(ChannelConflict, match="GD-001"):
        d.create_distributor(s, brands.op(brands.a), code="GD-001", name="again", territory=["44"])
    with transaction(sessions) as s:
        assert d.create_distributor(s, brands.op(brands.b), code="GD-001", name="b's own", territory=["44"]).id
    for bad in ("", "GD 001", "x" * 41, "a\x00b", 7):
        with transaction(sessions) as s, pytest.raises(InvalidChannel):
            d.create_distributor(s, brands.op(brands.a), code=bad, name="n", territory=["44"])


def test_only_brand_operators_write_and_other_brands_see_nothing(sessions, brands) -> None:  # type: ignore[no-untyped-def]
    ids = _tree(sessions, brands)
    with sessions() as s:
        before = count_changes(s, AuditFilter())
    with transaction(sessions) as s, pytest.raises(ChannelForbidden):
        d.create_distributor(s, brands.analyst(brands.a), code="N-2", name="n", territory=["44"])
    with transaction(sessions) as s, pytest.raises(ChannelForbidden):
        d.update_store(s, brands.analyst(brands.a), ids["store"], name="renamed")
    with transaction(sessions) as s, pytest.raises(ChannelForbidden):
        d.set_policy(s, brands.analyst(brands.a), require_registration=False, voucher_face_fen=1,
                     redeem_rebate_fen=0)
    for call in (lambda s: d.distributor_view(s, brands.op(brands.b), ids["gd"]),
                 lambda s: d.update_distributor(s, brands.op(brands.b), ids["gd"], name="mine"),
                 lambda s: d.store_view(s, brands.op(brands.b), ids["store"]),
                 lambda s: d.update_store(s, brands.op(brands.b), ids["store"], name="mine"),
                 lambda s: d.distributor_view(s, brands.op(brands.a), 10**6)):
        with transaction(sessions) as s, pytest.raises(ChannelNotFound):
            call(s)
    with sessions() as s:
        assert d.list_distributors(s, brands.op(brands.b)) == [] and d.list_stores(s, brands.op(brands.b)) == []
        assert count_changes(s, AuditFilter()) == before


def test_a_distributor_sees_its_subtree_and_a_store_itself(sessions, brands) -> None:  # type: ignore[no-untyped-def]
    ids = _tree(sessions, brands)
    with sessions() as s:
        gd = seat_scope(s, brand_id=brands.a, kind="distributor", actor="gd", user_id=9, distributor_id=ids["gd"])
        xj = seat_scope(s, brand_id=brands.a, kind="distributor", actor="xj", user_id=9, distributor_id=ids["xj"])
        gz = seat_scope(s, brand_id=brands.a, kind="distributor", actor="gz", user_id=9, distributor_id=ids["gz"])
        clerk = seat_scope(s, brand_id=brands.a, kind="clerk", actor="c", user_id=9, store_id=ids["store"])
        assert [v.code for v in d.list_distributors(s, gd)] == ["GD-001", "GZ-001"]
        assert [v.code for v in d.list_distributors(s, gz)] == ["GZ-001"]
        assert d.distributor_view(s, gz, ids["gz"]).parent_label == ""  # its parent is outside its scope
        assert [v.name for v in d.list_stores(s, gd)] == ["天河便利店"] == [v.name for v in d.list_stores(s, clerk)]
        assert d.store_view(s, clerk, ids["store"]).distributor_label == ""
        assert d.list_stores(s, xj) == [] and d.list_distributors(s, clerk) == []
        for call in (lambda: d.distributor_view(s, xj, ids["gd"]), lambda: d.store_view(s, xj, ids["store"]),
                     lambda: d.distributor_view(s, gz, ids["gd"]), lambda: d.distributor_view(s, clerk, ids["gz"])):
            with pytest.raises(ChannelNotFound):
                call()
    with transaction(sessions) as s, pytest.raises(ChannelForbidden):
        d.update_distributor(s, gd, ids["gz"], name="mine now")  # sees it, may not change it
    with transaction(sessions) as s, pytest.raises(ChannelForbidden):
        d.create_distributor(s, gd, code="SUB", name="sub", territory=["4403"], parent_id=ids["gd"])


def test_stores_sit_in_a_district_inside_their_suppliers_territory(sessions, brands) -> None:  # type: ignore[no-untyped-def]
    ids = _tree(sessions, brands)
    op = brands.op(brands.a)
    for kwargs, field in (({"adcode": "440100"}, "adcode"), ({"adcode": "44010"}, "adcode"),
                          ({"adcode": "999999"}, "adcode"), ({"adcode": "650102"}, "adcode"),
                          ({"distributor_id": ids["xj"]}, "adcode"), ({"distributor_id": 10**6}, "distributor_id"),
                          ({"lat": 23.1}, "lat"), ({"lat": 91.0, "lng": 113.3}, "lat"),
                          ({"lat": 23.1, "lng": float("nan")}, "lng"), ({"name": " "}, "name")):
        args = {"name": "新店", "adcode": "440106", "distributor_id": ids["gz"], **kwargs}
        with transaction(sessions) as s, pytest.raises(InvalidChannel) as refused:
            d.create_store(s, op, **args)
        assert refused.value.field == field, (kwargs, refused.value)
    with transaction(sessions) as s:
        v = d.create_store(s, op, name="东莞店", adcode="441900", distributor_id=ids["gd"], lat=23.02, lng=113.75)
        assert (v.place, v.registered_at, v.lat) == ("广东省 东莞市", None, 23.02)
        moved = d.update_store(s, op, v.id, adcode="650102", distributor_id=ids["xj"], registered=True)
        assert moved.distributor_label == "XJ-001 新疆经销商" and moved.registered_at is not None
        assert d.update_store(s, op, v.id, lat=None, lng=None).lat is None


def test_staff_get_seats_bound_where_their_kind_needs(sessions, brands) -> None:  # type: ignore[no-untyped-def]
    ids = _tree(sessions, brands)
    op = brands.op(brands.a)
    with transaction(sessions) as s:
        add_staff(s, op, email="WH@a.test", name="仓库", password=PASSWORD, kind="warehouse")
        add_staff(s, op, email="gd@a.test", name="", password=PASSWORD, kind="distributor", distributor_id=ids["gd"])
        clerk = add_staff(s, op, email="clerk@a.test", name="小王", password="", kind="clerk", store_id=ids["store"])
    assert clerk.password and len(clerk.password) >= 16  # generated, shown once
    with transaction(sessions) as s:
        assert authenticate(s, "clerk@a.test", clerk.password) is not None
        seat = s.scalar(select(ChannelSeat).where(ChannelSeat.user_id == clerk.user_id))
        assert seat is not None and (seat.kind, seat.store_id, seat.brand_id) == ("clerk", ids["store"], brands.a)
        assert [(v.kind, v.email, v.where) for v in list_staff(s, op)] == [
            ("warehouse", "wh@a.test", ""), ("distributor", "gd@a.test", "GD-001 华南总经销"),
            ("clerk", "clerk@a.test", "天河便利店")]
        xj = seat_scope(s, brand_id=brands.a, kind="distributor", actor="xj", user_id=9, distributor_id=ids["xj"])
        gd = seat_scope(s, brand_id=brands.a, kind="distributor", actor="gd", user_id=9, distributor_id=ids["gd"])
        assert list_staff(s, xj) == [] and [v.kind for v in list_staff(s, gd)] == ["distributor", "clerk"]
        assert list_staff(s, brands.op(brands.b)) == []
    refusals = [
        ({"kind": "boss"}, InvalidChannel), ({"kind": "distributor"}, InvalidChannel),
        ({"kind": "clerk", "distributor_id": ids["gz"]}, InvalidChannel),
        ({"kind": "warehouse", "store_id": ids["store"]}, InvalidChannel),
        ({"kind": "distributor", "distributor_id": 10**6}, InvalidChannel),
        ({"kind": "warehouse", "email": "gd@a.test"}, ChannelConflict),
        ({"kind": "warehouse", "email": "not-an-email"}, InvalidChannel),
        ({"kind": "warehouse", "password": "short"}, InvalidChannel)]
    for kwargs, error in refusals:
        args = {"email": "new@a.test", "name": "", "password": PASSWORD, **kwargs}
        with transaction(sessions) as s, pytest.raises(error):
            add_staff(s, op, **args)
    with transaction(sessions) as s, pytest.raises(ChannelForbidden):
        add_staff(s, brands.analyst(brands.a), email="n@a.test", name="", password=PASSWORD, kind="warehouse")


def test_a_disabled_seat_signs_in_no_more_and_its_tokens_stop(sessions, brands) -> None:  # type: ignore[no-untyped-def]
    ids = _tree(sessions, brands)
    op = brands.op(brands.a)
    with transaction(sessions) as s:
        clerk = add_staff(s, op, email="clerk@a.test", name="", password=PASSWORD, kind="clerk", store_id=ids["store"])
        row, secret = issue_staff_token(s, op, clerk.user_id, name="扫码枪 1", days=90)
        assert row.role == "channel"
    with transaction(sessions) as s:
        principal = resolve_token(s, secret)
        assert principal is not None and principal.seat is not None and principal.seat.store_id == ids["store"]
        assert not principal.brands
    for scope, error in ((brands.op(brands.b), ChannelNotFound), (brands.analyst(brands.a), ChannelForbidden)):
        with transaction(sessions) as s, pytest.raises(error):
            set_staff_disabled(s, scope, clerk.user_id, True)
    with transaction(sessions) as s, pytest.raises(InvalidChannel):
        issue_staff_token(s, op, clerk.user_id, name="x", days=0)
    with transaction(sessions) as s:
        set_staff_disabled(s, op, clerk.user_id, True)
    with transaction(sessions) as s:
        assert authenticate(s, "clerk@a.test", PASSWORD) is None and resolve_token(s, secret) is None
        assert [e.action for e in list_changes(s, AuditFilter(target=f"user:{clerk.user_id}"))] == [
            "seat.disable", "seat.create"]
        with pytest.raises(ChannelConflict):
            issue_staff_token(s, op, clerk.user_id, name="x", days=5)
        set_staff_disabled(s, op, clerk.user_id, False)
        assert authenticate(s, "clerk@a.test", PASSWORD) is not None


def test_the_policy_has_defaults_and_each_change_is_audited(sessions, brands) -> None:  # type: ignore[no-untyped-def]
    op = brands.op(brands.a)
    with sessions() as s:
        assert d.get_policy(s, brands.a) == d.Policy(True, 0, 0, None)
    with transaction(sessions) as s:
        d.set_policy(s, op, require_registration=True, voucher_face_fen=500, redeem_rebate_fen=50)
        d.set_policy(s, op, require_registration=True, voucher_face_fen=500, redeem_rebate_fen=50)  # no change
    for bad in ({"voucher_face_fen": -1}, {"voucher_face_fen": 1.5}, {"redeem_rebate_fen": 10**7},
                {"require_registration": "yes"}, {"voucher_face_fen": True}):
        args = {"require_registration": False, "voucher_face_fen": 0, "redeem_rebate_fen": 0, **bad}
        with transaction(sessions) as s, pytest.raises(InvalidChannel):
            d.set_policy(s, op, **args)
    with sessions() as s:
        got = d.get_policy(s, brands.a)
        assert (got.require_registration, got.voucher_face_fen, got.redeem_rebate_fen) == (True, 500, 50)
        assert d.get_policy(s, brands.b).voucher_face_fen == 0
        entries = list_changes(s, AuditFilter(action="channel_policy"))
    assert len(entries) == 1 and entries[0].before is None and entries[0].after["voucher_face_fen"] == 500


def test_a_write_and_its_audit_entry_commit_or_roll_back_together(sessions, brands) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError), transaction(sessions) as s:
        d.create_distributor(s, brands.op(brands.a), code="GONE", name="gone", territory=["44"])
        raise RuntimeError("the request failed after the write")
    with sessions() as s:
        assert s.scalar(select(Distributor).where(Distributor.code == "GONE")) is None
        assert count_changes(s, AuditFilter()) == 0
