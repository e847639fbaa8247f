"""The AuC's subscriptions: the SIMs an attach is authenticated against.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscription",
        sa.Column("imsi", sa.String(15), primary_key=True),
        sa.Column("msisdn", sa.String(32), nullable=False, unique=True),
        sa.Column("k", sa.LargeBinary(16), nullable=False),
        sa.Column("opc", sa.LargeBinary(16), nullable=False),
        sa.Column("sqn", sa.BigInteger, nullable=False),
        sa.Column("provisioned_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("subscription")
