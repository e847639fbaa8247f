"""Multi-device accounts (device keys, unbinding), the partial history, the
history query relay's temporary results, and the IP path's durable queue.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("rs_device", sa.Column("public_key", sa.LargeBinary(), nullable=True))
    op.add_column("rs_device", sa.Column("revoked_at", sa.DateTime(), nullable=True))
    op.create_table(
        "rs_history",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(256), nullable=False),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("peer", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("account", "uid", name="uq_rs_history_uid"),
    )
    op.create_index("ix_rs_history_at", "rs_history", ["account", "at"])
    op.create_table(
        "rs_query",
        sa.Column("query_id", sa.String(32), primary_key=True),
        sa.Column("account", sa.String(256), nullable=False),
        sa.Column("asker", sa.String(64), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("deadline_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_rs_query_expires", "rs_query", ["expires_at"])
    op.create_table(
        "rs_query_result",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("query_id", sa.String(32), sa.ForeignKey("rs_query.query_id"), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("query_id", "device_id", name="uq_rs_query_result"),
    )
    op.create_table(
        "rs_ip_message",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("sender", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(32), nullable=False),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("message_number", sa.SmallInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("sender", "uid", name="uq_rs_ip_message_uid"),
    )
    op.create_table(
        "rs_ip_delivery",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("message_id", ID, sa.ForeignKey("rs_ip_message.id"), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
    )
    op.create_index(
        "ix_rs_ip_delivery_pending",
        "rs_ip_delivery",
        ["device_id", "id"],
        sqlite_where=sa.text("delivered_at IS NULL"),
        postgresql_where=sa.text("delivered_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_rs_ip_delivery_pending", "rs_ip_delivery")
    op.drop_table("rs_ip_delivery")
    op.drop_table("rs_ip_message")
    op.drop_table("rs_query_result")
    op.drop_index("ix_rs_query_expires", "rs_query")
    op.drop_table("rs_query")
    op.drop_index("ix_rs_history_at", "rs_history")
    op.drop_table("rs_history")
    with op.batch_alter_table("rs_device") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("public_key")
