"""The IP server's repository on SQLAlchemy: ``ReceiptStore``, a facade over
its parts (devices, the feedback outbox, the partial history, the query
relay's results, the IP path's queue), and the database thread they share.

Every call returns a Deferred and runs on one database thread, never on the
reactor.  That thread takes whatever has queued up while it was committing and
runs it as one transaction (group commit): under load, many responses share
one fsync, and each caller's Deferred fires only once its work is committed,
which is when ``ok`` may go to the responder and the feedback to the sender.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads

from .devices import DeviceExists, Devices, Registration
from .feedback import Outbox
from .history import History, Retention
from .ip_messages import IpQueue
from .queries import Queries

#: What callers of the store meet besides it: what a registration fires or
#: fails with, and the retention its history calls take.
__all__ = [
    "DeviceExists",
    "ReceiptStore",
    "Registration",
    "Retention",
    "StoreClosed",
    "migrate",
    "open_engine",
    "sqlite_url",
]

log = logging.getLogger(__name__)
#: Seconds lazy work (acknowledgements) waits for other work to commit with.
LAZY_WAIT = 0.05
T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"


def sqlite_url(data_dir: Path) -> str:
    """The default database: a SQLite file in the data directory."""
    return f"sqlite:///{data_dir / 'receipt_server.sqlite3'}"


def open_engine(url: str) -> Engine:
    """An engine on ``url``.  SQLite runs in WAL mode with synchronous=FULL: a
    commit survives ``kill -9`` and a power cut, and readers do not block the
    writer."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (``receipt_server_alembic_version``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class StoreClosed(RuntimeError):
    pass


@dataclass
class _Job:
    work: Callable[[Session], Any]
    done: Deferred[Any] = field(default_factory=Deferred)
    #: May wait up to ``LAZY_WAIT`` for company in its transaction.
    lazy: bool = False
    result: Any = None
    failure: BaseException | None = None


class ReceiptStore:
    """The repository: every call is a Deferred fired after commit.  Its calls
    are its parts' (each builds ``work(session)`` for ``_submit``), named here
    so that callers see one store.

    ``threaded=False`` runs each call at once on the caller's thread (the same
    database work, for tools and tests without a reactor).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        reactor: IReactorFromThreads | None = None,
        threaded: bool = True,
        max_batch: int = 500,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.engine = engine
        self.threaded = threaded
        self.max_batch = max_batch
        self.now = now
        self._reactor = reactor
        self._conn: Connection | None = None
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopped: Deferred[None] | None = None
        self.transactions = 0
        self.jobs = 0
        self._compose()

    def _compose(self) -> None:
        """The parts, on this store's thread and clock (``now`` may be replaced)."""
        parts = (self._submit, lambda: self.now())
        devices, outbox, history = Devices(*parts), Outbox(*parts), History(*parts)
        queries, ip = Queries(*parts), IpQueue(*parts)
        # Devices and authentication.
        self.register_device = devices.register_device
        self.authenticate = devices.authenticate
        self.device = devices.device
        self.unbind = devices.unbind
        self.revoked_among = devices.revoked_among
        self.account_devices = devices.account_devices
        # The feedback outbox.
        self.add_feedback = outbox.add_feedback
        self.pending_for = outbox.pending_for
        self.ack = outbox.ack
        # The partial history.
        self.put_history = history.put_history
        self.prune_history = history.prune_history
        self.history_count = history.history_count
        # The history query relay.
        self.start_query = queries.start_query
        self.add_answer = queries.add_answer
        self.finish_query = queries.finish_query
        self.finish_all_open = queries.finish_all_open
        self.finished_for = queries.finished_for
        self.load_results = queries.load_results
        self.delete_query = queries.delete_query
        self.expire_queries = queries.expire_queries
        self.query_rows = queries.query_rows
        # The IP path.
        self.submit_ip = ip.submit_ip
        self.pending_ip = ip.pending_ip
        self.ack_ip = ip.ack_ip

    @classmethod
    def open(cls, url: str, **kwargs: Any) -> ReceiptStore:
        """A started store on ``url``, its schema migrated."""
        engine = open_engine(url)
        migrate(engine)
        store = cls(engine, **kwargs)
        store.start()
        return store

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> None:
        if not self.threaded or self._thread is not None:
            return
        if self._reactor is None:
            from twisted.internet import reactor

            self._reactor = reactor  # type: ignore[assignment]
        self._thread = threading.Thread(target=self._run, name="receipt-db", daemon=True)
        self._thread.start()

    def stop(self) -> Deferred[None]:
        """Commit what is queued, end the thread; fires without blocking the reactor."""
        if self._stopped is not None:
            return self._stopped
        self._stopped = Deferred()
        if self._thread is None:
            self._drop_connection()
            self.engine.dispose()
            self._stopped.callback(None)
        else:
            self._queue.put(None)
        return self._stopped

    def close(self) -> None:
        """``stop``, blocking until done (for callers without a reactor)."""
        thread = self._thread
        self.stop()
        if thread is not None:
            thread.join()

    # -- the database thread -------------------------------------------------------

    def _submit(self, work: Callable[[Session], T], *, lazy: bool = False) -> Deferred[T]:
        job = _Job(work, lazy=lazy)
        if self._stopped is not None:
            job.done.errback(StoreClosed("the store is closed"))
        elif not self.threaded:
            self._execute([job])
            self._fire([job])
        else:
            self._queue.put(job)
        return job.done

    @staticmethod
    def _fire(jobs: list[_Job]) -> None:
        for job in jobs:
            if job.failure is not None:
                job.done.errback(job.failure)
            else:
                job.done.callback(job.result)

    def _run(self) -> None:
        assert self._reactor is not None
        call = self._reactor.callFromThread
        while (first := self._queue.get()) is not None:
            batch = [first]
            end = False
            while len(batch) < self.max_batch:
                try:
                    # Only lazy work so far (acknowledgements): wait a little
                    # for a job to share the commit with.
                    lazy = all(j.lazy for j in batch)
                    job = self._queue.get(timeout=LAZY_WAIT) if lazy else self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    end = True
                    break
                batch.append(job)
            self._execute(batch)
            call(self._fire, batch)
            if end:
                break
        self._drop_connection()
        self.engine.dispose()
        assert self._stopped is not None
        call(self._stopped.callback, None)

    def _connection(self) -> Connection:
        """The database thread's own connection, kept from batch to batch: a
        pool checkout and its reset cost more than a small commit."""
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def _drop_connection(self) -> None:
        """After a failure, start again on a fresh connection (the old one may
        be broken: a PostgreSQL restart, say)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _execute(self, batch: list[_Job]) -> None:
        """One transaction for the batch; if it fails, each job alone, so that a
        bad job fails by itself."""
        try:
            with Session(bind=self._connection(), expire_on_commit=False) as s, s.begin():
                for job in batch:
                    job.result = job.work(s)
        except Exception as exc:
            self._drop_connection()
            if len(batch) > 1:
                log.warning("a batch of %d failed; retrying one by one", len(batch))
                for job in batch:
                    self._execute([job])
            else:
                if not isinstance(exc, DeviceExists):
                    log.exception("database work failed")
                batch[0].failure = exc
            return
        self.transactions += 1
        self.jobs += len(batch)
