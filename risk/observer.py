"""The risk layer off the hot path: the drain's observer (rules.drain.ScanObserver) turning drained scan events
into flags (the review queue, `risk_flags`) and the subjects' pre-sale counts.

The drain calls `RiskObserver.observe` inside its transaction with the events it really inserted, so each
event reaches it once and its flags commit or roll back with the events. Per pass:

1. Flags the hot path asked for. An event's `risk_reasons` ("sweep:d,velocity:n,…", risk.policy) naming a
   flagging rule (sweep, farm, hop, presale, gps, travel) raises a flag on the subject it names, in the brand of
   the event's batch: device → risk.keys.device_subject(device id), member → the member ref, network →
   risk.keys.network_of(ip); a point is not on the event and is skipped.
2. Leaked packs: each consumer scan of a code not on sale or void adds one to the `presale` count in the
   state hash of its device, member and network (what the hot path reads, risk/subject.lua); a device whose
   count reaches `presale_flag` is flagged "presale", so leakers reach the queue.
3. Signals the hot path cannot see (risk.offpath, in memory): a device stepping through serials all day
   ("sweep", `near_flag` near scans today) and a device or network scanning many codes of one batch away
   from the batch's market within an hour ("market").

Each flag is written to SQL (one row per brand, subject kind and subject: hits, reasons and samples added
up, an event counted once) and to Redis: the subject's review field for the brand becomes "flagged" unless
a reviewer already blocked or cleared it (HSETNX: those are the only other values), and the hash is kept
("keep", no expiry), so the next scan of the subject is held (risk.policy) until reviewed.

Redis: at most two pipelined round trips per pass, none when no event needs one (pre-sale counts; then
review fields). Pipelines are non-transactional: on a Cluster redis-py splits them by node. Redis writes
are not part of the SQL transaction: if it rolls back, the entries are drained again and the counts are
added twice (at-least-once); a review field set for a flag that rolled back is set again by the retry.

The in-memory signals (3) are one drain job's: a job lives for its `seconds` in its own RQ work horse and
several workers share the streams, so "today" means "what this job has seen of today" (risk.offpath).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from codegen.models import Batch, Product
from risk import keys
from risk.models import RiskFlag
from risk.offpath import NearSerials, OutOfMarket
from risk.review import hold_for_flag
from risk.signals import CHINA_OFFSET_S, FLAGGED, STATE_TTL_S

FLAG_RULES = frozenset({"sweep", "farm", "hop", "rotate", "presale", "gps", "travel"})  # reasons a reviewer should see
PRESALE_KINDS = frozenset({"not_on_sale", "void"})  # rules/scan_script.py's statuses of a code not on sale
CONSUMER_ROLES = frozenset({"inner", "outer"})  # case and pallet codes are the channel's own scans
SWEEP, PRESALE, MARKET = "sweep", "presale", "market"
SAMPLES = 10  # codes kept on a flag, newest first
EVENTS_KEPT = 50  # event ids kept on a flag (evidence["events"]), to count a redelivered event once
DAYS_KEPT = 31  # per-day hit counts kept on a flag (evidence["days"])


@dataclass
class ObserverStats:
    events: int = 0  # events observed
    flagged: int = 0  # events that added to a flag
    flags_written: int = 0  # flag rows inserted or updated
    presale: int = 0  # pre-sale scans counted
    held: int = 0  # awards held because their device or member was flagged
    redis_round_trips: int = 0


@dataclass(slots=True)
class _Seen:
    """One event's evidence on one subject."""

    event_id: str
    code: str
    at: datetime
    reasons: list[str]
    figures: dict[str, object]


@dataclass(slots=True)
class _Evidence:
    """What one pass holds against one (brand, kind, subject)."""

    seen: dict[str, _Seen] = field(default_factory=dict)  # event id → its evidence, in order of arrival

    def add(self, row: dict[str, Any], reason: str, figures: dict[str, object] | None = None) -> None:
        event_id = str(row["id"])
        s = self.seen.get(event_id)
        if s is None:
            s = self.seen[event_id] = _Seen(event_id, str(row["code"]), _aware(row["scanned_at"]), [], {})
        if reason not in s.reasons:
            s.reasons.append(reason)
        if figures:
            s.figures.update(figures)


FlagKey = tuple[int, str, str]  # (brand, kind, subject)


