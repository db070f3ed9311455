"""The review queue: flags raised on subjects (risk_flags), the held awards they stand for, and what a reviewer
does with them. Every action is scoped to one brand (another brand's id reads exactly like a missing one:
RiskNotFound) and recorded in the audit log in the caller's transaction.

A subject's awards:
- member (m)  awards whose `member` is the ref
- device (d)  awards of codes the device scanned: the award's (batch, role, serial) joined with scan_events,
              whose device id digests to the subject (risk.keys.device_subject). An award on a code the
              device scanned but someone else won counts too (a sweeping phone scans other people's codes).
- range       awards of the batch's serials in the range
- network and point flags hold nothing: many honest phones share an address, and a spoofed point is caught
  on its devices (the policy holds their draws).

`raise_flag` (the observer, per flagged scan event) holds the subject's unpaid awards: valid, not held or
released before, with no payout past pending, no points credited, and, for a prize handed over on the claim
page (coupon, voucher, physical), not claimed yet. A held award is never paid (payouts.claims.settle,
payouts.engine) until released; a rejected one is void.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from accounts.audit import record_change
from payouts.claims import CASH, POINTS, Rail, settle
from payouts.models import AwardClaim, Payout, PointsEntry
from payouts.providers.base import State
from payouts.sql_insert import insert_once
from payouts.transitions import move
from risk import keys
from risk.errors import InvalidRisk, RiskConflict, RiskNotFound
from risk.lists import parse_range
from risk.models import FLAG_SUBJECTS, SUBJECT_DEVICE, SUBJECT_MEMBER, SUBJECT_RANGE, RiskFlag
from risk.signals import BLOCKED, CLEARED, FLAGGED
from rules import awards as ledger
from rules.models import Award, Campaign, ScanEvent

MAX_PAGE = 200
SAMPLES = 8  # codes kept on a flag, newest first
RECENT_EVENTS = 20  # event ids kept on a flag: a redelivered event adds nothing
REJECTED = "risk: rejected by review"
NOTE_MAX = 500
REVIEW_STATE = {RiskFlag.OPEN: FLAGGED, RiskFlag.BLOCKED: BLOCKED, RiskFlag.CLEARED: CLEARED}


# --- the queue ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FlagRow:
    flag: RiskFlag
    held: int  # awards of the subject held right now


@dataclass(frozen=True)
class FlagPage:
    rows: list[FlagRow]
    total: int


@dataclass
class _HeldIndex:
    """The brand's held awards, bucketed by the subjects they belong to (one or two queries)."""

    by_member: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_device: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    codes: list[tuple[str, int, int]] = field(default_factory=list)  # (award id, batch, serial)

    def of(self, flag: RiskFlag) -> list[str]:
        if flag.kind == SUBJECT_MEMBER:
            return list(self.by_member.get(flag.subject, []))
        if flag.kind == SUBJECT_DEVICE:
            return list(dict.fromkeys(self.by_device.get(flag.subject, [])))
        if flag.kind == SUBJECT_RANGE:
            batch, first, last = parse_range(flag.subject)
            return [a for a, b, s in self.codes if b == batch and first <= s <= last]
        return []


def _brand_campaigns(brand_id: int) -> Any:
    return select(Campaign.id).where(Campaign.brand_id == brand_id).scalar_subquery()


def _held_where(brand_id: int) -> tuple[Any, ...]:
    return (Award.campaign_id.in_(_brand_campaigns(brand_id)), Award.status == Award.VALID,
            Award.risk_hold == Award.HELD)


def _held_index(session: Session, brand_id: int, kinds: set[str]) -> _HeldIndex:
    index = _HeldIndex()
    if kinds & {SUBJECT_MEMBER, SUBJECT_RANGE}:
        for award_id, member, batch, serial in session.execute(
                select(Award.id, Award.member, Award.batch_id, Award.serial).where(*_held_where(brand_id))):
            if member:
                index.by_member[member].append(award_id)
            index.codes.append((award_id, batch, serial))
    if SUBJECT_DEVICE in kinds:
        seen = ScanEvent.batch_id == Award.batch_id, ScanEvent.role == Award.role, ScanEvent.serial == Award.serial
        rows = session.execute(select(Award.id, ScanEvent.device_id).join(ScanEvent, and_(*seen))
                               .where(*_held_where(brand_id), ScanEvent.device_id != "").distinct())
        for award_id, device_id in rows:
            index.by_device[keys.device_subject(device_id)].append(award_id)
    return index


