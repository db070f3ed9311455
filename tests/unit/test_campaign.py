"""Campaign definitions: the issue's example parses and compiles; every validation rule says what is wrong."""

from __future__ import annotations

import copy
import math
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.campaign import (
    CompiledCampaign,
    Definition,
    InvalidCampaign,
    Prize,
    Problem,
    compile_campaign,
    parse_definition,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
DROP = object()  # a change that removes the key

# "Guangdong, batch L1, serials 0–9999, first scan wins 1–5 元, gold members double, budget 500 元":
# 50 red packets of at most 5 元, doubled for gold members, is exactly the 500 元 budget.
EXAMPLE: dict[str, Any] = {
    "name": "广东首扫必中",
    "brand": "acme",
    "priority": 10,
    "window": {"start": "2026-12-01T00:00:00+08:00", "end": "2027-01-01T00:00:00+08:00"},
    "scope": {"batches": [1], "serials": [[0, 9999]]},
    "regions": {"include": ["44"]},
    "members": {"tier_multipliers": {"gold": 2}},
    "ordinal": {"kind": "first_scan"},
    "first_scan_wins": True,
    "budget": {"total_fen": 50000},
    "prizes": [{"kind": "cash", "min_fen": 100, "max_fen": 500, "weight": 0.5, "total": 50}],
    "consolation": {"kind": "thanks"},
}


def doc(**changes: Any) -> dict[str, Any]:
    """The example with top-level keys replaced; a dict change is merged into a dict section."""
    result = copy.deepcopy(EXAMPLE)
    for key, value in changes.items():
        if value is DROP:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            for inner, v in value.items():
                if v is DROP:
                    result[key].pop(inner, None)
                else:
                    result[key][inner] = v
        else:
            result[key] = value
    return result


def problems(definition: Any) -> list[Problem]:
    with pytest.raises(InvalidCampaign) as caught:
        parse_definition(definition)
    return caught.value.problems


def only_problem(definition: Any) -> Problem:
    found = problems(definition)
    assert len(found) == 1, found
    return found[0]


def cash(**fields: Any) -> dict[str, Any]:
    return {"kind": "cash", "min_fen": 100, "max_fen": 500, "weight": 0.1, "total": 10, **fields}


def points(**fields: Any) -> dict[str, Any]:
    return {"kind": "points", "points": 50, "weight": 0.1, **fields}


# --- the example ------------------------------------------------------------------------------------


def test_the_issue_example_parses_with_every_field() -> None:
    d = parse_definition(doc())

    assert isinstance(d, Definition)
    assert (d.name, d.brand, d.priority, d.exclusive) == ("广东首扫必中", "acme", 10, False)
    assert d.starts_at == datetime(2026, 12, 1, tzinfo=SHANGHAI)
    assert d.ends_at == datetime(2027, 1, 1, tzinfo=SHANGHAI)
    assert (d.timezone, d.daily_minutes) == ("Asia/Shanghai", None)
    assert (d.products, d.batches, d.serials, d.roles) == (None, (1,), ((0, 9999),), ("inner",))
    assert (d.region_include, d.region_exclude) == (("44",), ())
    assert (d.audience, d.tiers, d.tags, d.tier_multipliers) == ("anyone", None, None, {"gold": 2.0})
    assert (d.ordinal, d.nth, d.first_scan_wins) == ("first_scan", 1, True)
    assert (d.per_member_daily, d.per_member, d.one_per_code) == (None, None, True)
    assert (d.budget_fen, d.daily_budget_fen) == (50000, None)
    assert d.prizes == (Prize(0, "cash", "红包", 0.5, min_fen=100, max_fen=500, total=50),)
    assert d.consolation == Prize(-1, "thanks", "谢谢参与", 0.0)
    assert d.worst_case_fen == 50 * 500 * 2
    assert d.doc["name"] == "广东首扫必中"


def test_the_issue_example_compiles_for_the_matcher_and_the_draw() -> None:
    d = parse_definition(doc(window={"daily_hours": ["08:00", "22:00"]}))
    c = compile_campaign(7, 3, d, brand_id=5, product_ids=None)

    assert isinstance(c, CompiledCampaign)
    assert (c.id, c.version, c.name, c.brand_id, c.priority, c.exclusive) == (7, 3, "广东首扫必中", 5, 10, False)
    assert c.starts_at == datetime(2026, 11, 30, 16, tzinfo=ZoneInfo("UTC")).timestamp()
    assert c.ends_at - c.starts_at == 31 * 86400
    assert (c.daily_minutes, c.utc_offset_minutes) == ((8 * 60, 22 * 60), 480)
    assert (c.product_ids, c.batch_ids, c.serial_ranges) == (None, frozenset({1}), ((0, 9999),))
    assert c.roles == frozenset({"inner"})
    assert (c.region_include, c.region_exclude) == (("44",), ())
    assert (c.audience, c.tiers, c.tags, dict(c.tier_multipliers)) == ("anyone", None, None, {"gold": 2.0})
    assert (c.ordinal, c.nth, c.first_scan_wins, c.one_per_code) == ("first_scan", 1, True, True)
    assert (c.budget_fen, c.daily_budget_fen) == (50000, None)
    assert c.prizes == d.prizes and c.consolation == d.consolation
    assert c.win_probability == 0.5


def test_compile_takes_the_resolved_product_ids() -> None:
    d = parse_definition(doc(scope={"products": ["cola-330ml", "cola-500ml"], "batches": DROP, "serials": DROP}))
    c = compile_campaign(1, 1, d, brand_id=5, product_ids=frozenset({11, 12}))

    assert d.products == ("cola-330ml", "cola-500ml")
    assert (c.product_ids, c.batch_ids, c.serial_ranges) == (frozenset({11, 12}), None, None)


def test_a_date_without_offset_is_read_in_the_campaign_time_zone() -> None:
    shanghai = parse_definition(doc(window={"start": "2026-12-01T00:00:00", "end": "2027-01-01"}))
    new_york = parse_definition(doc(window={"start": "2026-12-01T00:00:00", "timezone": "America/New_York"}))

    assert shanghai.starts_at == datetime(2026, 12, 1, tzinfo=SHANGHAI)
    assert shanghai.ends_at == datetime(2027, 1, 1, tzinfo=SHANGHAI)
    assert new_york.starts_at.utcoffset() == timedelta(hours=-5)
    assert compile_campaign(1, 1, new_york, brand_id=1, product_ids=None).utc_offset_minutes == -300


def test_lists_are_normalised() -> None:
    d = parse_definition(doc(scope={"batches": [3, 1, 3], "serials": [[500, 900], [0, 99]], "roles": ["outer"]}))

    assert (d.batches, d.serials, d.roles) == ((1, 3), ((0, 99), (500, 900)), ("outer",))


def test_a_tier_requirement_implies_members_only() -> None:
    assert parse_definition(doc(members={"tiers": ["gold"]})).audience == "members"
    assert parse_definition(doc(members={"tiers": ["gold"], "audience": "new_members"})).audience == "new_members"
    assert parse_definition(doc(members={"tags": ["student"]})).audience == "anyone"


def test_every_nth_keeps_its_n() -> None:
    assert parse_definition(doc(ordinal={"kind": "every_nth", "n": 10})).nth == 10


def test_a_draw_that_always_wins_needs_no_consolation() -> None:
    d = parse_definition(doc(consolation=DROP, prizes=[cash(weight=0.25, total=20), points(weight=0.75)]))
    assert d.consolation is None


def test_the_error_lists_every_problem_with_its_field() -> None:
    with pytest.raises(InvalidCampaign) as caught:
        parse_definition(doc(name="", brand=""))
    assert str(caught.value) == "name: must be 1-200 characters; brand: is required (the brand's slug)"


# --- one test per validation rule -------------------------------------------------------------------


def test_probabilities_over_100_percent() -> None:
    p = only_problem(doc(prizes=[cash(weight=0.6), points(weight=0.5)]))
    assert p.field == "prizes"
    assert "110.0%" in p.message and "over 100 %" in p.message


def test_probabilities_just_over_100_percent_do_not_read_as_100() -> None:
    p = only_problem(doc(prizes=[cash(weight=0.5), points(weight=0.504)]))
    assert p.field == "prizes"
    assert "100%," not in p.message


@pytest.mark.parametrize("weight", [-0.1, 1.5, "0.5", True, None])
def test_a_prize_weight_must_be_a_probability(weight: Any) -> None:
    p = only_problem(doc(prizes=[cash(weight=weight)]))
    assert (p.field, p.message) == ("prizes[0].weight", "must be a probability between 0 and 1 (e.g. 0.25 for 25 %)")


def test_budget_below_the_worst_case_exposure() -> None:
    p = only_problem(doc(budget={"total_fen": 49_999}))
    assert p.field == "budget.total_fen"
    assert "499.99 元" in p.message and "500.00 元" in p.message and "raise the budget" in p.message


def test_the_tier_multiplier_counts_in_the_worst_case() -> None:
    # 50 × 5 元 = 250 元 without the multiplier; gold members double it to 500 元.
    assert parse_definition(doc(members={"tier_multipliers": {}}, budget={"total_fen": 25_000})).budget_fen == 25_000
    p = only_problem(doc(budget={"total_fen": 25_000}))
    assert p.field == "budget.total_fen" and "500.00 元" in p.message
    p = only_problem(doc(members={"tier_multipliers": {"gold": 2, "platinum": 3}}, budget={"total_fen": 50_000}))
    assert p.field == "budget.total_fen" and "750.00 元" in p.message


def test_the_worst_case_counts_every_cash_prize_and_only_cash() -> None:
    prizes = [cash(max_fen=200, total=100), cash(min_fen=1000, max_fen=1000, total=10), points(total=1_000_000)]
    definition = doc(prizes=prizes, members={"tier_multipliers": {}}, budget={"total_fen": 30_000})
    assert parse_definition(definition).worst_case_fen == 200 * 100 + 1000 * 10
    assert only_problem({**definition, "budget": {"total_fen": 29_999}}).field == "budget.total_fen"


def test_a_cash_prize_without_a_total_is_limited_by_the_budget_alone() -> None:
    d = parse_definition(doc(prizes=[cash(total=None)], budget={"total_fen": 100}))
    assert d.worst_case_fen is None


def test_daily_budget_above_total() -> None:
    p = only_problem(doc(budget={"daily_fen": 50_001}))
    assert (p.field, p.message) == ("budget.daily_fen", "is above the total budget")


def test_window_end_before_start() -> None:
    p = only_problem(doc(window={"end": "2026-11-30T23:59:59+08:00"}))
    assert (p.field, p.message) == ("window.end", "ends before it starts")
    p = only_problem(doc(window={"end": "2026-12-01T00:00:00+08:00"}))
    assert p.field == "window.end"


@pytest.mark.parametrize("start", ["2026-13-01T00:00:00+08:00", "1 December 2026", "", 20261201, None])
def test_malformed_start_date(start: Any) -> None:
    p = only_problem(doc(window={"start": start}))
    assert (p.field, p.message) == ("window.start", "must be a date-time like 2026-12-01T00:00:00+08:00")


def test_malformed_end_date_is_reported_once() -> None:
    p = only_problem(doc(window={"end": "next month"}))
    assert (p.field, p.message) == ("window.end", "must be a date-time like 2026-12-01T00:00:00+08:00")


def test_a_window_outside_the_calendar_is_refused_rather_than_crashing_compile() -> None:
    definition = doc(window={"start": "0001-01-01T00:00:00+08:00"})
    try:
        d = parse_definition(definition)
    except InvalidCampaign as refused:
        assert [p.field for p in refused.problems] == ["window.start"]
    else:
        compile_campaign(1, 1, d, brand_id=1, product_ids=None)


def test_a_missing_window_asks_for_both_dates() -> None:
    found = problems(doc(window=DROP))
    assert [p.field for p in found][:2] == ["window.start", "window.end"]


@pytest.mark.parametrize(
    "hours",
    [
        ["08:00"],
        ["8:00", "22:00"],
        ["08:00", "25:00"],
        ["08:60", "22:00"],
        ["08:00", "08:00"],
        "08:00-22:00",
        [800, 2200],
        ["08:00", "22:00", "23:00"],
        ["ab:cd", "22:00"],
    ],
)
def test_daily_hours_malformed(hours: Any) -> None:
    p = only_problem(doc(window={"daily_hours": hours}))
    assert p.field == "window.daily_hours"
    assert p.message == 'must be ["HH:MM", "HH:MM"], two different times (end may be 24:00)'


def test_daily_hours_may_end_at_midnight_or_wrap_past_it() -> None:
    assert parse_definition(doc(window={"daily_hours": ["00:00", "24:00"]})).daily_minutes == (0, 1440)
    assert parse_definition(doc(window={"daily_hours": ["22:00", "02:00"]})).daily_minutes == (1320, 120)


def test_daily_hours_may_not_start_at_24_00() -> None:
    assert only_problem(doc(window={"daily_hours": ["24:00", "00:00"]})).field == "window.daily_hours"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Asia/Shanghai ", "", "../etc/passwd", 8])
def test_unknown_timezone(zone: Any) -> None:
    p = only_problem(doc(window={"timezone": zone}))
    assert (p.field, p.message) == ("window.timezone", f"unknown time zone {zone!r}")


def test_a_time_zone_area_is_an_unknown_time_zone() -> None:
    p = only_problem(doc(window={"timezone": "Asia"}))
    assert (p.field, p.message) == ("window.timezone", "unknown time zone 'Asia'")


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("scope", "products"),
        ("scope", "roles"),
        ("regions", "include"),
        ("members", "tiers"),
        ("members", "tags"),
    ],
)
def test_an_empty_list_would_match_nothing(section: str, key: str) -> None:
    p = only_problem(doc(**{section: {key: []}}))
    assert p.field == f"{section}.{key}"
    assert "would match nothing" in p.message and "leave it out" in p.message


