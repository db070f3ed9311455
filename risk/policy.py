"""A brand's risk policy (thresholds it may tune; safe defaults) and the decision it makes of one scan.

CONTRACT (written first; the signals helper implements `decide`, `RiskPolicy.from_doc` and `to_doc`):

Actions, least to most severe:
- ALLOW      draw as usual.
- HOLD       draw as usual, but any award is held: recorded in the ledger, never paid until a reviewer
             releases it (flags reach payouts).
- CHALLENGE  nothing drawn now, the code stays drawable: "come back later" (busy address, a new phone on a
             network that is pumping scans). Truthful: the page says try again in a few minutes.
- NO_PRIZE   nothing drawn; the code stays drawable for its real owner when `keep_drawable`, else its draw
             is spent (marked drawn, no award).
- BLOCK      nothing drawn, the code stays drawable; the page says rewards are unavailable on this phone
             and how to appeal. The scan is still verified and recorded (authenticity is always answered).

`decide` takes the most severe action any rule asks for; an allow-list entry (brand or platform) on any
subject of the scan overrides every rule to ALLOW; a block-list entry or a review BLOCKED gives BLOCK.
Reasons are short stable words "<rule>:<subject kind>" (e.g. "sweep:d", "farm:d", "velocity:d", "busy:n",
"presale:d", "travel:m", "gps:p", "list:d", "review:m", "range"), at most 8, stored on the scan event.
`Decision.flags` lists the subjects the rules think a reviewer should see (a sweep, a farm, a pre-sale
scanner, a spoofed point): the observer turns them into risk_flags rows once the event drains.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields
from typing import Any

from risk import keys
from risk.errors import InvalidRisk
from risk.signals import ALLOW as LISTED_ALLOW
from risk.signals import BLOCK as LISTED_BLOCK
from risk.signals import BLOCKED, CLEARED, FLAGGED, ScanSignals, SubjectSignals
from rules.region import approx_distance_km

ALLOW, HOLD, CHALLENGE, NO_PRIZE, BLOCK = "allow", "hold", "challenge", "no_prize", "block"
ACTIONS = (ALLOW, HOLD, CHALLENGE, NO_PRIZE, BLOCK)  # in order of severity
SEVERITY = {a: i for i, a in enumerate(ACTIONS)}
_HOLD, _CHALLENGE, _NO_PRIZE, _BLOCK = SEVERITY[HOLD], SEVERITY[CHALLENGE], SEVERITY[NO_PRIZE], SEVERITY[BLOCK]

# What `from_doc` accepts. Counts and distances: 0 (the rule off) to MAX_COUNT. The exceptions:
# - the windows (sweep_window_s, travel_window_s) must be at least a second (0 would be no window at all; a
#   rule is turned off by its count), the sweep window at most a day (subject.lua keeps a subject's recent
#   scans a day past its last one), the travel window at most 30 days;
# - new_device_s may be 0 (no phone counts as new: only scans without a device id are challenged), at most
#   30 days;
# - the sweep counts at most RECENT_SCANS - 1: subject.lua keeps a subject's last RECENT_SCANS scans, so
#   "earlier scans" never exceed that and a larger threshold would silently never trigger.
MAX_COUNT = 10_000_000
DAY_S = 86_400
RECENT_SCANS = 16
_BOOL_FIELDS = frozenset({"enabled", "keep_drawable", "cap_follows_code"})
_ACTION_FIELDS = frozenset({"tainted_code"})
_RANGES: dict[str, tuple[int, int]] = {
    "sweep_window_s": (1, DAY_S),
    "travel_window_s": (1, 30 * DAY_S),
    "new_device_s": (0, 30 * DAY_S),
    "payout_delay_s": (0, 7 * DAY_S),
    "sweep_same_case": (0, RECENT_SCANS - 1),
    "sweep_near": (0, RECENT_SCANS - 1),
    "network_sweep_same_case": (0, RECENT_SCANS - 1),
}


@dataclass(frozen=True, slots=True)
class RiskPolicy:
    """Thresholds: a count above its limit triggers the rule (0 turns a rule off). Tuned on
    `make bench-fraud` (docs/risk.md has the figures); a brand changes them from the console or the API."""

    enabled: bool = True
    keep_drawable: bool = True  # NO_PRIZE leaves the code drawable for its real owner
    # Velocity, across every batch and brand (a sliding minute / hour / day).
    device_per_minute: int = 6
    device_per_hour: int = 40
    device_per_day: int = 80
    member_per_hour: int = 40
    member_per_day: int = 80
    ip_per_minute: int = 30  # one address: a new phone behind it is challenged, known phones pass
    network_per_hour: int = 300  # one /24 (/64): new phones there are challenged
    # Many identities on one thing.
    members_per_device: int = 2  # today; the next member on that phone gets no prize (a farm)
    devices_per_member: int = 4  # today
    members_per_device_month: int = 3  # accounts on one phone over 30 days; the next one gets no prize
    devices_per_member_month: int = 1  # phones of one account over 30 days; past it its prizes are held
    networks_per_hour: int = 2  # /24 networks one phone or account scans from in an hour; past it (an address
    #                             pool rotated under it) its prizes are held
    devices_per_point: int = 3  # today, one exact GPS fix: a spoofed point shared by phones → hold
    # Sweeps: one source scanning one case, or a run of serials, within the window (an insider).
    sweep_window_s: int = 600
    sweep_same_case: int = 4  # earlier scans of the same case from one device → no prize, flagged
    sweep_near: int = 6  # earlier scans within `near_distance` serials of one batch from one device
    network_sweep_same_case: int = 10  # the same from one network (devices rotated behind one address)
    near_distance: int = 8
    # Leaked packs: codes scanned before they were on sale.
    presale_hold: int = 1  # a subject that scanned this many codes not on sale or void: its prizes held
    presale_block: int = 3  # … this many: blocked
    tainted_code: str = HOLD  # the action for a code that was itself scanned before sale (a leaked code)
    # Places.
    travel_window_s: int = 900  # two scans of one device or member this close in time …
    travel_km: int = 500  # … this far apart: impossible → hold
    gps_repeats: int = 2  # one device sending the exact same fix this many more times → hold
    new_device_s: int = 86_400  # "new" for the challenge rules above
    # A member who hit a campaign's per-member cap on a code: that code gives no prize to the next account on
    # the same phone (a capped code passed along a phone's accounts).
    cap_follows_code: bool = True
    # A cash prize is paid no sooner than this after it was won, so flags raised off the hot path (a sweep, a
    # farm, an account hopping phones: the drain sees them within seconds) hold it before money leaves.
    payout_delay_s: int = 3600  # tuned on make bench-fraud: 10 min blocked 98.3 % of the fraud value, an hour 99.1 %

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> RiskPolicy:
        """A policy from its JSON document (a brand's stored overrides on top of the defaults); InvalidRisk
        names the first bad field (unknown name, wrong type, out of range). None or {} is the defaults."""
        if doc is None:
            return cls()
        if not isinstance(doc, dict):
            raise InvalidRisk("风控策略须为 JSON 对象 / a risk policy must be a JSON object", "policy")
        values: dict[str, Any] = {}
        for name, value in doc.items():
            if name not in _FIELD_NAMES:
                raise InvalidRisk(f"{name}: 未知的风控策略项 / unknown risk policy field", str(name))
            values[name] = _checked(name, value)
        return cls(**values)

    def with_changes(self, **changes: Any) -> RiskPolicy:
        """This policy with some fields changed, checked as `from_doc` checks a document."""
        return RiskPolicy.from_doc({**self.to_doc(), **changes})

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


@dataclass(frozen=True, slots=True)
class Flag:
    """A subject the policy wants a reviewer to look at."""

    kind: str  # risk.keys subject kind
    subject: str
    reason: str  # the rule word ("sweep", "farm", "presale", "gps", "travel", "velocity")


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # one of ACTIONS
    reasons: tuple[str, ...] = ()  # "<rule>:<kind>", most severe first, at most 8
    flags: tuple[Flag, ...] = ()

    def reasons_text(self) -> str:
        return ",".join(self.reasons)[:200]


ALLOWED = Decision(ALLOW)


_FIELD_NAMES = frozenset(RiskPolicy.field_names())
MAX_REASONS = 8


def _checked(name: str, value: Any) -> Any:
    if name in _BOOL_FIELDS:
        if not isinstance(value, bool):
            raise InvalidRisk(f"{name}: 须为 true 或 false / must be true or false", name)
        return value
    if name in _ACTION_FIELDS:
        if not isinstance(value, str):
            raise InvalidRisk(f"{name} must be one of {', '.join(ACTIONS)}", name)
        return check_action(value, name)
    low, high = _RANGES.get(name, (0, MAX_COUNT))
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRisk(f"{name}: 须为整数 / must be a whole number", name)
    if not low <= value <= high:
        raise InvalidRisk(f"{name}: 须在 {low} 到 {high} 之间 / must be between {low} and {high}", name)
    return value


def decide(policy: RiskPolicy, signals: ScanSignals, *, regions: Any = None) -> Decision:
    """The scan's decision under `policy`. `regions` (a rules.region.RegionIndex) places adcodes for the
    impossible-travel rule (distance between two adcodes' centres); without it that rule is off.

    Each rule below may ask for an action with a reason "<rule>:<kind>" and a flag; the decision is the most
    severe action asked for. A subject a reviewer cleared is exempt from the farm, sweep, pre-sale, GPS and
    travel rules (not from velocity, lists or the busy-address challenge). Runs on every scan: plain
    comparisons, and nothing is allocated until a rule fires."""
    if not policy.enabled:
        return ALLOWED
    device, member, network, point = signals.device, signals.member, signals.network, signals.point
    subjects = (device, member, network, point)
    for s in subjects:
        if s is not None and s.listed == LISTED_ALLOW:
            return Decision(ALLOW, ("list:" + s.kind,))

    found: list[tuple[int, str, Flag | None]] = []  # (severity, reason, flag)
    if signals.range_blocked:
        found.append((_BLOCK, "range", None))
    for s in subjects:
        if s is None:
            continue
        if s.listed == LISTED_BLOCK:
            found.append((_BLOCK, "list:" + s.kind, None))
        review = s.review
        if review == BLOCKED:
            found.append((_BLOCK, "review:" + s.kind, None))
        elif review == FLAGGED and s.kind != keys.NETWORK:  # a network is shared: only a reviewer's block acts
            found.append((_HOLD, "review:" + s.kind, None))

    p = policy
    if device is not None:
        if ((p.device_per_minute and device.per_minute > p.device_per_minute)
                or (p.device_per_hour and device.per_hour > p.device_per_hour)
                or (p.device_per_day and device.per_day > p.device_per_day)):
            found.append((_NO_PRIZE, "velocity:d", None))
        if p.cap_follows_code and device.capped_here:
            found.append((_NO_PRIZE, "capped:d", None))
        if device.review != CLEARED:
            if ((p.members_per_device and device.others_today > p.members_per_device)
                    or (p.members_per_device_month and device.others_month > p.members_per_device_month)):
                found.append((_NO_PRIZE, "farm:d", Flag(keys.DEVICE, device.subject, "farm")))
            if ((p.sweep_same_case and device.same_case >= p.sweep_same_case)
                    or (p.sweep_near and device.near >= p.sweep_near)):
                found.append((_NO_PRIZE, "sweep:d", Flag(keys.DEVICE, device.subject, "sweep")))
            if p.networks_per_hour and device.networks_hour > p.networks_per_hour:
                found.append((_HOLD, "rotate:d", Flag(keys.DEVICE, device.subject, "rotate")))
            if device.presale:
                _presale(p, device, found)
            if p.gps_repeats and device.gps_repeats >= p.gps_repeats:
                found.append((_HOLD, "gps:d", Flag(keys.DEVICE, device.subject, "gps")))
            if device.last_ts and regions is not None:
                _travel(p, signals, device, regions, found)
    if member is not None:
        if ((p.member_per_hour and member.per_hour > p.member_per_hour)
                or (p.member_per_day and member.per_day > p.member_per_day)):
            found.append((_NO_PRIZE, "velocity:m", None))
        if member.review != CLEARED:
            if p.devices_per_member and member.others_today > p.devices_per_member:
                found.append((_NO_PRIZE, "farm:m", Flag(keys.MEMBER, member.subject, "farm")))
            elif p.devices_per_member_month and member.others_month > p.devices_per_member_month:
                found.append((_HOLD, "hop:m", Flag(keys.MEMBER, member.subject, "hop")))
            if p.sweep_same_case and member.same_case >= p.sweep_same_case:
                found.append((_NO_PRIZE, "sweep:m", Flag(keys.MEMBER, member.subject, "sweep")))
            if p.networks_per_hour and member.networks_hour > p.networks_per_hour:
                found.append((_HOLD, "rotate:m", Flag(keys.MEMBER, member.subject, "rotate")))
            if member.presale:
                _presale(p, member, found)
            if member.last_ts and regions is not None:
                _travel(p, signals, member, regions, found)
    if network is not None:
        if (((p.ip_per_minute and network.ip_per_minute > p.ip_per_minute)
                or (p.network_per_hour and network.per_hour > p.network_per_hour))
                and (device is None or device.age_s < p.new_device_s)):
            found.append((_CHALLENGE, "busy:n", None))
        if network.review != CLEARED:
            if p.network_sweep_same_case and network.same_case >= p.network_sweep_same_case:
                found.append((_NO_PRIZE, "sweep:n", Flag(keys.NETWORK, network.subject, "sweep")))
            if network.presale:
                _presale(p, network, found)
    if (point is not None and point.review != CLEARED and p.devices_per_point
            and point.others_today > p.devices_per_point):
        found.append((_HOLD, "gps:p", Flag(keys.POINT, point.subject, "gps")))

    if not found:
        return ALLOWED
    if len(found) > 1:
        found.sort(key=_severity_of, reverse=True)  # stable: equal severities keep the rules' order
    flags = tuple(dict.fromkeys(f for _, _, f in found if f is not None))
    return Decision(ACTIONS[found[0][0]], tuple(r for _, r, _ in found[:MAX_REASONS]), flags)


def _severity_of(hit: tuple[int, str, Flag | None]) -> int:
    return hit[0]


def _presale(p: RiskPolicy, s: SubjectSignals, found: list[tuple[int, str, Flag | None]]) -> None:
    """A subject that scanned codes before they were on sale (a leaked pack): held, then blocked."""
    if p.presale_block and s.presale >= p.presale_block:
        found.append((_BLOCK, "presale:" + s.kind, Flag(s.kind, s.subject, "presale")))
    elif p.presale_hold and s.presale >= p.presale_hold:
        found.append((_HOLD, "presale:" + s.kind, Flag(s.kind, s.subject, "presale")))


def _travel(p: RiskPolicy, signals: ScanSignals, s: SubjectSignals, regions: Any,
            found: list[tuple[int, str, Flag | None]]) -> None:
    """Impossible travel: this subject's previous placed scan was too far away too recently (distance
    between the two regions' centres). Off without `signals.now` (the scan's time) or a travel distance."""
    here, there = signals.adcode, s.last_adcode
    if (not p.travel_km or not signals.now or not here or not there or here == there
            or signals.now - s.last_ts > p.travel_window_s):
        return
    a, b = region_centre(regions, here), region_centre(regions, there)
    if a is not None and b is not None and approx_distance_km(a[0], a[1], b[0], b[1]) > p.travel_km:
        found.append((_HOLD, "travel:" + s.kind, Flag(s.kind, s.subject, "travel")))


def region_centre(regions: Any, adcode: str) -> tuple[float, float] | None:
    """(lat, lng) of an adcode's centre under a rules.region.RegionIndex, None when unknown. A unit the
    index places scans in (a district, a city without districts) is its own centroid; a city or province
    with districts (an address's region is a city) is the mean of its districts' centroids, which is within
    tens of km of its seat: ample for a rule about hundreds."""
    centres = _centres(regions)
    centre = centres.get(adcode)
    if centre is None:
        region = regions.lookup(adcode)  # aliases (110100 → 110000), 12-digit codes
        if region is not None:
            centre = centres.get(region.adcode)
    return centre


@functools.lru_cache(maxsize=4)
def _centres(regions: Any) -> dict[str, tuple[float, float]]:
    centres: dict[str, tuple[float, float]] = {}
    sums: dict[str, list[float]] = {}
    for c in regions.centroids:
        region = c.region
        centres[region.adcode] = (c.lat, c.lng)
        for code in {region.city_code, region.province_code} - {"", region.adcode}:
            acc = sums.setdefault(code, [0.0, 0.0, 0.0])
            acc[0] += c.lat
            acc[1] += c.lng
            acc[2] += 1
    for code, (lat, lng, n) in sums.items():
        centres.setdefault(code, (lat / n, lng / n))
    return centres


def more_severe(a: str, b: str) -> str:
    return a if SEVERITY[a] >= SEVERITY[b] else b


def check_action(value: str, field: str = "action") -> str:
    if value not in ACTIONS:
        raise InvalidRisk(f"{field} must be one of {', '.join(ACTIONS)}", field)
    return value