def _check_filters(state: str | None, kind: str | None) -> None:
    if state is not None and state not in RiskFlag.STATES:
        raise InvalidRisk(f"state must be one of {', '.join(RiskFlag.STATES)}", "state")
    if kind is not None and kind not in FLAG_SUBJECTS:
        raise InvalidRisk(f"kind must be one of {', '.join(FLAG_SUBJECTS)}", "kind")


def flag_queue(session: Session, brand_id: int, state: str | None = RiskFlag.OPEN, kind: str | None = None,
               limit: int = 50, offset: int = 0) -> FlagPage:
    """The brand's flags in `state` (None: any), newest evidence first, with each one's held award count."""
    _check_filters(state, kind)
    where = [RiskFlag.brand_id == brand_id]
    if state is not None:
        where.append(RiskFlag.state == state)
    if kind is not None:
        where.append(RiskFlag.kind == kind)
    flags = list(session.scalars(select(RiskFlag).where(*where).order_by(RiskFlag.last_at.desc(), RiskFlag.id.desc())
                                 .limit(max(1, min(limit, MAX_PAGE))).offset(max(0, offset))))
    total = session.scalar(select(func.count()).select_from(RiskFlag).where(*where)) or 0
    index = _held_index(session, brand_id, {f.kind for f in flags})
    return FlagPage([FlagRow(f, len(index.of(f))) for f in flags], int(total))


def flag_brand(session: Session, flag_id: int) -> int | None:
    """The brand of a flag (None: no such flag): what the API checks the caller's role against."""
    return session.scalar(select(RiskFlag.brand_id).where(RiskFlag.id == flag_id))


def get_flag(session: Session, brand_id: int, flag_id: int, *, lock: bool = False) -> RiskFlag:
    query = select(RiskFlag).where(RiskFlag.id == flag_id)
    flag = session.scalars(query.with_for_update() if lock else query).first()
    if flag is None or flag.brand_id != brand_id:
        raise RiskNotFound(f"no flag {flag_id}")
    return flag


@dataclass(frozen=True)
class FlagDetail:
    flag: RiskFlag
    awards: list[HeldAward]  # the subject's held awards


def flag_detail(session: Session, brand_id: int, flag_id: int) -> FlagDetail:
    flag = get_flag(session, brand_id, flag_id)
    ids = _held_index(session, brand_id, {flag.kind}).of(flag)
    return FlagDetail(flag, _held_rows(session, ids))


# --- raising a flag (the observer) -------------------------------------------------------------------------

@dataclass(frozen=True)
class Raised:
    flag_id: int
    created: bool  # this call inserted the flag
    counted: bool  # this event added to it (False: an event seen before)
    held: int  # awards held by this call


def _unpaid() -> Any:
    paid = exists().where(Payout.award_id == Award.id, Payout.state != str(State.PENDING))
    credited = exists().where(PointsEntry.award_id == Award.id)
    handed = exists().where(AwardClaim.award_id == Award.id)
    return and_(~paid, ~credited, or_(Award.kind.in_([CASH, POINTS]), ~handed))


def _recent_codes(redis: Any, kind: str, subject: str) -> list[tuple[int, int]]:
    """(batch, serial) of the subject's recent scans, from its Redis recent list (risk/subject.lua)."""
    recent = keys.subject_keys(kind, subject, minute=0, hour=0, day=0)[5]  # <tag>:r; the counters are unused
    out = []
    for raw in redis.lrange(recent, 0, 15):
        parts = (raw.decode() if isinstance(raw, bytes) else raw).split(":")
        if len(parts) == 4 and parts[1].isdigit() and parts[3].isdigit():
            out.append((int(parts[1]), int(parts[3])))
    return out


def _hold(session: Session, brand_id: int, flag: RiskFlag, *, codes: list[tuple[int, int]] | None,
          raw_device: str) -> int:
    """Hold the subject's unpaid awards: all of them (`codes` None), or those among `codes` (batch, serial)."""
    query = select(Award.id).where(Award.campaign_id.in_(_brand_campaigns(brand_id)), Award.status == Award.VALID,
                                   Award.risk_hold == "", _unpaid())
    if flag.kind == SUBJECT_MEMBER:
        query = query.where(Award.member == flag.subject)
    elif flag.kind == SUBJECT_RANGE:
        batch, first, last = parse_range(flag.subject)
        query = query.where(Award.batch_id == batch, Award.serial.between(first, last))
    elif flag.kind == SUBJECT_DEVICE:
        if not raw_device or keys.device_subject(raw_device) != flag.subject:
            return 0  # the device id is unknown here: its recent codes are held on its next flagged scan
        # Only awards this phone's own scans drew: another phone that won a code the device also scanned (a
        # buyer of a bottle a sweeper touched) keeps its prize.
        query = query.join(ScanEvent, and_(ScanEvent.id == Award.scan_event, ScanEvent.device_id == raw_device))
    else:
        return 0
    if codes is not None:
        if not codes:
            return 0
        query = query.where(or_(*(and_(Award.batch_id == b, Award.serial == s) for b, s in set(codes))))
    ids = list(dict.fromkeys(session.scalars(query)))
    if not ids:
        return 0
    session.execute(update(Award).where(Award.id.in_(ids), Award.risk_hold == "").values(risk_hold=Award.HELD),
                    execution_options={"synchronize_session": False})
    for award in session.identity_map.values():  # the caller's loaded copies see the hold
        if isinstance(award, Award) and award.id in ids:
            session.expire(award, ["risk_hold"])
    return len(ids)


