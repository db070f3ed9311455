"""report rollups

Revision ID: 0008
Revises: 0010
Create Date: 2026-12-03
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


COUNTS = ('first_scans', 'repeat_scans', 'not_on_sale', 'void_scans')


def _scan_counts() -> list[sa.Column]:
    return [sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS]


def upgrade() -> None:
    op.create_table('rollup_scan_minute',
    sa.Column('brand_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('campaign_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('minute', sa.BigInteger(), autoincrement=False, nullable=False),
    *_scan_counts(),
    sa.PrimaryKeyConstraint('brand_id', 'campaign_id', 'minute', name=op.f('pk_rollup_scan_minute'))
    )
    op.create_table('rollup_scan_hour',
    sa.Column('brand_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('campaign_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('hour', sa.BigInteger(), autoincrement=False, nullable=False),
    *_scan_counts(),
    # The counts ride in the key's index on PostgreSQL (INCLUDE): periods are read by index-only scans.
    sa.PrimaryKeyConstraint('brand_id', 'campaign_id', 'hour', name=op.f('pk_rollup_scan_hour'),
                            postgresql_include=list(COUNTS))
    )
    op.create_table('rollup_scan_region_day',
    sa.Column('brand_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('campaign_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('day', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('city', sa.String(length=4), nullable=False),
    *_scan_counts(),
    sa.PrimaryKeyConstraint('brand_id', 'campaign_id', 'day', 'city', name=op.f('pk_rollup_scan_region_day'),
                            postgresql_include=list(COUNTS))
    )
    op.create_table('rollup_batch_day',
    sa.Column('batch_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('day', sa.BigInteger(), autoincrement=False, nullable=False),
    *_scan_counts(),
    sa.PrimaryKeyConstraint('batch_id', 'day', name=op.f('pk_rollup_batch_day'))
    )
    op.create_table('rollup_award_hour',
    sa.Column('campaign_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('hour', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('prize_index', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('awards', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('campaign_id', 'hour', 'prize_index', 'status', name=op.f('pk_rollup_award_hour'),
                            postgresql_include=['awards', 'amount_fen', 'points'])
    )
    op.create_table('rollup_forged_minute',
    sa.Column('brand_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('minute', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('brand_id', 'minute', name=op.f('pk_rollup_forged_minute'))
    )
    op.create_table('rollup_forged_hour',
    sa.Column('brand_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('hour', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('brand_id', 'hour', name=op.f('pk_rollup_forged_hour'))
    )


def downgrade() -> None:
    for table in ('rollup_forged_hour', 'rollup_forged_minute', 'rollup_award_hour', 'rollup_batch_day',
                  'rollup_scan_region_day', 'rollup_scan_hour', 'rollup_scan_minute'):
        op.drop_table(table)
