"""IP-server nodes on one database (issue 22).

An open query's forwarded request in its row: a node that starts, or
LISTENs again after a gap, while a query is open reads the request there
and relays it to its own devices (queries opened before keep none: they are
closed at their deadline as before).  The nodes (``rs_node``, each alive
while its lease lasts) and which devices are logged in on which
(``rs_presence``): the IP path asks whether a recipient is online anywhere.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rs_query") as batch:
        batch.add_column(sa.Column("request", sa.Text(), nullable=True))
    op.create_table(
        "rs_node",
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("lease_until", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "rs_presence",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("msisdn", sa.String(32), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
    )
    op.create_index("ix_rs_presence_msisdn", "rs_presence", ["msisdn"])


def downgrade() -> None:
    op.drop_index("ix_rs_presence_msisdn", "rs_presence")
    op.drop_table("rs_presence")
    op.drop_table("rs_node")
    with op.batch_alter_table("rs_query") as batch:
        batch.drop_column("request")
