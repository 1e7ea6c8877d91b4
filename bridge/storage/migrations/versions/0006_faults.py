"""circuit breaker: when a paused network may be probed

Revision ID: 0006_faults
Revises: 0007_audit
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_faults"
down_revision = "0007_audit"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("network_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("probe_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("network_states", schema=None) as batch_op:
        batch_op.drop_column("probe_at")
