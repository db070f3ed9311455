"""Territories and store places as GB/T 2260 codes, checked against the region tree (rules/region.py).

A territory is a list of adcode prefixes: 2 digits for a province ("44" 广东省), 4 for a city ("4401" 广州市),
6 for a district or a county-level unit ("440106" 天河区). A scan in district D is inside the territory when
some prefix starts D. A full six-digit code of a province or city ("440000", "440100") is read as its
prefix ("44", "4401"), since that is what a person typing it means; prefixes that another one already
covers are dropped ("44" and "4401" → "44").

A store's place is a unit with nothing below it in the tree: a district, a county-level city, or a city
without districts (东莞 441900).
"""

from __future__ import annotations

import functools

from channel.errors import InvalidChannel
from rules.region import Region, default_index

MAX_PREFIXES = 200  # far more than any one dealer's contract lists; bounds the work of one request


def _unit(prefix: str) -> Region | None:
    """The region a normalised prefix names, or None."""
    index = default_index()
    if len(prefix) == 2:
        return index.lookup(prefix + "0000")
    if len(prefix) == 4:
        return index.lookup(prefix + "00") if prefix[2:] != "00" else None
    if len(prefix) == 6 and prefix[4:] != "00":
        return index.lookup(prefix)
    return None


def normalise_prefix(text: str) -> str:
    """"440000" → "44", "440100" → "4401"; anything else unchanged (checked by `check_territory`)."""
    if len(text) == 6 and text.isdigit():
        if text[2:] == "0000":
            return text[:2]
        if text[4:] == "00":
            return text[:4]
    return text


def check_territory(prefixes: object) -> list[str]:
    """The territory, normalised and sorted, or InvalidChannel naming the first prefix that is not a
    province, city or district of the region tree."""
    if not isinstance(prefixes, list) or not all(isinstance(p, str) for p in prefixes):
        raise InvalidChannel("territory: a list of adcode prefixes (2, 4 or 6 digits)", "territory")
    if not prefixes:
        raise InvalidChannel("territory: name at least one province, city or district", "territory")
    if len(prefixes) > MAX_PREFIXES:
        raise InvalidChannel(f"territory: at most {MAX_PREFIXES} prefixes", "territory")
    found = set()
    for given in prefixes:
        prefix = normalise_prefix(given)
        if not (prefix.isascii() and prefix.isdigit() and len(prefix) in (2, 4, 6)) or _unit(prefix) is None:
            raise InvalidChannel(f"territory: {given[:20]!r} is not a province, city or district code "
                                 "(2, 4 or 6 digits of GB/T 2260)", "territory")
        found.add(prefix)
    return sorted(p for p in found if not any(p != q and p.startswith(q) for q in found))


def covers(territory: list[str], prefix: str) -> bool:
    """Whether `territory` holds every place under `prefix` (a prefix or a six-digit adcode)."""
    return any(prefix.startswith(t) for t in territory)


@functools.cache
def _leaves() -> frozenset[str]:
    """Units the region index can answer for a point: districts, and units that have none below them."""
    return frozenset(c.region.adcode for c in default_index().centroids)


def check_store_adcode(adcode: object) -> str:
    """A store's adcode: six digits naming a district (or a unit with no districts) of the region tree."""
    if not isinstance(adcode, str) or not (len(adcode) == 6 and adcode.isascii() and adcode.isdigit()):
        raise InvalidChannel("adcode: six digits of GB/T 2260 (a district, e.g. 440106)", "adcode")
    region = default_index().lookup(adcode)
    if region is None:
        raise InvalidChannel(f"adcode: {adcode} is not in the region tree", "adcode")
    if region.adcode != adcode or not (region.district or adcode in _leaves() or adcode[2:4] == "90"):
        raise InvalidChannel(f"adcode: {adcode} is a province or city; give the district", "adcode")
    return adcode


def place_name(prefix: str) -> str:
    """The Chinese name path of a territory prefix or an adcode: "广东省", "广东省 广州市",
    "广东省 广州市 天河区", "北京市 东城区" (a municipality is named once); the code itself when unknown."""
    region = _unit(normalise_prefix(prefix))
    if region is None:
        return prefix
    names = [region.province]
    if region.city and region.city != region.province:
        names.append(region.city)
    if region.district:
        names.append(region.district)
    return " ".join(names)


def territory_names(territory: list[str]) -> list[str]:
    return [place_name(p) for p in territory]
