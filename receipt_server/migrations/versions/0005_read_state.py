"""Read state that follows the account (docs/receipt-wire.md §Reads):
a message read on one device is shown read on the others.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rs_read_state",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("uid", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("acked_at", sa.DateTime(), nullable=True),
    )
    op.create_index(
        "ix_rs_read_state_pending",
        "rs_read_state",
        ["device_id", "id"],
        sqlite_where=sa.text("acked_at IS NULL"),
        postgresql_where=sa.text("acked_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_rs_read_state_pending", table_name="rs_read_state")
    op.drop_table("rs_read_state")
