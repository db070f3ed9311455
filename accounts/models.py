"""Users, memberships (a role in one brand), personal API tokens and the audit log, in SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from codegen.db import Base, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    platform_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped on password change, disabling and "sign out everywhere": a session cookie carrying an older
    # value is no longer accepted (cookies are signed, not stored, so this is how they are revoked).
    session_epoch: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    memberships: Mapped[list[Membership]] = relationship(back_populates="user", cascade="all, delete-orphan")
    seat: Mapped[ChannelSeat | None] = relationship(cascade="all, delete-orphan", lazy="joined")


class Membership(Base):
    """A user's role in one brand: admin (users, tokens), operator (campaigns, publish, batches), analyst."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "brand_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")


class ApiToken(Base):
    """A personal API token: scoped to one brand and a role no higher than its owner's, with an expiry.

    Only a SHA-256 of the secret is stored (the secret is 256 random bits, so a slow hash adds nothing);
    `prefix` is its first characters, shown in lists so a user can tell tokens apart.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(20))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One change, who made it, and the object before and after. Append-only: the database refuses
    UPDATE and DELETE on this table (triggers in migration 0007)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_brand_at", "brand_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(300))  # "user:<id> <email>", "token:<id> …", "platform-token", "cli"
    brand_id: Mapped[int | None] = mapped_column(Integer)  # None: platform-wide (e.g. a platform admin's user)
    action: Mapped[str] = mapped_column(String(40))  # campaign.create, campaign.status, rules.publish, ...
    target: Mapped[str] = mapped_column(String(100))  # "campaign:12", "batch:3", "user:4", "rules:7"
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    note: Mapped[str] = mapped_column(String(500), default="")


class ChannelSeat(Base):
    """A channel user's place in one brand (instead of a console role): warehouse or inspector (稽查) for the
    whole brand, staff of one distributor, or a store's 核销员 (clerk) or waiter / 导购. One seat per user.
    The kinds are channel.models.SEAT_KINDS; distributor_id / store_id bind the seat where the kind needs it."""

    __tablename__ = "channel_seats"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    distributor_id: Mapped[int | None] = mapped_column(ForeignKey("distributors.id"), index=True)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
