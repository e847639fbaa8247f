"""The IP server's repository: devices and the feedback outbox, on SQLAlchemy.

Every call returns a Deferred and runs on one database thread, never on the
reactor.  That thread takes whatever has queued up while it was committing and
runs it as one transaction (group commit): under load, many responses share
one fsync, and each caller's Deferred fires only once its work is committed,
which is when ``ok`` may go to the responder and the feedback to the sender.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorFromThreads

from ipwire import wire
from ipwire.server_session import Identity
from storage import SqliteSettings, Worker
from storage import migrate as migrate_component
from storage import open_engine as open_storage
from storage.worker import Job

from .models import (
    Device,
    DeviceKind,
    Feedback,
    HistoryCopy,
    HistoryQuery,
    IpDelivery,
    IpMessage,
    QueryResult,
)

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


#: A commit acknowledges a response someone handed over: FULL, to survive a power cut.
SQLITE = SqliteSettings(synchronous="FULL")


def open_engine(url: str) -> Engine:
    """An engine on ``url`` (SQLite in WAL mode, synchronous=FULL)."""
    return open_storage(url, SQLITE)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (``receipt_server_alembic_version``)."""
    migrate_component(engine, MIGRATIONS)


def hash_secret(secret: str) -> str:
    # Secrets are 256 random bits, so a fast hash is enough: there is nothing
    # to brute-force that a slow one would protect.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _identity(row: Device) -> Identity:
    return Identity(row.device_id, row.msisdn, row.account, row.kind)


def from_millis(ms: int) -> datetime:
    """Unix milliseconds as naive UTC, the form of every time in the tables."""
    return datetime(1970, 1, 1) + timedelta(milliseconds=ms)


def to_millis(when: datetime) -> int:
    return (when - datetime(1970, 1, 1)) // timedelta(milliseconds=1)


def _like(text: str) -> str:
    """A literal substring pattern for LIKE ... ESCAPE '\\'."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True, slots=True)
class Retention:
    """How much of an account's history the server keeps (SPEC §3): messages
    younger than ``max_age`` and, of those, the newest ``max_count``.  Either
    at zero keeps none at all."""

    max_age: timedelta = timedelta(days=30)
    max_count: int = 1000

    @property
    def keeps(self) -> bool:
        return self.max_age > timedelta(0) and self.max_count > 0


@dataclass(frozen=True, slots=True)
class AccountDevice:
    device_id: str
    kind: str
    public_key: bytes | None


@dataclass(frozen=True, slots=True)
class QueryStart:
    """What opening a query found: messages in the server's own copy, or else
    the account's other devices to relay it to (``query_id`` set when there
    are any, and the asker's public key they seal their answers to)."""

    found: list[wire.HistoryEntry]
    query_id: str | None = None
    devices: list[AccountDevice] = field(default_factory=list)
    reply_key: bytes | None = None


@dataclass(frozen=True, slots=True)
class FinishedQuery:
    query_id: str
    asker: str
    status: str
    answered: int
    expected: int

    def ready(self) -> wire.ResultsReady:
        return wire.ResultsReady(self.query_id, self.status, self.answered, self.expected)


@dataclass(frozen=True, slots=True)
class StoredResults:
    status: str
    answers: list[wire.SealedAnswer]
    missing: list[str]


