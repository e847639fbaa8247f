"""The SMSC's queue as its logic sees it: a small repository interface, and
its implementation over the ``BatchWriter`` (the only SQL of the core).

The core never waits on a write but an insert: a message is acted on only once
its row is committed.  ``load`` is the one blocking read: it runs before the
SMSC serves, on a thread or before the reactor starts, never on the reactor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Select, func, select
from twisted.internet.defer import Deferred

from . import subscriptions
from .auc_batch import AucBatch
from .models import ESME_MESSAGE, MESSAGE, SUBSCRIBER, VALUE, MessageKind, MessageState
from .queued import Queued
from .store import BatchWriter
from .submitted import Submitted, fate
from .submitted_rows import load_submitted, naive_utc, settle_if_ended, submitted_row
from .subscriptions import Provisioned

log = logging.getLogger(__name__)
#: What is called once a write is committed: (None, None), or (None, the error).
Committed = Callable[[None, BaseException | None], None]


@dataclass(frozen=True)
class Backlog:
    """What a previous run left: the next free message id, the subscribers
    seen (msisdn, imsi), the queued messages, oldest first, and the messages
    ESMEs submitted that are still owed a receipt or may be read
    (``smsc.submitted_rows``)."""

    next_id: int = 1
    subscribers: list[tuple[str, str]] = field(default_factory=list)
    queued: list[Queued] = field(default_factory=list)
    submitted: list[Submitted] = field(default_factory=list)
    numbered: list[Submitted] = field(default_factory=list)  # for read receipts


@dataclass(frozen=True)
class MessageStatus:
    """Where a message is, as query_sm reports it."""

    kind: MessageKind
    state: MessageState
    done_at: datetime | None  # aware UTC
    error: int | None
    esme: str | None


@dataclass(frozen=True)
class MessageQuery:
    """A page of the ``message`` table, oldest first (the admin API's filters)."""

    state: MessageState | None = None
    originator: str | None = None
    recipient: str | None = None
    kind: str | None = None
    after: int | None = None
    limit: int = 100
    id: int | None = None


class QueueRepository(Protocol):
    """What the SMSC core needs of its storage."""

    def load(self) -> Backlog:
        """Blocks: call it before serving, off the reactor thread."""

    def insert(self, item: Queued, report_for: int | None = None) -> Deferred[None]:
        """Store ``item`` queued; fires once committed."""

    def insert_message(self, items: list[Queued], sub: Submitted | None, then: Committed) -> None:
        """Store a message's parts queued, and what its receipts need (an
        ESME's), in one go; ``then(None, None)`` once committed,
        ``then(None, error)`` if not."""

    def record_attempt(self, item: Queued, error: int | None) -> None: ...

    def settle_submitted(self, message_id: int, when: datetime) -> None:
        """The message's receipt is made (or none is owed)."""

    def settle_shared(
        self, message_id: int, when: datetime
    ) -> Deferred[dict[int, tuple[MessageState, int | None]] | None]:
        """A part of a message several nodes held has ended: its parts'
        outcomes if every part has ended and this node is the one to make its
        receipt (settled now), else None (``submitted_rows.settle_if_ended``)."""

    def read_submitted(self, message_id: int, when: datetime) -> None:
        """The message's read receipt is made."""

    def retext_submitted(self, message_id: int, text: str) -> None:
        """replace_sm gave the message a new text."""

    def finish(self, item: Queued, state: MessageState, done: datetime, error: int | None) -> None:
        """``item`` ended in a final ``state``."""

    def replace_tpdu(self, message_id: int, tpdu: bytes) -> None: ...

    def committed(self) -> Deferred[None]:
        """Fires once every write asked for before is committed."""

    def upsert_subscriber(self, msisdn: str, imsi: str, when: datetime) -> None: ...

    def status(self, message_id: int) -> Deferred[MessageStatus | None]: ...

    def messages(self, query: MessageQuery) -> Deferred[list[Any]]:
        """Rows of ``message`` (attributes named as its columns)."""

    def counts(self) -> tuple[int, int]:
        """Transactions and operations committed so far."""

    def subscription(self, imsi: str) -> Deferred[Provisioned | None]:
        """The AuC's entry for ``imsi`` (``smsc.subscriptions``), as committed now."""

    def subscriptions(self) -> Deferred[list[Provisioned]]: ...

    def provision(self, sub: Provisioned) -> Deferred[Provisioned]:
        """Store ``sub``; fires with what was stored once committed."""

    def advance_sqn(self, imsi: str, sqn: int) -> None:
        """SQN_HE of ``imsi`` moved on (in a later batch: see ``radiolink.auth``)."""


def _nothing(conn: Connection) -> None:
    return None


def _aware(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC)


def _row(item: Queued, report_for: int | None) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": VALUE[item.kind],
        "originator": item.originator,
        "recipient": item.recipient,
        "tp_mr": item.tp_mr,
        "tp_srr": item.tp_srr,
        "tpdu": item.tpdu,
        "state": VALUE[MessageState.QUEUED],
        "attempts": item.attempts,
        "submitted_at": naive_utc(item.submitted_at),
        "expires_at": naive_utc(item.expires_at),
        "done_at": None,
        "error": None,
        "report_for": report_for,
        "esme": item.esme,
    }


