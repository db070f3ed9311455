"""Personal API tokens: scoped to one brand and role, expiring, revocable, only a hash kept at rest."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.errors import AccountConflict, AccountNotFound, InvalidAccount
from accounts.models import ApiToken, User
from accounts.roles import ROLES, Principal, Seat, role_at_least

PREFIX = "yima_pat_"
MAX_DAYS = 366
SHOWN = len(PREFIX) + 6  # characters of the secret kept in clear, to tell tokens apart in a list


CHANNEL = "channel"  # the role of a channel seat's token


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(session: Session, user: User, brand_id: int, role: str, name: str, days: int,
                now: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for `user` in the brand; returns the row and the secret, which is never stored."""
    if role == CHANNEL:  # a channel seat's token (scanner guns, PDAs): acts as the seat, no console role
        if user.seat is None or user.seat.brand_id != brand_id:
            raise InvalidAccount("role: only a channel seat of this brand may hold a channel token")
    elif role not in ROLES:
        raise InvalidAccount(f"role: must be one of {', '.join(ROLES)}")
    else:
        own = None if not user.platform_admin else "admin"
        own = own or next((m.role for m in user.memberships if m.brand_id == brand_id), None)
        if not role_at_least(own, role):
            raise InvalidAccount("role: a token cannot do more than its owner")
    if not name.strip() or len(name) > 100:
        raise InvalidAccount("name: must be 1-100 characters")
    if not 1 <= days <= MAX_DAYS:
        raise InvalidAccount(f"days: must be 1-{MAX_DAYS}")
    secret = PREFIX + secrets.token_urlsafe(32)
    now = now or datetime.now(UTC)
    row = ApiToken(user_id=user.id, brand_id=brand_id, role=role, name=name.strip(), prefix=secret[:SHOWN],
                   secret_hash=_digest(secret), created_at=now, expires_at=now + timedelta(days=days))
    session.add(row)
    session.flush()
    return row, secret


def resolve_token(session: Session, secret: str, now: datetime | None = None) -> Principal | None:
    """The principal a token acts as, or None (unknown, expired, revoked, owner disabled or no longer in the
    brand). The token's role is capped by its owner's current role: demoting a user demotes their tokens."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.secret_hash == _digest(secret)))
    now = now or datetime.now(UTC)
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    if row.role == CHANNEL:
        seat = user.seat
        if seat is None or seat.brand_id != row.brand_id:
            return None
        _touch(session, row, now)
        return Principal(actor=f"token:{row.id} {row.prefix}… of {user.email}", user_id=user.id, email=user.email,
                         token_id=row.id,
                         seat=Seat(seat.brand_id, seat.kind, seat.distributor_id, seat.store_id))
    own = "admin" if user.platform_admin else next((m.role for m in user.memberships if m.brand_id == row.brand_id),
                                                    None)
    if own is None:
        return None
    role = row.role if role_at_least(own, row.role) else own
    _touch(session, row, now)
    return Principal(actor=f"token:{row.id} {row.prefix}… of {user.email}", user_id=user.id, email=user.email,
                     brands={row.brand_id: role}, token_id=row.id)


def _touch(session: Session, row: ApiToken, now: datetime) -> None:
    if row.last_used_at is None or now - _aware(row.last_used_at) > timedelta(minutes=1):
        row.last_used_at = now  # at most one write a minute per token
        session.flush()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite returns naive UTC


def revoke_token(session: Session, token_id: int, brand_ids: frozenset[int] | None,
                 now: datetime | None = None) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None or (brand_ids is not None and row.brand_id not in brand_ids):
        raise AccountNotFound(f"no token {token_id}")
    if row.revoked_at is not None:
        raise AccountConflict(f"token {token_id} is revoked already")
    row.revoked_at = now or datetime.now(UTC)
    session.flush()
    return row