def hold_for_flag(session: Session, brand_id: int, kind: str, subject: str, *, raw_device: str = "",
                  codes: list[tuple[int, int]] | None = None, everything: bool = False) -> int:
    """Hold a flagged subject's unpaid awards, as `raise_flag` does, for the drain's observer (which raises its
    flags in bulk): with `everything` (a flag raised just now) all of them, else those among `codes` (batch,
    serial: this pass's scans, drawn before the Redis review field said "flagged"). Only an open flag holds;
    networks and points hold nothing (shared by strangers). The number held."""
    if kind not in (SUBJECT_DEVICE, SUBJECT_MEMBER):
        return 0
    flag = session.scalars(select(RiskFlag).where(RiskFlag.brand_id == brand_id, RiskFlag.kind == kind,
                                                  RiskFlag.subject == subject)).first()
    if flag is None or flag.state != RiskFlag.OPEN:
        return 0
    held = _hold(session, brand_id, flag, codes=None, raw_device=raw_device) if everything else 0
    if codes:
        held += _hold(session, brand_id, flag, codes=codes, raw_device=raw_device)
    return held


def _write_review(redis: Any, flag: RiskFlag) -> None:
    if flag.kind in keys.SUBJECT_KINDS:
        redis.hset(keys.state_key(flag.kind, flag.subject),
                   mapping={keys.review_field(flag.brand_id): REVIEW_STATE[flag.state], "keep": 1})


def raise_flag(session: Session, redis: Any, brand_id: int, kind: str, subject: str, reason: str, code: str = "",
               event_id: str = "", at: datetime | None = None, evidence: dict[str, Any] | None = None) -> Raised:
    """Put the subject in the brand's review queue, or add this event's evidence to its flag; idempotent per
    `event_id`. An open flag holds the subject's unpaid awards (on the first event: all of them; after: those
    of this event's code and the subject's recent scans, which cover awards that landed since), and the
    subject's Redis review field says the flag's state (flagged while open), so the draw holds its next prizes.
    """
    if kind not in FLAG_SUBJECTS:
        raise InvalidRisk(f"kind must be one of {', '.join(FLAG_SUBJECTS)}", "kind")
    if not subject or len(subject) > 64:
        raise InvalidRisk("subject must be 1-64 characters", "subject")
    at = at or datetime.now(UTC)
    word = (reason or "flag")[:40]
    created = insert_once(session, RiskFlag, {
        "brand_id": brand_id, "kind": kind, "subject": subject, "state": RiskFlag.OPEN, "reasons": {word: 1},
        "hits": 1, "samples": [code[:28]] if code else [], "evidence": {**(evidence or {}),
                                                                         "events": [event_id] if event_id else []},
        "first_at": at, "last_at": at, "first_event": event_id[:48], "reviewed_by": "", "note": ""})
    flag = session.scalars(select(RiskFlag).where(RiskFlag.brand_id == brand_id, RiskFlag.kind == kind,
                                                  RiskFlag.subject == subject).with_for_update()
                           .execution_options(populate_existing=True)).one()
    counted = created
    if not created:
        stored = (flag.evidence or {}).get("events")
        events = [str(e) for e in stored] if isinstance(stored, list) else []
        counted = not event_id or (event_id not in events and event_id != flag.first_event)
        if counted:
            reasons = dict(flag.reasons or {})
            reasons[word] = reasons.get(word, 0) + 1
            samples = [code[:28]] + [c for c in (flag.samples or []) if c != code] if code else list(flag.samples or [])
            flag.reasons, flag.samples, flag.hits = reasons, samples[:SAMPLES], flag.hits + 1
            flag.evidence = {**(flag.evidence or {}), **(evidence or {}),
                             "events": [event_id, *events][:RECENT_EVENTS] if event_id else events}
            if at > _aware(flag.last_at):
                flag.last_at = at
    held = 0
    if counted and flag.state == RiskFlag.OPEN:
        event = None
        if event_id:
            event = session.execute(select(ScanEvent.batch_id, ScanEvent.serial, ScanEvent.device_id)
                                    .where(ScanEvent.id == event_id)).first()
        raw_device = event.device_id if event is not None else ""
        if created:
            held = _hold(session, brand_id, flag, codes=None, raw_device=raw_device)
        if kind in (SUBJECT_DEVICE, SUBJECT_MEMBER):
            codes = _recent_codes(redis, kind, subject)
            if event is not None:
                codes.append((event.batch_id, event.serial))
            held += _hold(session, brand_id, flag, codes=codes, raw_device=raw_device)
    session.flush()
    _write_review(redis, flag)
    return Raised(flag.id, created, counted, held)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite hands back naive UTC


