"""A brand's block and allow lists (and the platform's, brand None): SQL is the truth, Redis the copy the hot
path reads, written through on every change and rewritten whole by `sync_lists`.

Where an entry lands in Redis:
- d / m / n   the subject's state hash (risk.keys.state_key): field `list:<brand|*>` = block | allow, and `keep`
              so the hot path's TTL never drops the record while an entry is on it
- ip          the address's network subject's state hash: field `iplist:<brand|*>:<ip>` (risk/subject.lua)
- range       a block only: the batch's `{b:<id>}:riskblock` zset of merged "first-last" ranges scored by first,
              the shape of the batch's void ranges (codegen.batch_keys.range_block_key); rebuilt from SQL
              whenever one of the batch's range entries changes

Subjects are checked here (InvalidRisk names the field). A device is stored as its digest
(risk.keys.device_subject): give either the raw device id or a digest of 20 hex digits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.audit import record_change
from codegen.batch_keys import range_block_key
from codegen.models import Batch, Product
from codegen.ranges import merge
from risk import keys
from risk.errors import InvalidRisk, RiskNotFound
from risk.models import (
    LIST_SUBJECTS,
    SUBJECT_DEVICE,
    SUBJECT_IP,
    SUBJECT_MEMBER,
    SUBJECT_NETWORK,
    SUBJECT_RANGE,
    RiskListEntry,
)
from risk.signals import STATE_TTL_S

ACTIONS = (RiskListEntry.BLOCK, RiskListEntry.ALLOW)
MAX_PAGE = 200
NOTE_MAX = 500
SYNC_ACTOR = "yima:risk-sync"

_DIGEST = re.compile(r"[0-9a-f]{20}")
_DEVICE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # what the scan API takes as a device id
_MEMBER = re.compile(r"[0-9a-f]{32}")  # rules.members.Member.ref
_IPV4_NET = re.compile(r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){2}")
_IPV6_NET = re.compile(r"[0-9a-f]{1,4}(:[0-9a-f]{1,4}){3}")
_RANGE = re.compile(r"([0-9]{1,10}):([0-9]{1,10})-([0-9]{1,10})")
_STATE_FIELDS = ("list:", "rev:", "iplist:")  # fields that keep a subject's record from expiring


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def check_subject(kind: str, subject: Any) -> str:
    """The subject as stored, or InvalidRisk: a device's digest, a member ref, a network ("1.2.3" or an IPv6
    /64's first four groups), an address (as risk.keys.network_of writes it), a range "<batch>:<first>-<last>"."""
    if kind not in LIST_SUBJECTS:
        raise InvalidRisk(f"kind must be one of {', '.join(LIST_SUBJECTS)}", "kind")
    if not isinstance(subject, str) or not subject.strip():
        raise InvalidRisk("subject must be a non-empty string", "subject")
    text = subject.strip()
    if kind == SUBJECT_DEVICE:
        if _DIGEST.fullmatch(text):
            return text
        if _DEVICE.fullmatch(text):
            return keys.device_subject(text)
        raise InvalidRisk("a device is its id (1-64 letters, digits or _.:-) or its digest (20 hex digits)",
                          "subject")
    if kind == SUBJECT_MEMBER:
        if not _MEMBER.fullmatch(text.lower()):
            raise InvalidRisk("a member is its ref: 32 hex digits", "subject")
        return text.lower()
    if kind == SUBJECT_NETWORK:
        low = text.lower()
        if _IPV4_NET.fullmatch(low):
            return low
        if _IPV6_NET.fullmatch(low):
            return ":".join(g.lstrip("0") or "0" for g in low.split(":"))
        raise InvalidRisk('a network is an IPv4 /24 ("1.2.3") or an IPv6 /64 ("2001:db8:1:2")', "subject")
    if kind == SUBJECT_IP:
        network, address = keys.network_of(text)
        if not network or "%" in text or len(text) > 45:
            raise InvalidRisk("ip must be one IPv4 or IPv6 address", "subject")
        return address
    found = _RANGE.fullmatch(text)
    if found is None:
        raise InvalidRisk('a range is "<batch>:<first>-<last>", e.g. "12:1000-1999"', "subject")
    batch, first, last = (int(g) for g in found.groups())
    if first > last or last >= 2**31:
        raise InvalidRisk("a range's first serial must not be past its last", "subject")
    return f"{batch}:{first}-{last}"


def parse_range(subject: str) -> tuple[int, int, int]:
    """(batch, first, last) of a stored range subject."""
    batch, _, span = subject.partition(":")
    first, _, last = span.partition("-")
    return int(batch), int(first), int(last)