def queued_of(row: Any) -> Queued:
    return Queued(
        id=row.id,
        kind=MessageKind(row.kind),
        originator=row.originator,
        recipient=row.recipient,
        tp_mr=row.tp_mr,
        tp_srr=row.tp_srr,
        tpdu=row.tpdu,
        submitted_at=_aware(row.submitted_at),
        expires_at=_aware(row.expires_at),
        attempts=row.attempts,
        # attempts is stored only for a failed attempt, which made the one
        # temporary report already.
        reported_delay=row.attempts > 0,
        esme=row.esme,
    )


def message_status(conn: Connection, message_id: int) -> MessageStatus | None:
    """What query_sm of ``message_id`` says, from the rows: a message an ESME
    submitted in parts, named by its id, is queued until every part has
    ended, then its parts' ``fate`` (its receipt's) ended when its last part
    did; any other id is its one row's."""
    parts = conn.execute(
        select(ESME_MESSAGE.c.parts).where(ESME_MESSAGE.c.id == message_id)
    ).scalar()
    m = MESSAGE
    rows = conn.execute(
        select(m.c.id, m.c.kind, m.c.state, m.c.done_at, m.c.error, m.c.esme)
        .where(m.c.id >= message_id, m.c.id < message_id + (parts or 1))
        .order_by(m.c.id)
    ).all()
    if not rows or rows[0].id != message_id:
        return None
    first = rows[0]
    kind = MessageKind(first.kind)
    ended = [(MessageState(r.state), r.error) for r in rows]
    if any(state is MessageState.QUEUED for state, _ in ended):
        return MessageStatus(kind, MessageState.QUEUED, None, None, first.esme)
    state, error = fate(ended)
    done = max((r.done_at for r in rows if r.done_at is not None), default=None)
    return MessageStatus(kind, state, None if done is None else _aware(done), error, first.esme)


def _select(query: MessageQuery) -> Select[Any]:
    statement = select(MESSAGE).order_by(MESSAGE.c.id)
    if query.id is not None:
        return statement.where(MESSAGE.c.id == query.id)
    if query.state is not None:
        statement = statement.where(MESSAGE.c.state == query.state.value)
    for name in ("originator", "recipient", "kind"):
        value = getattr(query, name)
        if value is not None:
            statement = statement.where(MESSAGE.c[name] == value)
    if query.after is not None:
        statement = statement.where(MESSAGE.c.id > query.after)
    return statement.limit(query.limit)


