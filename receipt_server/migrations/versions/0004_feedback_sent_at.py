"""When the message a feedback is about was sent (docs/receipt-wire.md,
``sent_at``): after the numbers wrap, it tells equal numbers apart.

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
    with op.batch_alter_table("rs_feedback") as batch:
        batch.add_column(sa.Column("sent_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rs_feedback") as batch:
        batch.drop_column("sent_at")
