"""What the SMPP door keeps of a message an ESME submitted (its parts, what
registered_delivery asked, its one receipt), so that a restart keeps it.

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
        "esme_message",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("esme", sa.String(16), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("registered_delivery", sa.Integer(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("data_coding", sa.Integer(), nullable=False),
        sa.Column("source_addr", sa.String(21), nullable=False),
        sa.Column("source_ton", sa.Integer(), nullable=False),
        sa.Column("source_npi", sa.Integer(), nullable=False),
        sa.Column("protocol_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(32), nullable=False),
        sa.Column("forced", sa.Integer(), nullable=True),
        sa.Column("message_number", sa.Integer(), nullable=True),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("read_at", sa.DateTime(), nullable=True),
    )
    # A receipt names the message it is about: a restart asks whether it was made.
    op.create_index("ix_message_report_for", "message", ["report_for"])


def downgrade() -> None:
    op.drop_index("ix_message_report_for", "message")
    op.drop_table("esme_message")
