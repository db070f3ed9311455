"""Campaign changes made by a person, each with its audit entry in the same transaction.

The console's campaign pages call these: every create, edit, clone, status change and delete writes
`accounts.audit` with the actor and the campaign before and after, so the change and its record commit
or roll back together. A create replayed under its idempotency key (a double submit) changes nothing and
records nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from accounts.audit import record_change
from rules.campaign_store import (
    Created,
    clone_campaign,
    create_campaign,
    delete_campaign,
    get_campaign,
    set_status,
    update_campaign,
)
from rules.models import Campaign
from rules.region import RegionIndex


def _target(row: Campaign) -> str:
    return f"campaign:{row.id}"


def audit_state(row: Campaign) -> dict[str, Any]:
    """A campaign as the audit log keeps it (console and API alike)."""
    return {"name": row.name, "status": row.status, "edit_version": row.edit_version,
            "definition": row.definition}


def create_recorded(session: Session, actor: str, doc: Any, regions: RegionIndex, *,
                    idempotency_key: str | None, brand_ids: frozenset[int] | None) -> Created:
    """`brand_ids`: the brands the actor may operate in (None: all); another brand reads as unknown."""
    created = create_campaign(session, doc, regions, idempotency_key=idempotency_key, owner=actor,
                              brand_ids=brand_ids)
    if not created.replayed:
        row = created.campaign
        record_change(session, actor, "campaign.create", _target(row), brand_id=row.brand_id, after=audit_state(row))
    return created


def clone_recorded(session: Session, actor: str, campaign_id: int, regions: RegionIndex, *,
                   idempotency_key: str | None, brand_ids: frozenset[int] | None) -> Created:
    created = clone_campaign(session, campaign_id, regions, idempotency_key=idempotency_key, owner=actor,
                             brand_ids=brand_ids)
    if not created.replayed:
        row = created.campaign
        record_change(session, actor, "campaign.clone", _target(row), brand_id=row.brand_id, after=audit_state(row),
                      note=f"from campaign:{campaign_id}")
    return created


def update_recorded(session: Session, actor: str, campaign_id: int, doc: Any, regions: RegionIndex, *,
                    edit_version: int, brand_ids: frozenset[int] | None) -> Campaign:
    before = audit_state(get_campaign(session, campaign_id))
    row = update_campaign(session, campaign_id, doc, regions, edit_version=edit_version, brand_ids=brand_ids)
    record_change(session, actor, "campaign.update", _target(row), brand_id=row.brand_id, before=before,
                  after=audit_state(row))
    return row


def set_status_recorded(session: Session, actor: str, campaign_id: int, status: str,
                        regions: RegionIndex) -> Campaign:
    before = get_campaign(session, campaign_id).status
    row = set_status(session, campaign_id, status, regions)
    if before != row.status:
        record_change(session, actor, "campaign.status", _target(row), brand_id=row.brand_id,
                      before={"status": before}, after={"status": row.status})
    return row


def delete_recorded(session: Session, actor: str, campaign_id: int) -> None:
    row = get_campaign(session, campaign_id)
    before, brand_id, target = audit_state(row), row.brand_id, _target(row)
    delete_campaign(session, campaign_id)
    record_change(session, actor, "campaign.delete", target, brand_id=brand_id, before=before)
