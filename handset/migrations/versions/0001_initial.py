"""The handset's store: profile, conversations, messages, parts, fragments.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
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
        "handset_profile",
        sa.Column("owner", sa.String(32), primary_key=True),
        sa.Column("carrier", sa.String(8), nullable=False),
        sa.Column("receipts", sa.Boolean(), nullable=False),
        sa.Column("iei", sa.Integer(), nullable=False),
        sa.Column("marker", sa.String(16), nullable=False),
        sa.Column("next_tp_mr", sa.Integer(), nullable=False),
        sa.Column("next_ref", sa.Integer(), nullable=False),
    )
    op.create_table(
        "handset_conversation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("peer", sa.String(32), nullable=False),
        sa.Column("next_number", sa.Integer(), nullable=False),
        sa.UniqueConstraint("owner", "peer", name="uq_handset_conversation_peer"),
    )
    op.create_table(
        "handset_message",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("peer", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("message_number", sa.Integer(), nullable=True),
        sa.Column("carrier", sa.String(8), nullable=True),
        sa.Column("state", sa.String(12), nullable=True),
        sa.Column("read", sa.Boolean(), nullable=False),
        sa.Column("response_pending", sa.Boolean(), nullable=False),
        sa.Column("part_count", sa.Integer(), nullable=False),
        sa.Column("concat_ref", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("tp_scts", sa.DateTime(), nullable=True),
        sa.Column("read_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_handset_message_peer", "handset_message", ["owner", "peer", "id"])
    op.create_index("ix_handset_message_direction", "handset_message", ["owner", "direction", "id"])
    op.create_index(
        "ix_handset_message_number", "handset_message", ["owner", "peer", "message_number"]
    )
    op.create_table(
        "handset_part",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("handset_message.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("tp_mr", sa.Integer(), nullable=False),
        sa.Column("tpdu", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("rp_cause", sa.Integer(), nullable=True),
        sa.Column("tp_st", sa.Integer(), nullable=True),
    )
    op.create_index("ix_handset_part_message", "handset_part", ["message_id", "seq"])
    op.create_index("ix_handset_part_mr", "handset_part", ["tp_mr", "state"])
    op.create_table(
        "handset_fragment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("sender", sa.String(32), nullable=False),
        sa.Column("ref_bits", sa.Integer(), nullable=False),
        sa.Column("ref", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("tpdu", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint(
            "owner", "sender", "ref_bits", "ref", "total", "seq", name="uq_handset_fragment"
        ),
    )


def downgrade() -> None:
    op.drop_table("handset_fragment")
    op.drop_index("ix_handset_part_mr", "handset_part")
    op.drop_index("ix_handset_part_message", "handset_part")
    op.drop_table("handset_part")
    op.drop_index("ix_handset_message_number", "handset_message")
    op.drop_index("ix_handset_message_direction", "handset_message")
    op.drop_index("ix_handset_message_peer", "handset_message")
    op.drop_table("handset_message")
    op.drop_table("handset_conversation")
    op.drop_table("handset_profile")
