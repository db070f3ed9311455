"""Build rules/data/ipregion_v4.bin.gz (the offline IPv4 → region table) from ip2region's xdb file.

Run by hand when the upstream data is updated (docs/location.md says where to get it):

    python -m rules.data.build_ipregion path/to/ip2region.xdb      # or the .whl of a PyPI package holding one

The xdb (format 2: a 256-byte header, a 512 KB vector index, then 14-byte segments `start, end, length,
pointer` over the whole IPv4 space, each naming "国家|区域|省份|城市|ISP") is read without ip2region's own
code. Every segment in China is mapped to the GB/T 2260 adcode of its city, by the names of
rules/data/adcodes.csv (a city ip2region names that the table does not know falls back to its province;
a segment with neither is left out), adjacent segments with the same adcode are merged, and the result is
written as rules/ipregion.py reads it:

    magic b"YIPR1\\n", then little-endian uint32 counts: regions R, ranges N
    R × 6 ASCII bytes   the adcodes, index 0 .. R-1
    N × uint32          first address of each range, ascending
    N × uint16          the range's adcode index, 0xFFFF: no region (outside China or unknown)

the whole gzip-compressed. A range runs up to the next range's first address; the first range starts at 0.
"""

from __future__ import annotations

import argparse
import array
import csv
import gzip
import io
import struct
import sys
import zipfile
from importlib import resources
from pathlib import Path

MAGIC = b"YIPR1\n"
NONE = 0xFFFF
HEADER = 256
SEGMENT = 14
OUT = Path(__file__).with_name("ipregion_v4.bin.gz")
# Names ip2region uses that are not a prefix of the GB/T 2260 name.
_PROVINCE_ALIASES = {"香港": "810000", "澳门": "820000", "台湾": "710000"}


def read_xdb(data: bytes) -> list[tuple[int, int, str]]:
    """(first, last, region text) of every segment, in address order."""
    start_ptr, end_ptr = struct.unpack_from("<II", data, 8)
    segments = []
    for offset in range(start_ptr, end_ptr + 1, SEGMENT):
        first, last, length, ptr = struct.unpack_from("<IIHI", data, offset)
        segments.append((first, last, data[ptr:ptr + length].decode("utf-8")))
    return segments


def xdb_bytes(path: Path) -> bytes:
    """The xdb itself, or the first `*.xdb` inside a wheel/zip."""
    if path.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(path) as z:
            name = next(n for n in z.namelist() if n.endswith(".xdb"))
            return z.read(name)
    return path.read_bytes()


class Names:
    """ip2region's province and city names → adcodes of rules/data/adcodes.csv."""

    def __init__(self) -> None:
        text = resources.files("rules.data").joinpath("adcodes.csv").read_text(encoding="utf-8")
        rows = [(r["adcode"], r["name"]) for r in csv.DictReader(io.StringIO(text))]
        self.provinces = {code: name for code, name in rows if code.endswith("0000")}
        self.cities: dict[str, dict[str, str]] = {}
        for code, name in rows:
            city_level = code[4:] == "00" or code[2:4] == "90"
            if not code.endswith("0000") and city_level:
                self.cities.setdefault(code[:2], {})[name] = code
        self.unmatched: dict[str, int] = {}

    def province(self, name: str) -> str | None:
        if name in _PROVINCE_ALIASES:
            return _PROVINCE_ALIASES[name]
        for code, full in self.provinces.items():
            if full.startswith(name.removesuffix("省")) and name not in ("", "0"):
                return code
        return None

    def adcode(self, region: str) -> str | None:
        parts = region.split("|")
        if len(parts) < 4 or parts[0] != "中国":
            return None
        province_name, city_name = parts[2], parts[3]
        province = self.province(province_name)
        if province is None:
            return None
        if province[:2] in ("11", "12", "31", "50", "71", "81", "82") or city_name in ("", "0"):
            return province  # municipalities and SARs are their own city; Taiwan has no city data
        cities = self.cities.get(province[:2], {})
        if city_name in cities:
            return cities[city_name]
        for name, code in cities.items():
            if name.startswith(city_name.removesuffix("市")):
                return code
        self.unmatched[f"{province_name}|{city_name}"] = self.unmatched.get(f"{province_name}|{city_name}", 0) + 1
        return province


def build(segments: list[tuple[int, int, str]], names: Names) -> bytes:
    codes: dict[str, int] = {}
    starts = array.array("I")
    indexes = array.array("H")
    expected = 0
    for first, last, region in segments:
        if first != expected:
            raise ValueError(f"segments are not contiguous at {first}")
        expected = last + 1
        adcode = names.adcode(region)
        index = NONE if adcode is None else codes.setdefault(adcode, len(codes))
        if indexes and indexes[-1] == index:
            continue  # merged with the range before
        starts.append(first)
        indexes.append(index)
    if sys.byteorder != "little":
        starts.byteswap()
        indexes.byteswap()
    table = b"".join(code.encode("ascii") for code in codes)
    body = MAGIC + struct.pack("<II", len(codes), len(starts)) + table + starts.tobytes() + indexes.tobytes()
    return gzip.compress(body, compresslevel=9, mtime=0)  # mtime 0: the same input builds the same bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("xdb", type=Path, help="ip2region.xdb, or a wheel that holds one")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    names = Names()
    segments = read_xdb(xdb_bytes(args.xdb))
    data = build(segments, names)
    args.out.write_bytes(data)
    print(f"{len(segments)} segments → {args.out} ({len(data)} bytes)")
    for name, count in sorted(names.unmatched.items(), key=lambda kv: -kv[1]):
        print(f"  city not in adcodes.csv, province kept: {name} ({count} segments)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
