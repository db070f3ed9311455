"""Demo data for `make run`: a brand, a product and an activated batch, created once, idempotently."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from accounts.audit import record_change
from accounts.roles import OPERATOR
from accounts.users import create_user, find_brand, grant_role, user_by_email
from app.config import Config
from app.runtime import Database
from app.varfiles import create_once
from codegen import batches, keys
from codegen.codeformat import Role, encode
from codegen.db import transaction
from codegen.generate import scan_url
from codegen.models import Batch, Brand, Product
from risk.models import RiskPolicyRow
from risk.policy_store import publish_policies
from rules.campaign_store import save_campaign, set_status
from rules.models import Campaign
from rules.publish import current_version, publish_rules
from rules.region import default_index

DEMO_BRAND = "demo"
DEMO_SKU = "DEMO-500"
DEMO_LOT = "DEMO-L1"


DEMO_OPERATOR = "operator@demo.yima.local"


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str


@dataclass(frozen=True)
class DemoInfo:
    batch_id: int
    inner_url: str
    outer_url: str
    forged_url: str
    more_inner: tuple[str, ...] = ()  # inner codes 1-4: each code is won once, so a newcomer can try again


DEMO_CAMPAIGN = "演示：扫码有礼 Demo scan-and-win"
DEMO_VOUCHER_CAMPAIGN = "演示：再来一瓶 Demo win-another-bottle"
VOUCHER_SERIALS = (500, 999)


# The 31 provincial-level divisions of mainland China (GB/T 2260): the `yima run` demo is a national campaign.
MAINLAND = ("11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42",
            "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65")


def demo_campaign(batch_id: int, *, mainland_only: bool = False) -> dict[str, Any]:
    """First scan of a demo inner code always wins: a red packet (30 %) or 5 points. `mainland_only` (what
    `yima run` seeds): only in mainland China, so the page asks for the phone's location before it draws
    (a loopback or foreign address says nothing), and a red packet 70 % of the time, so the whole payout
    loop is quick to see."""
    if mainland_only:
        doc = demo_campaign(batch_id)
        doc["scope"]["serials"] = [[0, VOUCHER_SERIALS[0] - 1]]
        doc["regions"] = {"include": list(MAINLAND), "sources": ["gps", "ip"]}
        doc["prizes"] = [{**doc["prizes"][0], "weight": 0.7}]
        return doc
    return {
        "name": DEMO_CAMPAIGN,
        "brand": DEMO_BRAND,
        "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2099-12-31T00:00:00+08:00"},
        "scope": {"batches": [batch_id], "roles": ["inner"]},
        "ordinal": {"kind": "first_scan"},
        "first_scan_wins": True,
        "budget": {"total_fen": 100_000},
        "prizes": [{"kind": "cash", "name": "红包", "min_fen": 100, "max_fen": 500, "weight": 0.3, "total": 200}],
        "consolation": {"kind": "points", "name": "积分", "points": 5},
    }


def demo_voucher_campaign(batch_id: int) -> dict[str, Any]:
    """再来一瓶 on the demo batch's second half (serials 500-999, cases 20-41 at 24 a case): every first scan in
    mainland China wins a voucher that a store redeems (核销) and the brand reimburses."""
    return {
        "name": DEMO_VOUCHER_CAMPAIGN,
        "brand": DEMO_BRAND,
        "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2099-12-31T00:00:00+08:00"},
        "scope": {"batches": [batch_id], "serials": [list(VOUCHER_SERIALS)], "roles": ["inner"]},
        "regions": {"include": list(MAINLAND), "sources": ["gps", "ip"]},
        "ordinal": {"kind": "first_scan"},
        "first_scan_wins": True,
        "budget": {"total_fen": 100_000},
        "prizes": [{"kind": "voucher", "name": "再来一瓶", "weight": 1.0, "total": 500}],
    }


def seed_demo_campaign(db: Database, redis: Any, batch_id: int, *, mainland_only: bool = False) -> None:
    """An active, published demo campaign (once): what a new user sees on the demo inner code. With
    `mainland_only` (`yima run`), the red-packet campaign takes serials 0-499 and 再来一瓶 the rest."""
    with transaction(db.sessions) as session:
        docs = [demo_campaign(batch_id, mainland_only=mainland_only)]
        if mainland_only:
            docs.append(demo_voucher_campaign(batch_id))
        added = False
        for doc in docs:
            if session.scalar(select(Campaign).where(Campaign.name == doc["name"])) is None:
                row = save_campaign(session, doc, default_index())
                set_status(session, row.id, Campaign.ACTIVE, default_index())
                added = True
        if added or current_version(redis) == 0:
            publish_rules(session, redis, default_index(), note="demo")


def seed_demo(cfg: Config, db: Database, redis: Any) -> DemoInfo:
    ring, _ = keys.init_keyring(cfg.keys_file)
    keys.save_public_keys(cfg.hq_public_file, ring)
    with transaction(db.sessions) as session:
        brand = session.scalar(select(Brand).where(Brand.slug == DEMO_BRAND))
        if brand is None:
            brand = batches.add_brand(session, DEMO_BRAND, "演示啤酒 Demo Brewery", cfg.base_url)
            batches.add_product(session, brand, DEMO_SKU, "演示拉格 Demo Lager 500ml", "6901234567892")
        batch = session.scalar(
            select(Batch).join(Product).where(Product.brand_id == brand.id, Batch.lot == DEMO_LOT)
        )
        if batch is None:
            req = batches.BatchRequest(sku=DEMO_SKU, lot=DEMO_LOT, count=1000, pack=24, factory="Demo Factory",
                                       line="1", production_date=date.today())
            batch = batches.create_batch(session, brand, req, key_id=ring.current, max_count=cfg.max_batch_count)
            batches.activate(session, redis, batch.id, None)
        else:
            batches.sync_batch(redis, batch)  # the embedded Redis may have been wiped
        if session.get(RiskPolicyRow, brand.id) is None:
            # The demo pays at once, so the whole loop (scan → claim → 收款) is quick to see; a real brand
            # keeps the risk layer's payout delay (docs/risk.md). Seed data, like the demo campaign: not audited.
            session.add(RiskPolicyRow(brand_id=brand.id, doc={"payout_delay_s": 0}, updated_by="yima:demo"))
            session.flush()
        publish_policies(session, redis)  # also after the embedded Redis was wiped
        key = ring.batch_key(batch.key_id, batch.id)

        def url(role: Role) -> str:
            return scan_url(brand.base_url, encode(key, role=role, key_id=batch.key_id, batch_id=batch.id, serial=0))

        inner = url(Role.INNER)
        # The same code with its last tag symbol changed: well-formed, but the signature fails.
        forged = inner[:-1] + ("0" if inner[-1] != "0" else "1")
        more = tuple(scan_url(brand.base_url, encode(key, role=Role.INNER, key_id=batch.key_id, batch_id=batch.id,
                                                    serial=n)) for n in range(1, 5))
        return DemoInfo(batch.id, inner, url(Role.OUTER), forged, more)


def seed_demo_operator(cfg: Config, db: Database) -> DemoLogin:
    """The demo brand's operator (once), with a random password kept in var/demo_password (0600)."""
    password = create_once(cfg.var_dir / "demo_password", lambda: secrets.token_urlsafe(12).encode())
    with transaction(db.sessions) as session:
        if user_by_email(session, DEMO_OPERATOR) is None:
            brand = find_brand(session, DEMO_BRAND)
            user = create_user(session, DEMO_OPERATOR, password, name="演示运营 Demo operator")
            grant_role(session, user, brand.id, OPERATOR)
            record_change(session, "seed", "user.create", f"user:{user.id}", brand_id=brand.id,
                          after={"email": user.email, "role": OPERATOR})
    return DemoLogin(DEMO_OPERATOR, password)
