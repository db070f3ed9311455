"""The wrapper of rules/scan.lua: named arguments in, a typed reply out (the script's contract is in its
header). Its keys come from codegen/batch_keys.py and share the batch's slot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from codegen.batch_keys import FIRST_BUCKET, first_key, scan_keys
from codegen.codeformat import Role
from rules.lua import Arg, LuaScript, ScriptCall

SCAN = LuaScript.of("rules", "scan.lua")
RELOCATE = LuaScript.of("rules", "relocate_first.lua")

FIRST = "first"
REPEAT = "repeat"
NOT_ON_SALE = "not_on_sale"
VOID = "void"
RATE_LIMITED = "rate_limited"


@dataclass(frozen=True, slots=True)
class ScanReply:
    status: str  # FIRST, REPEAT, NOT_ON_SALE, VOID or RATE_LIMITED
    count: int  # scans of this code on sale so far, this one included (0 when not counted)
    first_ts: int | None  # the first scan's unix time, on a repeat
    first_adcode: str  # the first scan's region ("" if unknown), on a repeat
    event_id: str  # the scan event's stream id ("" when rate limited)
    first_device_tag: str  # device_tag() of the phone that scanned first, on a repeat
    risk: str = "allow"  # the risk decision as the script settled it (a leaked code or a blocked range may raise it)
    risk_reasons: str = ""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _reply(raw: list[Any]) -> ScanReply:
    status, count, first_ts, first_adcode, event_id, first_tag, risk, reasons = (_text(v) for v in raw)
    return ScanReply(status, int(count), int(first_ts) if first_ts and status == REPEAT else None,
                     first_adcode if status == REPEAT else "", event_id, first_tag, risk, reasons)


def scan_call(*, batch_id: int, role: Role, serial: int, sale_serial: int, code: str, scan_id: str, now: int,
              adcode: str, ip: str, device: str, device_tag: str, member: str, rules_version: int,
              campaign_ids: str, ip_limit: int, device_limit: int, window_seconds: int,
              replay_seconds: int, region_source: str = "none", risk: str = "allow", risk_reasons: str = "",
              tainted_risk: str = "", keep_drawable: bool = True) -> ScriptCall[ScanReply]:
    """One scan of a verified code: `sale_serial` is the item whose activation puts the code on sale,
    `campaign_ids` the matched campaigns (comma-separated, recorded on the event); at most `ip_limit` and
    `device_limit` scans of the batch per `window_seconds` (0: no limit); a retried call within
    `replay_seconds` gets the first call's reply. `region_source` says where `adcode` came from ("gps",
    "ip", "none"), recorded on the event. `risk` and `risk_reasons` are the risk layer's decision, recorded
    on the event; `tainted_risk` the decision for a code scanned before it was on sale ("" none);
    `keep_drawable`: a decision that withholds the draw leaves a first scan unspent (event kind "withheld")."""
    keys = scan_keys(batch_id, role, serial, scan_id, ip, device, now // window_seconds)
    args: list[Arg] = [
        serial, role.label, now, adcode, serial % FIRST_BUCKET,
        # no IP or device: nothing to count (those requests share the unused "rl:none" key)
        ip_limit if ip else 0, device_limit if device else 0, window_seconds, replay_seconds,
        code, batch_id, ip, device, member, sale_serial, device_tag, rules_version, campaign_ids, region_source,
        risk, risk_reasons, tainted_risk, "1" if keep_drawable else "",
    ]
    return ScriptCall(SCAN, keys, args, _reply)


def relocate_first_call(*, batch_id: int, role: str, serial: int, first_ts: int, device_tag: str,
                        adcode: str) -> ScriptCall[bool]:
    """The wrapper of rules/relocate_first.lua: the first scan (at `first_ts`, from `device_tag`) of a code
    was at `adcode` after all; True when its record was corrected."""
    return ScriptCall(RELOCATE, [first_key(batch_id, role, serial)],
                      [serial % FIRST_BUCKET, first_ts, device_tag, adcode], lambda reply: bool(int(reply)))
