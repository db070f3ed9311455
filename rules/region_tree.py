"""The bundled GB/T 2260 table as a tree of rule prefixes, for choosing regions: province → city → district.

A campaign names regions by adcode prefix (rules/campaign.py): 2 digits a province, 4 a city, 6 a
district. The tree hands out exactly the prefixes the validator accepts: municipalities (北京 …) list
their districts straight under the province; county-level units governed by the province (xx90yy)
are 6-digit children of the province, since "xx90" names no city.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from rules.region import RegionIndex, _read_units, default_index

_MUNICIPALITIES = frozenset({"11", "12", "31", "50"})


@dataclass(frozen=True, slots=True)
class RegionChoice:
    prefix: str
    name: str
    has_children: bool


@functools.cache
def _tree() -> dict[str, tuple[RegionChoice, ...]]:
    names = {code: name for code, name, _, _ in _read_units()}
    parent_of: dict[str, str] = {}
    for code in names:
        province = code[:2]
        if code[2:] == "0000":
            parent_of[province] = ""
        elif province in _MUNICIPALITIES or code[2:4] == "90" or (code[4:] != "00" and code[:4] + "00" not in names):
            parent_of[code] = province
        elif code[4:] == "00":
            parent_of[code[:4]] = province
        else:
            parent_of[code] = code[:4]
    label = {prefix: names[prefix.ljust(6, "0")] for prefix in parent_of}
    kids: dict[str, list[str]] = {}
    for prefix, parent in parent_of.items():
        kids.setdefault(parent, []).append(prefix)
    return {parent: tuple(RegionChoice(p, label[p], p in kids) for p in sorted(children))
            for parent, children in kids.items()}


def region_children(prefix: str = "") -> tuple[RegionChoice, ...]:
    """The provinces (prefix ""), or the cities / districts under a province or city prefix."""
    return _tree().get(prefix, ())


def region_label(prefix: str, regions: RegionIndex | None = None) -> str:
    """'广东省 深圳市 南山区' for 440305; the prefix itself when unknown."""
    region = (regions or default_index()).lookup(prefix.ljust(6, "0"))
    if region is None:
        return prefix
    parts = [region.province]
    if len(prefix) >= 4 and region.city and region.city != region.province:
        parts.append(region.city)
    if len(prefix) == 6 and region.district:
        parts.append(region.district)
    return " ".join(parts)
