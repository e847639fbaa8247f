"""Shared fixtures: a real, throwaway PostgreSQL server (see tests/pg.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
