"""A read the account's other devices are still to be told of
(docs/receipt-wire.md §Reads).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handset_message") as batch:
        batch.add_column(
            sa.Column("read_sync_pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("handset_message") as batch:
        batch.drop_column("read_sync_pending")
