"""A component's Alembic migrations, run against a connection we hand over.

Each component has its own ``migrations/`` folder and its own version table,
so the SMSC, the IP server and handsets can share one PostgreSQL database.
A component's ``migrations/env.py`` is one call: ``run_env`` with its metadata
and the name of its version table.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Engine, MetaData, column, table, update

from .errors import told


def migrate(engine: Engine, migrations: Path) -> None:
    """Upgrade the schema in ``migrations`` to its newest revision.

    On SQLite, with foreign keys off: altering a column there copies the
    table, which the foreign keys pointing at it would refuse.  The pragma
    takes effect only outside a transaction, hence the commit before it; the
    connection gets its own setting back afterwards.

    A database that does not answer or takes no writes is a ``StorageError``
    here, at start, rather than a failed commit once messages flow.
    """
    config = Config()
    config.set_main_option("script_location", str(migrations))
    with told(engine.url, connecting=True):
        connection = engine.connect()
    with connection, told(engine.url):
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            enforced = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        finally:
            if sqlite:
                connection.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")
                connection.commit()


def run_env(metadata: MetaData, version_table: str) -> None:
    """The body of a component's ``env.py``: run its migrations, recorded in
    its ``version_table``, on the connection ``migrate`` hands over."""
    context.configure(
        connection=context.config.attributes["connection"],
        target_metadata=metadata,
        version_table=version_table,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        # A write that changes nothing: a database that refuses writes (a
        # read-only file, a standby server) fails here, while starting.
        version = table(version_table, column("version_num"))
        context.get_bind().execute(update(version).values(version_num=version.c.version_num))
