"""The editor's cost preview and region tree: the same figures as the validator and the draw, on any input."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rules.campaign import InvalidCampaign, parse_definition
from rules.cost_preview import preview_cost
from rules.region import default_index
from rules.region_tree import region_children, region_label
from tests.unit.test_campaign_form import canonical_docs, docs_example


def test_the_docs_example_costs_what_its_numbers_say() -> None:
    preview = preview_cost(docs_example())
    assert preview.worst_case_fen == 50000 == preview.budget_fen  # 50 × 5 元 × 2 (gold)
    assert preview.expected_fen_per_1000 == 180000  # 0.6 × 3 元 mean × 1,000
    assert preview.expected_fen_per_1000_top == 360000
    assert (preview.win_probability, preview.consolation_probability, preview.miss_probability) == (0.6, 0.4, 0.0)
    assert preview.stock_lasts_scans == 83 and preview.budget_lasts_scans == 277
    assert preview.warnings == []


def test_warnings_name_what_is_risky() -> None:
    doc = docs_example()
    doc["prizes"] = [{"kind": "cash", "min_fen": 100, "max_fen": 500, "weight": 0.7},
                     {"kind": "points", "points": 5, "weight": 0.5}]
    del doc["consolation"]
    doc["budget"]["daily_fen"] = 500
    texts = " ".join(w.en for w in preview_cost(doc).warnings)
    assert "no total quantity" in texts and "over 100 %" in texts and "consolation" not in texts
    assert "daily budget is below" in texts  # 5 元 × 2 = 10 元 > 5 元 a day
    every = preview_cost({**docs_example(), "ordinal": {"kind": "every_nth", "n": 10}})
    assert every.win_probability == 0.06 and every.expected_fen_per_1000 == 18000


@given(canonical_docs())
def test_the_worst_case_is_the_validators(doc: dict[str, Any]) -> None:
    try:
        definition = parse_definition(doc)
    except InvalidCampaign:
        return
    assert preview_cost(doc).worst_case_fen == definition.worst_case_fen


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


@given(st.dictionaries(st.sampled_from(["budget", "prizes", "members", "ordinal", "consolation", "window",
                                        "first_scan_wins"]), _json))
def test_a_half_written_definition_never_breaks_the_preview(doc: dict[str, Any]) -> None:
    preview = preview_cost(doc)
    assert 0 <= preview.win_probability <= 1 and preview.miss_probability >= 0


def test_every_region_the_picker_offers_is_one_the_validator_knows() -> None:
    seen, stack = 0, [""]
    while stack:
        for choice in region_children(stack.pop()):
            assert default_index().lookup(choice.prefix.ljust(6, "0")) is not None, choice
            assert len(choice.prefix) in (2, 4, 6)
            seen += 1
            if choice.has_children:
                stack.append(choice.prefix)
    assert seen > 3000
    assert [c.prefix for c in region_children("11")][:2] == ["110101", "110102"]  # Beijing: districts
    assert "429004" in {c.prefix for c in region_children("42")}  # 仙桃: governed by the province
    assert region_label("440305") == "广东省 深圳市 南山区" and region_label("4403") == "广东省 深圳市"
