"""The cluster on PostgreSQL (``smsc.cluster``): its nodes and their leases,
the node holding each queued message, where subscribers and ESME binds are,
and the sequence message ids are taken from in blocks.

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

#: Ids a node takes per nextval (``smsc.idblocks.ID_BLOCK``; a migration keeps
#: its own copy): the sequence counts in blocks, so nextval returns the first
#: id of a block of its own.
ID_BLOCK = 10_000


def upgrade() -> None:
    op.add_column("message", sa.Column("node", sa.String(64), nullable=True))
    op.create_index("ix_message_node", "message", ["node"])
    op.create_table(
        "node",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=False),
        sa.Column("admin_url", sa.String(200), nullable=True),
    )
    op.create_table(
        "location",
        sa.Column("msisdn", sa.String(32), primary_key=True),
        sa.Column("node", sa.String(64), nullable=False, index=True),
        sa.Column("since", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "esme_bind",
        sa.Column("system_id", sa.String(16), primary_key=True),
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("bind_type", sa.String(16), primary_key=True),
        sa.Column("binds", sa.Integer(), nullable=False),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Past any id a single node wrote before the database became a cluster's.
        top = bind.execute(sa.text("SELECT coalesce(max(id), 0) FROM message")).scalar() or 0
        op.execute(
            f"CREATE SEQUENCE message_id_block INCREMENT BY {ID_BLOCK} START WITH {int(top) + 1}"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE message_id_block")
    op.drop_table("esme_bind")
    op.drop_table("location")
    op.drop_table("node")
    op.drop_index("ix_message_node", "message")
    with op.batch_alter_table("message") as batch:
        batch.drop_column("node")