def _check_range_batch(session: Session, brand_id: int | None, subject: str) -> None:
    batch_id, _first, last = parse_range(subject)
    row = session.execute(select(Product.brand_id, Batch.quantity).join(Batch, Batch.product_id == Product.id)
                          .where(Batch.id == batch_id)).first()
    if row is None or (brand_id is not None and row[0] != brand_id):
        raise InvalidRisk(f"no batch {batch_id} in this brand", "subject")
    if last >= row[1]:
        raise InvalidRisk(f"the range goes past the batch's last serial {row[1] - 1}", "subject")


def _field(entry: RiskListEntry) -> tuple[str, str]:
    """(state hash key, field) of a d / m / n / ip entry."""
    if entry.kind == SUBJECT_IP:
        network, address = keys.network_of(entry.subject)
        scope = entry.brand_id if entry.brand_id is not None else "*"
        return keys.state_key(keys.NETWORK, network), f"iplist:{scope}:{address}"
    return keys.state_key(entry.kind, entry.subject), keys.list_field(entry.brand_id)


def _write(redis: Any, entry: RiskListEntry) -> None:
    key, field = _field(entry)
    redis.hset(key, mapping={field: entry.action, "keep": 1})


def _erase(redis: Any, kind: str, subject: str, brand_id: int | None) -> None:
    probe = RiskListEntry(kind=kind, subject=subject, brand_id=brand_id, action="")
    key, field = _field(probe)
    redis.hdel(key, field)
    let_expire(redis, key)


def let_expire(redis: Any, key: str) -> None:
    """Drop `keep` from a subject's record once no list or review field is left on it, so it ages out."""
    names = [_text(f) for f in redis.hkeys(key)]
    if names and not any(n.startswith(_STATE_FIELDS) for n in names):
        redis.hdel(key, "keep")
        redis.expire(key, STATE_TTL_S)


def _live(now: datetime) -> Any:
    return (RiskListEntry.expires_at.is_(None)) | (RiskListEntry.expires_at > now)


def write_range_blocks(session: Session, redis: Any, batch_ids: Iterable[int], now: datetime | None = None) -> None:
    """Rebuild each batch's range-block zset from its live range entries (every brand's and the platform's)."""
    now = now or datetime.now(UTC)
    for batch_id in sorted(set(batch_ids)):
        subjects = session.scalars(select(RiskListEntry.subject).where(
            RiskListEntry.kind == SUBJECT_RANGE, RiskListEntry.action == RiskListEntry.BLOCK,
            RiskListEntry.subject.startswith(f"{batch_id}:"), _live(now)))
        ranges = merge((first, last) for _b, first, last in (parse_range(s) for s in subjects))
        key = range_block_key(batch_id)
        pipe = redis.pipeline(transaction=True)  # one key: readers never see it half written
        pipe.delete(key)
        if ranges:
            pipe.zadd(key, {f"{a}-{b}": a for a, b in ranges})
        pipe.execute()


def entry_snapshot(entry: RiskListEntry) -> dict[str, Any]:
    return {"kind": entry.kind, "subject": entry.subject, "action": entry.action, "note": entry.note,
            "brand_id": entry.brand_id,
            "expires_at": entry.expires_at.isoformat() if entry.expires_at is not None else None}


def _same_entry(brand_id: int | None, kind: str, subject: str) -> Any:
    scope = RiskListEntry.brand_id.is_(None) if brand_id is None else RiskListEntry.brand_id == brand_id
    return select(RiskListEntry).where(scope, RiskListEntry.kind == kind, RiskListEntry.subject == subject)


def add_entry(session: Session, redis: Any, *, brand_id: int | None, kind: str, subject: Any, action: str,
              actor: str, note: str = "", expires_at: datetime | None = None,
              now: datetime | None = None) -> RiskListEntry:
    """Put a subject on the brand's (None: the platform's) block or allow list, or change the entry already
    there; written through to Redis and audited. InvalidRisk names a bad field."""
    now = now or datetime.now(UTC)
    if action not in ACTIONS:
        raise InvalidRisk(f"action must be one of {', '.join(ACTIONS)}", "action")
    subject = check_subject(kind, subject)
    if kind == SUBJECT_RANGE:
        if action != RiskListEntry.BLOCK:
            raise InvalidRisk("a range can only be blocked (allow has no meaning for codes)", "action")
        _check_range_batch(session, brand_id, subject)
    if not isinstance(note, str) or len(note) > NOTE_MAX or "\x00" in note:
        raise InvalidRisk(f"note must be text of at most {NOTE_MAX} characters", "note")
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidRisk("expires_at must carry its offset", "expires_at")
        if expires_at <= now:
            raise InvalidRisk("expires_at must be in the future", "expires_at")
    entry = session.scalars(_same_entry(brand_id, kind, subject).with_for_update()).first()
    before = entry_snapshot(entry) if entry is not None else None
    if entry is None:
        entry = RiskListEntry(brand_id=brand_id, kind=kind, subject=subject, created_by=actor[:200], created_at=now)
        session.add(entry)
    entry.action, entry.note, entry.expires_at = action, note, expires_at
    session.flush()
    record_change(session, actor, "risk.list.add" if before is None else "risk.list.change",
                  f"risk_list:{entry.id}", brand_id=brand_id, before=before, after=entry_snapshot(entry))
    if kind == SUBJECT_RANGE:
        write_range_blocks(session, redis, [parse_range(subject)[0]], now)
    else:
        _write(redis, entry)
    return entry


