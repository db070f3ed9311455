"""What the hot path learns about one scan's subjects: the wrapper of risk/subject.lua (one call per subject,
each in its own slot) and the signals the policy reads.

The script counts this scan (minute, hour and day counters; the others HyperLogLog; the recent list) and
reads the subject's state, in one atomic call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from risk import keys
from rules.lua import Arg, LuaScript, ScriptCall

SUBJECT = LuaScript.of("risk", "subject.lua")
STATE_TTL_S = 35 * 86_400  # a subject's record outlives a month of silence; list and review entries keep it
CHINA_OFFSET_S = 8 * 3600  # day counters roll over at China's midnight

# Review states a brand's reviewer leaves on a subject (risk.review): flagged = in the queue, prizes held;
# blocked = no prizes; cleared = reviewed and let through (flags no longer hold its prizes).
FLAGGED, BLOCKED, CLEARED = "flagged", "blocked", "cleared"
# List entries (risk.lists): the brand's own or the platform's.
BLOCK, ALLOW = "block", "allow"


@dataclass(frozen=True, slots=True)
class SubjectSignals:
    """One subject's view of this scan, this scan counted."""

    kind: str  # risk.keys.DEVICE, MEMBER, NETWORK or POINT
    subject: str  # its id (risk.keys: digest, ref, network, point)
    per_minute: int = 0  # scans of this subject this minute, every batch and brand
    per_hour: int = 0
    per_day: int = 0
    others_today: int = 0  # distinct other identities today: members of a device, devices of a member or
    #                        network or point (HyperLogLog estimate)
    age_s: int = 0  # seconds since the subject was first seen (0: first seen now)
    listed: str = ""  # "", BLOCK or ALLOW: the brand's list entry, else the platform's
    review: str = ""  # "", FLAGGED, BLOCKED or CLEARED, for this brand
    same_case: int = 0  # earlier scans within the sweep window of other codes of the same batch and case
    near: int = 0  # earlier scans within the sweep window of the same batch, serials within `near_distance`
    presale: int = 0  # the subject's scans of codes not on sale or void (the observer counts them)
    ip_per_minute: int = 0  # network subjects: this single address's scans this minute
    last_adcode: str = ""  # where this subject scanned last ("" unknown) ...
    last_ts: int = 0  # ... and when (0: never)
    gps_repeats: int = 0  # device subjects: earlier scans that sent exactly this GPS fix
    capped_here: bool = False  # device subjects: a member on this phone hit a per-member cap on this code
    others_month: int = 0  # device and member subjects: distinct other identities over the last 30 days
    networks_hour: int = 0  # device and member subjects: distinct networks scanned from this hour


def subject_call(*, kind: str, subject: str, now: int, brand_id: int, batch_id: int, case: int, serial: int,
                 other: str, adcode: str, gps: str = "", ip: str = "", sweep_window_s: int = 600,
                 near_distance: int = 8, network: str = "") -> ScriptCall[SubjectSignals]:
    """One subject's call. `other` is the identity whose distinct count this subject keeps (the member for a
    device, the device for a member, network or point; "" when there is none); `case` the code's case index
    (serial // pack; -1 when the batch has no packs); `adcode` where this scan is ("" unknown) — stored as
    the subject's last place after reading the previous one; `gps` the exact fix ("" none; device subjects
    count repeats of it); `ip` the single address (network subjects)."""
    minute, hour, day = now // 60, now // 3600, (now + CHINA_OFFSET_S) // 86_400
    call_keys = keys.subject_keys(kind, subject, minute=minute, hour=hour, day=day, ip=ip, batch_id=batch_id,
                                  serial=serial)
    args: list[Arg] = [now, brand_id, batch_id, case, serial, other, adcode, gps, sweep_window_s, near_distance,
                       ip, STATE_TTL_S, network if kind in (keys.DEVICE, keys.MEMBER) else ""]

    def parse(raw: list[Any]) -> SubjectSignals:
        v = [x.decode() if isinstance(x, bytes) else x for x in raw]
        return SubjectSignals(kind, subject, int(v[0]), int(v[1]), int(v[2]), int(v[3]), int(v[4]), str(v[5]),
                              str(v[6]), int(v[7]), int(v[8]), int(v[9]), int(v[10]), str(v[11]), int(v[12]),
                              int(v[13]), bool(int(v[14])), int(v[15]), int(v[16]))

    return ScriptCall(SUBJECT, call_keys, args, parse)


@dataclass(frozen=True, slots=True)
class ScanSignals:
    """Everything the policy reads about one scan."""

    device: SubjectSignals | None = None
    member: SubjectSignals | None = None
    network: SubjectSignals | None = None
    point: SubjectSignals | None = None
    new_member: bool = False  # the member token says the account is new (rules.members.NEW_MEMBER_DAYS)
    region_source: str = "none"  # gps, ip, none
    adcode: str = ""  # this scan's region ("" unknown)
    ip_adcode: str = ""  # the client address's city, when the region came from GPS ("" unknown)
    range_blocked: bool = False  # filled by the scan script, not here
    now: int = 0  # the scan's time (unix s), for the travel rule against `SubjectSignals.last_ts` (0: unknown)
    extra: dict[str, str] = field(default_factory=dict)

    def subjects(self) -> list[SubjectSignals]:
        return [s for s in (self.device, self.member, self.network, self.point) if s is not None]
