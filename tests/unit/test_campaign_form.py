"""The editor's form ↔ definition conversion: exact both ways (money in 元 ↔ fen, % ↔ probability, local
times ↔ ISO with offset), and what the form alone can get wrong, named by the definition's paths."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from app.campaign_form import (
    CampaignForm,
    PrizeRow,
    definition_to_form,
    fen_to_yuan,
    form_items,
    form_to_definition,
    percent_to_weight,
    read_form,
    weight_to_percent,
    yuan_to_fen,
)
from app.campaign_labels import problem_text
from rules.campaign import parse_definition, read_definition

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def docs_example() -> dict[str, Any]:
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"```json\n(\{.*?\})\n```", text, re.S)
    assert block, "docs/rules.md has no JSON example"
    return json.loads(block.group(1))  # type: ignore[no-any-return]


def without_doc(doc: dict[str, Any]) -> Any:
    return dataclasses.replace(parse_definition(doc), doc={})


def test_the_docs_example_round_trips_to_the_same_campaign() -> None:
    original = docs_example()
    form = definition_to_form(original)
    assert form.start == "2026-12-01T00:00" and form.end == "2027-01-31T00:00" and form.timezone == "Asia/Shanghai"
    assert form.budget_yuan == "500" and form.prizes[0].min_yuan == "1" and form.prizes[0].max_yuan == "5"
    assert form.prizes[0].percent == "60" and form.include == ["44"] and form.multipliers == [("gold", "2")]
    back, problems = form_to_definition(form)
    assert problems == []
    assert without_doc(back) == without_doc(original)
    assert back["window"]["start"] == "2026-12-01T00:00:00+08:00"
    assert back["budget"] == {"total_fen": 50000}


def test_money_is_converted_exactly() -> None:
    assert yuan_to_fen("0.1") + yuan_to_fen("0.2") == yuan_to_fen("0.3") == 30
    assert yuan_to_fen("1,234.56 元") == 123456 and yuan_to_fen("¥5") == 500
    assert yuan_to_fen("19.99") == 1999  # float(19.99) * 100 is 1998.9999999999998
    assert fen_to_yuan(1999) == "19.99" and fen_to_yuan(50000) == "500" and fen_to_yuan(105) == "1.05"
    form = CampaignForm(budget_yuan="1.005", prizes=[PrizeRow(min_yuan="abc", percent="六十")])
    _, problems = form_to_definition(form)
    assert {p.field for p in problems} == {"budget.total_fen", "prizes[0].min_fen", "prizes[0].weight"}


@given(st.integers(min_value=0, max_value=10**12))
def test_fen_to_yuan_and_back_is_exact(fen: int) -> None:
    assert yuan_to_fen(fen_to_yuan(fen)) == fen


@given(st.floats(min_value=0, max_value=1, allow_nan=False))
def test_probability_to_percent_and_back_is_exact(weight: float) -> None:
    assert percent_to_weight(weight_to_percent(weight)) == weight


@given(st.decimals(min_value=0, max_value=100, places=4))
def test_a_typed_percent_is_the_nearest_probability(percent: Decimal) -> None:
    assert percent_to_weight(str(percent)) == float(percent / 100)


_tiers = st.text(alphabet="abcdefgxyz", min_size=1, max_size=6)
# The form drops NUL characters on purpose (PostgreSQL text cannot hold one): a name never has one.
_names = st.text(st.characters(blacklist_characters="\x00"), min_size=1, max_size=20).map(str.strip).filter(bool)
_fen = st.integers(min_value=100, max_value=20_000)
_prize = st.one_of(
    st.builds(lambda lo, hi, w, t: {"kind": "cash", "name": "红包", "min_fen": lo, "max_fen": max(lo, hi),
                                    "weight": w, "total": t},
              _fen, _fen, st.floats(0, 1), st.integers(1, 10**6)),
    st.builds(lambda p, w, d: {"kind": "points", "name": "积分", "points": p, "weight": w, "daily": d},
              st.integers(1, 10**6), st.floats(0, 1), st.integers(1, 1000)),
    st.builds(lambda k, w: {"kind": k, "name": "奖品", "weight": w},
              st.sampled_from(["coupon", "voucher", "physical"]), st.floats(0, 1)),
)
_moment = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1)).map(
    lambda d: d.replace(microsecond=0))


@st.composite
def canonical_docs(draw: st.DrawFn) -> dict[str, Any]:
    """Definitions in the shape the form writes (every section present, only set options)."""
    start = draw(_moment)
    # Zones without daylight saving: a wall time in a DST gap would come back as another (same instant).
    tz = draw(st.sampled_from(["Asia/Shanghai", "Asia/Urumqi", "UTC"]))
    zone = ZoneInfo(tz)
    end = draw(_moment)
    window: dict[str, Any] = {"timezone": tz, "start": start.replace(tzinfo=zone).isoformat(),
                              "end": end.replace(tzinfo=zone).isoformat()}
    if draw(st.booleans()):
        window["daily_hours"] = [draw(st.sampled_from(["08:00", "22:30", "00:00"])),
                                 draw(st.sampled_from(["24:00", "12:00"]))]
    scope: dict[str, Any] = {"roles": draw(st.lists(st.sampled_from(["inner", "outer"]), unique=True, min_size=1))}
    if draw(st.booleans()):
        scope["products"] = draw(st.lists(st.sampled_from(["DEMO-500", "DEMO-330"]), unique=True, min_size=1))
    if draw(st.booleans()):
        scope["batches"] = draw(st.lists(st.integers(1, 10**6), min_size=1, max_size=3))
        if draw(st.booleans()):
            scope["serials"] = [[a, a + b] for a, b in draw(st.lists(st.tuples(st.integers(0, 10**6),
                                                                                 st.integers(0, 10**6)), min_size=1))]
    doc: dict[str, Any] = {"name": draw(_names),
                           "brand": "demo", "priority": draw(st.integers(-1000, 1000)),
                           "exclusive": draw(st.booleans()), "window": window, "scope": scope}
    regions = {k: draw(st.lists(st.sampled_from(["44", "4403", "440305", "11"]), min_size=1, unique=True))
               for k in ("include", "exclude") if draw(st.booleans())}
    if regions:
        doc["regions"] = regions
    members: dict[str, Any] = {"audience": draw(st.sampled_from(["anyone", "members", "new_members"]))}
    if draw(st.booleans()):
        members["tiers"] = draw(st.lists(_tiers, min_size=1, unique=True))
    if draw(st.booleans()):
        members["tags"] = draw(st.lists(_tiers, min_size=1, unique=True))
    if draw(st.booleans()):
        members["tier_multipliers"] = draw(st.dictionaries(_tiers, st.floats(0.1, 10), min_size=1))
    doc["members"] = members
    kind = draw(st.sampled_from(["any", "first_scan", "member_first", "every_nth"]))
    doc["ordinal"] = {"kind": kind, **({"n": draw(st.integers(2, 1000))} if kind == "every_nth" else {})}
    doc["first_scan_wins"] = draw(st.booleans())
    caps: dict[str, Any] = {"one_per_code": draw(st.booleans())}
    for key in ("per_member_daily", "per_member"):
        if draw(st.booleans()):
            caps[key] = draw(st.integers(1, 1000))
    doc["caps"] = caps
    budget: dict[str, Any] = {"total_fen": draw(st.integers(0, 10**12))}
    if draw(st.booleans()):
        budget["daily_fen"] = draw(st.integers(1, 10**12))
    doc["budget"] = budget
    doc["prizes"] = draw(st.lists(_prize, min_size=1, max_size=5))
    consolation = draw(st.sampled_from([None, {"kind": "thanks", "name": "谢谢参与"},
                                        {"kind": "points", "name": "积分", "points": 5}]))
    if consolation:
        doc["consolation"] = consolation
    return doc


@given(canonical_docs())
def test_definition_to_form_and_back_is_identical(doc: dict[str, Any]) -> None:
    back, problems = form_to_definition(definition_to_form(doc))
    assert problems == []
    assert back == doc


def test_the_posted_form_keeps_what_was_typed_and_its_row_order() -> None:
    posted = MultiDict([
        ("name", " 广东首扫必中 "), ("brand", "demo"), ("budget_yuan", "5OO"), ("roles", "inner"),
        ("prize_kind", "cash"), ("prize_name", "大奖"), ("prize_min", "100"), ("prize_max", ""),
        ("prize_points", ""), ("prize_percent", "1"), ("prize_total", "5"), ("prize_daily", ""),
        ("prize_kind", "points"), ("prize_name", "积分"), ("prize_min", ""), ("prize_max", ""),
        ("prize_points", "10"), ("prize_percent", "50"), ("prize_total", ""), ("prize_daily", "x"),
        ("serial_first", "0"), ("serial_last", "9999"), ("serial_first", ""), ("serial_last", ""),
        ("one_per_code", "1"),
    ])
    form = read_form(posted)
    assert form.name == "广东首扫必中" and form.budget_yuan == "5OO"
    assert [p.name for p in form.prizes] == ["大奖", "积分"] and form.prizes[1].daily == "x"
    assert form.serials == [("0", "9999")] and form.one_per_code and not form.first_scan_wins
    doc, problems = form_to_definition(form)
    assert {p.field for p in problems} == {"budget.total_fen", "prizes[1].daily"}
    assert doc["prizes"][0] == {"kind": "cash", "name": "大奖", "min_fen": 10000, "weight": 0.01, "total": 5}
    assert doc["scope"]["serials"] == [[0, 9999]]


@given(canonical_docs())
def test_what_the_browser_posts_reads_back_as_the_same_form(doc: dict[str, Any]) -> None:
    form = definition_to_form(doc)
    assert read_form(MultiDict(form_items(form))) == form


def test_the_validators_problems_read_in_chinese() -> None:
    """Every problem of a definition wrong in every section has a Chinese text (the console's first language)."""
    doc = docs_example()
    doc.update(name="", priority=5000, exclusive="yes", first_scan_wins=True)
    doc["window"].update(start="2027-02-01T00:00:00+08:00", timezone="Mars/Olympus", daily_hours=["8", "x"])
    doc["scope"].update(serials=[[5, 1]], roles=["side"], products=[])
    doc["regions"] = {"include": ["4"], "exclude": ["x"]}
    doc["members"] = {"audience": "cats", "tier_multipliers": {"gold": 11}}
    doc["ordinal"] = {"kind": "every_nth"}
    doc["caps"] = {"per_member": 0, "one_per_code": "1"}
    doc["budget"] = {"total_fen": 100, "daily_fen": 200}
    doc["prizes"] = [{"kind": "cash", "min_fen": 50, "max_fen": 30, "weight": 1.5, "total": 5, "daily": 9},
                     {"kind": "points", "weight": 0.5}, {"kind": "gold"}]
    del doc["consolation"]
    _, problems = read_definition(doc)
    assert len(problems) > 15
    untranslated = [(p.field, p.message) for p in problems
                    if not re.search(r"[\u4e00-\u9fff]", problem_text(p.field, p.message)[0])]
    assert untranslated == []


def test_region_sources_round_trip_and_the_default_is_left_out() -> None:
    original = docs_example()
    original["regions"] = {"include": ["44"], "sources": ["gps"]}
    form = definition_to_form(original)
    assert form.region_sources == "gps"
    back, problems = form_to_definition(form)
    assert problems == [] and back["regions"] == {"include": ["44"], "sources": ["gps"]}
    both, _ = form_to_definition(dataclasses.replace(form, region_sources="gps,ip"))
    assert both["regions"] == {"include": ["44"]}