# --- a reviewer's actions on a flag ------------------------------------------------------------------------

@dataclass(frozen=True)
class Reviewed:
    flag: RiskFlag
    awards: list[str]  # the held awards it released or rejected


def _snapshot(flag: RiskFlag) -> dict[str, Any]:
    return {"state": flag.state, "note": flag.note, "reviewed_by": flag.reviewed_by}


def _check_note(note: Any) -> str:
    if not isinstance(note, str) or len(note) > NOTE_MAX or "\x00" in note:
        raise InvalidRisk(f"note must be text of at most {NOTE_MAX} characters", "note")
    return note


def _review(session: Session, redis: Any, brand_id: int, flag_id: int, actor: str, to: str, note: str,
            now: datetime | None) -> tuple[RiskFlag, list[str], dict[str, Any]]:
    note = _check_note(note)
    flag = get_flag(session, brand_id, flag_id, lock=True)
    if flag.state == to:
        raise RiskConflict(f"flag {flag_id} is already {to}")
    before = _snapshot(flag)
    flag.state, flag.reviewed_by, flag.reviewed_at = to, actor[:200], now or datetime.now(UTC)
    if note:
        flag.note = note
    ids = _held_index(session, brand_id, {flag.kind}).of(flag)
    session.flush()
    _write_review(redis, flag)
    return flag, ids, before


def block_flag(session: Session, redis: Any, brand_id: int, flag_id: int, actor: str, note: str = "",
               now: datetime | None = None) -> Reviewed:
    """Block the subject: no prizes for it in this brand (the Redis review field says blocked), and its held
    awards are rejected (void; their cash and quantity go back to the campaign)."""
    now = now or datetime.now(UTC)
    flag, ids, before = _review(session, redis, brand_id, flag_id, actor, RiskFlag.BLOCKED, note, now)
    for award_id in ids:
        _reject(session, redis, award_id, now)
    record_change(session, actor, "risk.flag.block", f"risk_flag:{flag.id}", brand_id=brand_id, before=before,
                  after={**_snapshot(flag), "rejected": ids[:100], "rejected_count": len(ids)}, note=note)
    return Reviewed(flag, ids)


def clear_flag(session: Session, redis: Any, brand_id: int, flag_id: int, actor: str, note: str = "",
               rail: Rail | None = None, now: datetime | None = None) -> Reviewed:
    """Clear the subject: reviewed and let through (its next prizes are not held for this flag), and its held
    awards are released; a released award's claim is settled now when `rail` is given (else by the payout
    worker's claim sweep)."""
    now = now or datetime.now(UTC)
    flag, ids, before = _review(session, redis, brand_id, flag_id, actor, RiskFlag.CLEARED, note, now)
    for award_id in ids:
        _release(session, award_id, rail, now)
    record_change(session, actor, "risk.flag.clear", f"risk_flag:{flag.id}", brand_id=brand_id, before=before,
                  after={**_snapshot(flag), "released": ids[:100], "released_count": len(ids)}, note=note)
    return Reviewed(flag, ids)


# --- held awards -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeldAward:
    award: Award
    claimed_by: str | None  # the openid that claimed it
    payout_state: str | None


@dataclass(frozen=True)
class HeldPage:
    rows: list[HeldAward]
    total: int


def _with_claims(query: Any) -> Any:
    return (query.outerjoin(AwardClaim, AwardClaim.award_id == Award.id)
            .outerjoin(Payout, Payout.award_id == Award.id))


