"""The user's choice whether viewing a conversation marks what it shows read.

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


def upgrade() -> None:
    with op.batch_alter_table("handset_profile") as batch:
        batch.add_column(
            sa.Column("read_on_view", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("handset_profile") as batch:
        batch.drop_column("read_on_view")
