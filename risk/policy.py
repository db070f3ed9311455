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
Reasons are short stable words "<rule>:<subject kind>" (e.g. "sweep:d", "farm:d", "velocity:n",
"presale:d", "travel:m", "gps:p", "list:d", "review:m", "range"), at most 8, stored on the scan event.
`Decision.flags` lists the subjects the rules think a reviewer should see (a sweep, a farm, a pre-sale
scanner, a spoofed point): the observer turns them into risk_flags rows once the event drains.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from risk.errors import InvalidRisk
from risk.signals import ScanSignals

ALLOW, HOLD, CHALLENGE, NO_PRIZE, BLOCK = "allow", "hold", "challenge", "no_prize", "block"
ACTIONS = (ALLOW, HOLD, CHALLENGE, NO_PRIZE, BLOCK)  # in order of severity
SEVERITY = {a: i for i, a in enumerate(ACTIONS)}


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
    members_per_device: int = 3  # today; the next member on that phone gets no prize (a farm)
    devices_per_member: int = 4  # today
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

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> RiskPolicy:
        """A policy from its JSON document (a brand's stored overrides on top of the defaults); InvalidRisk
        names the first bad field (unknown name, wrong type, out of range)."""
        raise NotImplementedError("the signals helper writes this")

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


def decide(policy: RiskPolicy, signals: ScanSignals, *, regions: Any = None) -> Decision:
    """The scan's decision under `policy`. `regions` (a rules.region.RegionIndex) places adcodes for the
    impossible-travel rule (distance between two adcodes' centres); without it that rule is off."""
    raise NotImplementedError("the signals helper writes this")


def more_severe(a: str, b: str) -> str:
    return a if SEVERITY[a] >= SEVERITY[b] else b


def check_action(value: str, field: str = "action") -> str:
    if value not in ACTIONS:
        raise InvalidRisk(f"{field} must be one of {', '.join(ACTIONS)}", field)
    return value
