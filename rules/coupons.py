"""Coupon pools: operators upload the codes of a coupon prize; the draw hands them out one per award.

SQL keeps every code (`coupon_codes`) and marks it assigned when its award reaches the ledger; Redis holds
the codes still available in a list per prize, `{c:<id>}:coupons:<prize index>`, popped inside the draw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.campaign import InvalidCampaign, Problem, parse_definition
from rules.campaign_keys import coupon_key
from rules.campaign_store import get_campaign
from rules.models import CouponCode

MAX_UPLOAD = 10_000
_CODE = re.compile(r"^[\x21-\x7e]{1,64}$")  # printable ASCII, no spaces


@dataclass(frozen=True)
class UploadResult:
    added: int
    duplicates: int
    pool_size: int


def upload_coupons(session: Session, redis: Any, campaign_id: int, prize_index: int, codes: Any) -> UploadResult:
    campaign = get_campaign(session, campaign_id)
    prizes = parse_definition(campaign.definition, stored=True).prizes
    if not 0 <= prize_index < len(prizes) or prizes[prize_index].kind != "coupon":
        raise InvalidCampaign([Problem("prize", f"prize {prize_index} of campaign {campaign_id} is not a coupon")])
    if not isinstance(codes, list) or not codes or len(codes) > MAX_UPLOAD:
        raise InvalidCampaign([Problem("codes", f"must be a list of 1 to {MAX_UPLOAD:,} coupon codes")])
    bad = [c for c in codes if not isinstance(c, str) or not _CODE.match(c)]
    if bad:
        raise InvalidCampaign([Problem("codes", f"{len(bad)} code(s) are not 1-64 printable characters "
                                                f"without spaces, e.g. {str(bad[0])[:70]!r}")])
    unique = list(dict.fromkeys(codes))
    existing = set(session.scalars(select(CouponCode.code).where(CouponCode.campaign_id == campaign_id,
                                                                  CouponCode.code.in_(unique))))
    new = [c for c in unique if c not in existing]
    session.add_all(CouponCode(campaign_id=campaign_id, prize_index=prize_index, code=c) for c in new)
    session.flush()  # the SQL rows first: a Redis failure rolls the upload back
    if new:
        redis.rpush(coupon_key(campaign_id, prize_index), *new)
    return UploadResult(len(new), len(codes) - len(new), int(redis.llen(coupon_key(campaign_id, prize_index))))


def refill_missing_pools(session: Session, redis: Any, campaign_id: int) -> None:
    """Put a prize's available codes back into Redis when its list is gone (a new or wiped Redis)."""
    rows = session.execute(select(CouponCode.prize_index, CouponCode.code).where(
        CouponCode.campaign_id == campaign_id, CouponCode.status == CouponCode.AVAILABLE)
        .order_by(CouponCode.id)).all()
    pools: dict[int, list[str]] = {}
    for index, code in rows:
        pools.setdefault(index, []).append(code)
    for index, codes in pools.items():
        key = coupon_key(campaign_id, index)
        if not redis.exists(key):
            redis.rpush(key, *codes)
