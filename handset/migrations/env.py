"""Alembic environment: the handset's schema, run against whatever connection
the store hands over (``config.attributes["connection"]``).  Its own version
table lets the handset share a database with the SMSC and the IP server."""

from __future__ import annotations

from alembic import context

from handset.models import Base

VERSION_TABLE = "handset_alembic_version"

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