def test_an_empty_exclude_list_excludes_nothing() -> None:
    d = parse_definition(doc(regions={"include": ["44"], "exclude": []}))
    assert (d.region_include, d.region_exclude) == (("44",), ())
    assert parse_definition(doc(regions={"exclude": []})).region_exclude == ()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"region": {"include": ["44"]}}, "region"),
        ({"window": {"stop": "2027-01-01T00:00:00+08:00"}}, "window.stop"),
        ({"scope": {"batch": [1]}}, "scope.batch"),
        ({"regions": {"includes": ["44"]}}, "regions.includes"),
        ({"members": {"tier": "gold"}}, "members.tier"),
        ({"ordinal": {"nth": 3}}, "ordinal.nth"),
        ({"caps": {"per_day": 1}}, "caps.per_day"),
        ({"budget": {"total": 100}}, "budget.total"),
        ({"prizes": [cash(weight=0.1, amount=3)]}, "prizes[0].amount"),
        ({"consolation": {"kind": "thanks", "weight": 0.5}}, "consolation.weight"),
    ],
)
def test_a_misspelt_field_is_refused_not_ignored(changes: dict[str, Any], field: str) -> None:
    # Ignored, "region" would run a Guangdong campaign everywhere.
    p = only_problem(doc(**changes))
    assert p.field == field and p.message.startswith("unknown field (expected one of ")


