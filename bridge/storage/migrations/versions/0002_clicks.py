"""clicks: captured affiliate clicks and their lookup keys

Revision ID: 0002_clicks
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_clicks"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_clicks_click_id": ["click_id"],
    "ix_clicks_visitor": ["visitor_id", "created_at"],
    "ix_clicks_cart": ["cart_token", "created_at"],
    "ix_clicks_checkout": ["checkout_token", "created_at"],
    "ix_clicks_customer": ["customer_id", "created_at"],
    "ix_clicks_email": ["email_sha256", "created_at"],
    "ix_clicks_expires_at": ["expires_at"],
}


def upgrade():
    op.create_table(
        "clicks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(length=64), nullable=False),
        sa.Column("click_id", sa.String(length=255), nullable=False),
        sa.Column("click_param", sa.String(length=64), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("cart_token", sa.String(length=255), nullable=False),
        sa.Column("checkout_token", sa.String(length=255), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("email_sha256", sa.String(length=64), nullable=False),
        sa.Column("landing_url", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    for name, columns in INDEXES.items():
        op.create_index(name, "clicks", columns)


def downgrade():
    for name in INDEXES:
        op.drop_index(name, table_name="clicks")
    op.drop_table("clicks")
