import pytest
from hypothesis import given
from hypothesis import strategies as st

from codegen import ranges
from codegen.gtin import GtinError, check_digit, normalise_gtin


@pytest.mark.parametrize(
    ("text", "gtin14"),
    [("6901234567892", "06901234567892"), ("96385074", "00000096385074"), ("036000291452", "00036000291452")],
)
def test_valid_gtins_normalise_to_14_digits(text: str, gtin14: str) -> None:
    assert normalise_gtin(text) == gtin14


@pytest.mark.parametrize("text", ["6901234567893", "123", "69012345678a2", "", "٦٩٠١٢٣٤٥٦٧٨٩٢"])
def test_invalid_gtins_say_why(text: str) -> None:
    with pytest.raises(GtinError):
        normalise_gtin(text)


@given(st.text("0123456789", min_size=7, max_size=13))
def test_appending_the_check_digit_always_validates(body: str) -> None:
    if len(body) + 1 in (8, 12, 13, 14):
        assert normalise_gtin(body + str(check_digit(body))).endswith(body + str(check_digit(body)))


def test_parse_range() -> None:
    assert ranges.parse_range("0-9", 10) == (0, 9)
    assert ranges.parse_range("5", 10) == (5, 5)
    for bad in ("9-0", "a-b", "-1", "0-10", ""):
        with pytest.raises(ranges.RangeError):
            ranges.parse_range(bad, 10)


def test_merge_and_subtract() -> None:
    assert ranges.merge([(5, 9), (0, 3), (4, 4), (20, 30), (25, 26)]) == [(0, 9), (20, 30)]
    assert ranges.subtract([(0, 99)], [(10, 19), (50, 50)]) == [(0, 9), (20, 49), (51, 99)]
    assert ranges.total([(0, 9), (5, 14)]) == 15
    assert ranges.format_ranges([(0, 9), (12, 12)]) == "0-9,12"


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 50)).map(lambda t: (t[0], t[0] + t[1]))))
def test_merge_preserves_membership(items: list[tuple[int, int]]) -> None:
    merged = ranges.merge(items)
    members = {s for a, b in items for s in range(a, b + 1)}
    assert {s for a, b in merged for s in range(a, b + 1)} == members
    assert all(merged[i][1] + 1 < merged[i + 1][0] for i in range(len(merged) - 1))