class SqlQueueRepository:
    """``QueueRepository`` over the ``BatchWriter``: every statement but
    ``load``'s runs on its thread, in its group commits."""

    def __init__(self, writer: BatchWriter) -> None:
        self.writer = writer
        self.auc = AucBatch(writer)
        #: A cluster's node (``smsc.node``): names the node a new row is
        #: claimed by; None on a single node, whose rows name none.
        self.place: Callable[[Queued], str | None] | None = None

    def load(self) -> Backlog:
        if self.place is not None:
            # A cluster's node holds only what it claims (``smsc.node``): no
            # backlog, and ids from blocks.
            return self._subscribers_only()
        with self.writer.engine.connect() as conn:
            top = conn.execute(select(func.max(MESSAGE.c.id))).scalar() or 0
            subscribers = conn.execute(select(SUBSCRIBER.c.msisdn, SUBSCRIBER.c.imsi)).all()
            rows = conn.execute(
                select(MESSAGE).where(MESSAGE.c.state == MessageState.QUEUED).order_by(MESSAGE.c.id)
            ).all()
            submitted, numbered = load_submitted(conn)
        queued = [queued_of(r) for r in rows]
        return Backlog(top + 1, [(m, i) for m, i in subscribers], queued, submitted, numbered)

    def _subscribers_only(self) -> Backlog:
        with self.writer.engine.connect() as conn:
            subscribers = conn.execute(select(SUBSCRIBER.c.msisdn, SUBSCRIBER.c.imsi)).all()
        return Backlog(subscribers=[(m, i) for m, i in subscribers])

    def _row(self, item: Queued, report_for: int | None) -> dict[str, Any]:
        row = _row(item, report_for)
        if self.place is not None:
            row["node"] = self.place(item)
        return row

    def insert(self, item: Queued, report_for: int | None = None) -> Deferred[None]:
        return self.writer.insert(MESSAGE, self._row(item, report_for))

    def insert_message(self, items: list[Queued], sub: Submitted | None, then: Committed) -> None:
        rows = [(MESSAGE, self._row(item, None)) for item in items]
        if sub is not None:
            rows.append((ESME_MESSAGE, submitted_row(sub)))
        self.writer.insert_all(rows, then)

    def record_attempt(self, item: Queued, error: int | None) -> None:
        self.writer.update(MESSAGE, item.id, {"attempts": item.attempts, "error": error})

    def finish(self, item: Queued, state: MessageState, done: datetime, error: int | None) -> None:
        values = {
            "state": VALUE[state],
            "attempts": item.attempts,
            "done_at": naive_utc(done),
            "error": error,
        }
        self.writer.update(MESSAGE, item.id, values)

    def replace_tpdu(self, message_id: int, tpdu: bytes) -> None:
        self.writer.update(MESSAGE, message_id, {"tpdu": tpdu})

    def committed(self) -> Deferred[None]:
        # Batches commit in order, and a batch's writes before its calls.
        return self.writer.call(_nothing)

    def settle_submitted(self, message_id: int, when: datetime) -> None:
        self.writer.update(ESME_MESSAGE, message_id, {"done_at": naive_utc(when)})

    def settle_shared(
        self, message_id: int, when: datetime
    ) -> Deferred[dict[int, tuple[MessageState, int | None]] | None]:
        done = naive_utc(when)
        return self.writer.call(lambda conn: settle_if_ended(conn, message_id, done))

    def read_submitted(self, message_id: int, when: datetime) -> None:
        self.writer.update(ESME_MESSAGE, message_id, {"read_at": naive_utc(when)})

    def retext_submitted(self, message_id: int, text: str) -> None:
        self.writer.update(ESME_MESSAGE, message_id, {"text": text})

    def upsert_subscriber(self, msisdn: str, imsi: str, when: datetime) -> None:
        now = naive_utc(when)
        row = {"msisdn": msisdn, "imsi": imsi, "first_attach": now, "last_attach": now}
        self.writer.upsert(SUBSCRIBER, row, refresh=("imsi", "last_attach"))

    def status(self, message_id: int) -> Deferred[MessageStatus | None]:
        return self.writer.call(lambda conn: message_status(conn, message_id))

    def messages(self, query: MessageQuery) -> Deferred[list[Any]]:
        statement = _select(query)
        return self.writer.call(lambda conn: list(conn.execute(statement).all()))

    def counts(self) -> tuple[int, int]:
        return self.writer.batches, self.writer.operations

    def subscription(self, imsi: str) -> Deferred[Provisioned | None]:
        return self.auc.lookup(imsi)

    def subscriptions(self) -> Deferred[list[Provisioned]]:
        return self.writer.call(subscriptions.every)

    def provision(self, sub: Provisioned) -> Deferred[Provisioned]:
        now = datetime.now(UTC)
        return self.writer.call(lambda conn: subscriptions.provision(conn, sub, now))

    def advance_sqn(self, imsi: str, sqn: int) -> None:
        self.auc.advance(imsi, sqn)
