"""Devices and the feedback outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rs_device",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("msisdn", sa.String(32), nullable=False),
        sa.Column("account", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_rs_device_msisdn", "rs_device", ["msisdn"])
    op.create_index("ix_rs_device_account", "rs_device", ["account"])
    op.create_table(
        "rs_feedback",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("to_msisdn", sa.String(32), nullable=False),
        sa.Column("receiver", sa.String(32), nullable=False),
        sa.Column("message_number", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("acked_at", sa.DateTime(), nullable=True),
    )
    op.create_index(
        "ix_rs_feedback_pending",
        "rs_feedback",
        ["to_msisdn", "id"],
        sqlite_where=sa.text("acked_at IS NULL"),
        postgresql_where=sa.text("acked_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_rs_feedback_pending", "rs_feedback")
    op.drop_table("rs_feedback")
    op.drop_index("ix_rs_device_account", "rs_device")
    op.drop_index("ix_rs_device_msisdn", "rs_device")
    op.drop_table("rs_device")