def _held_rows(session: Session, ids: list[str]) -> list[HeldAward]:
    if not ids:
        return []
    rows = session.execute(_with_claims(select(Award, AwardClaim.openid, Payout.state)).where(Award.id.in_(ids))
                           .order_by(Award.awarded_at.desc(), Award.id))
    return [HeldAward(a, openid, state) for a, openid, state in rows]


def held_awards(session: Session, brand_id: int, limit: int = 50, offset: int = 0) -> HeldPage:
    """The brand's awards held by the risk layer and not yet reviewed, newest first."""
    where = _held_where(brand_id)
    rows = session.execute(_with_claims(select(Award, AwardClaim.openid, Payout.state)).where(*where)
                           .order_by(Award.awarded_at.desc(), Award.id)
                           .limit(max(1, min(limit, MAX_PAGE))).offset(max(0, offset)))
    total = session.scalar(select(func.count()).select_from(Award).where(*where)) or 0
    return HeldPage([HeldAward(a, openid, state) for a, openid, state in rows], int(total))


def award_brand(session: Session, award_id: str) -> int | None:
    """The brand of an award (None: no such award)."""
    return session.scalar(select(Campaign.brand_id).join(Award, Award.campaign_id == Campaign.id)
                          .where(Award.id == award_id))


def _held_award(session: Session, brand_id: int, award_id: str) -> Award:
    if award_brand(session, award_id) != brand_id:
        raise RiskNotFound(f"no award {award_id}")
    award = session.get(Award, award_id, with_for_update=True)
    assert award is not None
    if award.status != Award.VALID or award.risk_hold != Award.HELD:
        raise RiskConflict(f"award {award_id} is not held (it is {award.status}, "
                           f"{award.risk_hold or 'never held'})")
    return award


def _release(session: Session, award_id: str, rail: Rail | None, now: datetime) -> Payout | None:
    award = session.get(Award, award_id)
    if award is None or award.status != Award.VALID or award.risk_hold != Award.HELD:
        return None
    award.risk_hold = Award.RELEASED
    session.flush()
    payout = session.scalars(select(Payout).where(Payout.award_id == award_id)).first()
    claim = session.get(AwardClaim, award_id)
    if payout is None and claim is not None and rail is not None:
        payout = settle(session, claim, award, rail, now)
    return payout


def _reject(session: Session, redis: Any, award_id: str, now: datetime) -> None:
    if not ledger.release_award(session, redis, award_id, REJECTED):
        return
    pending = session.scalars(select(Payout).where(Payout.award_id == award_id,
                                                   Payout.state == str(State.PENDING))).first()
    if pending is not None:  # made before the hold and never sent: it never will be
        move(session, pending, State.CANCELLED, source="operator", now=now, reason="risk_rejected",
             detail="the award was rejected by risk review")


def pending_payouts(session: Session, award_ids: list[str]) -> list[int]:
    """Ids of the awards' payouts waiting to be sent (a released award's: the caller may queue them now)."""
    if not award_ids:
        return []
    return list(session.scalars(select(Payout.id).where(Payout.award_id.in_(award_ids),
                                                        Payout.state == str(State.PENDING))))


@dataclass(frozen=True)
class AwardReviewed:
    award: Award
    payout: Payout | None  # release: the award's payout, if it has one now


def release_award(session: Session, brand_id: int, award_id: str, actor: str, *, rail: Rail | None = None,
                  note: str = "", now: datetime | None = None) -> AwardReviewed:
    """Let a held award be paid: its claim, if any, is settled now when `rail` is given (else by the payout
    worker's claim sweep); a payout made before the hold is submitted by the engine's next sweep."""
    note = _check_note(note)
    now = now or datetime.now(UTC)
    award = _held_award(session, brand_id, award_id)
    payout = _release(session, award.id, rail, now)
    record_change(session, actor, "risk.award.release", f"award:{award_id}", brand_id=brand_id,
                  before={"risk_hold": Award.HELD}, after={"risk_hold": award.risk_hold}, note=note)
    return AwardReviewed(award, payout)


def reject_award(session: Session, redis: Any, brand_id: int, award_id: str, actor: str, *, note: str = "",
                 now: datetime | None = None) -> AwardReviewed:
    """Void a held award: never paid; its cash and prize quantity go back to the campaign (Redis too)."""
    note = _check_note(note)
    now = now or datetime.now(UTC)
    award = _held_award(session, brand_id, award_id)
    _reject(session, redis, award.id, now)
    record_change(session, actor, "risk.award.reject", f"award:{award_id}", brand_id=brand_id,
                  before={"status": Award.VALID, "risk_hold": Award.HELD},
                  after={"status": award.status, "void_reason": award.void_reason}, note=note)
    return AwardReviewed(award, None)