@pytest.mark.parametrize("value", [[""], ["gold", 2], "gold", {"gold": True}])
def test_a_list_of_names_holds_only_non_empty_strings(value: Any) -> None:
    p = only_problem(doc(members={"tiers": value}))
    assert (p.field, p.message) == ("members.tiers", "must be a list of non-empty strings")


@pytest.mark.parametrize("batches", [[], [0], [-1], ["L1"], [True], 1, [1 << 28], [10**30]])
def test_batches_are_a_non_empty_list_of_ids(batches: Any) -> None:
    # Ids beyond the code format's 28 bits name no batch and overflowed SQL INTEGER (a 500 on PostgreSQL).
    found = problems(doc(scope={"batches": batches, "serials": DROP}))
    assert [(p.field, p.message) for p in found] == [
        ("scope.batches", "must be a non-empty list of batch ids (1-268435455)")]


def test_serials_without_batches() -> None:
    p = only_problem(doc(scope={"batches": DROP}))
    assert p.field == "scope.serials"
    assert "need scope.batches" in p.message and "per batch" in p.message


@pytest.mark.parametrize(
    "serials", [[[9999, 0]], [[0]], [[0, 1, 2]], [[-1, 10]], [["0", "9999"]], [[0, True]], [], [0, 9999], "0-9999"]
)
def test_bad_serial_pairs(serials: Any) -> None:
    p = only_problem(doc(scope={"serials": serials}))
    assert (p.field, p.message) == (
        "scope.serials",
        "must be a non-empty list of [first, last] serial pairs with first <= last",
    )


