"""scan_events.region_source: where a scan's region came from (gps / ip / none)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

On PostgreSQL `scan_events` is partitioned (0011): a column added to the partitioned parent is added to
every partition, the DEFAULT one and a legacy one attached as a partition included. Nullable, no default:
no partition is rewritten, and rows stored before read NULL ("not recorded").
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('scan_events', sa.Column('region_source', sa.String(length=4), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('scan_events', schema=None) as batch_op:
        batch_op.drop_column('region_source')
