"""the risk layer: risk_flags (the review queue), risk_lists (block / allow), risk_policies; each scan
event's decision (scan_events.risk, risk_reasons); a held award (awards.risk_hold) and the scan that drew it (awards.scan_event); and the index the
payout sweep's recent-claims query wanted (award_claims.claimed_at)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('risk_flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('samples', sa.JSON(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_event', sa.String(length=48), nullable=False),
    sa.Column('reviewed_by', sa.String(length=200), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_flags')),
    sa.UniqueConstraint('brand_id', 'kind', 'subject', name=op.f('uq_risk_flags_brand_id'))
    )
    with op.batch_alter_table('risk_flags', schema=None) as batch_op:
        batch_op.create_index('ix_risk_flags_brand_state', ['brand_id', 'state', 'last_at'], unique=False)

    op.create_table('risk_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_lists')),
    sa.UniqueConstraint('brand_id', 'kind', 'subject', name=op.f('uq_risk_lists_brand_id'))
    )
    with op.batch_alter_table('risk_lists', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_lists_brand_id'), ['brand_id'], unique=False)

    op.create_table('risk_policies',
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('doc', sa.JSON(), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('brand_id', name=op.f('pk_risk_policies'))
    )

    with op.batch_alter_table('scan_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('risk', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('risk_reasons', sa.String(length=200), nullable=False, server_default=''))

    with op.batch_alter_table('awards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('risk_hold', sa.String(length=8), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('scan_event', sa.String(length=48), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('pay_after', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('award_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_award_claims_claimed_at'), ['claimed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('award_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_award_claims_claimed_at'))
    with op.batch_alter_table('awards', schema=None) as batch_op:
        batch_op.drop_column('pay_after')
        batch_op.drop_column('scan_event')
        batch_op.drop_column('risk_hold')
    with op.batch_alter_table('scan_events', schema=None) as batch_op:
        batch_op.drop_column('risk_reasons')
        batch_op.drop_column('risk')
    op.drop_table('risk_policies')
    with op.batch_alter_table('risk_lists', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_risk_lists_brand_id'))
    op.drop_table('risk_lists')
    with op.batch_alter_table('risk_flags', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_flags_brand_state')
    op.drop_table('risk_flags')
