"""Alembic environment of the IP server's schema: ``storage.migrate`` hands over the
connection."""

from receipt_server.models import Base
from storage import run_env

# Its own version table lets the IP server share a database with the SMSC.
run_env(Base.metadata, version_table="receipt_server_alembic_version")
