"""The login becomes a challenge-response (ipwire.proof): each device keeps
StoredKey and ServerKey instead of SHA-256 of its secret, which the new
protocol would let a thief of the database log in with.  Both are derived
from the old hash, so registered devices keep logging in with their secrets.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import hashlib
import hmac

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NO_KEY = "0" * 64  # a revoked device: matches no proof


def _keys(salted: bytes) -> tuple[str, str]:
    """StoredKey and ServerKey from SaltedPassword (the old secret_hash), as
    ipwire.proof derives them, written out here so that this step never
    changes."""
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).hexdigest(), server_key.hex()


def upgrade() -> None:
    with op.batch_alter_table("rs_device") as batch:
        batch.add_column(sa.Column("stored_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("server_key", sa.String(64), nullable=True))
    device = sa.table(
        "rs_device",
        sa.column("device_id", sa.String),
        sa.column("secret_hash", sa.String),
        sa.column("revoked_at", sa.DateTime),
        sa.column("stored_key", sa.String),
        sa.column("server_key", sa.String),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(device.c.device_id, device.c.secret_hash, device.c.revoked_at))
    for device_id, secret_hash, revoked_at in rows.all():
        stored, server = (NO_KEY, NO_KEY) if revoked_at else _keys(bytes.fromhex(secret_hash))
        conn.execute(
            sa.update(device)
            .where(device.c.device_id == device_id)
            .values(stored_key=stored, server_key=server)
        )
    with op.batch_alter_table("rs_device") as batch:
        batch.alter_column("stored_key", existing_type=sa.String(64), nullable=False)
        batch.alter_column("server_key", existing_type=sa.String(64), nullable=False)
        batch.drop_column("secret_hash")


def downgrade() -> None:
    raise NotImplementedError("the secrets' hashes cannot be recovered from the verifiers")
