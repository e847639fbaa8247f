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

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorFromThreads

from storage import SqliteSettings, Worker, sqlite_file_url
from storage import migrate as migrate_component
from storage import open_engine as open_storage
from storage.worker import Job

from .cluster import Notices, Roster
from .devices import DeviceExists, Devices, Registration
from .feedback import Outbox
from .history import History, Retention
from .ip_messages import IpQueue
from .queries import Queries
from .read_states import ReadStates

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
    return sqlite_file_url(data_dir / "receipt_server.sqlite3")


#: A commit acknowledges a response someone handed over: FULL, to survive a power cut.
SQLITE = SqliteSettings(synchronous="FULL")


def open_engine(url: str) -> Engine:
    """An engine on ``url`` (SQLite in WAL mode, synchronous=FULL)."""
    return open_storage(url, SQLITE)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (``receipt_server_alembic_version``)."""
    migrate_component(engine, MIGRATIONS)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class StoreClosed(RuntimeError):
    pass


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
        self.max_batch = max_batch
        self.now = now
        self.worker = Worker(
            engine,
            reactor,
            name="receipt-db",
            threaded=threaded,
            max_batch=max_batch,
            lazy_wait=LAZY_WAIT,
            apply=_in_one_session,
            expected=(DeviceExists,),
        )
        self._compose()

    @property
    def transactions(self) -> int:
        return self.worker.batches

    @property
    def jobs(self) -> int:
        return self.worker.jobs

    def _compose(self) -> None:
        """The parts, on this store's thread and clock (``now`` may be replaced)."""
        parts = (self._submit, lambda: self.now())
        devices, outbox, history = Devices(*parts), Outbox(*parts), History(*parts)
        queries, ip, reads = Queries(*parts), IpQueue(*parts), ReadStates(*parts)
        # Devices and authentication.
        self.register_device = devices.register_device
        self.authenticate = devices.authenticate
        self.knows = devices.knows
        self.device = devices.device
        self.unbind = devices.unbind
        self.revoked_among = devices.revoked_among
        self.account_devices = devices.account_devices
        # The feedback outbox.
        self.add_feedback = outbox.add_feedback
        self.pending_for = outbox.pending_for
        self.ack = outbox.ack
        self.pending_count = outbox.pending_count
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
        self.open_queries = queries.open_queries
        self.load_results = queries.load_results
        self.delete_query = queries.delete_query
        self.expire_queries = queries.expire_queries
        self.query_rows = queries.query_rows
        # The IP path.
        self.submit_ip = ip.submit_ip
        self.pending_ip = ip.pending_ip
        self.ack_ip = ip.ack_ip
        # Read state that follows the account.
        self.sync_read = reads.sync_read
        self.pending_reads = reads.pending_reads
        self.ack_read = reads.ack_read
        # A notification to the other nodes of a cluster, at a commit.
        self.tell_nodes = Notices(*parts).tell
        self.roster = Roster(*parts)

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
        self.worker.start()

    def stop(self) -> Deferred[None]:
        """Commit what is queued, end the thread; fires without blocking the reactor."""
        return self.worker.stop()

    def close(self) -> None:
        """``stop``, blocking until done (for callers without a reactor)."""
        self.worker.close()

    # -- the database thread -------------------------------------------------------

    def _submit(self, work: Callable[[Session], T], *, lazy: bool = False) -> Deferred[T]:
        if self.worker.stopping:
            return fail(StoreClosed("the store is closed"))
        done: Deferred[T] = Deferred()
        self.worker.submit(Job(payload=work, done=done, lazy=lazy))
        return done


def _in_one_session(conn: Connection, batch: Sequence[Job]) -> None:
    """A batch's jobs share one ORM session in the worker's transaction."""
    with Session(bind=conn, expire_on_commit=False) as s:
        for job in batch:
            job.result = job.payload(s)
        s.flush()