def test_unknown_role() -> None:
    p = only_problem(doc(scope={"roles": ["inner", "cap"]}))
    assert (p.field, p.message) == ("scope.roles", "may hold only inner and outer")


@pytest.mark.parametrize("prefix", ["4", "440", "4401061", "44a", "GD", " 44"])
@pytest.mark.parametrize("key", ["include", "exclude"])
def test_bad_adcode_prefix(key: str, prefix: str) -> None:
    p = only_problem(doc(regions={"include": ["11"], key: [prefix]}))
    assert (p.field, p.message) == (f"regions.{key}", f"{prefix!r} is not an adcode prefix (2, 4 or 6 digits)")


def test_full_width_digits_are_not_an_adcode_prefix() -> None:
    # A Chinese input method types ４４ for 44; accepted, the campaign would silently match no scan.
    assert only_problem(doc(regions={"include": ["４４"]})).field == "regions.include"


def test_include_fully_excluded() -> None:
    p = only_problem(doc(regions={"include": ["4401", "440305"], "exclude": ["4403", "44"]}))
    assert p.field == "regions.exclude"
    assert "excludes every included region" in p.message and "match nothing" in p.message


def test_excluding_part_of_an_included_region_is_fine() -> None:
    d = parse_definition(doc(regions={"include": ["44", "45"], "exclude": ["4403", "45"]}))
    assert (d.region_include, d.region_exclude) == (("44", "45"), ("4403", "45"))


