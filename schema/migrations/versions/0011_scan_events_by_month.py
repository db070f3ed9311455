"""scan events partitioned by month (PostgreSQL); archives of dropped months

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-03

PostgreSQL: `scan_events` becomes a table partitioned by RANGE (scanned_at), one partition per month
(months start at local midnight, UTC+8, as the reports' days do), plus a DEFAULT partition so an insert
never fails. A partitioned table's primary key must hold the partition key: (id, scanned_at).

An existing table with rows is not copied: it is renamed `scan_events_legacy` and attached as the
partition of everything before the first month after its newest row. Copying 100 million rows would
rewrite the table inside this migration's transaction, with both copies on disk; attaching costs one
scan to prove the range (the CHECK constraint added first lets ATTACH skip its own) and one build of the
(id, scanned_at) key index; its other indexes are attached as they are. An empty table is just replaced.

SQLite stays a plain table, with the same key.
"""
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op


revision: str = '0011'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OFFSET = timedelta(hours=8)  # the reports' local time (reports.rollups.REPORT_UTC_OFFSET_S) when written
MONTHS_AHEAD = 3

COLUMNS = """
    id varchar(48) NOT NULL,
    batch_id integer NOT NULL,
    serial integer NOT NULL,
    role varchar(8) NOT NULL,
    code varchar(28) NOT NULL,
    kind varchar(16) NOT NULL,
    scan_count integer NOT NULL,
    scanned_at timestamptz NOT NULL,
    adcode varchar(6),
    ip varchar(45) NOT NULL,
    device_id varchar(64) NOT NULL,
    member varchar(64) NOT NULL,
    ingested_at timestamptz NOT NULL,
    rules_version integer,
    campaigns varchar(200) NOT NULL DEFAULT ''"""


def _month_start(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}-01 00:00:00+08"


def _next(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _local_month(at: datetime) -> tuple[int, int]:
    local = at.astimezone(UTC) + OFFSET
    return local.year, local.month


def _archives_table() -> None:
    op.create_table('scan_event_archives',
    sa.Column('partition', sa.String(length=63), nullable=False),
    sa.Column('lower_bound', sa.DateTime(timezone=True), nullable=True),
    sa.Column('upper_bound', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('file', sa.String(length=1000), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dropped_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('partition', name=op.f('pk_scan_event_archives'))
    )


def upgrade() -> None:
    _archives_table()
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        with op.batch_alter_table('scan_events', recreate='always') as batch_op:
            batch_op.drop_constraint('pk_scan_events', type_='primary')
            batch_op.create_primary_key('pk_scan_events', ['id', 'scanned_at'])
        return
    newest = bind.scalar(sa.text("SELECT max(scanned_at) FROM scan_events"))
    if newest is None:
        op.execute("DROP TABLE scan_events")
    else:
        op.execute("ALTER TABLE scan_events RENAME TO scan_events_legacy")
        op.execute("ALTER TABLE scan_events_legacy RENAME CONSTRAINT pk_scan_events TO pk_scan_events_legacy_id")
        op.execute("ALTER INDEX ix_scan_events_batch_serial RENAME TO ix_scan_events_legacy_batch_serial")
        op.execute("ALTER INDEX ix_scan_events_scanned_at RENAME TO ix_scan_events_legacy_scanned_at")
    op.execute(f"CREATE TABLE scan_events ({COLUMNS},\n    CONSTRAINT pk_scan_events PRIMARY KEY (id, scanned_at)\n)"
               " PARTITION BY RANGE (scanned_at)")
    op.execute("CREATE INDEX ix_scan_events_batch_serial ON scan_events (batch_id, role, serial)")
    op.execute("CREATE INDEX ix_scan_events_scanned_at ON scan_events (scanned_at)")
    year, month = _local_month(datetime.now(UTC))
    if newest is not None:
        year, month = _next(*max(_local_month(newest), (year, month)))
        bound = _month_start(year, month)
        op.execute(f"ALTER TABLE scan_events_legacy ADD CONSTRAINT ck_scan_events_legacy_range "
                   f"CHECK (scanned_at < '{bound}')")
        # Its key on id alone gives way to the parent's (id, scanned_at), which ATTACH builds.
        op.execute("ALTER TABLE scan_events_legacy DROP CONSTRAINT pk_scan_events_legacy_id")
        op.execute(f"ALTER TABLE scan_events ATTACH PARTITION scan_events_legacy "
                   f"FOR VALUES FROM (MINVALUE) TO ('{bound}')")
    for _ in range(MONTHS_AHEAD + 1):
        upper = _next(year, month)
        op.execute(f"CREATE TABLE scan_events_p{year:04d}{month:02d} PARTITION OF scan_events "
                   f"FOR VALUES FROM ('{_month_start(year, month)}') TO ('{_month_start(*upper)}')")
        year, month = upper
    op.execute("CREATE TABLE scan_events_default PARTITION OF scan_events DEFAULT")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        with op.batch_alter_table('scan_events', recreate='always') as batch_op:
            batch_op.drop_constraint('pk_scan_events', type_='primary')
            batch_op.create_primary_key('pk_scan_events', ['id'])
    else:
        op.execute("ALTER TABLE scan_events RENAME TO scan_events_partitioned")
        op.execute("ALTER INDEX pk_scan_events RENAME TO pk_scan_events_partitioned")
        op.execute("ALTER INDEX ix_scan_events_batch_serial RENAME TO ix_scan_events_partitioned_batch_serial")
        op.execute("ALTER INDEX ix_scan_events_scanned_at RENAME TO ix_scan_events_partitioned_scanned_at")
        op.execute(f"CREATE TABLE scan_events ({COLUMNS},\n    CONSTRAINT pk_scan_events PRIMARY KEY (id)\n)")
        op.execute("INSERT INTO scan_events SELECT * FROM scan_events_partitioned")
        op.execute("DROP TABLE scan_events_partitioned")
        op.execute("CREATE INDEX ix_scan_events_batch_serial ON scan_events (batch_id, role, serial)")
        op.execute("CREATE INDEX ix_scan_events_scanned_at ON scan_events (scanned_at)")
    op.drop_table('scan_event_archives')
