"""Offline coordinates → GB/T 2260 region (province / city / district) for the scan path.

The data is the vendored cpca 0.5.5 table (``rules/data/adcodes.csv``, MIT, see LICENSE-cpca.txt):
one centroid per administrative unit, about 2016 vintage. ``RegionIndex.nearest`` answers with the
unit whose centroid is nearest, which is right for most scans and wrong near borders (a centroid is
not a boundary); that is the accepted trade for a table of 125 KB and microseconds per call.
Phone coordinates may be WGS84 or GCJ-02: the offset (< 1 km) is far below that error, so both are
treated the same.

Conventions worth knowing before writing a rule against these codes:

- Municipalities (北京 天津 上海 重庆) and the SARs (香港 澳门) are their own city: ``city`` is
  "北京市" and ``city_code`` is "110000", the province code. GB/T 2260 splits 重庆 into 500100 市辖区
  and 500200 县, which would cut one city in two for city-level rules and reports.
  ``lookup("110100")`` and the like are accepted as aliases of the municipality.
- County-level units governed straight by the province (code xx90yy: 济源 仙桃 潜江 天门 神农架,
  Hainan's 五指山 琼海 ..., Xinjiang's 石河子 ...) act as cities: ``city`` is their own name,
  ``city_code`` their own code, ``district`` is "".
- Cities without districts (东莞 中山 儋州 嘉峪关) are nearest-centroid targets themselves, as are
  台湾省 (no city data: ``city`` is "") and the two SARs.
"""

from __future__ import annotations

import csv
import functools
import io
import math
from dataclasses import dataclass
from importlib import resources

__all__ = ["DEFAULT_MAX_KM", "KM_PER_DEGREE", "Region", "RegionIndex", "approx_distance_km", "default_index"]

DEFAULT_MAX_KM = 150.0
# One degree of latitude on a sphere of the mean Earth radius (6371.0088 km).
KM_PER_DEGREE = 111.195
# 0.5° cells keep the dense east to a few centroids per cell while the empty west stays cheap to skip.
CELL_DEGREES = 0.5

_DATA_PACKAGE = "rules.data"
_DATA_FILE = "adcodes.csv"
_CITY_IS_PROVINCE = frozenset({"11", "12", "31", "50", "81", "82"})
_MUNICIPALITY_ALIASES = {
    "110100": "110000",
    "120100": "120000",
    "310100": "310000",
    "500100": "500000",
    "500200": "500000",
}


@dataclass(frozen=True, slots=True)
class Region:
    """An administrative unit: ``adcode`` is the most specific code known (the district if known)."""

    adcode: str
    province: str
    city: str
    district: str

    @property
    def province_code(self) -> str:
        return self.adcode[:2] + "0000"

    @property
    def city_code(self) -> str:
        """The city-level code, "" when the city is unknown; see the module docstring for the special cases."""
        if not self.city:
            return ""
        if self.adcode[:2] in _CITY_IS_PROVINCE:
            return self.province_code
        if self.adcode[2:4] == "90":
            return self.adcode
        return self.adcode[:4] + "00"


@dataclass(frozen=True, slots=True)
class Centroid:
    """One point ``RegionIndex.nearest`` chooses among."""

    lat: float
    lng: float
    region: Region


def approx_distance_km(lat: float, lng: float, to_lat: float, to_lng: float) -> float:
    """Equirectangular distance scaled by cos(lat) of the first point: within 1% of great-circle up to ~500 km.

    This is the metric ``RegionIndex.nearest`` ranks by.
    """
    dy = to_lat - lat
    dx = (to_lng - lng) * math.cos(math.radians(lat))
    return math.sqrt(dx * dx + dy * dy) * KM_PER_DEGREE


