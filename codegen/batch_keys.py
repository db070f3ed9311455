"""Every Redis key of a batch, and nothing else names them: the `{b:<id>}` family.

All share the hash tag `{b:<id>}`, so the scan script, which touches one batch, stays in one Cluster slot
(tests/unit/test_key_slots.py):

    {b:<id>}:meta                   HASH    key_id, brand, product, sku, lot, production_date, quantity, pack
    {b:<id>}:active                 ZSET    member "first-last" scored by first: merged serial ranges on sale
    {b:<id>}:void                   ZSET    same shape: voided ranges (damaged rolls, recalls)
    {b:<id>}:events                 STREAM  scan events (written by rules/scan.lua), drained into SQL
    {b:<id>}:req:<scan id>          STRING  a scan's reply, replayed to a retried call
    {b:<id>}:rl:ip:<ip>:<window>    counter scans from one address in one rate-limit window
    {b:<id>}:rl:dev:<dev>:<window>  counter scans from one device in one window
    {b:<id>}:rl:none                counter the unused limit slot of a scan without address or device
    {b:<id>}:seen:<role>            BITMAP  bit <serial> set once the code was scanned on sale
    {b:<id>}:first:<role>:<bucket>  HASH    <serial % FIRST_BUCKET> → "<unix s>,<adcode>,<device tag>"
    {b:<id>}:repeats                HASH    "<role>:<serial>" → scans after the first
    {b:<id>}:presale:<role>         BITMAP  bit <serial> set once the code was scanned not on sale or void
    {b:<id>}:riskblock              ZSET    same shape as void: code ranges a brand's risk list blocks

Every batch's event stream is also listed in the set `yima:event-streams` (a plain key, its own slot).
"""

from __future__ import annotations

import functools

from codegen.codeformat import Role

EVENT_STREAMS = "yima:event-streams"
FIRST_BUCKET = 128  # serials per first-scan hash: keeps each hash in Redis' compact listpack encoding


def batch_tag(batch_id: int) -> str:
    return f"{{b:{batch_id}}}"


def batch_keys(batch_id: int) -> tuple[str, str, str]:
    """(meta, active, void): the batch's state as written from SQL."""
    tag = batch_tag(batch_id)
    return f"{tag}:meta", f"{tag}:active", f"{tag}:void"


def events_key(batch_id: int) -> str:
    """The batch's scan-event stream (the outbox the scan script appends to)."""
    return f"{batch_tag(batch_id)}:events"


@functools.lru_cache(maxsize=4096)
def _batch_role_keys(batch_id: int, role: str) -> tuple[str, str, str, str, str, str, str]:
    """The keys of one batch and role that every scan names alike, built once."""
    tag = batch_tag(batch_id)
    _meta, active, void = batch_keys(batch_id)
    return tag, f"{tag}:rl:none", active, void, f"{tag}:seen:{role}", f"{tag}:repeats", events_key(batch_id)


def seen_key(batch_id: int, role: str) -> str:
    """The bitmap of the batch's codes of `role` scanned on sale (bit <serial>)."""
    return _batch_role_keys(batch_id, role)[4]


def repeats_key(batch_id: int) -> str:
    """The hash of scans after the first, field "<role>:<serial>"."""
    return _batch_role_keys(batch_id, "inner")[5]


def presale_key(batch_id: int, role: str) -> str:
    """The bitmap of the batch's codes of `role` scanned while not on sale or void (a leaked pack's sign)."""
    return f"{batch_tag(batch_id)}:presale:{role}"


def range_block_key(batch_id: int) -> str:
    """The batch's code ranges blocked by a risk list (risk.lists writes it, rules/scan.lua reads it)."""
    return f"{batch_tag(batch_id)}:riskblock"


def first_key(batch_id: int, role: str, serial: int) -> str:
    """The first-scan details hash holding this code's field (`serial % FIRST_BUCKET`)."""
    return f"{batch_tag(batch_id)}:first:{role}:{serial // FIRST_BUCKET}"


def scan_keys(batch_id: int, role: Role, serial: int, scan_id: str, ip: str, device: str, window: int) -> list[str]:
    """KEYS for rules/scan.lua, in its documented order."""
    label = role.label
    tag, none, active, void, seen, repeats, events = _batch_role_keys(batch_id, label)
    return [
        f"{tag}:req:{scan_id}",
        f"{tag}:rl:ip:{ip}:{window}" if ip else none,
        f"{tag}:rl:dev:{device}:{window}" if device else none,
        active,
        void,
        seen,
        first_key(batch_id, label, serial),
        repeats,
        events,
        presale_key(batch_id, label),
        range_block_key(batch_id),
    ]
