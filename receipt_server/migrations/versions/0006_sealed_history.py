"""The server's window sealed at rest (docs/history-query.md §Window):
each copy's text becomes a box sealed to the account's devices, with one
sealed content key per device; the window remembers where count pruning
left it (its floor); a relayed query counts the window's hits.

Copies already held in the clear are sealed here, to the devices of their
account bound now with a public key; those of an account with no such
device are deleted (nobody could open them).  The floor of an account that
holds copies starts at its oldest copy, or when the server took its first,
whichever is later: what was pruned, or never copied, before is unknown.
Going down cannot unseal (the server has no private key): the window is
emptied and refills as devices store new messages.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ipwire import wire
from ipwire.window import seal_copy
from receipt_server.jobs import to_millis

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_history = sa.table(
    "rs_history",
    sa.column("id", ID),
    sa.column("account", sa.String),
    sa.column("uid", sa.String),
    sa.column("peer", sa.String),
    sa.column("direction", sa.String),
    sa.column("text", sa.Text),
    sa.column("box", sa.LargeBinary),
    sa.column("at", sa.DateTime),
    sa.column("stored_at", sa.DateTime),
)
_keys = sa.table(
    "rs_history_key",
    sa.column("copy_id", ID),
    sa.column("device_id", sa.String),
    sa.column("sealed", sa.LargeBinary),
)
_device = sa.table(
    "rs_device",
    sa.column("device_id", sa.String),
    sa.column("account", sa.String),
    sa.column("public_key", sa.LargeBinary),
    sa.column("revoked_at", sa.DateTime),
)
_window = sa.table(
    "rs_history_window", sa.column("account", sa.String), sa.column("floor_at", sa.DateTime)
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # The text the copies held must not stay behind in freed pages.
        op.execute("PRAGMA secure_delete = ON")
    op.create_table(
        "rs_history_key",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("copy_id", ID, sa.ForeignKey("rs_history.id"), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("copy_id", "device_id", name="uq_rs_history_key"),
    )
    op.create_table(
        "rs_history_window",
        sa.Column("account", sa.String(256), primary_key=True),
        sa.Column("floor_at", sa.DateTime(), nullable=False),
    )
    op.add_column(
        "rs_query",
        sa.Column("window_found", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column("rs_history", sa.Column("box", sa.LargeBinary(), nullable=True))
    _seal_plaintext_copies(op.get_bind())
    with op.batch_alter_table("rs_history") as batch:
        batch.drop_column("text")
        batch.alter_column("box", existing_type=sa.LargeBinary(), nullable=False)


def _seal_plaintext_copies(bind: sa.Connection) -> None:
    devices: dict[str, list[tuple[str, bytes]]] = {}
    rows = bind.execute(
        sa.select(_device.c.account, _device.c.device_id, _device.c.public_key)
        .where(_device.c.revoked_at.is_(None), _device.c.public_key.is_not(None))
        .order_by(_device.c.device_id)
    )
    for account, device_id, public_key in rows:
        devices.setdefault(account, []).append((device_id, public_key))
    copies = bind.execute(
        sa.select(_history.c.id, _history.c.account, _history.c.uid, _history.c.peer,
                  _history.c.direction, _history.c.text, _history.c.at)
    ).all()  # fmt: skip
    for copy in copies:
        recipients = devices.get(copy.account)
        if not recipients:
            bind.execute(sa.delete(_history).where(_history.c.id == copy.id))
            continue
        entry = wire.HistoryEntry(
            copy.uid, copy.peer, copy.direction, copy.text, to_millis(copy.at)
        )
        box, keys = seal_copy(entry, [key for _, key in recipients])
        bind.execute(sa.update(_history).where(_history.c.id == copy.id).values(box=box))
        bind.execute(
            sa.insert(_keys),
            [{"copy_id": copy.id, "device_id": d, "sealed": k}
             for (d, _), k in zip(recipients, keys, strict=True)],
        )  # fmt: skip
    oldest = sa.select(
        _history.c.account, sa.func.min(_history.c.at), sa.func.min(_history.c.stored_at)
    ).group_by(_history.c.account)
    floors = [{"account": a, "floor_at": max(at, stored)} for a, at, stored in bind.execute(oldest)]
    if floors:
        bind.execute(sa.insert(_window), floors)


def downgrade() -> None:
    op.execute(sa.delete(_keys))
    op.execute(sa.delete(_history))
    with op.batch_alter_table("rs_history") as batch:
        batch.add_column(sa.Column("text", sa.Text(), nullable=False, server_default=""))
        batch.drop_column("box")
    with op.batch_alter_table("rs_query") as batch:
        batch.drop_column("window_found")
    op.drop_table("rs_history_window")
    op.drop_table("rs_history_key")