def test_unknown_audience() -> None:
    p = only_problem(doc(members={"audience": "vip"}))
    assert (p.field, p.message) == ("members.audience", "must be one of anyone, members, new_members, "
                                    "store_open_case, waiter_open_bottle, store_sell_through")


def test_unknown_ordinal() -> None:
    p = only_problem(doc(ordinal={"kind": "second_scan"}))
    assert (p.field, p.message) == ("ordinal.kind", "must be one of any, first_scan, member_first, every_nth")


def test_every_nth_without_n() -> None:
    assert only_problem(doc(ordinal={"kind": "every_nth"})) == Problem("ordinal.n", "is required")
    p = only_problem(doc(ordinal={"kind": "every_nth", "n": 1}))
    assert (p.field, p.message) == ("ordinal.n", "must be between 2 and 1000000")


@pytest.mark.parametrize("caps", [{"per_member_daily": 1}, {"per_member": 3}])
def test_per_member_caps_with_audience_anyone(caps: dict[str, int]) -> None:
    p = only_problem(doc(caps=caps))
    assert (p.field, p.message) == ("caps", "per-member caps need members.audience members or new_members")
    assert parse_definition(doc(caps=caps, members={"audience": "members"})).audience == "members"
    assert parse_definition(doc(caps=caps, members={"tiers": ["gold"]})).audience == "members"


def test_first_scan_wins_without_consolation_when_the_draw_can_miss() -> None:
    p = only_problem(doc(consolation=DROP))
    assert p.field == "consolation"
    assert "首扫必中" in p.message and "needs a consolation prize" in p.message


