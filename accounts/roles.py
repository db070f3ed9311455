"""Who is asking and what they may do: a `Principal` and the role ladder analyst < operator < admin."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ANALYST, OPERATOR, ADMIN = "analyst", "operator", "admin"
ROLES = (ANALYST, OPERATOR, ADMIN)  # in rising order: each role may do what the ones before it may
NEEDS = {"read": ANALYST, "operate": OPERATOR, "admin": ADMIN}


def role_at_least(role: str | None, needed: str) -> bool:
    return role is not None and role in ROLES and ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class Seat:
    """A channel user's seat (accounts.models.ChannelSeat): kind in channel.models.SEAT_KINDS."""

    brand_id: int
    kind: str
    distributor_id: int | None = None
    store_id: int | None = None


@dataclass(frozen=True)
class Principal:
    """The caller of one request: a signed-in user, a personal API token, or the platform token.

    `brands` maps brand id → role. A platform admin has every role in every brand (`brands` is then unused).
    """

    actor: str  # how the audit log names the caller
    user_id: int | None = None
    email: str = ""
    platform_admin: bool = False
    brands: Mapping[int, str] = field(default_factory=dict)
    token_id: int | None = None
    # Channel staff (warehouse, inspector, distributor, store clerk or waiter) hold a seat, not a console
    # role: `brands` stays empty for them, so the console and its API refuse them (404).
    seat: Seat | None = None

    def role_in(self, brand_id: int) -> str | None:
        return ADMIN if self.platform_admin else self.brands.get(brand_id)

    def may(self, brand_id: int, need: str) -> bool:
        """`need` is read, operate or admin."""
        return role_at_least(self.role_in(brand_id), NEEDS[need])

    def readable_brand_ids(self) -> frozenset[int] | None:
        """The brands this caller may see; None means every brand (platform admin)."""
        return None if self.platform_admin else frozenset(self.brands)

    def brands_where(self, need: str) -> frozenset[int] | None:
        """The brands where this caller may `need` (None: every brand)."""
        if self.platform_admin:
            return None
        return frozenset(b for b, r in self.brands.items() if role_at_least(r, NEEDS[need]))
