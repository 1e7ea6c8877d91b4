"""inbox.body compressed with lz4 on PostgreSQL (pglz cost the web tier's INSERT a third more)

A webhook body (3-15 KB) is past PostgreSQL's 2 KB TOAST threshold, so every inbox INSERT
compresses it. pglz took 153 µs of the backend's CPU per 9.5 KB body, lz4 107 µs, for the same
size on disk; the body is dropped once the worker has read it. SQLite does not compress.

Revision ID: 0009_inbox_lz4
Revises: 0008_inbox
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_inbox_lz4"
down_revision = "0008_inbox"
branch_labels = None
depends_on = None


def _lz4_available(bind) -> bool:
    """PostgreSQL 14+ built with lz4 (Debian's and the official images are)."""
    values = bind.execute(sa.text(
        "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")).scalar()
    return bool(values) and "lz4" in values


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and _lz4_available(bind):
        op.execute("ALTER TABLE inbox ALTER COLUMN body SET COMPRESSION lz4")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE inbox ALTER COLUMN body SET COMPRESSION DEFAULT")
