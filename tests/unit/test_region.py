"""Coordinates and adcodes → GB/T 2260 regions, from the vendored cpca table."""

from __future__ import annotations

import math
import random

import pytest

from rules.region import (
    DEFAULT_MAX_KM,
    Region,
    RegionIndex,
    approx_distance_km,
    default_index,
)


@pytest.fixture(scope="module")
def index() -> RegionIndex:
    return RegionIndex.load()


def _brute_force(index: RegionIndex, lat: float, lng: float) -> Region | None:
    best, hit = index.max_km, None
    for c in index.centroids:
        d = approx_distance_km(lat, lng, c.lat, c.lng)
        if d < best:
            best, hit = d, c.region
    return hit


@pytest.mark.parametrize(
    ("lat", "lng", "adcode", "city_code", "province", "city"),
    [
        (39.9087, 116.3975, "110101", "110000", "北京市", "北京市"),  # Tiananmen, 东城区
        (31.2215, 121.5447, "310115", "310000", "上海市", "上海市"),  # Pudong, 浦东新区
        (39.1200, 117.2000, "120101", "120000", "天津市", "天津市"),  # Heping, 和平区
        (30.2996, 108.0390, "500233", "500000", "重庆市", "重庆市"),  # 忠县, a Chongqing county
        (23.1247, 113.3612, "440106", "440100", "广东省", "广州市"),  # Guangzhou Tianhe
        (22.5431, 114.0579, "440304", "440300", "广东省", "深圳市"),  # Shenzhen Futian
        (23.0207, 113.7518, "441900", "441900", "广东省", "东莞市"),  # a city without districts
        (30.3620, 113.4540, "429004", "429004", "湖北省", "仙桃市"),  # county-level, under the province
    ],
)
def test_nearest_resolves_known_points_to_their_district(
    index: RegionIndex, lat: float, lng: float, adcode: str, city_code: str, province: str, city: str
) -> None:
    region = index.nearest(lat, lng)
    assert region is not None
    assert (region.adcode, region.city_code, region.province, region.city) == (adcode, city_code, province, city)
    assert region.province_code == adcode[:2] + "0000"


@pytest.mark.parametrize(
    ("lat", "lng", "city_code", "city"),
    [
        (30.6598, 104.0657, "510100", "成都市"),  # Tianfu Square
        (43.8256, 87.6168, "650100", "乌鲁木齐市"),
        (29.6525, 91.1721, "540100", "拉萨市"),
        (20.0440, 110.1999, "460100", "海口市"),
    ],
)
def test_nearest_resolves_provincial_capitals_to_their_city(
    index: RegionIndex, lat: float, lng: float, city_code: str, city: str
) -> None:
    region = index.nearest(lat, lng)
    assert region is not None
    assert (region.city_code, region.city) == (city_code, city)
    assert region.adcode[:4] == city_code[:4] and region.district


def test_municipality_district_names_the_municipality_as_city(index: RegionIndex) -> None:
    assert index.nearest(39.9087, 116.3975) == Region("110101", "北京市", "北京市", "东城区")


def test_sars_and_taiwan_are_province_level_targets(index: RegionIndex) -> None:
    hong_kong = index.nearest(22.2800, 114.1600)
    assert hong_kong == Region("810000", "香港特别行政区", "香港特别行政区", "")
    assert hong_kong.city_code == "810000"
    macau = index.nearest(22.1900, 113.5400)
    assert macau is not None and macau.adcode == "820000"
    taipei = index.nearest(25.0330, 121.5654)
    assert taipei == Region("710000", "台湾省", "", "")
    assert taipei.city_code == ""


@pytest.mark.parametrize(
    ("lat", "lng"),
    [
        (20.0, 150.0),  # Pacific
        (37.5665, 126.9780),  # Seoul
        (47.9200, 106.9200),  # Ulaanbaatar
        (-30.0, 116.0),  # southern hemisphere, Chinese longitudes
        (0.0, 0.0),
    ],
)
def test_nearest_is_none_far_from_every_centroid(index: RegionIndex, lat: float, lng: float) -> None:
    assert index.nearest(lat, lng) is None


@pytest.mark.parametrize(
    ("lat", "lng"),
    [
        (math.nan, 116.0),
        (39.9, math.nan),
        (math.inf, 116.0),
        (39.9, -math.inf),
        (91.0, 116.0),
        (-91.0, 116.0),
        (39.9, 181.0),
        (39.9, -181.0),
        (39.9, 116.4 + 360.0),
    ],
)
def test_nearest_is_none_for_invalid_coordinates(index: RegionIndex, lat: float, lng: float) -> None:
    assert index.nearest(lat, lng) is None


def test_max_km_bounds_the_answer() -> None:
    # Tiananmen → 东城区's centroid is about 2.2 km away.
    assert RegionIndex.load(max_km=1.0).nearest(39.9087, 116.3975) is None
    assert RegionIndex.load(max_km=3.0).nearest(39.9087, 116.3975) is not None
    with pytest.raises(ValueError, match="max_km"):
        RegionIndex.load(max_km=0.0)


