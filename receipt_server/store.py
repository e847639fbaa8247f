"""The IP server's repository: devices and the feedback outbox, on SQLAlchemy.

Every call returns a Deferred and runs on one database thread, never on the
reactor.  That thread takes whatever has queued up while it was committing and
runs it as one transaction (group commit): under load, many responses share
one fsync, and each caller's Deferred fires only once its work is committed,
which is when ``ok`` may go to the responder and the feedback to the sender.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import queue
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, insert, select, update
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads

from . import wire
from .models import Device, DeviceKind, Feedback
from .session import Identity

log = logging.getLogger(__name__)
#: Seconds lazy work (acknowledgements) waits for other work to commit with.
LAZY_WAIT = 0.05
T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"
#: Compared against when the device is unknown, so that answering takes as long
#: as for a known device with a wrong secret.
_NO_HASH = "0" * 64


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


def hash_secret(secret: str) -> str:
    # Secrets are 256 random bits, so a fast hash is enough: there is nothing
    # to brute-force that a slow one would protect.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _identity(row: Device) -> Identity:
    return Identity(row.device_id, row.msisdn, row.account, row.kind)


class DeviceExists(ValueError):
    pass


class StoreClosed(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Registration:
    """What a device needs to log in.  The secret is shown once: only its hash is kept."""

    device_id: str
    secret: str


@dataclass
class _Job:
    work: Callable[[Session], Any]
    done: Deferred[Any] = field(default_factory=Deferred)
    #: May wait up to ``LAZY_WAIT`` for company in its transaction.
    lazy: bool = False
    result: Any = None
    failure: BaseException | None = None


class ReceiptStore:
    """Devices and the feedback outbox; every call is a Deferred fired after commit.

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

    # -- devices -------------------------------------------------------------------

    def register_device(
        self,
        msisdn: str,
        account: str | None = None,
        kind: str = DeviceKind.PHONE,
        *,
        device_id: str | None = None,
        secret: str | None = None,
    ) -> Deferred[Registration]:
        """A new device of ``msisdn`` in ``account`` (default: an account named by
        the MSISDN).  The device id and the secret (32 random bytes, URL-safe
        base64) are generated unless given.  Fails with DeviceExists if the id
        is taken; raises ValueError at once for an ill-formed argument."""
        wire.number(msisdn)
        kind = DeviceKind(kind)
        device_id = wire.device_id(device_id or "d" + secrets.token_hex(12))
        account = wire.text(256)(account or msisdn)
        secret = wire.text(256)(secret or secrets.token_urlsafe(32))
        secret_hash = hash_secret(secret)

        def work(s: Session) -> Registration:
            if s.get(Device, device_id) is not None:
                raise DeviceExists(f"device {device_id} exists")
            s.add(Device(device_id=device_id, msisdn=msisdn, account=account, kind=kind,
                         secret_hash=secret_hash, created_at=self.now()))  # fmt: skip
            s.flush()
            return Registration(device_id, secret)

        return self._submit(work)

    def authenticate(self, device_id: str, secret: str) -> Deferred[Identity | None]:
        """The device, if ``secret`` is its secret; else None."""
        presented = hash_secret(secret)

        def work(s: Session) -> Identity | None:
            row = s.get(Device, device_id)
            ok = hmac.compare_digest(presented, row.secret_hash if row else _NO_HASH)
            return _identity(row) if row is not None and ok else None

        return self._submit(work)

    def device(self, device_id: str) -> Deferred[Identity | None]:
        def work(s: Session) -> Identity | None:
            row = s.get(Device, device_id)
            return None if row is None else _identity(row)

        return self._submit(work)

    # -- the outbox ----------------------------------------------------------------

    def add_feedback(
        self, to_msisdn: str, receiver: str, message_number: int, status: int
    ) -> Deferred[int]:
        """Commit a pending feedback for ``to_msisdn``; fires with its id."""

        def work(s: Session) -> int:
            # Core, not the ORM's unit of work: one statement, on the hot path.
            return int(
                s.execute(
                    insert(Feedback)
                    .values(
                        to_msisdn=to_msisdn,
                        receiver=receiver,
                        message_number=message_number,
                        status=status,
                        created_at=self.now(),
                        acked_at=None,
                    )
                    .returning(Feedback.id)
                ).scalar_one()
            )

        return self._submit(work)

    def pending_for(self, msisdn: str) -> Deferred[list[wire.Feedback]]:
        """The feedback for ``msisdn`` not yet acknowledged, oldest first."""

        def work(s: Session) -> list[wire.Feedback]:
            rows = s.scalars(
                select(Feedback)
                .where(Feedback.to_msisdn == msisdn, Feedback.acked_at.is_(None))
                .order_by(Feedback.id)
            )
            return [wire.Feedback(r.id, r.receiver, r.message_number, r.status) for r in rows]

        return self._submit(work)

    def ack(self, msisdn: str, feedback_id: int) -> Deferred[bool]:
        """Mark a feedback of ``msisdn`` delivered; False if it is not one of its
        pending ones (another's, unknown, or acknowledged already)."""

        def work(s: Session) -> bool:
            result = s.execute(
                update(Feedback)
                .where(
                    Feedback.id == feedback_id,
                    Feedback.to_msisdn == msisdn,
                    Feedback.acked_at.is_(None),
                )
                .values(acked_at=self.now())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

        # Lazy: an acknowledgement lost with its commit only means the feedback
        # is sent again, which the device applies idempotently; riding along in
        # the next response's transaction halves the commits per receipt.
        return self._submit(work, lazy=True)

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
