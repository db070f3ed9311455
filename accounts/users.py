"""Users and their roles per brand: create, grant, authenticate, and the Principal a user acts as."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.audit import record_change
from accounts.errors import AccountConflict, AccountNotFound, InvalidAccount
from accounts.models import Membership, User
from accounts.passwords import hash_password, needs_rehash, verify_password
from accounts.roles import ADMIN, ROLES, Principal, Seat
from codegen.models import Brand

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s.]{2,63}")


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise InvalidAccount("email: not an e-mail address")
    return email


def find_brand(session: Session, slug: str) -> Brand:
    brand = session.scalar(select(Brand).where(Brand.slug == slug))
    if brand is None:
        raise AccountNotFound(f"no brand {slug!r}")
    return brand


def create_user(session: Session, email: str, password: str, *, name: str = "",
                platform_admin: bool = False) -> User:
    email = normalise_email(email)
    if len(name) > 100:
        raise InvalidAccount("name: at most 100 characters")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AccountConflict(f"a user {email} exists already")
    user = User(email=email, name=name.strip(), password_hash=hash_password(password), platform_admin=platform_admin)
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise AccountNotFound(f"no user {user_id}")
    return user


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def grant_role(session: Session, user: User, brand_id: int, role: str) -> Membership:
    """Give `user` `role` in the brand, replacing the role they had there."""
    if role not in ROLES:
        raise InvalidAccount(f"role: must be one of {', '.join(ROLES)}")
    membership = session.scalar(select(Membership).where(Membership.user_id == user.id,
                                                         Membership.brand_id == brand_id))
    if membership is not None and membership.role == ADMIN and role != ADMIN:
        _keep_an_admin(session, brand_id, user.id)
    if membership is None:
        membership = Membership(user_id=user.id, brand_id=brand_id, role=role)
        session.add(membership)
    membership.role = role
    session.flush()
    return membership


def remove_role(session: Session, user: User, brand_id: int) -> None:
    membership = session.scalar(select(Membership).where(Membership.user_id == user.id,
                                                         Membership.brand_id == brand_id))
    if membership is None:
        raise AccountNotFound(f"user {user.id} has no role in brand {brand_id}")
    if membership.role == ADMIN:
        _keep_an_admin(session, brand_id, user.id)
    session.delete(membership)
    session.flush()


def _keep_an_admin(session: Session, brand_id: int, leaving_user_id: int) -> None:
    others = session.scalar(select(func.count(Membership.id)).join(User).where(
        Membership.brand_id == brand_id, Membership.role == ADMIN, Membership.user_id != leaving_user_id,
        User.disabled.is_(False)))
    if not others:
        raise AccountConflict("a brand keeps at least one admin: make someone else admin first")


def set_password(session: Session, user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.session_epoch += 1  # every other session of this user ends
    session.flush()


def set_disabled(session: Session, user: User, disabled: bool) -> None:
    if disabled:
        for membership in list(user.memberships):
            if membership.role == ADMIN:
                _keep_an_admin(session, membership.brand_id, user.id)
    user.disabled = disabled
    user.session_epoch += 1
    session.flush()


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user when the password is right and the account enabled; None otherwise (same cost either way)."""
    user = user_by_email(session, email)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or user.disabled:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = datetime.now(UTC)
    session.flush()
    return user


def principal_for(user: User) -> Principal:
    seat = user.seat
    return Principal(actor=f"user:{user.id} {user.email}", user_id=user.id, email=user.email,
                     platform_admin=user.platform_admin, brands={m.brand_id: m.role for m in user.memberships},
                     seat=None if seat is None else Seat(seat.brand_id, seat.kind, seat.distributor_id,
                                                         seat.store_id))


def brand_users(session: Session, brand_id: int) -> list[tuple[User, str]]:
    rows = session.execute(select(User, Membership.role).join(Membership).where(Membership.brand_id == brand_id)
                           .order_by(User.email))
    return [(user, role) for user, role in rows]


def change_own_password(session: Session, user_id: int, current: str, new: str) -> int:
    """The signed-in user's new password, given the current one; ends their sessions (every other one,
    and this one unless the caller signs it in again with the returned session epoch). Audited."""
    user = get_user(session, user_id)
    if not verify_password(user.password_hash, current):
        raise InvalidAccount("current_password: not your current password")
    if new == current:
        raise InvalidAccount("new_password: choose a password different from the current one")
    set_password(session, user, new)
    record_change(session, f"user:{user.id} {user.email}", "user.password", f"user:{user.id}", brand_id=None,
                  after={"email": user.email, "sessions_ended": True})
    return user.session_epoch