class RiskObserver:
    """The drain's risk observer. One per drain job: its batch → brand cache and its off-path windows live
    across passes. `redis`: the scan Redis (standalone or Cluster), where the subjects' state hashes are."""

    def __init__(self, redis: Any, *, presale_flag: int = 3, near_distance: int = 8, near_flag: int = 15,
                 market_codes: int = 20, market_min_scans: int = 50) -> None:
        self._redis = redis
        self.presale_flag, self.near_flag = presale_flag, near_flag
        self._brands: dict[int, int] = {}  # batch → brand: a batch never changes brand
        self._near = NearSerials(near_distance)
        self._market = OutOfMarket(market_codes, market_min_scans)
        self.stats = ObserverStats()

    def observe(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Flag and count these newly stored scan events (rules.drain.event_row rows), in the caller's
        transaction."""
        self.stats.events += len(rows)
        brands = self._brands_of(session, {int(r["batch_id"]) for r in rows})
        evidence: dict[FlagKey, _Evidence] = {}
        presale: Counter[tuple[str, str]] = Counter()  # (kind, subject) → pre-sale scans this pass
        presale_rows: dict[tuple[int, str], list[dict[str, Any]]] = {}  # (brand, device) → its pre-sale scans
        for r in rows:
            brand = brands.get(int(r["batch_id"]))
            if brand is None:
                continue  # a batch SQL does not hold: no brand to flag it in
            why = r.get("risk_reasons") or ""
            if why:
                for word in why.split(","):
                    rule, _, kind = word.partition(":")
                    if rule in FLAG_RULES:
                        subject = _subject(r, kind)
                        if subject:
                            evidence.setdefault((brand, kind, subject), _Evidence()).add(r, rule)
            if r["role"] not in CONSUMER_ROLES:
                continue
            device = r.get("device_id") or ""
            if r["kind"] in PRESALE_KINDS:
                for kind in (keys.DEVICE, keys.MEMBER, keys.NETWORK):
                    subject = _subject(r, kind)
                    if subject:
                        presale[kind, subject] += 1
                if device:
                    presale_rows.setdefault((brand, keys.device_subject(device)), []).append(r)
            self._offpath(r, brand, device, evidence)
        self.stats.presale += sum(n for (kind, _), n in presale.items() if kind == keys.DEVICE)
        kept, unexpiring = self._count_presale(presale)
        for (brand, device), scans in presale_rows.items():
            total = kept.get((keys.DEVICE, device), 0)
            if total >= self.presale_flag:
                for r in scans:
                    evidence.setdefault((brand, keys.DEVICE, device), _Evidence()).add(r, PRESALE, {PRESALE: total})
        if evidence:
            self.stats.flagged += len({e for ev in evidence.values() for e in ev.seen})
            written, created = _upsert_flags(session, evidence)
            self.stats.flags_written += written
            self.stats.held += self._hold(session, evidence, created, rows)
        self._mark_flagged(evidence.keys(), unexpiring)

    def _hold(self, session: Session, evidence: dict[FlagKey, _Evidence], created: set[FlagKey],
              rows: list[dict[str, Any]]) -> int:
        """Hold the flagged devices' and members' unpaid awards (risk.review.hold_for_flag): all of them for a
        flag raised now, else those of this pass's scans (drawn before the Redis review field said so). The
        payout delay (RiskPolicy.payout_delay_s) is what lets this catch prizes before money leaves."""
        by_id = {str(r["id"]): r for r in rows}
        held = 0
        for key, ev in evidence.items():
            brand, kind, subject = key
            if kind not in (keys.DEVICE, keys.MEMBER):
                continue
            seen = [by_id[e] for e in ev.seen if e in by_id]
            codes = [(int(r["batch_id"]), int(r["serial"])) for r in seen]
            raw_device = next((r.get("device_id") or "" for r in seen if r.get("device_id")), "")
            held += hold_for_flag(session, brand, kind, subject, raw_device=raw_device, codes=codes,
                                  everything=key in created)
        return held

    def _offpath(self, r: dict[str, Any], brand: int, device: str, evidence: dict[FlagKey, _Evidence]) -> None:
        """The in-memory signals of one consumer scan (risk.offpath)."""
        ts = int(_aware(r["scanned_at"]).timestamp())
        batch_id, serial = int(r["batch_id"]), int(r["serial"])
        if device:
            near = self._near.see((ts + CHINA_OFFSET_S) // 86_400, device, batch_id, serial)
            if near >= self.near_flag:
                evidence.setdefault((brand, keys.DEVICE, keys.device_subject(device)), _Evidence()).add(
                    r, SWEEP, {"near_today": near})
        adcode = r.get("adcode") or ""
        if not adcode:
            return
        subjects = [(keys.DEVICE, device)] if device else []
        net = network(r.get("ip") or "")
        if net:
            subjects.append((keys.NETWORK, net))
        for kind, raw, codes, market in self._market.see(ts // 3600, batch_id, serial, adcode[:2], subjects):
            subject = keys.device_subject(raw) if kind == keys.DEVICE else raw
            evidence.setdefault((brand, kind, subject), _Evidence()).add(
                r, MARKET, {"market": {"batch": batch_id, "codes_this_hour": codes, "province": adcode[:2],
                                       "batch_province": market}})

    def _brands_of(self, session: Session, batch_ids: Iterable[int]) -> dict[int, int]:
        """Each batch's brand, as channel.judge finds it (cached: a batch never changes brand)."""
        wanted = set(batch_ids)
        missing = wanted - self._brands.keys()
        if missing:
            query = (select(Batch.id, Product.brand_id).join(Product, Batch.product_id == Product.id)
                     .where(Batch.id.in_(sorted(missing))))
            for batch_id, brand_id in session.execute(query):
                self._brands[batch_id] = brand_id
        return {b: self._brands[b] for b in wanted if b in self._brands}

    def _count_presale(self, counts: Counter[tuple[str, str]]) -> tuple[dict[tuple[str, str], int], list[str]]:
        """Add the pass's pre-sale scans to the subjects' state hashes, one pipelined round trip: each
        subject's count now, and the hashes left with no expiry and no "keep" (made here: the subject's had
        expired), which get the state TTL in the next round trip (`_mark_flagged`)."""
        if not counts:
            return {}, []
        pipe = self._redis.pipeline(transaction=False)
        subjects = sorted(counts)
        for kind, subject in subjects:
            key = keys.state_key(kind, subject)
            pipe.hincrby(key, keys.PRESALE_FIELD, counts[kind, subject])
            pipe.hexists(key, "keep")
            pipe.ttl(key)
        replies = pipe.execute()
        self.stats.redis_round_trips += 1
        totals, unexpiring = {}, []
        for i, (kind, subject) in enumerate(subjects):
            total, keep, ttl = replies[3 * i: 3 * i + 3]
            totals[kind, subject] = int(total)
            if not keep and int(ttl) == -1:
                unexpiring.append(keys.state_key(kind, subject))
        return totals, unexpiring

    def _mark_flagged(self, flagged: Iterable[FlagKey], unexpiring: list[str]) -> None:
        """The flagged subjects' review field for their brand ("flagged" unless already reviewed) and "keep";
        the expiry of state hashes the pre-sale count made (unless kept now). One round trip, none when
        there is nothing to write."""
        todo = sorted(k for k in flagged if k[1] in keys.SUBJECT_KINDS)
        kept = {keys.state_key(kind, subject) for _, kind, subject in todo}
        unexpiring = [k for k in unexpiring if k not in kept]
        if not todo and not unexpiring:
            return
        pipe = self._redis.pipeline(transaction=False)
        for brand, kind, subject in todo:
            key = keys.state_key(kind, subject)
            pipe.hsetnx(key, keys.review_field(brand), FLAGGED)
            pipe.hset(key, "keep", 1)
            pipe.persist(key)
        for key in unexpiring:
            pipe.expire(key, STATE_TTL_S)
        pipe.execute()
        self.stats.redis_round_trips += 1


def _subject(r: dict[str, Any], kind: str) -> str:
    """The id of the event's subject of `kind` ("" when the event has none: no device, member or address;
    a GPS point is not stored on the event)."""
    if kind == keys.DEVICE:
        device = r.get("device_id") or ""
        return keys.device_subject(device) if device else ""
    if kind == keys.MEMBER:
        return str(r.get("member") or "")[:64]
    if kind == keys.NETWORK:
        return network(r.get("ip") or "")
    return ""


_OCTETS = frozenset(str(i) for i in range(256))


def network(ip: str) -> str:
    """risk.keys.network_of(ip)[0], the plain dotted IPv4 address most events carry read without the
    ipaddress module (a third of the observer's time when every address went through it)."""
    parts = ip.split(".")
    if len(parts) == 4 and parts[0] in _OCTETS and parts[1] in _OCTETS and parts[2] in _OCTETS \
            and parts[3] in _OCTETS:
        return f"{parts[0]}.{parts[1]}.{parts[2]}"
    return keys.network_of(ip)[0]


def _aware(at: Any) -> datetime:
    if isinstance(at, datetime):
        return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite hands back naive datetimes: UTC
    return datetime.fromtimestamp(float(at), UTC)


def _upsert_flags(session: Session, evidence: dict[FlagKey, _Evidence]) -> tuple[int, set[FlagKey]]:
    """Raise or add to the flags, in the caller's transaction; (the rows written, the flags raised now).

    Stands in for risk.review.raise_flag (the review's own, written in parallel) with the same effect: one
    row per (brand, kind, subject), inserted when absent, else `hits`, `reasons` and `samples` added to; an
    event already on the flag (its `first_event`, or among evidence["events"]) is not counted again. A row
    another drainer inserted meanwhile is read again and added to (ON CONFLICT DO NOTHING, then update),
    rows locked in key order (FOR UPDATE on PostgreSQL) so two drainers never deadlock on them.
    """
    todo = sorted(evidence)
    stored = _flags(session, todo)
    missing = [k for k in todo if k not in stored]
    written, inserted = 0, set()
    if missing:
        inserted = _insert_new(session, [_new_flag(k, evidence[k]) for k in missing])
        written = len(inserted)
        lost = [k for k in missing if k not in inserted]
        if lost:  # another drainer raised them first: add to its rows
            stored.update(_flags(session, lost))
    for key, flag in stored.items():
        if key in evidence and _add_to(flag, evidence[key]):
            written += 1
    return written, inserted


def _flags(session: Session, todo: Sequence[FlagKey]) -> dict[FlagKey, RiskFlag]:
    if not todo:
        return {}
    wanted = set(todo)
    query = (select(RiskFlag).where(RiskFlag.brand_id.in_(sorted({b for b, _, _ in todo})),
                                    RiskFlag.subject.in_(sorted({s for _, _, s in todo})))
             .order_by(RiskFlag.brand_id, RiskFlag.kind, RiskFlag.subject).with_for_update())
    return {k: f for f in session.scalars(query) if (k := (f.brand_id, f.kind, f.subject)) in wanted}


def _new_flag(key: FlagKey, ev: _Evidence) -> dict[str, Any]:
    brand, kind, subject = key
    seen = list(ev.seen.values())
    row: dict[str, Any] = {"brand_id": brand, "kind": kind, "subject": subject, "state": RiskFlag.OPEN,
                           "reasons": {}, "hits": 0, "samples": [], "evidence": {}, "first_at": seen[0].at,
                           "last_at": seen[0].at, "first_event": seen[0].event_id, "reviewed_by": "", "note": ""}
    _merge(row, seen)
    return row


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> set[FlagKey]:
    table = cast(Table, RiskFlag.__table__)
    dialect = session.get_bind().dialect.name
    back = (table.c.brand_id, table.c.kind, table.c.subject)
    if dialect in ("postgresql", "sqlite"):
        make = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = make(table).on_conflict_do_nothing(index_elements=["brand_id", "kind", "subject"]).returning(*back)
        return {(b, k, s) for b, k, s in session.execute(stmt, rows)}
    session.execute(insert(table), rows)  # elsewhere a race is an error: the drain retries the pass
    return {(r["brand_id"], r["kind"], r["subject"]) for r in rows}


def _add_to(flag: RiskFlag, ev: _Evidence) -> bool:
    """Add a pass's evidence to a stored flag (new JSON values, so the ORM sees the change)."""
    known = {flag.first_event, *cast(list[str], (flag.evidence or {}).get("events", []))}
    seen = [s for s in ev.seen.values() if s.event_id not in known]
    if not seen:
        return False
    row: dict[str, Any] = {"reasons": dict(flag.reasons or {}), "hits": flag.hits, "samples": list(flag.samples or []),
                           "evidence": dict(flag.evidence or {}), "last_at": _aware(flag.last_at)}
    _merge(row, seen)
    flag.reasons, flag.hits, flag.samples = row["reasons"], row["hits"], row["samples"]
    flag.evidence, flag.last_at = row["evidence"], row["last_at"]
    return True


def _merge(row: dict[str, Any], seen: list[_Seen]) -> None:
    """Count events into a flag's fields (`row`: reasons, hits, samples, evidence, last_at)."""
    reasons: dict[str, int] = row["reasons"]
    evidence: dict[str, Any] = row["evidence"]
    events: list[str] = list(evidence.get("events", []))
    days: dict[str, int] = dict(evidence.get("days", {}))
    samples: list[str] = row["samples"]
    for s in seen:
        row["hits"] += 1
        for reason in s.reasons:
            reasons[reason] = reasons.get(reason, 0) + 1
        if s.code not in samples:
            samples.insert(0, s.code)
        events.append(s.event_id)
        day = datetime.fromtimestamp(s.at.timestamp() + CHINA_OFFSET_S, UTC).date().isoformat()
        days[day] = days.get(day, 0) + 1
        evidence.update(s.figures)
        row["last_at"] = max(row["last_at"], s.at)
    del samples[SAMPLES:]
    evidence["events"] = events[-EVENTS_KEPT:]
    evidence["days"] = dict(sorted(days.items())[-DAYS_KEPT:])
