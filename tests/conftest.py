"""Shared fixtures: a real, throwaway PostgreSQL server (see storage/pgserver.py), one
per pytest-xdist worker; the Hypothesis profile of the suite; SIGTERM, Ctrl-C
and pytest-timeout's timeout made to reach pytest under pytest-twisted (see
tests/reactorguard.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text

from storage.pgserver import PREFIX, TemporaryPostgres, find_bindir

from . import reactorguard

# Hypothesis measures each example against a wall-clock deadline (200 ms) and
# calls data generation too slow past another: on a loaded machine (CI, the
# suite's own parallel workers) both fail tests that are correct.  The number
# of examples is each test's own @settings; only these two clocks are off.
# HYPOTHESIS_PROFILE=default brings Hypothesis's own back.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


@pytest.hookimpl(trylast=True)  # after pytest-twisted has installed the reactor
def pytest_configure(config: pytest.Config) -> None:
    from twisted.internet import reactor

    reactorguard.guard(reactor)


#: Where a failed test's files for the CI log go (.ci/run lists them): the browser
#: tests' screenshots (tests/test_console_browser.py).
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that used a fixture with ``attach(directory) -> str`` (the
    console's ``browser``): its files are copied under ARTIFACTS and what it
    says (their paths, the last screenshot as a data: URL) joins the report."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call" and report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            attach = getattr(value, "attach", None)
            if callable(attach):
                where = ARTIFACTS / "".join(c if c.isalnum() else "-" for c in item.nodeid)
                report.sections.append((f"{name}: files of the failure", attach(where)))


def pytest_timeout_set_timer(item: pytest.Item, settings: object) -> bool | None:
    return reactorguard.set_timer(item, settings)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a database on a PostgreSQL server started for this
    session: under pytest-xdist, each worker starts its own (its own directory,
    port and socket), so workers share nothing."""
    bindir = find_bindir()
    if bindir is None:
        # Fail, never skip: a suite that goes green without its database proves nothing.
        pytest.fail(
            "PostgreSQL server binaries (initdb, postgres, pg_ctl) not found in "
            "/usr/lib/postgresql/*/bin, `pg_config --bindir` or PATH: run "
            "scripts/ensure-postgres (as root, it installs Debian's postgresql package)",
            pytrace=False,
        )
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with TemporaryPostgres(bindir=bindir, prefix=f"{PREFIX}{worker}-") as url:
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


#: Root ignores file permissions: tests that need an unwritable file use chattr.
ROOT = os.geteuid() == 0


@pytest.fixture
def unwritable() -> Iterator[Callable[[Path], Callable[[], None]]]:
    """Make a file or directory unwritable for smsemu: ``chmod a-w`` for a
    user, but root ignores permissions, so as root the immutable attribute
    (``chattr +i``: not even root may write it).  Each call gives the undo,
    which the end of the test does too."""
    undos: list[Callable[[], None]] = []

    def make(path: Path) -> Callable[[], None]:
        if ROOT:
            subprocess.run(["chattr", "+i", str(path)], check=True)
        else:
            path.chmod(path.stat().st_mode & 0o555)

        def undo() -> None:
            if undo not in undos:  # undone already
                return
            undos.remove(undo)
            if ROOT:
                subprocess.run(["chattr", "-i", str(path)], check=True)
            else:
                path.chmod(path.stat().st_mode | 0o200)

        undos.append(undo)
        return undo

    yield make
    for undo in reversed(list(undos)):
        undo()


@pytest.fixture(scope="session")
def haproxy_binary() -> str:
    """The real HAProxy that scripts/ensure-haproxy installs (Debian's, in /usr/sbin)."""
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )
    if found is None:
        pytest.fail("haproxy is not installed: run scripts/ensure-haproxy", pytrace=False)
    return found
