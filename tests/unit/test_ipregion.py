"""The offline IP → region table: the shipped data, the reader, and the build script's format."""

from __future__ import annotations

import gzip

import pytest

from rules.data.build_ipregion import Names, build
from rules.ipregion import IpRegionIndex, default_ip_index
from rules.region import RegionIndex


def test_the_shipped_table_places_chinese_addresses_in_their_city() -> None:
    ix = default_ip_index()
    assert ix.ranges > 10_000
    guangzhou = ix.lookup("202.96.128.86")  # a Guangdong Telecom resolver
    assert guangzhou is not None and guangzhou.adcode == "440100" and guangzhou.city == "广州市"
    chengdu = ix.lookup("61.139.2.69")
    assert chengdu is not None and chengdu.province == "四川省"


@pytest.mark.parametrize("ip", ["8.8.8.8", "1.1.1.1", "10.0.0.1", "127.0.0.1", "2001:db8::1", "", "x",
                                "1.2.3", "1.2.3.256", "1.2.3.4.5", "١.٢.٣.٤"])
def test_foreign_private_ipv6_and_malformed_addresses_have_no_region(ip: str) -> None:
    assert default_ip_index().lookup(ip) is None


def test_an_ipv4_mapped_ipv6_address_is_read_as_its_ipv4() -> None:
    ix = default_ip_index()
    assert ix.lookup("::ffff:202.96.128.86") == ix.lookup("202.96.128.86")


def test_build_maps_names_to_adcodes_merges_ranges_and_the_reader_bisects() -> None:
    segments = [
        (0, 99, "0|0|0|内网IP|内网IP"),
        (100, 199, "中国|0|广东省|深圳市|电信"),
        (200, 299, "中国|0|广东省|深圳市|联通"),  # same city: merged with the range before
        (300, 399, "中国|0|新疆|哈密|电信"),  # a short name: 哈密市
        (400, 499, "中国|0|广东省|不存在市|电信"),  # unknown city: its province
        (500, 599, "中国|0|北京|北京市|电信"),
        (600, 0xFFFFFFFF, "美国|0|0|0|0"),
    ]
    names = Names()
    ix = IpRegionIndex(gzip.decompress(build(segments, names)), RegionIndex.load())
    assert ix.ranges == 6

    def at(n: int) -> str | None:
        a, b, c, d = n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255
        region = ix.lookup(f"{a}.{b}.{c}.{d}")
        return region.adcode if region else None

    assert [at(n) for n in (0, 99, 100, 250, 299, 300, 450, 599, 600, 0xFFFFFFFF)] == [
        None, None, "440300", "440300", "440300", "650500", "440000", "110000", None, None]
    assert names.unmatched == {"广东省|不存在市": 1}


def test_a_broken_table_is_refused() -> None:
    with pytest.raises(ValueError, match="not an IP region table"):
        IpRegionIndex(b"nope", RegionIndex.load())
