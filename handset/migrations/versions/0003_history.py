"""Message identity and the IP path, for the multi-device history (docs/history-query.md):
``uid``, ``via`` and ``history_pending`` on messages, ``ip_path`` in the
profile, owners of companion devices (``name@MSISDN``), an index for searching
by time.

On SQLite it copies ``handset_message`` (batch mode), which the foreign keys
that point at it would refuse: run it with them off, as
``handset.store.migrate`` does.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: The tables whose rows carry an ``owner``.
OWNED = (
    "handset_profile",
    "handset_conversation",
    "handset_message",
    "handset_fragment",
    "handset_consumed_part",
)


def _owners(length: int, was: int) -> None:
    # SQLite does not enforce a VARCHAR's length: only PostgreSQL needs it.
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in OWNED:
        op.alter_column(
            table,
            "owner",
            type_=sa.String(length),
            existing_type=sa.String(was),
            existing_nullable=False,
        )


def upgrade() -> None:
    _owners(64, was=32)
    op.add_column(
        "handset_profile",
        sa.Column("ip_path", sa.String(16), nullable=False, server_default="never"),
    )
    op.add_column("handset_message", sa.Column("uid", sa.String(32), nullable=True))
    op.add_column(
        "handset_message", sa.Column("via", sa.String(3), nullable=False, server_default="sms")
    )
    op.add_column(
        "handset_message",
        sa.Column("history_pending", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # A message stored before has no identity to derive one from: a random one.
    message = sa.table("handset_message", sa.column("id", sa.Integer), sa.column("uid", sa.String))
    bind = op.get_bind()
    ids = bind.execute(sa.select(message.c.id).where(message.c.uid.is_(None))).scalars().all()
    if ids:
        bind.execute(
            message.update()
            .where(message.c.id == sa.bindparam("row_id"))
            .values(uid=sa.bindparam("new_uid")),
            [{"row_id": row_id, "new_uid": secrets.token_hex(16)} for row_id in ids],
        )
    # SQLite has no ALTER COLUMN: batch mode copies the table (with foreign
    # keys off, as ``handset.store.migrate`` runs it); PostgreSQL alters it.
    with op.batch_alter_table("handset_message") as batch:
        batch.alter_column("uid", existing_type=sa.String(32), nullable=False)
    op.create_index("uq_handset_message_uid", "handset_message", ["owner", "uid"], unique=True)
    op.create_index("ix_handset_message_at", "handset_message", ["owner", "created_at"])
    op.create_table(
        "handset_pinned_key",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("owner", "device_id", name="uq_handset_pinned_key"),
    )


def downgrade() -> None:
    """Back to 0002.  Owners longer than 32 characters (companion devices)
    must be gone first: PostgreSQL refuses to cut them."""
    op.drop_table("handset_pinned_key")
    op.drop_index("ix_handset_message_at", "handset_message")
    op.drop_index("uq_handset_message_uid", "handset_message")
    with op.batch_alter_table("handset_message") as batch:
        for column in ("history_pending", "via", "uid"):
            batch.drop_column(column)
    with op.batch_alter_table("handset_profile") as batch:
        batch.drop_column("ip_path")
    _owners(32, was=64)
