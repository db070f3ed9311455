"""The B-side audiences in the rules engine: what a B-side definition may say (the reader), who draws in it
(the matcher: a consumer scan never, a B-side scan only its own audience), and that it survives a snapshot,
the operator's form and the console's words."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from app.campaign_form import definition_to_form, form_items, form_to_definition, read_form
from app.campaign_labels import problem_text, value_label
from rules.campaign import B_AUDIENCES, CompiledCampaign, compile_campaign, parse_definition, read_definition
from rules.campaign_fields import STORE_OPEN_CASE, STORE_SELL_THROUGH, WAITER_OPEN_BOTTLE
from rules.matcher import STORE, Matcher, ScanContext
from rules.snapshot import dump_campaign, load_campaign

NOON = 1_780_000_000.0  # inside the window below
DOC: dict[str, Any] = {
    "name": "B", "brand": "acme",
    "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2099-01-01T00:00:00+08:00"},
    "budget": {"total_fen": 100_000},
    "prizes": [{"kind": "cash", "min_fen": 500, "weight": 1.0}],
}


def doc(audience: str, **changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(DOC)
    d["members"] = {"audience": audience}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(d.get(key), dict):
            d[key].update(value)
        else:
            d[key] = value
    return d


def problems(d: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.field, p.message) for p in read_definition(d)[1]]


def compiled(campaign_id: int, d: dict[str, Any]) -> CompiledCampaign:
    return compile_campaign(campaign_id, 1, parse_definition(d), brand_id=1, product_ids=None)


def scan(role: str = "inner", bside: str = "", adcode: str | None = "440106", **more: Any) -> ScanContext:
    return ScanContext(brand_id=1, product_id=10, batch_id=100, serial=5, role=role, now=NOON, adcode=adcode,
                       region_source=STORE if bside else "gps", bside=bside, **more)


# -- the reader -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("audience, roles", [(STORE_OPEN_CASE, ("case",)), (WAITER_OPEN_BOTTLE, ("inner",)),
                                             (STORE_SELL_THROUGH, ("inner",)), ("anyone", ("inner",))])
def test_each_audience_draws_on_its_roles_by_default(audience: str, roles: tuple[str, ...]) -> None:
    d = parse_definition(doc(audience))
    assert (d.audience, d.roles) == (audience, roles)


@pytest.mark.parametrize("audience, roles, message", [
    ("anyone", ["case"], "may hold only inner and outer"),
    (STORE_OPEN_CASE, ["inner"], "a store_open_case campaign draws on case codes only"),
    (WAITER_OPEN_BOTTLE, ["outer"], "a waiter_open_bottle campaign draws on inner codes only"),
    (STORE_SELL_THROUGH, ["case"], "a store_sell_through campaign draws on inner and outer codes only"),
])
def test_the_case_role_is_only_for_opening_cases(audience: str, roles: list[str], message: str) -> None:
    assert problems(doc(audience, scope={"roles": roles})) == [("scope.roles", message)]
    assert zh(message) != message  # the console says it in Chinese


def test_per_member_caps_are_per_store_or_waiter() -> None:
    d = parse_definition(doc(WAITER_OPEN_BOTTLE, caps={"per_member_daily": 20, "per_member": 500}))
    assert (d.per_member_daily, d.per_member) == (20, 500)


def test_what_a_b_side_campaign_may_not_say() -> None:
    bad = doc(STORE_OPEN_CASE, caps={"one_per_code": False}, ordinal={"kind": "first_scan"},
              regions={"include": ["44"], "sources": ["gps"]},
              prizes=[{"kind": "coupon", "name": "券", "weight": 0.5}])
    bad["members"].update({"tiers": ["gold"], "tags": ["vip"], "tier_multipliers": {"gold": 2}})
    found = problems(bad)
    assert [f for f, _ in found] == ["regions.sources", "members.tiers", "members.tags", "members.tier_multipliers",
                                     "ordinal.kind", "caps.one_per_code", "prizes[0].kind"]
    assert all(zh(m) != m for _, m in found)


def test_b_side_cash_starts_at_one_fen_consumer_cash_at_one_yuan() -> None:
    small = [{"kind": "cash", "min_fen": 20, "weight": 1.0}]
    assert parse_definition(doc(STORE_SELL_THROUGH, prizes=small)).prizes[0].min_fen == 20
    assert problems(doc("anyone", prizes=small)) == [("prizes[0].min_fen", "must be between 100 and 20000")]
    points = [{"kind": "points", "points": 5, "weight": 1.0}]
    assert parse_definition(doc(WAITER_OPEN_BOTTLE, prizes=points)).prizes[0].kind == "points"


# -- the matcher ----------------------------------------------------------------------------------------

def test_a_consumer_scan_never_matches_a_b_side_campaign() -> None:
    consumer = compiled(1, doc("anyone"))
    b_side = [compiled(i, doc(a)) for i, a in enumerate(B_AUDIENCES, start=2)]
    matcher = Matcher([consumer, *b_side])
    assert matcher.match(scan()) == [consumer]
    assert matcher.match(scan(role="case")) == []
    assert matcher.region_pending(scan(adcode=None)) == [] and matcher.match_any_region(scan()) == [consumer]
    reasons = {v.campaign.id: v.reason for v in matcher.explain(scan())}
    assert reasons[2] == "a B-side campaign (store_open_case): consumer scans never draw in it"


def test_a_b_side_scan_matches_only_its_own_audience() -> None:
    consumer, case, bottle, sell = (compiled(1, doc("anyone")), compiled(2, doc(STORE_OPEN_CASE)),
                                    compiled(3, doc(WAITER_OPEN_BOTTLE)), compiled(4, doc(STORE_SELL_THROUGH)))
    matcher = Matcher([consumer, case, bottle, sell])
    assert matcher.match(scan(role="case", bside=STORE_OPEN_CASE)) == [case]
    assert matcher.match(scan(bside=WAITER_OPEN_BOTTLE)) == [bottle]
    assert matcher.match(scan(bside=STORE_SELL_THROUGH)) == [sell]
    assert matcher.match(scan(bside=WAITER_OPEN_BOTTLE, role="case")) == []
    assert all(matcher.has_side(side) for side in ("", *B_AUDIENCES))
    assert not Matcher([consumer]).has_side(STORE_SELL_THROUGH)
    reasons = {v.campaign.id: v.reason for v in matcher.explain(scan(bside=WAITER_OPEN_BOTTLE))}
    assert reasons == {1: "not a waiter_open_bottle campaign", 2: "not a waiter_open_bottle campaign",
                       3: "matched", 4: "not a waiter_open_bottle campaign"}


def test_a_b_side_scan_is_placed_at_its_store() -> None:
    guangdong = compiled(2, doc(WAITER_OPEN_BOTTLE, regions={"include": ["44"], "exclude": ["4403"]}))
    matcher = Matcher([guangdong])
    assert matcher.match(scan(bside=WAITER_OPEN_BOTTLE, adcode="440106")) == [guangdong]
    assert matcher.match(scan(bside=WAITER_OPEN_BOTTLE, adcode="440305")) == []  # Shenzhen: excluded
    assert matcher.match(scan(bside=WAITER_OPEN_BOTTLE, adcode="330106")) == []


def test_an_exclusive_b_side_campaign_never_takes_a_consumer_scan() -> None:
    b_side = compiled(2, doc(WAITER_OPEN_BOTTLE, exclusive=True, priority=100))
    consumer = compiled(1, doc("anyone"))
    assert Matcher([b_side, consumer]).match(scan()) == [consumer]


# -- snapshot, form, words ------------------------------------------------------------------------------

def test_a_b_side_campaign_survives_the_snapshot() -> None:
    c = compiled(7, doc(STORE_OPEN_CASE, caps={"per_member_daily": 3}))
    again = load_campaign(dump_campaign(c))
    assert again == c and again.roles == frozenset({"case"}) and again.bside == STORE_OPEN_CASE


@pytest.mark.parametrize("audience", B_AUDIENCES)
def test_the_operators_form_keeps_a_b_side_definition(audience: str) -> None:
    d = doc(audience, scope={"roles": list(parse_definition(doc(audience)).roles)},
            caps={"per_member_daily": 2, "one_per_code": True})
    form = read_form(MultiDict(form_items(definition_to_form(d))))
    back, form_problems = form_to_definition(form)
    assert form_problems == [] and read_definition(back)[1] == []
    assert (back["members"]["audience"], back["scope"]["roles"], back["caps"]["per_member_daily"]) == (
        audience, d["scope"]["roles"], 2)


def test_the_console_names_the_audiences_and_the_case_role() -> None:
    assert value_label(STORE_OPEN_CASE)[0].startswith("门店开箱") and value_label("case") == ("箱码", "case")
    assert value_label(WAITER_OPEN_BOTTLE)[0].startswith("服务员开瓶")
    assert "动销" in value_label(STORE_SELL_THROUGH)[0]


def zh(message: str) -> str:
    return problem_text("", message)[0]
