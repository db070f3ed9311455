"""the B side: bside_scans (a case opened by its store, a cap opened by a waiter: once per code) and the
brand's waiter ladder on channel_policies

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('bside_scans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('serial', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=28), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_bside_scans_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bside_scans')),
    sa.UniqueConstraint('batch_id', 'role', 'serial', name=op.f('uq_bside_scans_batch_id'))
    )
    with op.batch_alter_table('bside_scans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bside_scans_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index('ix_bside_scans_store_at', ['store_id', 'at'], unique=False)

    # Existing policies get no ladder ([]); the model's default gives new rows the same.
    with op.batch_alter_table('channel_policies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waiter_ladder', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table('channel_policies', schema=None) as batch_op:
        batch_op.drop_column('waiter_ladder')

    with op.batch_alter_table('bside_scans', schema=None) as batch_op:
        batch_op.drop_index('ix_bside_scans_store_at')
        batch_op.drop_index(batch_op.f('ix_bside_scans_brand_id'))

    op.drop_table('bside_scans')
