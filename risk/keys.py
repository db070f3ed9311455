"""The risk layer's Redis keys: one family per subject, each under its own hash tag `{r:<kind>:<id>}` so a
subject's keys share one Cluster slot (a scan's subjects may sit on different servers: the scanner sends
their calls together, one round trip per server). This module owns every risk key; others ask it.

Subjects:
- device  `d`: the device cookie / declared device id, digested (never stored in the clear)
- member  `m`: the member ref (rules.members.Member.ref, already a digest)
- network `n`: an IPv4 /24 ("1.2.3") or an IPv6 /64 ("2001:db8:1:2"); the single address's own counter
               lives under the same tag (`ip_minute_key`), so one call covers both
- point   `p`: an exact GPS fix as the client sent it ("23.129100,113.264400"), to see one spoofed point
               shared by many phones

Per subject (see risk/subject.lua for what each holds):
  <tag>:s            hash: first seen, per-brand list and review states, last place, pre-sale count, GPS
  <tag>:m:<minute>   counter, scans this minute      <tag>:h:<hour> counter, this hour
  <tag>:d:<day>      counter, scans this day          <tag>:o:<day>  HyperLogLog of the other identities today
  <tag>:r            list: recent scans "ts:batch:case:serial", newest first, bounded
  <tag>:ip:<ip>:m:<minute>  (network subjects only) the single address's scans this minute
  <tag>:cap:<batch>:<serial> (device subjects only) a member on this phone hit a cap on this code
  <tag>:o30          (device and member subjects) HyperLogLog of the other identities over 30 days
  <tag>:nh:<hour>    (device and member subjects) HyperLogLog of the networks scanned from this hour
"""

from __future__ import annotations

import hashlib
import ipaddress

DEVICE, MEMBER, NETWORK, POINT = "d", "m", "n", "p"
SUBJECT_KINDS = (DEVICE, MEMBER, NETWORK, POINT)
SUBJECT_NAMES = {DEVICE: "device", MEMBER: "member", NETWORK: "network", POINT: "point"}

# One brand's policy documents, published from SQL (risk.policy_store): field = brand id, value = JSON.
POLICIES_KEY = "{risk}:policies"
POLICIES_VERSION_KEY = "{risk}:policies:version"


def device_subject(device_id: str) -> str:
    """The device subject's id: a digest of the cookie (a cookie is a bearer secret of sorts)."""
    return hashlib.sha256(b"yima/risk/device\n" + device_id.encode()).hexdigest()[:20]


def network_of(ip: str) -> tuple[str, str]:
    """(network id, the address as text) of a client address: IPv4 /24 "a.b.c", IPv6 /64 as its first four
    groups; ("", "") for an empty or unreadable address."""
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return "", ""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if isinstance(addr, ipaddress.IPv4Address):
        return str(addr).rsplit(".", 1)[0], str(addr)
    groups = addr.exploded.split(":")
    return ":".join(g.lstrip("0") or "0" for g in groups[:4]), addr.compressed


def point_of(lat: float, lng: float) -> str:
    """The point subject's id: the fix as sent, to six decimals (about 0.1 m): real phones jitter past it."""
    return f"{lat:.6f},{lng:.6f}"


def tag(kind: str, subject: str) -> str:
    if kind not in SUBJECT_KINDS:
        raise ValueError(f"unknown risk subject kind {kind!r}")
    return f"{{r:{kind}:{subject}}}"


def subject_keys(kind: str, subject: str, *, minute: int, hour: int, day: int, ip: str = "",
                 batch_id: int = 0, serial: int = -1) -> list[str]:
    """KEYS of one risk/subject.lua call, in its order (see the script's header)."""
    t = tag(kind, subject)
    ip_key = f"{t}:ip:{ip}:m:{minute}" if kind == NETWORK and ip else f"{t}:ip:none"
    cap = capped_key(subject, batch_id, serial) if kind == DEVICE and serial >= 0 else f"{t}:cap:none"
    # 30 days of other identities for devices and members; other subjects name their state hash instead (the
    # script then skips it: many phones share a network or a point, and that count would mean nothing)
    month = f"{t}:o30" if kind in (DEVICE, MEMBER) else f"{t}:s"
    return [f"{t}:s", f"{t}:m:{minute}", f"{t}:h:{hour}", f"{t}:d:{day}", f"{t}:o:{day}", f"{t}:r", ip_key, cap,
            month, f"{t}:nh:{hour}"]


def capped_key(device: str, batch_id: int, serial: int) -> str:
    """Set when a member on this device hit a campaign's per-member cap on this code: the code's prize does
    not pass to the next account on the same phone (a day)."""
    return f"{tag(DEVICE, device)}:cap:{batch_id}:{serial}"


def state_key(kind: str, subject: str) -> str:
    """The subject's state hash (lists, review state, pre-sale count): what the review and the observer
    write (risk.lists, risk.review, risk.observer)."""
    return f"{tag(kind, subject)}:s"


def list_field(brand_id: int | None) -> str:
    """The state hash field of a brand's list entry ("block" / "allow"); None: the platform's, every brand."""
    return f"list:{brand_id if brand_id is not None else '*'}"


def review_field(brand_id: int) -> str:
    """The state hash field of a brand's review state ("flagged" / "blocked" / "cleared")."""
    return f"rev:{brand_id}"


PRESALE_FIELD = "presale"  # scans of codes not on sale or void, counted by the observer

