"""The message store of the AT port (docs/at.md): one entry per received
SMS-DELIVER as it came, per status report kept, per SMS-SUBMIT the TE wrote;
and the SMMA owed after a refusal for a full store.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handset_sms_entry",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("stat", sa.Integer(), nullable=False),
        sa.Column("pdu", sa.LargeBinary(), nullable=False),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("handset_message.id"), nullable=True),
        sa.Column("part_of", sa.String(64), nullable=True),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("owner", "slot", name="uq_handset_sms_entry_slot"),
    )
    op.create_index("ix_handset_sms_entry_message", "handset_sms_entry", ["owner", "message_id"])
    op.create_index("ix_handset_sms_entry_part_of", "handset_sms_entry", ["owner", "part_of"])
    op.add_column(
        "handset_profile",
        sa.Column("memory_exceeded", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("handset_profile") as batch:
        batch.drop_column("memory_exceeded")
    op.drop_index("ix_handset_sms_entry_part_of", "handset_sms_entry")
    op.drop_index("ix_handset_sms_entry_message", "handset_sms_entry")
    op.drop_table("handset_sms_entry")
