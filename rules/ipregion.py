"""Offline client IP → city region, the fallback when a scan brings no location of its own.

The table is ip2region's data (Apache-2.0) converted by rules/data/build_ipregion.py into sorted IPv4
ranges, each naming a city adcode of rules/data/adcodes.csv (docs/location.md: format and how to update).
A lookup is a bisect over an array of range starts, about a microsecond; the table costs ~0.6 MB of RAM
once per process. An IP tells a city at best, and a wrong one for VPNs, mobile gateways in another city and
company networks, so a region from it is marked "ip" on the scan and a campaign may refuse it
(`regions.sources`). IPv6 and addresses outside China (or unknown to the data) give None.
"""

from __future__ import annotations

import array
import bisect
import functools
import gzip
import ipaddress
import struct
import sys
from importlib import resources
from pathlib import Path

from rules.region import Region, RegionIndex

__all__ = ["IpRegionIndex", "default_ip_index"]

MAGIC = b"YIPR1\n"
NONE = 0xFFFF
_DATA_PACKAGE = "rules.data"
_DATA_FILE = "ipregion_v4.bin.gz"


class IpRegionIndex:
    """Immutable: `lookup(ip)` answers from memory, no I/O after `load`."""

    __slots__ = ("_indexes", "_regions", "_starts", "ranges")

    def __init__(self, data: bytes, regions: RegionIndex) -> None:
        """`data`: the uncompressed table (format in rules/data/build_ipregion.py)."""
        if not data.startswith(MAGIC):
            raise ValueError("not an IP region table")
        n_codes, n_ranges = struct.unpack_from("<II", data, len(MAGIC))
        at = len(MAGIC) + 8
        codes = [data[at + 6 * i: at + 6 * i + 6].decode("ascii") for i in range(n_codes)]
        at += 6 * n_codes
        starts = array.array("I")
        starts.frombytes(data[at: at + 4 * n_ranges])
        at += 4 * n_ranges
        indexes = array.array("H")
        indexes.frombytes(data[at: at + 2 * n_ranges])
        if len(starts) != n_ranges or len(indexes) != n_ranges:
            raise ValueError("truncated IP region table")
        if sys.byteorder != "little":
            starts.byteswap()
            indexes.byteswap()
        # An adcode the region table does not know (a newer build against older names) reads as no region.
        self._regions: tuple[Region | None, ...] = tuple(regions.lookup(code) for code in codes)
        self._starts = starts
        self._indexes = indexes
        self.ranges = n_ranges

    @classmethod
    def load(cls, path: Path | None = None, regions: RegionIndex | None = None) -> IpRegionIndex:
        """The table at `path` (gzip), else the one shipped in rules/data."""
        if path is None:
            raw = resources.files(_DATA_PACKAGE).joinpath(_DATA_FILE).read_bytes()
        else:
            raw = Path(path).read_bytes()
        return cls(gzip.decompress(raw), regions or RegionIndex.load())

    def lookup(self, ip: str) -> Region | None:
        """The city region of an IPv4 address; None for IPv6, malformed text, or no region known."""
        number = _ipv4(ip)
        if number is None:
            number = _ipv4_mapped(ip) if ":" in ip else None
            if number is None:
                return None
        i = bisect.bisect_right(self._starts, number) - 1
        if i < 0:
            return None
        index = self._indexes[i]
        return None if index == NONE else self._regions[index]


def _ipv4(ip: str) -> int | None:
    """A dotted-quad IPv4 address as a number (ipaddress takes ~10x longer: this runs on every scan)."""
    parts = ip.split(".")
    if len(parts) != 4:
        return None
    number = 0
    for part in parts:
        if not (part.isascii() and part.isdigit()) or len(part) > 3:
            return None
        octet = int(part)
        if octet > 255:
            return None
        number = number << 8 | octet
    return number


def _ipv4_mapped(ip: str) -> int | None:
    """An IPv4 address written as IPv6 (::ffff:1.2.3.4, what a dual-stack socket reports)."""
    try:
        mapped = ipaddress.IPv6Address(ip).ipv4_mapped
    except ValueError:
        return None
    return int(mapped) if mapped is not None else None


@functools.cache
def default_ip_index(path: str | None = None) -> IpRegionIndex:
    """The shared table (the shipped one, or the file `path`), loaded once per process."""
    return IpRegionIndex.load(Path(path) if path else None)
