"""Alembic environment of the handset's schema: ``storage.migrate`` hands over the
connection."""

from handset.models import Base
from storage import run_env

# Its own version table lets a handset share a database with the SMSC and the IP server.
run_env(Base.metadata, version_table="handset_alembic_version")
