"""Personal API tokens as the console manages them: who sees which, creating one, revoking one, audited.

Everyone sees and revokes their own tokens; a brand's admins see and revoke every token of the brand;
the platform admin every token. A token of a brand the caller cannot see reads as a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from accounts.audit import record_change
from accounts.errors import AccountForbidden, AccountNotFound
from accounts.models import ApiToken, User
from accounts.roles import Principal
from accounts.tokens import issue_token, revoke_token
from codegen.models import Brand


@dataclass(frozen=True)
class TokenRow:
    """One token as a list shows it (never its secret, which is not stored)."""

    id: int
    name: str
    prefix: str
    role: str
    brand_id: int
    brand_slug: str
    owner_id: int
    owner_email: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime | None = None) -> str:
        """active, expired or revoked."""
        if self.revoked_at is not None:
            return "revoked"
        expires = self.expires_at if self.expires_at.tzinfo else self.expires_at.replace(tzinfo=UTC)
        return "expired" if expires <= (now or datetime.now(UTC)) else "active"


def visible_tokens(session: Session, actor: Principal, brand_id: int | None = None) -> list[TokenRow]:
    """The caller's own tokens and every token of the brands they administer, newest first; only the
    brand's when `brand_id` is given."""
    query = select(ApiToken, User.email, Brand.slug).join(User, User.id == ApiToken.user_id) \
        .join(Brand, Brand.id == ApiToken.brand_id).order_by(ApiToken.id.desc())
    administered = actor.brands_where("admin")
    if administered is not None:
        query = query.where(or_(ApiToken.user_id == actor.user_id, ApiToken.brand_id.in_(administered)))
    if brand_id is not None:
        query = query.where(ApiToken.brand_id == brand_id)
    return [TokenRow(t.id, t.name, t.prefix, t.role, t.brand_id, slug, t.user_id, email, t.created_at,
                     t.expires_at, t.last_used_at, t.revoked_at)
            for t, email, slug in session.execute(query)]


def create_personal_token(session: Session, actor: Principal, brand_id: int, role: str, name: str,
                          days: int) -> tuple[ApiToken, str]:
    """A token for the signed-in user in one of their brands, with a role no higher than theirs there.
    Returns the row and the secret: show it once, it is not kept."""
    if actor.user_id is None:
        raise AccountForbidden("only a signed-in user owns personal tokens")
    if not actor.may(brand_id, "read"):
        raise AccountNotFound(f"no brand {brand_id}")
    user = session.get(User, actor.user_id)
    if user is None:
        raise AccountNotFound(f"no user {actor.user_id}")
    row, secret = issue_token(session, user, brand_id, role, name, days)
    record_change(session, actor.actor, "token.create", f"token:{row.id}", brand_id=brand_id,
                  after=_audited(row, user.email))
    return row, secret


def revoke_visible_token(session: Session, actor: Principal, token_id: int) -> None:
    """Revoke a token the caller owns or administers: 404 when its brand is not theirs to see, 403 when
    they see the brand but the token is someone else's and they are not the brand's admin."""
    row = session.get(ApiToken, token_id)
    if row is None or not actor.may(row.brand_id, "read"):
        raise AccountNotFound(f"no token {token_id}")
    if row.user_id != actor.user_id and not actor.may(row.brand_id, "admin"):
        raise AccountForbidden("only its owner or the brand's admins may revoke this token")
    owner = session.get(User, row.user_id)
    before = _audited(row, owner.email if owner else "")
    revoke_token(session, token_id, None)
    record_change(session, actor.actor, "token.revoke", f"token:{row.id}", brand_id=row.brand_id,
                  before=before, after=_audited(row, owner.email if owner else ""))


def _audited(row: ApiToken, owner: str) -> dict[str, object]:
    return {"name": row.name, "prefix": row.prefix, "role": row.role, "owner": owner,
            "expires_at": _iso(row.expires_at), "revoked_at": _iso(row.revoked_at)}


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat(timespec="seconds")