@pytest.mark.parametrize(("fen_field", "fen"), [("min_fen", 99), ("min_fen", 20_001), ("max_fen", 20_001)])
def test_cash_outside_1_to_200_yuan(fen_field: str, fen: int) -> None:
    prize = cash(**{fen_field: fen}) if fen_field == "max_fen" else cash(min_fen=fen, max_fen=None)
    p = only_problem(doc(prizes=[prize], budget={"total_fen": 10**9}))
    assert (p.field, p.message) == (f"prizes[0].{fen_field}", "must be between 100 and 20000")


def test_cash_needs_an_amount() -> None:
    p = only_problem(doc(prizes=[cash(min_fen=None, max_fen=None)]))
    assert (p.field, p.message) == ("prizes[0].min_fen", "is required")


def test_a_fixed_amount_is_min_fen_alone() -> None:
    prize = parse_definition(doc(prizes=[cash(min_fen=888, max_fen=None)])).prizes[0]
    assert (prize.min_fen, prize.max_fen) == (888, 888)


def test_cash_max_below_min() -> None:
    p = only_problem(doc(prizes=[cash(min_fen=500, max_fen=100)]))
    assert (p.field, p.message) == ("prizes[0].max_fen", "must not be below min_fen")


def test_points_prize_without_points() -> None:
    p = only_problem(doc(prizes=[cash(), points(points=None)]))
    assert (p.field, p.message) == ("prizes[1].points", "is required")


def test_daily_quantity_above_total() -> None:
    p = only_problem(doc(prizes=[cash(total=50, daily=51)]))
    assert (p.field, p.message) == ("prizes[0].daily", "is above the total quantity")
    assert parse_definition(doc(prizes=[cash(total=50, daily=50)])).prizes[0].daily == 50


def test_unknown_prize_kind() -> None:
    p = only_problem(doc(prizes=[cash(kind="bitcoin")]))
    assert (p.field, p.message) == ("prizes[0].kind", "must be one of cash, points, coupon, voucher, physical")


def test_a_voucher_needs_a_name() -> None:
    p = only_problem(doc(prizes=[cash(), {"kind": "voucher", "weight": 0.1}]))
    assert (p.field, p.message) == ("prizes[1].name", "must be 1-100 characters")
    assert parse_definition(doc(prizes=[cash(), {"kind": "voucher", "name": "再来一瓶", "weight": 0.1}]))


def test_the_consolation_is_thanks_or_points() -> None:
    p = only_problem(doc(consolation=cash(), first_scan_wins=False))
    assert (p.field, p.message) == ("consolation.kind", "must be one of thanks, points")


@pytest.mark.parametrize("definition", [[], "campaign", 5, True])
def test_not_an_object(definition: Any) -> None:
    assert problems(definition) == [Problem("", "the campaign must be a JSON object")]


def test_nothing_at_all() -> None:
    assert problems(None) == [Problem("", "the campaign must be a JSON object")]


def test_an_empty_object_lists_what_is_missing() -> None:
    fields = {p.field for p in problems({})}
    assert {"name", "brand", "window.start", "window.end", "budget.total_fen", "prizes"} <= fields


@pytest.mark.parametrize("prizes", [DROP, [], None, {"kind": "cash"}])
def test_missing_prizes(prizes: Any) -> None:
    p = only_problem(doc(prizes=prizes, first_scan_wins=False))
    assert (p.field, p.message) == ("prizes", "needs at least one prize")


def test_a_prize_that_is_not_an_object() -> None:
    found = problems(doc(prizes=[cash(), "红包", {}]))
    assert found == [Problem("prizes[1]", "must be an object"), Problem("prizes[2]", "must describe a prize")]