class RegionIndex:
    """Immutable in-memory index: ``nearest`` for coordinates, ``lookup`` for adcodes. No I/O after ``load``."""

    __slots__ = (
        "_by_code",
        "_cells",
        "_centroids",
        "_lat0",
        "_lat_hi",
        "_lat_lo",
        "_lng0",
        "_lng_hi",
        "_lng_lo",
        "_max_d2",
        "_ncols",
        "_rings",
        "max_km",
    )

    def __init__(self, units: tuple[tuple[str, str, float | None, float | None], ...], max_km: float) -> None:
        """Build from ``(adcode, name, lat, lng)`` rows (lat/lng None when unknown); use ``load`` normally."""
        if not (max_km > 0 and math.isfinite(max_km)):
            raise ValueError(f"max_km must be a positive number, got {max_km!r}")
        self.max_km = max_km
        self._by_code = _regions(units)
        for alias, code in _MUNICIPALITY_ALIASES.items():
            if code in self._by_code:
                self._by_code[alias] = self._by_code[code]
        self._centroids = _centroids(units, self._by_code)
        if not self._centroids:
            raise ValueError("no unit has coordinates")

        max_deg = max_km / KM_PER_DEGREE
        self._max_d2 = max_deg * max_deg
        lats = [c.lat for c in self._centroids]
        lngs = [c.lng for c in self._centroids]
        # Outside this box every centroid is more than max_km away; cos(lat) is smallest at its edge.
        self._lat_lo, self._lat_hi = min(lats) - max_deg, max(lats) + max_deg
        cos_min = math.cos(math.radians(max(abs(self._lat_lo), abs(self._lat_hi))))
        self._lng_lo, self._lng_hi = min(lngs) - max_deg / cos_min, max(lngs) + max_deg / cos_min

        # A ring k cells out is at least (k - 1) cells away, so no search goes past ring `reach`; the
        # grid is padded by twice that so a query cell and all its rings are always inside it.
        reach = int(max_deg / (CELL_DEGREES * cos_min)) + 1
        pad = 2 * reach + 1
        self._lat0 = (math.floor(min(lats) / CELL_DEGREES) - pad) * CELL_DEGREES
        self._lng0 = (math.floor(min(lngs) / CELL_DEGREES) - pad) * CELL_DEGREES
        nrows = int((max(lats) - self._lat0) / CELL_DEGREES) + pad + 1
        ncols = int((max(lngs) - self._lng0) / CELL_DEGREES) + pad + 1
        self._ncols = ncols
        buckets: list[list[tuple[float, float, Region]]] = [[] for _ in range(nrows * ncols)]
        for c in self._centroids:
            row = int((c.lat - self._lat0) / CELL_DEGREES)
            col = int((c.lng - self._lng0) / CELL_DEGREES)
            buckets[row * ncols + col].append((c.lat, c.lng, c.region))
        empty: tuple[tuple[float, float, Region], ...] = ()
        self._cells = tuple(tuple(b) if b else empty for b in buckets)
        self._rings = tuple(
            tuple(di * ncols + dj for di in range(-k, k + 1) for dj in range(-k, k + 1) if max(abs(di), abs(dj)) == k)
            for k in range(1, reach + 1)
        )

    @classmethod
    def load(cls, max_km: float = DEFAULT_MAX_KM) -> RegionIndex:
        """The index over the vendored table; cached, so every caller with the same max_km shares one."""
        return _load(max_km)

    @property
    def centroids(self) -> tuple[Centroid, ...]:
        """Every point ``nearest`` chooses among (districts, and units without districts), by adcode."""
        return self._centroids

    def nearest(self, lat: float, lng: float) -> Region | None:
        """The unit whose centroid is nearest to (lat, lng) in degrees, or None beyond ``max_km`` of all.

        Also None for coordinates out of range or not finite. Exact against a brute-force scan: cells
        are searched in rings outward until no unsearched cell can hold anything nearer.
        """
        # Written out for speed (a few µs in CPython): squared distances in degrees of latitude.
        if not (self._lat_lo <= lat <= self._lat_hi and self._lng_lo <= lng <= self._lng_hi):
            return None  # NaN fails every comparison too
        fy = (lat - self._lat0) / CELL_DEGREES
        fx = (lng - self._lng0) / CELL_DEGREES
        row = int(fy)
        col = int(fx)
        coslat = math.cos(math.radians(lat))
        cells = self._cells
        center = row * self._ncols + col
        best = self._max_d2
        hit: Region | None = None
        for c_lat, c_lng, region in cells[center]:
            dy = c_lat - lat
            dx = (c_lng - lng) * coslat
            d2 = dx * dx + dy * dy
            if d2 < best:
                best = d2
                hit = region
        # Distance from the query to the nearest edge of its own cell, along each axis.
        edge_y = min(fy - row, row + 1 - fy) * CELL_DEGREES
        edge_x = min(fx - col, col + 1 - fx) * CELL_DEGREES * coslat
        gap = 0.0
        for ring in self._rings:
            bound = min(gap + edge_y, gap * coslat + edge_x)
            if bound * bound >= best:
                break
            for offset in ring:
                for c_lat, c_lng, region in cells[center + offset]:
                    dy = c_lat - lat
                    dx = (c_lng - lng) * coslat
                    d2 = dx * dx + dy * dy
                    if d2 < best:
                        best = d2
                        hit = region
            gap += CELL_DEGREES
        return hit

    def lookup(self, adcode: str) -> Region | None:
        """The unit with this GB/T 2260 code (6 digits, or 12 ending in 000000), or None if unknown/malformed."""
        if len(adcode) == 12 and adcode.endswith("000000"):
            adcode = adcode[:6]
        return self._by_code.get(adcode)


