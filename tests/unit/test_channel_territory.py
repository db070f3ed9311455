"""Territories and store places against the region tree (channel/territory.py), and the console's Chinese
for the directory's refusals (app/channel_messages.py): pure, no database."""

from __future__ import annotations

import pytest

from app.channel_messages import field_of, in_chinese
from channel.errors import ChannelConflict, InvalidChannel
from channel.territory import check_store_adcode, check_territory, covers, place_name


@pytest.mark.parametrize("given, kept", [
    (["44"], ["44"]), (["440000"], ["44"]), (["440100"], ["4401"]), (["44", "4401", "440106"], ["44"]),
    (["4401", "4403", "4401"], ["4401", "4403"]), (["110100"], ["1101"]), (["659001"], ["659001"]),
    (["65", "11"], ["11", "65"])])
def test_a_territory_is_normalised(given: list[str], kept: list[str]) -> None:
    assert check_territory(given) == kept


@pytest.mark.parametrize("given", [[], ["4"], ["444"], ["99"], ["4499"], ["440199"], [" 44"], ["44\n"], ["٤٤"],
                                   ["1100"], ["4400"], ["4190"], [""], ["44"] * 201, "44", [44], None])
def test_a_territory_outside_the_tree_is_refused(given: object) -> None:
    with pytest.raises(InvalidChannel) as refused:
        check_territory(given)
    assert refused.value.field == "territory"


@pytest.mark.parametrize("prefix, name", [
    ("44", "广东省"), ("4401", "广东省 广州市"), ("440106", "广东省 广州市 天河区"), ("440100", "广东省 广州市"),
    ("11", "北京市"), ("1101", "北京市"), ("110105", "北京市 朝阳区"), ("441900", "广东省 东莞市"),
    ("659001", "新疆维吾尔自治区 石河子市"), ("99", "99")])
def test_a_place_is_named_by_its_path(prefix: str, name: str) -> None:
    assert place_name(prefix) == name


def test_covers_reads_prefixes() -> None:
    assert covers(["44"], "440106") and covers(["4401"], "440106") and covers(["44", "65"], "6501")
    assert not covers(["4401"], "440305") and not covers(["4401"], "44") and not covers([], "44")


@pytest.mark.parametrize("adcode", ["440106", "441900", "110105", "659001", "130421"])
def test_a_store_sits_in_a_district_or_a_unit_without_districts(adcode: str) -> None:
    assert check_store_adcode(adcode) == adcode


@pytest.mark.parametrize("adcode, words", [
    ("440000", "province or city"), ("440100", "province or city"), ("110000", "province or city"),
    ("110100", "province or city"), ("999999", "not in the region tree"), ("44010", "six digits"),
    ("４４０１０６", "six digits"), (440106, "six digits")])
def test_a_store_is_not_placed_in_a_province_or_a_city(adcode: object, words: str) -> None:
    with pytest.raises(InvalidChannel, match=words):
        check_store_adcode(adcode)


@pytest.mark.parametrize("message, zh", [
    ("territory: 广西壮族自治区 is outside the territory of GD-001 华南总经销",
     "广西壮族自治区 不在上级经销商 GD-001 华南总经销 的区域内"),
    ("name: at most 200 characters", "名称最多 200 个字符"),
    ("contact: required", "请填写联系人"),
    ("adcode: 440100 is a province or city; give the district", "440100 是省或市的代码：请填写区县代码"),
    ("voucher_face_fen: whole fen from 0 to 1000000 (1 元 = 100 fen)", "金额须在 0 到 10,000 元之间，最多两位小数"),
    ("something new", "something new")])
def test_refusals_read_in_chinese(message: str, zh: str) -> None:
    assert in_chinese(message) == zh


def test_a_refusal_names_its_field() -> None:
    assert field_of(InvalidChannel("territory: x", "territory")) == "territory"
    assert field_of(ChannelConflict("code: the brand has a distributor GD-001 already")) == "code"
    assert field_of(ChannelConflict("this account is disabled; enable it first")) == ""
