"""The history search of one conversation, newest first, down an index
(docs/history-query.md §Search): the peer's messages in time order, so a
search stops at its limit instead of sorting the whole conversation.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_handset_message_peer_at", "handset_message", ["owner", "peer", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_handset_message_peer_at", "handset_message")
