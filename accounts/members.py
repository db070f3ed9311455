"""A brand's users, managed by the brand's admin: add, change a role, remove, disable and enable.

Every function takes the acting `Principal`, checks it may administer the brand (AccountNotFound when it
may not even see the brand, AccountForbidden when its role there is too low), makes the change and
records it in the audit log in the caller's transaction, so the change and its record commit together.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import record_change
from accounts.errors import AccountConflict, AccountForbidden, AccountNotFound, InvalidAccount
from accounts.models import ApiToken, Membership
from accounts.roles import ROLES, Principal
from accounts.users import (
    brand_users,
    create_user,
    grant_role,
    normalise_email,
    remove_role,
    set_disabled,
    user_by_email,
)

GENERATED_PASSWORD_BYTES = 12  # 16 URL-safe characters, 96 random bits


@dataclass(frozen=True)
class Member:
    user_id: int
    email: str
    name: str
    role: str
    disabled: bool
    platform_admin: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True)
class AddedMember:
    user_id: int
    email: str
    created: bool  # a new account (False: an existing user was given the role)
    password: str | None  # the generated one-time password, to show once; None when the admin chose one


def check_admin(actor: Principal, brand_id: int) -> None:
    """Raise unless `actor` administers the brand: not found when the brand is not theirs to see."""
    if not actor.may(brand_id, "read"):
        raise AccountNotFound(f"no brand {brand_id}")
    if not actor.may(brand_id, "admin"):
        raise AccountForbidden("only the brand's admins manage its users")


def _membership(session: Session, brand_id: int, user_id: int) -> Membership:
    found = session.scalar(select(Membership).where(Membership.brand_id == brand_id, Membership.user_id == user_id))
    if found is None:
        raise AccountNotFound(f"no user {user_id} in this brand")  # another brand's user reads as a missing one
    return found


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidAccount(f"role: must be one of {', '.join(ROLES)}")


def list_members(session: Session, actor: Principal, brand_id: int) -> list[Member]:
    check_admin(actor, brand_id)
    return [Member(u.id, u.email, u.name, role, u.disabled, u.platform_admin, u.created_at, u.last_login_at)
            for u, role in brand_users(session, brand_id)]


def add_member(session: Session, actor: Principal, brand_id: int, email: str, name: str, role: str,
               password: str = "") -> AddedMember:
    """Give `email` `role` in the brand. An unknown e-mail becomes a new user with `password`, or with a
    generated one-time password (returned, to be shown once) when `password` is empty."""
    check_admin(actor, brand_id)
    _check_role(role)
    email = normalise_email(email)
    user = user_by_email(session, email)
    if user is None:
        generated = None if password else secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
        user = create_user(session, email, password or generated or "", name=name)
        grant_role(session, user, brand_id, role)
        record_change(session, actor.actor, "user.create", f"user:{user.id}", brand_id=brand_id,
                      after={"email": user.email, "name": user.name, "role": role,
                             "password": "generated" if generated else "set by the admin"})
        return AddedMember(user.id, user.email, True, generated)
    old = next((m.role for m in user.memberships if m.brand_id == brand_id), None)
    if old == role:
        return AddedMember(user.id, user.email, False, None)
    grant_role(session, user, brand_id, role)
    record_change(session, actor.actor, "user.role", f"user:{user.id}", brand_id=brand_id,
                  before={"email": user.email, "role": old}, after={"email": user.email, "role": role})
    return AddedMember(user.id, user.email, False, None)


def change_role(session: Session, actor: Principal, brand_id: int, user_id: int, role: str) -> None:
    check_admin(actor, brand_id)
    membership = _membership(session, brand_id, user_id)
    _check_role(role)
    old = membership.role
    if old == role:
        return
    grant_role(session, membership.user, brand_id, role)
    email = membership.user.email
    record_change(session, actor.actor, "user.role", f"user:{user_id}", brand_id=brand_id,
                  before={"email": email, "role": old}, after={"email": email, "role": role})


def remove_member(session: Session, actor: Principal, brand_id: int, user_id: int,
                  now: datetime | None = None) -> int:
    """Take the user's role in the brand away and revoke their tokens there; returns how many were revoked."""
    check_admin(actor, brand_id)
    membership = _membership(session, brand_id, user_id)
    user, old = membership.user, membership.role
    remove_role(session, user, brand_id)
    tokens = list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.brand_id == brand_id,
                                                         ApiToken.revoked_at.is_(None))))
    for token in tokens:
        token.revoked_at = now or datetime.now(UTC)
    revoked = len(tokens)
    record_change(session, actor.actor, "user.remove", f"user:{user_id}", brand_id=brand_id,
                  before={"email": user.email, "role": old}, after={"email": user.email, "role": None,
                                                                   "tokens_revoked": revoked})
    return revoked


def set_member_disabled(session: Session, actor: Principal, brand_id: int, user_id: int, disabled: bool) -> None:
    """Disable (ends every session; tokens stop working) or enable a user of the brand.

    An account is one person across brands, so a brand admin may switch it off only when every brand the
    user belongs to is one they administer; otherwise removing the user from their own brand is the way.
    """
    check_admin(actor, brand_id)
    user = _membership(session, brand_id, user_id).user
    if user.disabled == disabled:
        return
    if disabled and user.id == actor.user_id:
        raise AccountConflict("you cannot disable your own account")
    if user.platform_admin and not actor.platform_admin:
        raise AccountConflict("a platform admin's account is managed by the platform")
    if any(not actor.may(m.brand_id, "admin") for m in user.memberships):
        raise AccountConflict("this user also works for another brand: remove them from this brand instead")
    set_disabled(session, user, disabled)
    record_change(session, actor.actor, "user.disable" if disabled else "user.enable", f"user:{user_id}",
                  brand_id=brand_id, before={"email": user.email, "disabled": not disabled},
                  after={"email": user.email, "disabled": disabled})