@functools.cache
def default_index() -> RegionIndex:
    """The shared index with the default ``max_km``."""
    return RegionIndex.load()


@functools.cache
def _load(max_km: float) -> RegionIndex:
    return RegionIndex(_read_units(), max_km)


@functools.cache
def _read_units() -> tuple[tuple[str, str, float | None, float | None], ...]:
    text = resources.files(_DATA_PACKAGE).joinpath(_DATA_FILE).read_text(encoding="utf-8")
    units = []
    for row in csv.DictReader(io.StringIO(text)):
        lat = float(row["lat"]) if row["lat"] else None
        lng = float(row["lng"]) if row["lng"] else None
        units.append((row["adcode"], row["name"], lat, lng))
    return tuple(units)


def _regions(units: tuple[tuple[str, str, float | None, float | None], ...]) -> dict[str, Region]:
    names = {code: name for code, name, _, _ in units}
    regions: dict[str, Region] = {}
    for code, name, _, _ in units:
        if len(code) != 6 or not code.isdigit():
            raise ValueError(f"malformed adcode {code!r} in {_DATA_FILE}")
        province = names[code[:2] + "0000"]
        own_city = code[:2] in _CITY_IS_PROVINCE
        if code[2:] == "0000":
            regions[code] = Region(code, province, province if own_city else "", "")
        elif code[4:] == "00" or code[2:4] == "90":
            regions[code] = Region(code, province, name, "")
        else:
            city = province if own_city else names[code[:4] + "00"]
            regions[code] = Region(code, province, city, name)
    return regions


def _centroids(
    units: tuple[tuple[str, str, float | None, float | None], ...], regions: dict[str, Region]
) -> tuple[Centroid, ...]:
    # A unit is a target unless a unit below it has a centroid: a city with districts is never the answer.
    located = [(code, lat, lng) for code, _, lat, lng in units if lat is not None and lng is not None]
    covered: set[str] = set()
    for code, _, _ in located:
        if code[2:] != "0000":
            covered.add(code[:2] + "0000")
        if code[4:] != "00":
            covered.add(code[:4] + "00")
    return tuple(Centroid(lat, lng, regions[code]) for code, lat, lng in sorted(located) if code not in covered)
