"""inbox in a SQLite file of its own (bridge/storage/db.py attaches it); PostgreSQL unchanged

SQLite locks writes per file. With the inbox in the main file, a webhook's INSERT waited for
every worker transaction that held the write lock (8-110 ms while delivery jobs recorded their
attempts), which made the p99 at 500 webhooks/s swing between 13 and 97 ms.

Revision ID: 0010_inbox_file
Revises: 0009_inbox_lz4
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_inbox_file"
down_revision = "0009_inbox_lz4"
branch_labels = None
depends_on = None

SCHEMA = "inbox_db"  # bridge.storage.db.INBOX_SCHEMA when this revision was written
COLUMNS = "id, source, event_key, topic, headers, body, received_at, processed_at, attempts, error"


def upgrade():
    if _attached():
        # Until now this database's inbox was in main: one found in the other file is an orphan
        # of an earlier database at the same path.
        op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.inbox")
        _move(to_schema=SCHEMA, from_schema="main")


def downgrade():
    if _attached():
        _move(to_schema="main", from_schema=SCHEMA)


def _attached() -> bool:
    bind = op.get_bind()
    return bind.dialect.name == "sqlite" and SCHEMA in {
        row[1] for row in bind.exec_driver_sql("PRAGMA database_list")}


def _move(to_schema: str, from_schema: str) -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("event_key", sa.String(length=255), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("processed_at", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "event_key", name="uq_inbox_source_event_key"),
        schema=to_schema,
    )
    op.create_index("ix_inbox_pending", "inbox", ["processed_at", "id"], schema=to_schema)
    op.execute(f"INSERT INTO {to_schema}.inbox ({COLUMNS}) "
               f"SELECT {COLUMNS} FROM {from_schema}.inbox")
    op.execute(f"DROP TABLE {from_schema}.inbox")
