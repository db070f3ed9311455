"""A brand's review queue for the web tests: a campaign, two awards of one member, a flag holding both."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask

from codegen.db import transaction
from risk import review
from rules.models import Award, Campaign
from tests.web.console_support import ensure_brand

MEMBER = "c" * 32


def seed_review(app: Flask, slug: str) -> dict[str, Any]:
    """A brand with a campaign, two awards of one member, a flag on the member holding both."""
    brand_id = ensure_brand(app, slug)
    sessions, redis = app.extensions["yima.db"].sessions, app.extensions["yima.redis"]
    with transaction(sessions) as s:
        definition = {"name": f"{slug} 红包", "brand": slug, "budget": {"total_fen": 100_000},
                      "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2030-01-01T00:00:00+08:00"},
                      "prizes": [{"kind": "cash", "name": "红包", "min_fen": 100, "max_fen": 100, "weight": 1.0}]}
        campaign = Campaign(brand_id=brand_id, name=f"{slug} 红包", status="active", definition=definition)
        s.add(campaign)
        s.flush()
        ids = []
        for n in (1, 2):
            award_id = f"{campaign.id}-1800000000000-{n}"
            s.add(Award(id=award_id, campaign_id=campaign.id, claim=f"{slug}{n}", code=f"C{n:027d}", batch_id=1,
                        role="inner", serial=n, prize_index=0, kind="cash", amount_fen=100, member=MEMBER,
                        awarded_at=datetime(2027, 1, 1, tzinfo=UTC)))
            ids.append(award_id)
        s.flush()
        raised = review.raise_flag(s, redis, brand_id, "m", MEMBER, "farm", "C1", f"1-{slug}-0")
    return {"brand_id": brand_id, "campaign_id": campaign.id, "flag": raised.flag_id, "awards": ids}
