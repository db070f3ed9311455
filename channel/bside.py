"""B-side scans through the rules engine: a store's 开箱 scan of a case it received, a waiter's 开瓶 scan of a
cap's inner code after the sale.

Each draws exactly like a consumer's scan (rules/draw.py: the same script, the same award streams, the same
SQL guard on the awards ledger), in the campaigns of its own audience (rules/campaign_fields.py
B_AUDIENCES: store_open_case, waiter_open_bottle), for the store ("store:<id>") or the waiter
("waiter:<user id>"): a campaign's per-member caps are per store or per waiter. A B-side campaign has its
own drawn bitmap, so a B-side scan never spends a code's consumer draw, nor the other way round, and the
code's consumer scan state (first scan, repeats) is never touched.

Unlike a consumer scan, a B-side scan is an ordinary database-backed request. The case must have been
shipped to the store (a live shipment, channel/paths.py), and each case or cap is opened once, ever: the
`BsideScan` row (unique per code) says who opened it, counts a waiter's bottles for the month and the
ladder (channel/ladder.py), and the store's first case registers it (Store.registered_at). Scanning the
same case or cap again is safe: its draws run again and answer what they did the first time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import record_change
from channel.codes import ChannelCode, KeyFor, read_code
from channel.errors import ChannelError, InvalidChannel
from channel.models import STORE_SEATS, WAITER, BsideScan, Store
from channel.paths import path_of
from channel.scope import ChannelScope, get_store
from codegen.codeformat import Role
from codegen.errors import Kind
from codegen.models import BatchRange
from payouts.sql_insert import insert_once
from rules.campaign_fields import STORE_OPEN_CASE, WAITER_OPEN_BOTTLE
from rules.draw import DrawResult, draw_call
from rules.lua import ScriptCaller
from rules.matcher import STORE, Matcher, ScanContext


@dataclass(frozen=True)
class BsideRules:
    """What a B-side scan needs of the rules engine: Redis, the rules in force now (the app's RulesHolder,
    as the consumer scan uses it) and the batch keys codes are verified with."""

    redis: Any
    rules: Callable[[], Matcher]
    key_for: KeyFor


class BsideRefused(ChannelError):
    """A B-side scan that draws nothing and records nothing: the case was not shipped to this store, the
    case or cap was opened by another store or waiter, the code is not on sale (not activated, or void).
    `reason` picks the page's words."""

    code = "bside_refused"
    kind = Kind.CONFLICT

    NOT_SHIPPED_HERE, OPENED_ELSEWHERE, NOT_ON_SALE = "not_shipped_here", "opened_elsewhere", "not_on_sale"

    def __init__(self, message: str, reason: str, **facts: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.facts = facts

    def details(self) -> dict[str, Any]:
        return {"reason": self.reason, **{k: str(v) for k, v in self.facts.items()}}


@dataclass(frozen=True)
class BsideOutcome:
    kind: str  # BsideScan.OPEN_CASE or OPEN_BOTTLE
    code: str
    batch_id: int
    serial: int
    product: str
    lot: str
    store_id: int
    first: bool  # this scan opened it; False: it had been opened before (by this store, or this waiter)
    opened_at: datetime
    registered: bool  # this scan registered the store (its first case)
    draws: tuple[DrawResult, ...]  # one per matching campaign; () when none is running

    @property
    def won_fen(self) -> int:
        return sum(d.amount_fen for d in self.draws if d.awarded)

    @property
    def won_points(self) -> int:
        return sum(d.points for d in self.draws if d.awarded)


def store_member(store_id: int) -> str:
    return f"store:{store_id}"


def waiter_member(user_id: int) -> str:
    return f"waiter:{user_id}"


def open_case(session: Session, scope: ChannelScope, text: str, rules: BsideRules, *,
              now: float | None = None) -> BsideOutcome:
    """A store's clerk or waiter scans a case code on receipt (开箱): the case must have been shipped to their
    store. The store's first case registers it; the case draws once in the store_open_case campaigns, for
    the store. Call in a transaction; the caller commits."""
    scope.require(scope.kind in STORE_SEATS, "open a case (a store's clerk or waiter does)")
    store = get_store(session, scope, scope.store_id or 0)
    code = _read(session, scope, text, rules, Role.CASE, "not a case code: scan the code on the case (箱码)")
    hops = path_of(session, scope.brand_id, code.batch.batch_id, code.fields.serial)
    if not any(hop.to_store_id == store.id for hop in hops):
        raise BsideRefused("this case was not shipped to your store", BsideRefused.NOT_SHIPPED_HERE)
    moment = _moment(now)
    row, first = _open(session, scope, store, code, BsideScan.OPEN_CASE, moment)
    registered = store.registered_at is None
    if registered:
        store.registered_at, store.registered_case = row.at, code.code
        record_change(session, scope.actor, "store.register", f"store:{store.id}", brand_id=scope.brand_id,
                      before={"registered_at": None},
                      after={"registered_at": row.at.isoformat(), "registered_case": code.code},
                      note="registered by its first case opened (开箱)")
    draws = _draw(rules, code, STORE_OPEN_CASE, store_member(store.id), store.adcode, moment)
    return _outcome(BsideScan.OPEN_CASE, code, store, row, first, registered, draws)


def open_bottle(session: Session, scope: ChannelScope, text: str, rules: BsideRules, *,
                now: float | None = None) -> BsideOutcome:
    """A waiter scans a cap's inner code after the sale (开瓶): the code must be genuine, of the brand and on
    sale. Each cap opens once, for one waiter; it draws in the waiter_open_bottle campaigns, for the waiter
    (their per-member caps are per waiter). The consumer's own scan of the same cap is untouched. Call in a
    transaction; the caller commits."""
    scope.require(scope.kind == WAITER, "open a bottle (a waiter does)")
    store = get_store(session, scope, scope.store_id or 0)
    code = _read(session, scope, text, rules, Role.INNER, "not a cap's inner code: scan the code under the cap")
    moment = _moment(now)
    row, first = _open(session, scope, store, code, BsideScan.OPEN_BOTTLE, moment)
    draws = _draw(rules, code, WAITER_OPEN_BOTTLE, waiter_member(scope.user_id or 0), store.adcode, moment)
    return _outcome(BsideScan.OPEN_BOTTLE, code, store, row, first, False, draws)


def _moment(now: float | None) -> float:
    return time.time() if now is None else now


def _read(session: Session, scope: ChannelScope, text: str, rules: BsideRules, role: Role,
          wrong_role: str) -> ChannelCode:
    """The verified code of the brand, of `role`, on sale; CodeError (not genuine) passes through."""
    code = read_code(session, scope.brand_id, text, rules.key_for)
    if code.role is not role:
        raise InvalidChannel(wrong_role, field="code")
    item = code.fields.serial * code.batch.pack_size if role is Role.CASE else code.fields.serial
    if not _on_sale(session, code.batch.batch_id, item):
        raise BsideRefused("this code is not on sale (not activated yet, or void)", BsideRefused.NOT_ON_SALE)
    return code


def _on_sale(session: Session, batch_id: int, serial: int) -> bool:
    """Activated and not void, from the batch's range history in SQL (codegen/batches.py keeps Redis in step)."""
    kinds = set(session.scalars(select(BatchRange.kind).where(
        BatchRange.batch_id == batch_id, BatchRange.first_serial <= serial, BatchRange.last_serial >= serial)))
    return BatchRange.ACTIVATE in kinds and BatchRange.VOID not in kinds


def _open(session: Session, scope: ChannelScope, store: Store, code: ChannelCode, kind: str,
          now: float) -> tuple[BsideScan, bool]:
    """(the code's BsideScan row, whether this scan made it). A row another store (or, for a cap, another
    waiter) made is refused; this store's or waiter's own answers again (a retried or repeated scan)."""
    f = code.fields
    values = {"brand_id": scope.brand_id, "kind": kind, "batch_id": f.batch_id, "role": f.role.label,
              "serial": f.serial, "code": code.code, "store_id": store.id, "user_id": scope.user_id,
              "at": datetime.fromtimestamp(now, UTC)}
    first = insert_once(session, BsideScan, values)
    row = session.scalars(select(BsideScan).where(BsideScan.batch_id == f.batch_id, BsideScan.role == f.role.label,
                                                  BsideScan.serial == f.serial)).one()
    mine = row.store_id == store.id and (kind == BsideScan.OPEN_CASE or row.user_id == scope.user_id)
    if not mine:
        what = ("case was opened by another store" if kind == BsideScan.OPEN_CASE
                else "cap was scanned by another waiter")
        raise BsideRefused(f"this {what}", BsideRefused.OPENED_ELSEWHERE, at=row.at.isoformat())
    return row, first


def _draw(rules: BsideRules, code: ChannelCode, side: str, member: str, adcode: str, now: float
          ) -> tuple[DrawResult, ...]:
    """The code's draw in every campaign of `side` it matches (regions: the store's adcode), sent together."""
    matcher = rules.rules()
    f = code.fields
    ctx = ScanContext(brand_id=code.batch.brand_id, product_id=code.batch.product_id, batch_id=f.batch_id,
                      serial=f.serial, role=f.role.label, now=now, adcode=adcode, region_source=STORE, bside=side)
    campaigns = matcher.match(ctx)
    if not campaigns:
        return ()
    calls = [draw_call(c, code=code.code, batch_id=f.batch_id, role=f.role.label, serial=f.serial, member=member,
                       rules_version=matcher.version, now=now) for c in campaigns]
    caller = ScriptCaller(rules.redis)
    try:
        return tuple(caller.run_all(calls))
    finally:
        caller.close()


def _outcome(kind: str, code: ChannelCode, store: Store, row: BsideScan, first: bool, registered: bool,
             draws: tuple[DrawResult, ...]) -> BsideOutcome:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return BsideOutcome(kind=kind, code=code.code, batch_id=code.batch.batch_id, serial=code.fields.serial,
                        product=code.batch.product, lot=code.batch.lot, store_id=store.id, first=first,
                        opened_at=at, registered=registered, draws=draws)
