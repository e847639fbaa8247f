"""An open query's forwarded request in its row (issue 22): with several
IP-server nodes on one database, a node that starts, or LISTENs again after
a gap, while a query is open reads the request there and relays it to its
own devices.  Queries opened before keep none: they are closed at their
deadline as before.

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


def downgrade() -> None:
    with op.batch_alter_table("rs_query") as batch:
        batch.drop_column("request")