def get_entry(session: Session, entry_id: int, *, brand_id: int | None) -> RiskListEntry:
    """The entry of the brand (None: a platform entry); another's reads like a missing one."""
    entry = session.get(RiskListEntry, entry_id)
    if entry is None or entry.brand_id != brand_id:
        raise RiskNotFound(f"no list entry {entry_id}")
    return entry


def entry_brand(session: Session, entry_id: int) -> tuple[bool, int | None]:
    """(found, brand id: None for a platform entry) of an entry: what the API checks the caller against."""
    row = session.execute(select(RiskListEntry.brand_id).where(RiskListEntry.id == entry_id)).first()
    return (False, None) if row is None else (True, row[0])


def remove_entry(session: Session, redis: Any, entry_id: int, *, brand_id: int | None, actor: str,
                 note: str = "") -> RiskListEntry:
    """Take an entry off its list (SQL and Redis), audited; RiskNotFound for another brand's or none."""
    entry = get_entry(session, entry_id, brand_id=brand_id)
    before = entry_snapshot(entry)
    session.delete(entry)
    session.flush()
    record_change(session, actor, "risk.list.remove", f"risk_list:{entry_id}", brand_id=brand_id, before=before,
                  note=note)
    _unwrite(session, redis, entry)
    return entry


def _unwrite(session: Session, redis: Any, entry: RiskListEntry) -> None:
    if entry.kind == SUBJECT_RANGE:
        write_range_blocks(session, redis, [parse_range(entry.subject)[0]])
    else:
        _erase(redis, entry.kind, entry.subject, entry.brand_id)


@dataclass(frozen=True)
class ListPage:
    entries: list[RiskListEntry]
    total: int


def list_entries(session: Session, brand_id: int | None, *, kind: str | None = None, action: str | None = None,
                 limit: int = 50, offset: int = 0) -> ListPage:
    """The brand's entries (None: the platform's), newest first."""
    if kind is not None and kind not in LIST_SUBJECTS:
        raise InvalidRisk(f"kind must be one of {', '.join(LIST_SUBJECTS)}", "kind")
    if action is not None and action not in ACTIONS:
        raise InvalidRisk(f"action must be one of {', '.join(ACTIONS)}", "action")
    where = [RiskListEntry.brand_id.is_(None) if brand_id is None else RiskListEntry.brand_id == brand_id]
    if kind is not None:
        where.append(RiskListEntry.kind == kind)
    if action is not None:
        where.append(RiskListEntry.action == action)
    rows = list(session.scalars(select(RiskListEntry).where(*where).order_by(RiskListEntry.id.desc())
                                .limit(max(1, min(limit, MAX_PAGE))).offset(max(0, offset))))
    total = session.scalar(select(func.count()).select_from(RiskListEntry).where(*where)) or 0
    return ListPage(rows, int(total))


@dataclass(frozen=True)
class SyncReport:
    written: int
    expired: int


def sync_lists(session: Session, redis: Any, now: datetime | None = None) -> SyncReport:
    """Make Redis say what SQL says: expired entries are deleted (and erased from Redis, audited as the sync),
    every live entry written again, every batch with range entries rebuilt. Idempotent; the worker runs it
    at start and periodically, so a Redis that lost the lists (a failover, a flush) gets them back."""
    now = now or datetime.now(UTC)
    expired = list(session.scalars(select(RiskListEntry).where(RiskListEntry.expires_at <= now)))
    range_batches: set[int] = set()
    for entry in expired:
        before = entry_snapshot(entry)
        session.delete(entry)
        record_change(session, SYNC_ACTOR, "risk.list.expire", f"risk_list:{entry.id}", brand_id=entry.brand_id,
                      before=before)
        if entry.kind == SUBJECT_RANGE:
            range_batches.add(parse_range(entry.subject)[0])
        else:
            _erase(redis, entry.kind, entry.subject, entry.brand_id)
    session.flush()
    written = 0
    pipe = redis.pipeline(transaction=False)  # subjects sit in many slots: no MULTI across them
    for entry in session.scalars(select(RiskListEntry).where(_live(now)).order_by(RiskListEntry.id)):
        if entry.kind == SUBJECT_RANGE:
            range_batches.add(parse_range(entry.subject)[0])
            continue
        key, field = _field(entry)
        pipe.hset(key, mapping={field: entry.action, "keep": 1})
        written += 1
        if written % 1000 == 0:
            pipe.execute()
    pipe.execute()
    write_range_blocks(session, redis, range_batches, now)
    return SyncReport(written + len(range_batches), len(expired))