class QueryRefused(ValueError):
    """An answer, fetch or ack the server refuses: ``code`` says why."""

    def __init__(self, code: wire.ErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def query_status(found: int, answered: int, expected: int) -> str:
    """How a query ended (SPEC §3.8): nothing found is "not_found", whoever
    answered; otherwise "partial" unless every device answered."""
    if found == 0:
        return "not_found"
    return "complete" if answered >= expected else "partial"


class DeviceExists(ValueError):
    pass


class StoreClosed(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Registration:
    """What a device needs to log in.  The secret is shown once: only its hash is kept."""

    device_id: str
    secret: str


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

    @property
    def transactions(self) -> int:
        return self.worker.batches

    @property
    def jobs(self) -> int:
        return self.worker.jobs

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

    # -- devices -------------------------------------------------------------------

    def register_device(
        self,
        msisdn: str,
        account: str | None = None,
        kind: str = DeviceKind.PHONE,
        *,
        device_id: str | None = None,
        secret: str | None = None,
        public_key: bytes | None = None,
    ) -> Deferred[Registration]:
        """A new device of ``msisdn`` in ``account`` (default: an account named by
        the MSISDN).  The device id and the secret (32 random bytes, URL-safe
        base64) are generated unless given; ``public_key`` is its X25519 key
        (32 octets), which other devices of the account seal query results
        to.  Fails with DeviceExists if the id is taken; raises ValueError at
        once for an ill-formed argument."""
        if public_key is not None and len(public_key) != 32:
            raise ValueError("an X25519 public key is 32 octets")
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
                         secret_hash=secret_hash, created_at=self.now(),
                         public_key=public_key, revoked_at=None))  # fmt: skip
            s.flush()
            return Registration(device_id, secret)

        return self._submit(work)

    def authenticate(self, device_id: str, secret: str) -> Deferred[Identity | None]:
        """The device, if ``secret`` is its secret; else None."""
        presented = hash_secret(secret)

        def work(s: Session) -> Identity | None:
            row = s.get(Device, device_id)
            live = row is not None and row.revoked_at is None
            ok = hmac.compare_digest(presented, row.secret_hash if row and live else _NO_HASH)
            return _identity(row) if row is not None and live and ok else None

        return self._submit(work)

    def device(self, device_id: str) -> Deferred[Identity | None]:
        def work(s: Session) -> Identity | None:
            row = s.get(Device, device_id)
            return None if row is None or row.revoked_at is not None else _identity(row)

        return self._submit(work)

    def unbind(self, device_id: str) -> Deferred[Identity | None]:
        """Revoke a device: its secret and its public key are forgotten, so it
        can no longer log in nor be sealed to.  Fires with what it was (None:
        unknown or unbound already)."""

        def work(s: Session) -> Identity | None:
            row = s.get(Device, device_id)
            if row is None or row.revoked_at is not None:
                return None
            row.revoked_at, row.secret_hash, row.public_key = self.now(), _NO_HASH, None
            s.execute(
                update(IpDelivery)
                .where(IpDelivery.device_id == device_id, IpDelivery.delivered_at.is_(None))
                .values(delivered_at=self.now())
            )
            return _identity(row)

        return self._submit(work)

    def revoked_among(self, device_ids: Sequence[str]) -> Deferred[list[str]]:
        """Which of ``device_ids`` are unbound (or unknown) now."""

        def work(s: Session) -> list[str]:
            live = set(
                s.scalars(
                    select(Device.device_id).where(
                        Device.device_id.in_(device_ids), Device.revoked_at.is_(None)
                    )
                )
            )
            return [d for d in device_ids if d not in live]

        return self._submit(work)

    def account_devices(self, account: str) -> Deferred[list[AccountDevice]]:
        """The bound devices of ``account``."""
        return self._submit(lambda s: self._devices(s, account))

    @staticmethod
    def _devices(s: Session, account: str, but: str | None = None) -> list[AccountDevice]:
        rows = s.execute(
            select(Device.device_id, Device.kind, Device.public_key)
            .where(Device.account == account, Device.revoked_at.is_(None))
            .order_by(Device.device_id)
        )
        return [AccountDevice(*r) for r in rows if r.device_id != but]

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

    # -- the partial history (SPEC §3) ---------------------------------------------

    def put_history(
        self, account: str, entries: Sequence[wire.HistoryEntry], retention: Retention
    ) -> Deferred[int]:
        """Keep copies of ``entries`` inside the retention window (one already
        held, by uid, is left as it is), then prune the account's oldest past
        ``retention.max_count``.  Fires with how many were added."""

        def work(s: Session) -> int:
            if not retention.keeps:
                return 0
            now = self.now()
            oldest = now - retention.max_age
            fresh = {e.uid: e for e in entries if from_millis(e.at) >= oldest}
            if not fresh:
                return 0
            held = set(
                s.scalars(
                    select(HistoryCopy.uid).where(
                        HistoryCopy.account == account, HistoryCopy.uid.in_(fresh)
                    )
                )
            )
            rows = [
                {"account": account, "uid": e.uid, "peer": e.peer, "direction": e.direction,
                 "text": e.text, "at": from_millis(e.at), "stored_at": now}
                for uid, e in fresh.items() if uid not in held
            ]  # fmt: skip
            if rows:
                s.execute(insert(HistoryCopy), rows)
                self._prune_count(s, account, retention.max_count)
            return len(rows)

        return self._submit(work)

    @staticmethod
    def _prune_count(s: Session, account: str, keep: int) -> None:
        """Drop the account's copies past the newest ``keep``."""
        cutoff = s.execute(
            select(HistoryCopy.at, HistoryCopy.id)
            .where(HistoryCopy.account == account)
            .order_by(HistoryCopy.at.desc(), HistoryCopy.id.desc())
            .offset(keep)
            .limit(1)
        ).first()
        if cutoff is not None:
            s.execute(
                delete(HistoryCopy).where(
                    HistoryCopy.account == account,
                    or_(
                        HistoryCopy.at < cutoff.at,
                        (HistoryCopy.at == cutoff.at) & (HistoryCopy.id <= cutoff.id),
                    ),
                )
            )

    def prune_history(self, retention: Retention) -> Deferred[int]:
        """Drop every copy older than the window (all of them when it keeps
        none); fires with how many went."""

        def work(s: Session) -> int:
            query = delete(HistoryCopy)
            if retention.keeps:
                query = query.where(HistoryCopy.at < self.now() - retention.max_age)
            return int(getattr(s.execute(query), "rowcount", 0) or 0)

        return self._submit(work)

    def history_count(self, account: str) -> Deferred[int]:
        def work(s: Session) -> int:
            query = select(func.count()).where(HistoryCopy.account == account)
            return int(s.execute(query).scalar_one())

        return self._submit(work)

    def _search(
        self, s: Session, account: str, q: wire.Query, retention: Retention
    ) -> list[wire.HistoryEntry]:
        if not retention.keeps:
            return []
        where = [HistoryCopy.account == account, HistoryCopy.at >= self.now() - retention.max_age]
        if q.text is not None:
            # SQLite's LIKE ignores ASCII case already (as its lower() does).
            sqlite = self.engine.dialect.name == "sqlite"
            like = HistoryCopy.text.like if sqlite else HistoryCopy.text.ilike
            where.append(like(_like(q.text), escape="\\"))
        if q.peer is not None:
            where.append(HistoryCopy.peer == q.peer)
        if q.since is not None:
            where.append(HistoryCopy.at >= from_millis(q.since))
        if q.until is not None:
            where.append(HistoryCopy.at < from_millis(q.until))
        rows = s.scalars(
            select(HistoryCopy)
            .where(*where)
            .order_by(HistoryCopy.at.desc(), HistoryCopy.id.desc())
            .limit(q.limit)
        )
        return [
            wire.HistoryEntry(r.uid, r.peer, r.direction, r.text, to_millis(r.at)) for r in rows
        ]

    # -- the history query relay (SPEC §3) -------------------------------------------

    def start_query(
        self,
        asker: Identity,
        q: wire.Query,
        retention: Retention,
        deadline: timedelta,
        keep: timedelta,
    ) -> Deferred[QueryStart]:
        """Steps 2-4 of SPEC §3 in one transaction: the server's own copy
        first; if it has nothing, a query row for the account's other devices
        (none: nothing to relay, not found).  The query and its results are
        deleted ``keep`` after the deadline if never fetched."""

        def work(s: Session) -> QueryStart:
            found = self._search(s, asker.account, q, retention)
            if found:
                return QueryStart(found)
            # An account's devices past MAX_DEVICES are not asked: the wire
            # counts them in a bounded field.
            devices = self._devices(s, asker.account, but=asker.device_id)[: wire.MAX_DEVICES]
            me = s.get(Device, asker.device_id)
            if not devices or me is None or me.public_key is None:
                # Nobody else to ask, or nothing to seal answers to: not found.
                return QueryStart([], devices=devices)
            query_id = secrets.token_hex(16)
            now = self.now()
            s.add(HistoryQuery(query_id=query_id, account=asker.account,
                               asker=asker.device_id, status="open", expected=len(devices),
                               created_at=now, deadline_at=now + deadline,
                               expires_at=now + deadline + keep))  # fmt: skip
            return QueryStart([], query_id, devices, me.public_key)

        return self._submit(work)

    def add_answer(
        self, query_id: str, device: Identity, count: int, sealed: bytes
    ) -> Deferred[None]:
        """Keep a device's sealed answer to an open query of its account;
        QueryRefused otherwise.  The same device answering again replaces
        nothing: the first answer stands."""

        def work(s: Session) -> None:
            query = s.get(HistoryQuery, query_id)
            if query is None or query.status != "open":
                raise QueryRefused(wire.ErrorCode.NOT_OPEN, f"query {query_id} is not open")
            author = s.get(Device, device.device_id)
            if (
                query.account != device.account
                or query.asker == device.device_id
                or author is None
                or author.revoked_at is not None
            ):
                raise QueryRefused(
                    wire.ErrorCode.FORBIDDEN, "only another bound device of the account may answer"
                )
            held = s.scalar(
                select(QueryResult.id).where(
                    QueryResult.query_id == query_id, QueryResult.device_id == device.device_id
                )
            )
            if held is None:
                s.add(QueryResult(query_id=query_id, device_id=device.device_id, count=count,
                                  sealed=sealed, received_at=self.now()))  # fmt: skip

        return self._submit(work)

    def finish_query(self, query_id: str) -> Deferred[FinishedQuery | None]:
        """Close an open query (everyone answered, or the deadline passed):
        its status is set from the answers kept.  None if it is not open."""
        return self._submit(lambda s: self._finish(s, query_id))

    @staticmethod
    def _finish(s: Session, query_id: str) -> FinishedQuery | None:
        query = s.get(HistoryQuery, query_id)
        if query is None or query.status != "open":
            return None
        answered, found = s.execute(
            select(func.count(QueryResult.id), func.coalesce(func.sum(QueryResult.count), 0)).where(
                QueryResult.query_id == query_id
            )
        ).one()
        query.status = query_status(int(found), int(answered), query.expected)
        return FinishedQuery(query_id, query.asker, query.status, int(answered), query.expected)

    def finish_all_open(self) -> Deferred[list[FinishedQuery]]:
        """At start: queries a stopped server left open are closed with what
        they have, so that no asker waits for them forever."""

        def work(s: Session) -> list[FinishedQuery]:
            query = select(HistoryQuery.query_id).where(HistoryQuery.status == "open")
            ids = list(s.scalars(query))
            return [f for i in ids if (f := self._finish(s, i)) is not None]

        return self._submit(work)

    def finished_for(self, asker: str) -> Deferred[list[FinishedQuery]]:
        """The asker's finished queries whose results wait to be fetched."""

        def work(s: Session) -> list[FinishedQuery]:
            answered = func.count(QueryResult.id)
            rows = s.execute(
                select(HistoryQuery.query_id, HistoryQuery.status, HistoryQuery.expected, answered)
                .outerjoin(QueryResult, QueryResult.query_id == HistoryQuery.query_id)
                .where(HistoryQuery.asker == asker, HistoryQuery.status != "open")
                .group_by(
                    HistoryQuery.query_id,
                    HistoryQuery.status,
                    HistoryQuery.expected,
                    HistoryQuery.created_at,
                )
                .order_by(HistoryQuery.created_at)
            )
            return [
                FinishedQuery(q, asker, status, int(n), expected) for q, status, expected, n in rows
            ]

        return self._submit(work)

    def _asked(self, s: Session, query_id: str, asker: str) -> HistoryQuery:
        query = s.get(HistoryQuery, query_id)
        if query is None or query.status == "open":
            raise QueryRefused(wire.ErrorCode.NOT_OPEN, f"query {query_id} has no results ready")
        if query.asker != asker:
            raise QueryRefused(wire.ErrorCode.FORBIDDEN, "only the device that asked may fetch")
        return query

    def load_results(self, query_id: str, asker: str) -> Deferred[StoredResults]:
        """The sealed answers of a finished query, for the device that asked."""

        def work(s: Session) -> StoredResults:
            query = self._asked(s, query_id, asker)
            rows = s.scalars(
                select(QueryResult).where(QueryResult.query_id == query_id).order_by(QueryResult.id)
            ).all()
            answers = [wire.SealedAnswer(r.device_id, r.count, wire.b64(r.sealed)) for r in rows]
            answered = {r.device_id for r in rows}
            others = self._devices(s, query.account, but=asker)
            missing = [d.device_id for d in others if d.device_id not in answered]
            return StoredResults(query.status, answers, missing[: wire.MAX_DEVICES])

        return self._submit(work)

    def delete_query(self, query_id: str, asker: str) -> Deferred[None]:
        """The asker has its results: the server's copy goes (SPEC §3.7)."""

        def work(s: Session) -> None:
            self._asked(s, query_id, asker)
            s.execute(delete(QueryResult).where(QueryResult.query_id == query_id))
            s.execute(delete(HistoryQuery).where(HistoryQuery.query_id == query_id))

        return self._submit(work)

    def expire_queries(self) -> Deferred[int]:
        """Delete queries (open or finished) past their expiry, with their
        results: results never fetched do not stay.  Fires with how many."""

        def work(s: Session) -> int:
            ids = list(
                s.scalars(select(HistoryQuery.query_id).where(HistoryQuery.expires_at < self.now()))
            )
            if ids:
                s.execute(delete(QueryResult).where(QueryResult.query_id.in_(ids)))
                s.execute(delete(HistoryQuery).where(HistoryQuery.query_id.in_(ids)))
            return len(ids)

        return self._submit(work)

    def query_rows(self) -> Deferred[int]:
        """Rows of queries and their results held: the temporary copy."""

        def work(s: Session) -> int:
            queries = s.scalar(select(func.count()).select_from(HistoryQuery))
            results = s.scalar(select(func.count()).select_from(QueryResult))
            return int(queries or 0) + int(results or 0)

        return self._submit(work)

    # -- the IP path (SPEC §2.3) -----------------------------------------------------

    def submit_ip(
        self, sender: str, m: wire.IpSubmit
    ) -> Deferred[list[tuple[str, wire.IpMessage]]]:
        """Commit an IP-path message and a pending delivery for each bound
        device of the recipient's number (its phone and companions); fires
        with what to push to which device.  The same message again (sender
        and uid) is not queued twice: fires with []."""

        def work(s: Session) -> list[tuple[str, wire.IpMessage]]:
            devices = s.scalars(
                select(Device.device_id)
                .where(Device.msisdn == m.to, Device.revoked_at.is_(None))
                .order_by(Device.device_id)
            ).all()
            known = s.scalar(
                select(IpMessage.id).where(IpMessage.sender == sender, IpMessage.uid == m.uid)
            )
            if known is not None:
                return []
            now = self.now()
            row = IpMessage(sender=sender, recipient=m.to, uid=m.uid,
                            message_number=m.message_number, text=m.text,
                            sent_at=from_millis(m.sent_at), created_at=now)  # fmt: skip
            s.add(row)
            s.flush()
            out = []
            for device in devices:
                delivery = IpDelivery(message_id=row.id, device_id=device, delivered_at=None)
                s.add(delivery)
                s.flush()
                out.append((device, wire.IpMessage(delivery.id, sender, m.uid, m.message_number,
                                                   m.text, m.sent_at)))  # fmt: skip
            return out

        return self._submit(work)

    def pending_ip(self, device_id: str) -> Deferred[list[wire.IpMessage]]:
        """The IP-path messages queued for a device, oldest first."""

        def work(s: Session) -> list[wire.IpMessage]:
            rows = s.execute(
                select(IpDelivery.id, IpMessage)
                .join(IpMessage, IpMessage.id == IpDelivery.message_id)
                .where(IpDelivery.device_id == device_id, IpDelivery.delivered_at.is_(None))
                .order_by(IpDelivery.id)
            ).all()
            return [
                wire.IpMessage(d, m.sender, m.uid, m.message_number, m.text, to_millis(m.sent_at))
                for d, m in rows
            ]

        return self._submit(work)

    def ack_ip(self, device_id: str, delivery_id: int) -> Deferred[bool]:
        """A device stored an IP-path message; False if it was not pending for it."""

        def work(s: Session) -> bool:
            result = s.execute(
                update(IpDelivery)
                .where(
                    IpDelivery.id == delivery_id,
                    IpDelivery.device_id == device_id,
                    IpDelivery.delivered_at.is_(None),
                )
                .values(delivered_at=self.now())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return self._submit(work, lazy=True)

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
