"""The store-and-forward queue and the subscribers.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriber",
        sa.Column("msisdn", sa.String(32), primary_key=True),
        sa.Column("imsi", sa.String(32), nullable=False),
        sa.Column("first_attach", sa.DateTime(), nullable=False),
        sa.Column("last_attach", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "message",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("originator", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(32), nullable=False),
        sa.Column("tp_mr", sa.Integer(), nullable=True),
        sa.Column("tp_srr", sa.Boolean(), nullable=False),
        sa.Column("tpdu", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Integer(), nullable=True),
        sa.Column("report_for", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_message_state_recipient", "message", ["state", "recipient", "id"])


def downgrade() -> None:
    op.drop_index("ix_message_state_recipient", "message")
    op.drop_table("message")
    op.drop_table("subscriber")
