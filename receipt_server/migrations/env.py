"""Alembic environment: the IP server's schema, run against whatever connection
the store hands over (``config.attributes["connection"]``).  Its own version
table lets it share a PostgreSQL database with the SMSC's migrations."""

from __future__ import annotations

from alembic import context

from receipt_server.models import Base

VERSION_TABLE = "receipt_server_alembic_version"

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
