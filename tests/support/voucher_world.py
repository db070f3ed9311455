"""Vouchers to redeem, on top of tests/support/channel_world.py: a campaign with a 再来一瓶 voucher prize,
awards of it in the SQL ledger (as the drain stores them), the scopes of the world's seats and brand staff,
and the voucher tokens the consumer's QR carries.

Domain tests insert the Award rows straight (`voucher_award`); the web and browser tests win them through
the real scan page and drain (`publish_voucher_campaign`, `win_voucher`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from accounts.users import principal_for, user_by_email
from app.channel_access import scope_for
from app.runtime import member_secret
from channel.scope import ChannelScope
from channel.vouchers import voucher_key, voucher_token
from codegen.db import transaction
from rules.campaign_store import save_campaign, set_status
from rules.models import Award, Campaign
from rules.publish import publish_rules
from rules.region import default_index
from tests.support.channel_world import ChannelWorld, sign
from tests.web.console_support import add_user, ensure_brand

AWARDED = datetime(2027, 3, 10, 2, 0, tzinfo=UTC)


def _sessions(app: Flask):  # type: ignore[no-untyped-def]
    return app.extensions["yima.db"].sessions


def voucher_definition(brand: str, batch_id: int, name: str = "再来一瓶") -> dict[str, object]:
    """Every first scan of an inner code of the batch wins the voucher."""
    return {"name": f"{name} {brand}", "brand": brand,
            "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2099-12-31T00:00:00+08:00"},
            "scope": {"batches": [batch_id], "roles": ["inner"]}, "ordinal": {"kind": "first_scan"},
            "budget": {"total_fen": 100_000}, "prizes": [{"kind": "voucher", "name": name, "weight": 1.0}]}


def voucher_campaign(app: Flask, brand: str, batch_id: int) -> int:
    """The campaign row only (domain tests insert its awards themselves)."""
    with transaction(_sessions(app)) as s:
        row = save_campaign(s, voucher_definition(brand, batch_id), default_index())
        return row.id


def publish_voucher_campaign(app: Flask, brand: str, batch_id: int) -> int:
    """An active, published voucher campaign: scanning an inner code of the batch on the page wins it."""
    with transaction(_sessions(app)) as s:
        row = save_campaign(s, voucher_definition(brand, batch_id), default_index())
        set_status(s, row.id, Campaign.ACTIVE, default_index())
        publish_rules(s, app.extensions["yima.redis"], default_index(), note="vouchers")
        return row.id


_serial = iter(range(1, 1_000_000))


def voucher_award(app: Flask, campaign_id: int, *, batch_id: int = 1, kind: str = "voucher",
                  status: str = Award.VALID, entry_ms: int | None = None) -> str:
    """A voucher award in the SQL ledger, as the drain stores one; its id."""
    n = next(_serial)
    ms = entry_ms if entry_ms is not None else int(AWARDED.timestamp() * 1000)
    award_id = f"{campaign_id}-{ms}-{n}"
    with transaction(_sessions(app)) as s:
        s.add(Award(id=award_id, campaign_id=campaign_id, claim=f"C{n:027d}", code=f"C{n:027d}", batch_id=batch_id,
                    role="inner", serial=n, prize_index=0, kind=kind, awarded_at=AWARDED, status=status,
                    void_reason="" if status == Award.VALID else "test"))
    return award_id


def key(app: Flask) -> bytes:
    return voucher_key(member_secret(app.config["YIMA"]))


def token(app: Flask, award_id: str) -> str:
    return voucher_token(key(app), award_id)


def scope_of(app: Flask, email: str, brand: str | None = None) -> ChannelScope:
    """The scope the pages and the API give this user (a seat, or brand staff in `brand`)."""
    with _sessions(app)() as s:
        user = user_by_email(s, email)
        assert user is not None, email
        principal = principal_for(user)
    with app.app_context():
        return scope_for(principal, ensure_brand(app, brand) if brand else None)


def brand_staff(app: Flask, brand: str, role: str = "operator") -> str:
    """A console user with `role` in the brand: "<role>@<brand>.brand"."""
    email = f"{role}@{brand}.brand"
    add_user(app, email, role, brand)
    return email


def win_voucher(world: ChannelWorld, phone: FlaskClient, brand: str, serial: int) -> str:
    """Scan inner code `serial` of the brand's batch on the consumer page; the voucher's award id."""
    html = phone.get(f"/q/{sign(world.app, world.batch[brand], serial)}").get_data(as_text=True)
    found = re.search(r'id="voucher-([0-9]+-[0-9]+-[0-9]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def stored_awards(app: Flask) -> list[Award]:
    with _sessions(app)() as s:
        return list(s.scalars(select(Award).order_by(Award.id)))


def api_token(app: Flask, email: str, brand: str, role: str) -> dict[str, str]:
    """The Authorization header of a new API token of this user in the brand (role "channel": a seat's)."""
    from accounts.tokens import issue_token
    from accounts.users import get_user

    with transaction(_sessions(app)) as s:
        found = user_by_email(s, email)
        assert found is not None, email
        _, secret = issue_token(s, get_user(s, found.id), ensure_brand(app, brand), role, "test", 30)
    return {"Authorization": f"Bearer {secret}"}