def test_load_and_default_index_are_cached(index: RegionIndex) -> None:
    assert RegionIndex.load() is index
    assert default_index() is default_index()
    assert default_index().max_km == DEFAULT_MAX_KM


def test_lookup_district(index: RegionIndex) -> None:
    region = index.lookup("440305")
    assert region == Region("440305", "广东省", "深圳市", "南山区")
    assert (region.province_code, region.city_code) == ("440000", "440300")
    assert index.lookup("440305000000") == region


def test_lookup_city_has_no_district(index: RegionIndex) -> None:
    assert index.lookup("440300") == Region("440300", "广东省", "深圳市", "")


def test_lookup_province_has_no_city(index: RegionIndex) -> None:
    region = index.lookup("440000")
    assert region == Region("440000", "广东省", "", "")
    assert region.city_code == ""


@pytest.mark.parametrize("alias", ["110000", "110100", "110100000000"])
def test_lookup_municipality_and_its_city_level_code(index: RegionIndex, alias: str) -> None:
    assert index.lookup(alias) == Region("110000", "北京市", "北京市", "")


def test_lookup_chongqing_counties_code_is_chongqing(index: RegionIndex) -> None:
    assert index.lookup("500200") == index.lookup("500100") == index.lookup("500000")


@pytest.mark.parametrize(
    "adcode", ["999999", "abc", "", "44030", "4403050", "440305000001", "440305 ", "441901", "440301"]
)
def test_lookup_unknown_or_malformed_is_none(index: RegionIndex, adcode: str) -> None:
    # 440301 is a 市辖区 placeholder in GB/T 2260, not a place; it is not in the table.
    assert index.lookup(adcode) is None


def test_table_has_every_province_and_plausible_counts(index: RegionIndex) -> None:
    provinces = {c.region.province_code for c in index.centroids}
    assert len(provinces) == 34
    assert 2800 <= len(index.centroids) <= 3000
    for code in ("110000", "120000", "310000", "500000", "710000", "810000", "820000"):
        assert index.lookup(code) is not None


def test_every_centroid_resolves_to_itself(index: RegionIndex) -> None:
    for c in index.centroids:
        assert index.nearest(c.lat, c.lng) is c.region


def test_nearest_equals_brute_force_inside_chinas_bounding_box(index: RegionIndex) -> None:
    rng = random.Random(2260)
    points = [(rng.uniform(18.0, 54.0), rng.uniform(73.0, 135.0)) for _ in range(300)]
    results = [(index.nearest(lat, lng), _brute_force(index, lat, lng)) for lat, lng in points]
    assert all(grid is brute for grid, brute in results)
    # Both outcomes are exercised, so the check covers the ring search and the cut-off.
    assert sum(grid is None for grid, _ in results) > 30
    assert sum(grid is not None for grid, _ in results) > 30


def test_nearest_equals_brute_force_near_centroids(index: RegionIndex) -> None:
    # Points close to centroids land in dense cells and near cell edges, where the ring search is tested.
    rng = random.Random(2)
    centroids = index.centroids
    for _ in range(300):
        c = rng.choice(centroids)
        lat, lng = c.lat + rng.uniform(-0.6, 0.6), c.lng + rng.uniform(-0.6, 0.6)
        assert index.nearest(lat, lng) is _brute_force(index, lat, lng)


def test_nearest_equals_brute_force_at_a_small_max_km() -> None:
    index = RegionIndex.load(max_km=20.0)
    rng = random.Random(3)
    for _ in range(300):
        lat, lng = rng.uniform(18.0, 54.0), rng.uniform(73.0, 135.0)
        assert index.nearest(lat, lng) is _brute_force(index, lat, lng)


@pytest.mark.parametrize(
    ("north", "east"),
    [
        (0.24, 0.30),  # the nearer centroid is one cell east, the first found is in the query's own cell
        (0.65, 1.00),  # the nearer centroid is two cells east, the first found is one cell north
    ],
)
def test_nearest_scales_longitude_when_deciding_to_stop(north: float, east: float) -> None:
    # At 50°N a degree of longitude is 0.64 of a degree of latitude, so the centroid `east` degrees east
    # is nearer than the one `north` degrees north; the search must not stop before it reaches it.
    lat, lng = 50.25, 110.25
    units = (
        ("150000", "内蒙古自治区", None, None),
        ("150100", "呼和浩特市", None, None),
        ("150101", "north", lat + north, lng),
        ("150102", "east", lat, lng + east),
    )
    region = RegionIndex(units, DEFAULT_MAX_KM).nearest(lat, lng)
    assert region is not None and region.district == "east"


def test_approx_distance_km_is_close_to_great_circle() -> None:
    # Beijing → Tianjin centroids, about 110 km by haversine.
    lat1, lng1, lat2, lng2 = 39.904211, 116.407394, 39.084158, 117.200983
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    haversine = 2 * 6371.0088 * math.asin(math.sqrt(h))
    assert approx_distance_km(lat1, lng1, lat2, lng2) == pytest.approx(haversine, rel=0.01)
