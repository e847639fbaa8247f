"""Shared fixtures: a real, throwaway PostgreSQL server (see tests/pg.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from .pg import TemporaryPostgres, find_bindir


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a database on a PostgreSQL server started for this session."""
    bindir = find_bindir()
    if bindir is None:
        # Fail, never skip: a suite that goes green without its database proves nothing.
        pytest.fail(
            "PostgreSQL server binaries (initdb, postgres, pg_ctl) not found in "
            "/usr/lib/postgresql/*/bin, `pg_config --bindir` or PATH: run "
            "scripts/ensure-postgres (as root, it installs Debian's postgresql package)",
            pytrace=False,
        )
    with TemporaryPostgres(bindir=bindir) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new database on the session's
    PostgreSQL server.  Tests that take it run on both."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'smsc.sqlite3'}"
        return
    server_url = request.getfixturevalue("postgres_url")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
