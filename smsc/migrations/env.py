"""Alembic environment of the SMSC's schema: ``storage.migrate`` hands over the
connection."""

from smsc.models import Base
from storage import run_env

# The SMSC came first and kept Alembic's default name for its version table.
run_env(Base.metadata, version_table="alembic_version")
