"""The shared storage layer: engines, migrations with their own version
tables, and the group-commit worker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest_twisted
from sqlalchemy import Connection, inspect, text
from twisted.internet import reactor

from handset.store import open_engine as open_handset
from receipt_server.store import migrate as migrate_receipts
from receipt_server.store import open_engine as open_receipts
from smsc.store import open_engine as open_smsc
from storage import SqliteSettings, Worker, open_engine, safe_url
from storage.checkpoint import Checkpointer
from storage.worker import Job


def test_three_components_migrate_one_database_each_with_its_own_version_table(
    database_url: str,
) -> None:
    open_smsc(database_url).dispose()
    open_handset(database_url).dispose()
    engine = open_receipts(database_url)
    migrate_receipts(engine)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"alembic_version", "handset_alembic_version"} <= tables
        assert "receipt_server_alembic_version" in tables
        with engine.connect() as conn:
            for table in ("alembic_version", "handset_alembic_version"):
                assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 1
    finally:
        engine.dispose()
    # Migrating again is a no-op.
    open_smsc(database_url).dispose()
    open_handset(database_url).dispose()


def test_sqlite_settings_reach_every_connection(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    engine = open_engine(url, SqliteSettings(synchronous="NORMAL", foreign_keys=True))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def _table(tmp_path: Path) -> Worker:
    engine = open_engine(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (v INTEGER UNIQUE)")
    return Worker(engine, reactor, name="test-db")  # type: ignore[arg-type]


def _insert(v: int) -> Callable[[Connection], int]:
    def work(conn: Connection) -> int:
        conn.exec_driver_sql(f"INSERT INTO t (v) VALUES ({v})")
        return v

    return work


@pytest_twisted.ensureDeferred
async def test_worker_commits_queued_work_together_and_a_bad_job_fails_alone(
    tmp_path: Path,
) -> None:
    worker = _table(tmp_path)
    # Queued before the thread starts: they all form the first batch.
    ds = [worker.run(_insert(v)) for v in (1, 2, 2, 3)]
    worker.start()
    results: list[object] = []
    for d in ds:
        try:
            results.append(await d)
        except Exception as exc:
            results.append(type(exc).__name__)
    assert results[0:2] == [1, 2] and results[3] == 3
    assert results[2] == "IntegrityError"
    count = await worker.run(lambda c: c.exec_driver_sql("SELECT count(*) FROM t").scalar())
    assert count == 3
    await worker.stop()
    assert worker.stopping


@pytest_twisted.ensureDeferred
async def test_worker_stop_commits_what_is_queued_and_fires(tmp_path: Path) -> None:
    worker = _table(tmp_path)
    worker.start()
    fired: list[int] = []
    for v in range(50):
        worker.run(_insert(v), lazy=True).addCallback(fired.append)
    await worker.stop()
    assert sorted(fired) == list(range(50))
    engine = open_engine(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 50
    engine.dispose()


@pytest_twisted.ensureDeferred
async def test_lazy_jobs_ride_at_the_head_of_the_next_batch(tmp_path: Path) -> None:
    """Lazy jobs (acknowledgements nobody waits on) do not each wake the
    thread and commit alone: a long wait for company (no fixed sleep: the
    regular job comes first) and they share the regular job's commit, run
    before it, each fired after that commit."""
    worker = _table(tmp_path)
    worker.lazy_wait = 3600.0  # only company ends the wait: nothing timed
    order: list[int] = []

    def noted(v: int) -> Callable[[Connection], int]:
        insert = _insert(v)

        def work(conn: Connection) -> int:
            order.append(v)
            return insert(conn)

        return work

    worker.start()
    lazy = [worker.run(noted(v), lazy=True) for v in range(1, 21)]
    assert await worker.run(noted(100)) == 100
    assert [await d for d in lazy] == list(range(1, 21))
    assert order == [*range(1, 21), 100]
    assert worker.batches == 1 and worker.jobs == 21
    await worker.stop()


@pytest_twisted.ensureDeferred
async def test_a_batch_is_told_in_one_call_its_plain_callbacks_inside_its_contexts(
    tmp_path: Path,
) -> None:
    """Jobs with a plain ``then`` (no Deferred) queued together commit as one
    batch; their callbacks run in order, inside the ``firing_in`` contexts,
    entered once for the batch; a bad job's callback gets its error."""
    worker = _table(tmp_path)
    told: list[object] = []

    class Around:
        def __enter__(self) -> None:
            told.append("enter")

        def __exit__(self, *_: object) -> None:
            told.append("exit")

    worker.firing_in.append(Around())
    for v in (1, 2, 2):
        worker.submit(Job(_insert(v), then=lambda r, f: told.append(type(f).__name__ if f else r)))
    worker.start()
    await worker.stop()
    assert told == ["enter", 1, 2, "IntegrityError", "exit"]
    assert worker.batches == 2  # the batch, then the bad job alone on the retry


def test_worker_unthreaded_runs_at_once(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'u.sqlite3'}")
    worker = Worker(engine, threaded=False)
    seen: list[Any] = []
    worker.run(lambda c: c.exec_driver_sql("SELECT 7").scalar()).addCallback(seen.append)
    assert seen == [7]
    failures: list[Any] = []
    worker.run(lambda c: c.exec_driver_sql("SELECT * FROM nowhere")).addErrback(failures.append)
    assert [f.type.__name__ for f in failures] == ["OperationalError"]
    stopped: list[object] = []
    worker.stop().addCallback(stopped.append)
    assert stopped == [None]


def test_safe_url_hides_the_password() -> None:
    assert safe_url("postgresql+psycopg://bob:secret@db:5432/x") == (
        "postgresql+psycopg://bob:***@db:5432/x"
    )
    assert safe_url("sqlite:///data/smsc.sqlite3") == "sqlite:///data/smsc.sqlite3"
    assert safe_url("not a url //bob:secret@db") == "not a url //bob:***@db"


def test_a_checkpoint_that_fails_is_told_once_and_tried_less_often(
    tmp_path: Path, unwritable: Callable[[Path], Callable[[], None]], caplog: Any
) -> None:
    """The database file unwritable under a log with commits in it: one
    line however often the checkpoint fails, waits doubling up to the
    maximum, one line when it works again and the interval back."""
    path = tmp_path / "db.sqlite3"
    engine = open_engine(f"sqlite:///{path}", SqliteSettings(autocheckpoint=False))
    checkpointer = Checkpointer(engine, interval=0.5, max_interval=4.0)
    with engine.connect() as writer:
        writer.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        writer.exec_driver_sql("INSERT INTO t VALUES (1)")
        writer.commit()  # in the log, not yet in the file
        writable_again = unwritable(path)
        with engine.connect() as refused:  # opened on a file it cannot write
            waits = [checkpointer.step(refused) for _ in range(6)]
        assert waits == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
        failed = [r for r in caplog.records if r.name == "storage.checkpoint"]
        assert len(failed) == 1 and failed[0].exc_info is None
        assert failed[0].getMessage().startswith(f"checkpoint of {path} failed (")
        writable_again()
        assert checkpointer.step(writer) == 0.5
        assert checkpointer.step(writer) == 0.5
    told = [r.getMessage() for r in caplog.records if r.name == "storage.checkpoint"]
    assert told[1:] == [f"checkpoint of {path} works again"]
    engine.dispose()
