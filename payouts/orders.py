"""What a payout's bill says to the provider and to the consumer (活动名称, 奖励说明, the remark)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from payouts.models import Payout
from payouts.providers.base import TransferOrder
from payouts.settings import PayoutSettings
from rules.models import Campaign

FIELD = 32  # 商家转账 allows 32 characters in each text field (and red packets as few)


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def transfer_order(session: Session, payout: Payout, settings: PayoutSettings) -> TransferOrder:
    campaign = session.get(Campaign, payout.campaign_id)
    activity = campaign.name if campaign is not None else f"活动 {payout.campaign_id}"
    return TransferOrder(
        bill_no=payout.bill_no,
        openid=payout.openid,
        amount_fen=payout.amount_fen,
        activity=activity[:FIELD],
        description=f"现金红包 {yuan(payout.amount_fen)} 元"[:FIELD],
        remark=settings.remark[:FIELD],
        client_ip=payout.client_ip,
    )
