"""Channel staff: the users who hold a seat (channel.models.SEAT_KINDS) in a brand's channel, instead of a
console role. Brand operators and admins add them (with a password, or a generated one shown once),
switch them off and on, and issue a seat's API token for a scanner gun or a PDA (role "channel").

A seat is bound where its kind needs it: a distributor seat to a distributor, a clerk (核销员) or waiter
(导购) to a store; warehouse and inspector (稽查) seats are brand-wide. Reading follows the scope like the
directory's: a distributor's staff see the seats of their subtree and its stores, a store's its own.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import record_change
from accounts.errors import AccountConflict, AccountsError
from accounts.models import ApiToken, ChannelSeat, User
from accounts.tokens import CHANNEL, issue_token
from accounts.users import create_user, normalise_email, set_disabled
from channel.directory import as_id, text, whole
from channel.errors import ChannelConflict, ChannelNotFound, InvalidChannel
from channel.models import BRAND_WIDE_SEATS, DISTRIBUTOR, SEAT_KINDS, STORE_SEATS, Distributor, Store
from channel.scope import ChannelScope, get_distributor, get_store

EMAIL_MAX = 254  # accounts.models.User.email
GENERATED_PASSWORD_BYTES = 12  # 16 URL-safe characters, 96 random bits (as accounts.members)


@dataclass(frozen=True)
class StaffView:
    user_id: int
    email: str
    name: str
    kind: str
    distributor_id: int | None
    store_id: int | None
    where: str  # the seat's distributor or store, "" for a brand-wide seat
    disabled: bool
    last_login_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class AddedStaff:
    user_id: int
    email: str
    password: str | None  # the generated one-time password, to show once; None when the caller chose one


def _sees(scope: ChannelScope, seat: ChannelSeat, store: Store | None) -> bool:
    if seat.brand_id != scope.brand_id:
        return False
    if seat.kind in BRAND_WIDE_SEATS:
        return scope.brand_wide
    if seat.kind == DISTRIBUTOR:
        return scope.sees_distributor(seat.distributor_id)
    return store is not None and scope.sees_store(store)


def _where(seat: ChannelSeat, distributors: dict[int, Distributor], stores: dict[int, Store]) -> str:
    if seat.distributor_id in distributors:
        d = distributors[seat.distributor_id]
        return f"{d.code} {d.name}"
    return stores[seat.store_id].name if seat.store_id in stores else ""


def list_staff(session: Session, scope: ChannelScope) -> list[StaffView]:
    """The seats of the brand the caller sees, by kind and e-mail."""
    distributors = {d.id: d for d in session.scalars(select(Distributor).where(Distributor.brand_id == scope.brand_id))}
    stores = {s.id: s for s in session.scalars(select(Store).where(Store.brand_id == scope.brand_id))}
    rows = session.execute(select(ChannelSeat, User).join(User, User.id == ChannelSeat.user_id)
                           .where(ChannelSeat.brand_id == scope.brand_id))
    found = [StaffView(u.id, u.email, u.name, seat.kind, seat.distributor_id, seat.store_id,
                       _where(seat, distributors, stores), u.disabled, u.last_login_at, seat.created_at)
             for seat, u in rows if _sees(scope, seat, stores.get(seat.store_id or 0))]
    return sorted(found, key=lambda v: (SEAT_KINDS.index(v.kind) if v.kind in SEAT_KINDS else 99, v.email))


def _seat_user(session: Session, scope: ChannelScope, user_id: int) -> tuple[User, ChannelSeat]:
    user = session.get(User, user_id)
    seat = user.seat if user is not None else None
    store = session.get(Store, seat.store_id) if seat is not None and seat.store_id is not None else None
    if user is None or seat is None or not _sees(scope, seat, store):
        raise ChannelNotFound(f"no channel staff {user_id}")
    return user, seat


def _binding(session: Session, scope: ChannelScope, kind: object, distributor_id: object,
             store_id: object) -> tuple[str, int | None, int | None]:
    """(kind, distributor id, store id) of a new seat, each checked against the scope."""
    if not isinstance(kind, str) or kind not in SEAT_KINDS:
        raise InvalidChannel(f"kind: one of {', '.join(SEAT_KINDS)}", "kind")
    for value, field in ((distributor_id, "distributor_id"), (store_id, "store_id")):
        if value is not None and as_id(value) is None:
            raise InvalidChannel(f"{field}: an id, or null", field)
    distributor, store = as_id(distributor_id), as_id(store_id)
    if kind == DISTRIBUTOR:
        if distributor is None or store is not None:
            raise InvalidChannel("distributor_id: a distributor seat names its distributor (and no store)",
                                 "distributor_id")
        try:
            return kind, get_distributor(session, scope, distributor).id, None
        except ChannelNotFound as exc:
            raise InvalidChannel(f"distributor_id: {exc}", "distributor_id") from None
    if kind in STORE_SEATS:
        if store is None or distributor is not None:
            raise InvalidChannel("store_id: a clerk or waiter seat names its store (and no distributor)", "store_id")
        try:
            return kind, None, get_store(session, scope, store).id
        except ChannelNotFound as exc:
            raise InvalidChannel(f"store_id: {exc}", "store_id") from None
    if distributor is not None or store is not None:
        raise InvalidChannel(f"kind: a {kind} seat is brand-wide (no distributor or store)", "kind")
    return kind, None, None


def add_staff(session: Session, scope: ChannelScope, *, email: object, name: object, password: object, kind: object,
              distributor_id: object = None, store_id: object = None) -> AddedStaff:
    """A new user holding a seat of `kind` in the brand (audited: seat.create). An empty `password` gets a
    generated one-time password, returned to be shown once. An e-mail that has an account already is a
    conflict: one person, one account, one seat."""
    scope.require(scope.may_manage, "manage channel staff")
    kind, distributor, store = _binding(session, scope, kind, distributor_id, store_id)
    name = text(name, "name", 100, required=False)
    email = text(email, "email", EMAIL_MAX)
    if not isinstance(password, str):
        raise InvalidChannel("password: must be text", "password")
    generated = None if password else secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
    try:
        user = create_user(session, normalise_email(email), password or generated or "", name=name)
    except AccountConflict:
        raise ChannelConflict("email: this e-mail has an account already") from None
    except AccountsError as exc:  # the e-mail's form, the password's strength: said as the accounts say it
        field = str(exc).partition(":")[0]
        raise InvalidChannel(str(exc), field if field in ("email", "password", "name") else "") from None
    session.add(ChannelSeat(user_id=user.id, brand_id=scope.brand_id, kind=kind, distributor_id=distributor,
                            store_id=store))
    session.flush()
    record_change(session, scope.actor, "seat.create", f"user:{user.id}", brand_id=scope.brand_id,
                  after={"email": user.email, "name": user.name, "kind": kind, "distributor_id": distributor,
                         "store_id": store, "password": "generated" if generated else "set by the brand"})
    return AddedStaff(user.id, user.email, generated)


def set_staff_disabled(session: Session, scope: ChannelScope, user_id: int, disabled: bool) -> None:
    """Switch a seat's user off (every session ends, their tokens stop working) or on again; audited."""
    user, seat = _seat_user(session, scope, user_id)
    scope.require(scope.may_manage, "manage channel staff")
    if user.memberships or user.platform_admin:
        raise ChannelConflict("this account also has a console role; its brand admin manages it")
    if user.disabled == disabled:
        return
    set_disabled(session, user, disabled)
    record_change(session, scope.actor, "seat.disable" if disabled else "seat.enable", f"user:{user.id}",
                  brand_id=scope.brand_id, before={"email": user.email, "kind": seat.kind, "disabled": not disabled},
                  after={"email": user.email, "kind": seat.kind, "disabled": disabled})


def issue_staff_token(session: Session, scope: ChannelScope, user_id: int, *, name: object,
                      days: object) -> tuple[ApiToken, str]:
    """An API token acting as the seat (role "channel"), for a scanner gun or a PDA; returns the row and the
    secret, which is not kept: show it once. Audited: token.create."""
    user, seat = _seat_user(session, scope, user_id)
    scope.require(scope.may_manage, "issue tokens for channel staff")
    if user.disabled:
        raise ChannelConflict("this account is disabled; enable it first")
    whole_days = whole(days)
    if whole_days is None:
        raise InvalidChannel("days: a whole number of days", "days")
    try:
        row, secret = issue_token(session, user, scope.brand_id, CHANNEL, text(name, "name", 100), whole_days)
    except AccountsError as exc:
        field = str(exc).partition(":")[0]
        raise InvalidChannel(str(exc), field if field in ("name", "days") else "") from None
    record_change(session, scope.actor, "token.create", f"token:{row.id}", brand_id=scope.brand_id,
                  after={"name": row.name, "prefix": row.prefix, "role": CHANNEL, "owner": user.email,
                         "kind": seat.kind, "expires_at": row.expires_at.isoformat(timespec="seconds")})
    return row, secret
