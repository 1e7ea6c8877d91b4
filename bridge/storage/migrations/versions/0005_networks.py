"""events.clicked_at: the click's time, for each network's window_days

Revision ID: 0005_networks
Revises: 0002_clicks
"""

from alembic import op
import sqlalchemy as sa


revision = '0005_networks'
down_revision = '0002_clicks'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('events') as batch:
        batch.add_column(sa.Column('clicked_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('events') as batch:
        batch.drop_column('clicked_at')