def test_missing_budget() -> None:
    assert only_problem(doc(budget=DROP)) == Problem("budget.total_fen", "is required")
    negative = only_problem(doc(budget={"total_fen": -1}))
    assert negative == Problem("budget.total_fen", "must be between 0 and 1000000000000")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"priority": 1001}, "priority"),
        ({"priority": "high"}, "priority"),
        ({"exclusive": "yes"}, "exclusive"),
        ({"first_scan_wins": 1}, "first_scan_wins"),
        ({"caps": {"one_per_code": "no"}}, "caps.one_per_code"),
        ({"scope": "batch 1"}, "scope"),
        ({"members": {"tier_multipliers": {"gold": 0}}}, "members.tier_multipliers"),
        ({"members": {"tier_multipliers": ["gold"]}}, "members.tier_multipliers"),
        ({"name": "x" * 201}, "name"),
    ],
)
def test_other_fields_are_typed(changes: dict[str, Any], field: str) -> None:
    assert [p.field for p in problems(doc(**changes))][:1] == [field]


# --- all problems at once ---------------------------------------------------------------------------


def test_several_problems_are_reported_together_in_document_order() -> None:
    found = problems(
        doc(
            name="",
            window={"timezone": "Mars/Base", "daily_hours": ["22:00"]},
            scope={"batches": DROP, "roles": ["lid"]},
            regions={"include": ["4"]},
            members={"audience": "vip"},
            caps={"per_member": 1},
            budget={"daily_fen": 60_000},
            prizes=[cash(weight=0.9, daily=11), points(weight=0.2, points=None)],
            consolation=DROP,
        )
    )
    assert [p.field for p in found] == [
        "name",
        "window.timezone",
        "window.daily_hours",
        "scope.serials",
        "scope.roles",
        "regions.include",
        "members.audience",
        "caps",
        "budget.daily_fen",
        "prizes[0].daily",
        "prizes[1].points",
        "prizes",
    ]


def test_a_budget_too_low_is_reported_alongside_an_unrelated_problem() -> None:
    found = problems(doc(name="", budget={"total_fen": 100}))
    assert [p.field for p in found] == ["name", "budget.total_fen"]


# --- properties -------------------------------------------------------------------------------------

weights = st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=8)


@given(weights)
def test_a_prize_table_is_valid_iff_its_probabilities_add_up_to_at_most_one(ws: list[float]) -> None:
    definition = doc(prizes=[points(weight=w) for w in ws], first_scan_wins=False, consolation=DROP)
    if sum(ws) <= 1 + 1e-9:
        d = parse_definition(definition)
        assert [p.weight for p in d.prizes] == ws
    else:
        assert only_problem(definition).field == "prizes"


@given(
    # amounts stay within one red packet (200 元) after the largest multiplier (3): a separate rule
    st.lists(st.tuples(st.integers(100, 6_666), st.integers(1, 10_000)), min_size=1, max_size=4),
    st.sampled_from([{}, {"gold": 2}, {"silver": 1.5, "gold": 3}, {"bronze": 0.5}]),
    st.integers(0, 10**9),
)
def test_the_budget_must_cover_the_worst_case(
    amounts: list[tuple[int, int]], multipliers: dict[str, float], budget: int
) -> None:
    prizes = [cash(min_fen=fen, max_fen=fen, total=total, weight=0.01) for fen, total in amounts]
    definition = doc(prizes=prizes, members={"tier_multipliers": multipliers}, budget={"total_fen": budget})
    top = max([1, *multipliers.values()])
    worst = sum(math.ceil(fen * top) * total for fen, total in amounts)
    if budget >= worst:
        assert parse_definition(definition).worst_case_fen == worst
    else:
        assert only_problem(definition).field == "budget.total_fen"


def test_a_multiplied_cash_prize_must_fit_one_red_packet() -> None:
    definition = doc(prizes=[cash(min_fen=100, max_fen=15_000, total=1, weight=0.5)],
                     members={"tier_multipliers": {"gold": 2}}, budget={"total_fen": 10**6})
    problem = only_problem(definition)
    assert problem.field == "members.tier_multipliers" and "200 元" in problem.message


