"""rules versions per brand: who published, for which brand, and the campaigns' definitions

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-02
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Versions published before this one were platform-wide (brand NULL) and recorded no definitions.
    with op.batch_alter_table('rules_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('brand_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('definitions', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('actor', sa.String(length=300), nullable=False, server_default=''))
        batch_op.create_index(batch_op.f('ix_rules_versions_brand_id'), ['brand_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_rules_versions_brand_id_brands'), 'brands', ['brand_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('rules_versions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_rules_versions_brand_id_brands'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_rules_versions_brand_id'))
        batch_op.drop_column('actor')
        batch_op.drop_column('definitions')
        batch_op.drop_column('brand_id')
