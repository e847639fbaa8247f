"""Parts already consumed into a stored message, so that a resend is
recognised; an index for finding a resent message by its SMSC time stamp.

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


def upgrade() -> None:
    op.create_table(
        "handset_consumed_part",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("sender", sa.String(32), nullable=False),
        sa.Column("ref_bits", sa.Integer(), nullable=False),
        sa.Column("ref", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("handset_message.id"), nullable=False),
        sa.Column("consumed_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_handset_consumed_part_digest", "handset_consumed_part", ["owner", "digest"])
    op.create_index(
        "ix_handset_consumed_part_at", "handset_consumed_part", ["owner", "consumed_at"]
    )
    op.create_index("ix_handset_message_scts", "handset_message", ["owner", "peer", "tp_scts"])


def downgrade() -> None:
    op.drop_index("ix_handset_message_scts", "handset_message")
    op.drop_index("ix_handset_consumed_part_at", "handset_consumed_part")
    op.drop_index("ix_handset_consumed_part_digest", "handset_consumed_part")
    op.drop_table("handset_consumed_part")