# --- what a JSON Schema can say, the validator says too (no looser: the OpenAPI document promises it) ----


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"prizes": [points(min_fen=100)]}, "prizes[0].min_fen"),
        ({"prizes": [cash(points=5)]}, "prizes[0].points"),
        ({"prizes": [cash(), {"kind": "coupon", "name": "券", "weight": 0.1, "max_fen": "x"}]}, "prizes[1].max_fen"),
        ({"consolation": {"kind": "thanks", "points": 5}}, "consolation.points"),
    ],
)
def test_a_field_of_another_prize_kind_is_refused(changes: dict[str, Any], field: str) -> None:
    p = only_problem(doc(**changes))
    assert p.field == field and p.message.startswith("only ")


@pytest.mark.parametrize("name", ["", 0, False, [], {}])
def test_a_prize_name_given_must_be_a_name(name: Any) -> None:
    # Only an absent (or null) name takes the kind's default.
    assert only_problem(doc(prizes=[cash(name=name)])) == Problem("prizes[0].name", "must be 1-100 characters")
    assert parse_definition(doc(prizes=[cash(name=None)])).prizes[0].name == "红包"


@pytest.mark.parametrize("multipliers", [[], 0, "", False])
def test_tier_multipliers_given_must_be_an_object(multipliers: Any) -> None:
    assert only_problem(doc(members={"tier_multipliers": multipliers})).field == "members.tier_multipliers"


@pytest.mark.parametrize("clock", [" 8:00", "+8:00", "08:+5", "٠٨:٠٠", "08: 5"])
def test_daily_hours_are_ascii_digits(clock: str) -> None:
    assert only_problem(doc(window={"daily_hours": [clock, "22:00"]})).field == "window.daily_hours"


def test_n_is_checked_whenever_it_is_given() -> None:
    assert only_problem(doc(ordinal={"kind": "first_scan", "n": "3"})).field == "ordinal.n"
    assert parse_definition(doc(ordinal={"kind": "first_scan", "n": 3})).nth == 1


def test_a_stored_definition_reads_as_it_was_published_despite_rules_added_since() -> None:
    """A definition stored before the newer rules (unknown fields, another kind's fields, a falsy name or
    multiplier map, int()-only clock digits, a stray n) still reads for the ledger, with the values it was
    published with; anything new or edited is held to every rule."""
    legacy = doc(window={"start": "2026-12-01T00:00:00+08:00", "end": "2027-01-01T00:00:00+08:00",
                         "daily_hours": [" 8:00", "22:00"], "tz": "Asia/Shanghai"},
                 members={"tier_multipliers": []}, ordinal={"kind": "first_scan", "n": "x"},
                 prizes=[cash(name=""), points(min_fen=100)], limits={"per_member": 1})
    found = problems(legacy)
    assert len(found) == 7 and all(p.newer_rule for p in found), found
    d = parse_definition(legacy, stored=True)
    assert d.daily_minutes == (8 * 60, 22 * 60) and d.tier_multipliers == {} and d.nth == 1
    assert [p.name for p in d.prizes] == ["红包", "积分"] and d.budget_fen == 50000
    # A problem older than those still stops a stored read.
    with pytest.raises(InvalidCampaign):
        parse_definition({**legacy, "budget": {"total_fen": -1}}, stored=True)


def test_region_sources_default_to_both_and_are_checked() -> None:
    assert parse_definition(doc(regions={"include": ["44"]})).region_sources == ("gps", "ip")
    assert parse_definition(doc(regions={"include": ["44"], "sources": ["gps"]})).region_sources == ("gps",)
    both = parse_definition(doc(regions={"include": ["44"], "sources": ["ip", "gps"]}))
    assert both.region_sources == ("gps", "ip")
    for bad in ([], ["wifi"], ["gps", "gps"], "gps"):
        with pytest.raises(InvalidCampaign, match=r"regions\.sources"):
            parse_definition(doc(regions={"include": ["44"], "sources": bad}))
    with pytest.raises(InvalidCampaign, match=r"needs regions\.include or exclude"):
        parse_definition(doc(regions={"include": DROP, "sources": ["gps"]}))
