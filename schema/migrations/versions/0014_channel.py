"""the channel: distributors, stores, channel seats, shipments of case ranges, flags, 窜货 verdicts, voucher
redemptions and the store ledger with its statements; an index on awards (batch_id, serial) for the lookup

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('channel_judgements_daily',
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('distributor_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('adcode', sa.String(length=6), nullable=False),
    sa.Column('verdict', sa.String(length=12), nullable=False),
    sa.Column('scans', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('brand_id', 'distributor_id', 'day', 'adcode', 'verdict', name=op.f('pk_channel_judgements_daily'))
    )
    op.create_table('channel_versions',
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('brand_id', name=op.f('pk_channel_versions'))
    )
    op.create_table('diversion_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scan_event_id', sa.String(length=48), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('distributor_id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('serial', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=28), nullable=False),
    sa.Column('adcode', sa.String(length=6), nullable=False),
    sa.Column('region_source', sa.String(length=4), nullable=False),
    sa.Column('scanned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('judged_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_diversion_events')),
    sa.UniqueConstraint('scan_event_id', name=op.f('uq_diversion_events_scan_event_id'))
    )
    with op.batch_alter_table('diversion_events', schema=None) as batch_op:
        batch_op.create_index('ix_diversion_brand_at', ['brand_id', 'scanned_at'], unique=False)
        batch_op.create_index('ix_diversion_distributor_at', ['distributor_id', 'scanned_at'], unique=False)

    op.create_table('channel_policies',
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('require_registration', sa.Boolean(), nullable=False),
    sa.Column('voucher_face_fen', sa.Integer(), nullable=False),
    sa.Column('redeem_rebate_fen', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_channel_policies_brand_id_brands')),
    sa.PrimaryKeyConstraint('brand_id', name=op.f('pk_channel_policies'))
    )
    op.create_table('distributors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('territory', sa.JSON(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('contact', sa.String(length=100), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_distributors_brand_id_brands')),
    sa.ForeignKeyConstraint(['parent_id'], ['distributors.id'], name=op.f('fk_distributors_parent_id_distributors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_distributors')),
    sa.UniqueConstraint('brand_id', 'code', name=op.f('uq_distributors_brand_id'))
    )
    with op.batch_alter_table('distributors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_distributors_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_distributors_parent_id'), ['parent_id'], unique=False)

    op.create_table('stores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('distributor_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('adcode', sa.String(length=6), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lng', sa.Float(), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('registered_case', sa.String(length=28), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_stores_brand_id_brands')),
    sa.ForeignKeyConstraint(['distributor_id'], ['distributors.id'], name=op.f('fk_stores_distributor_id_distributors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stores'))
    )
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stores_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stores_distributor_id'), ['distributor_id'], unique=False)

    op.create_table('channel_seats',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('distributor_id', sa.Integer(), nullable=True),
    sa.Column('store_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_channel_seats_brand_id_brands')),
    sa.ForeignKeyConstraint(['distributor_id'], ['distributors.id'], name=op.f('fk_channel_seats_distributor_id_distributors')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_channel_seats_store_id_stores')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_channel_seats_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_channel_seats'))
    )
    with op.batch_alter_table('channel_seats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_seats_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_channel_seats_distributor_id'), ['distributor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_channel_seats_store_id'), ['store_id'], unique=False)

    op.create_table('shipments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('from_distributor_id', sa.Integer(), nullable=True),
    sa.Column('to_distributor_id', sa.Integer(), nullable=True),
    sa.Column('to_store_id', sa.Integer(), nullable=True),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('case_count', sa.Integer(), nullable=False),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('shipped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_by', sa.String(length=300), nullable=False),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undo_reason', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_shipments_brand_id_brands')),
    sa.ForeignKeyConstraint(['from_distributor_id'], ['distributors.id'], name=op.f('fk_shipments_from_distributor_id_distributors')),
    sa.ForeignKeyConstraint(['to_distributor_id'], ['distributors.id'], name=op.f('fk_shipments_to_distributor_id_distributors')),
    sa.ForeignKeyConstraint(['to_store_id'], ['stores.id'], name=op.f('fk_shipments_to_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipments'))
    )
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.create_index('ix_shipments_brand_created', ['brand_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipments_from_distributor_id'), ['from_distributor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipments_to_distributor_id'), ['to_distributor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipments_to_store_id'), ['to_store_id'], unique=False)

    op.create_table('store_statements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('lines', sa.Integer(), nullable=False),
    sa.Column('face_fen', sa.Integer(), nullable=False),
    sa.Column('rebate_fen', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=300), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('settled_by', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_store_statements_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_store_statements')),
    sa.UniqueConstraint('store_id', 'period_start', 'period_end', name=op.f('uq_store_statements_store_id'))
    )
    with op.batch_alter_table('store_statements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_store_statements_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_store_statements_store_id'), ['store_id'], unique=False)

    op.create_table('voucher_redemptions',
    sa.Column('award_id', sa.String(length=48), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=True),
    sa.Column('code', sa.String(length=28), nullable=False),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_voucher_redemptions_store_id_stores')),
    sa.PrimaryKeyConstraint('award_id', name=op.f('pk_voucher_redemptions'))
    )
    with op.batch_alter_table('voucher_redemptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voucher_redemptions_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index('ix_voucher_redemptions_store_at', ['store_id', 'redeemed_at'], unique=False)

    op.create_table('channel_flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('first_case', sa.Integer(), nullable=False),
    sa.Column('last_case', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('other_shipment_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_channel_flags_brand_id_brands')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_channel_flags_shipment_id_shipments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_flags'))
    )
    with op.batch_alter_table('channel_flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_flags_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_channel_flags_shipment_id'), ['shipment_id'], unique=False)

    op.create_table('shipment_ranges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('first_case', sa.Integer(), nullable=False),
    sa.Column('last_case', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_shipment_ranges_shipment_id_shipments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment_ranges'))
    )
    with op.batch_alter_table('shipment_ranges', schema=None) as batch_op:
        batch_op.create_index('ix_shipment_ranges_batch_case', ['batch_id', 'first_case'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipment_ranges_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipment_ranges_shipment_id'), ['shipment_id'], unique=False)

    op.create_table('store_ledger',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('face_fen', sa.Integer(), nullable=False),
    sa.Column('rebate_fen', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('statement_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['statement_id'], ['store_statements.id'], name=op.f('fk_store_ledger_statement_id_store_statements')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_store_ledger_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_store_ledger')),
    sa.UniqueConstraint('source', name=op.f('uq_store_ledger_source'))
    )
    with op.batch_alter_table('store_ledger', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_store_ledger_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_store_ledger_statement_id'), ['statement_id'], unique=False)
        batch_op.create_index('ix_store_ledger_store_at', ['store_id', 'at'], unique=False)

    with op.batch_alter_table('awards', schema=None) as batch_op:
        batch_op.create_index('ix_awards_batch_serial', ['batch_id', 'serial'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('awards', schema=None) as batch_op:
        batch_op.drop_index('ix_awards_batch_serial')

    with op.batch_alter_table('store_ledger', schema=None) as batch_op:
        batch_op.drop_index('ix_store_ledger_store_at')
        batch_op.drop_index(batch_op.f('ix_store_ledger_statement_id'))
        batch_op.drop_index(batch_op.f('ix_store_ledger_brand_id'))

    op.drop_table('store_ledger')
    with op.batch_alter_table('shipment_ranges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipment_ranges_shipment_id'))
        batch_op.drop_index(batch_op.f('ix_shipment_ranges_brand_id'))
        batch_op.drop_index('ix_shipment_ranges_batch_case')

    op.drop_table('shipment_ranges')
    with op.batch_alter_table('channel_flags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_flags_shipment_id'))
        batch_op.drop_index(batch_op.f('ix_channel_flags_brand_id'))

    op.drop_table('channel_flags')
    with op.batch_alter_table('voucher_redemptions', schema=None) as batch_op:
        batch_op.drop_index('ix_voucher_redemptions_store_at')
        batch_op.drop_index(batch_op.f('ix_voucher_redemptions_brand_id'))

    op.drop_table('voucher_redemptions')
    with op.batch_alter_table('store_statements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_store_statements_store_id'))
        batch_op.drop_index(batch_op.f('ix_store_statements_brand_id'))

    op.drop_table('store_statements')
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipments_to_store_id'))
        batch_op.drop_index(batch_op.f('ix_shipments_to_distributor_id'))
        batch_op.drop_index(batch_op.f('ix_shipments_from_distributor_id'))
        batch_op.drop_index('ix_shipments_brand_created')

    op.drop_table('shipments')
    with op.batch_alter_table('channel_seats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_seats_store_id'))
        batch_op.drop_index(batch_op.f('ix_channel_seats_distributor_id'))
        batch_op.drop_index(batch_op.f('ix_channel_seats_brand_id'))

    op.drop_table('channel_seats')
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stores_distributor_id'))
        batch_op.drop_index(batch_op.f('ix_stores_brand_id'))

    op.drop_table('stores')
    with op.batch_alter_table('distributors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_distributors_parent_id'))
        batch_op.drop_index(batch_op.f('ix_distributors_brand_id'))

    op.drop_table('distributors')
    op.drop_table('channel_policies')
    with op.batch_alter_table('diversion_events', schema=None) as batch_op:
        batch_op.drop_index('ix_diversion_distributor_at')
        batch_op.drop_index('ix_diversion_brand_at')

    op.drop_table('diversion_events')
    op.drop_table('channel_versions')
    op.drop_table('channel_judgements_daily')
