"""Demo data for `make run`: a brand, a product and an activated batch, created once, idempotently."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from app.config import Config
from app.runtime import Database
from codegen import batches, keys
from codegen.codeformat import Role, encode
from codegen.db import transaction
from codegen.generate import scan_url
from codegen.models import Batch, Brand, Product

DEMO_BRAND = "demo"
DEMO_SKU = "DEMO-500"
DEMO_LOT = "DEMO-L1"


@dataclass(frozen=True)
class DemoInfo:
    batch_id: int
    inner_url: str
    outer_url: str
    forged_url: str


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
        key = ring.batch_key(batch.key_id, batch.id)

        def url(role: Role) -> str:
            return scan_url(brand.base_url, encode(key, role=role, key_id=batch.key_id, batch_id=batch.id, serial=0))

        inner = url(Role.INNER)
        # The same code with its last tag symbol changed: well-formed, but the signature fails.
        forged = inner[:-1] + ("0" if inner[-1] != "0" else "1")
        return DemoInfo(batch.id, inner, url(Role.OUTER), forged)
