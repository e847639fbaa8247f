"""The AuC's database work, grouped: every subscription looked up, and every
SQN advanced, while the database thread was busy goes in its next transaction
as one statement (``SELECT ... WHERE imsi IN``, one ``executemany``), not one
per attach.  An attach storm then costs the database thread a few statements
per batch, as submits do (``smsc.store``).

The reactor thread adds to the pending sets under a lock; the database thread
takes them whole when its job runs; the Deferreds are fired back on the
reactor thread, by the writer.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Connection, bindparam, select
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from .models import SUBSCRIPTION
from .store import BatchWriter
from .subscriptions import Provisioned, rows_to_provisioned

log = logging.getLogger(__name__)

#: The SQN of a subscription moves on, never back (another SMSC may be ahead).
_ADVANCE = (
    SUBSCRIPTION.update()
    .where(SUBSCRIPTION.c.imsi == bindparam("b_imsi"), SUBSCRIPTION.c.sqn < bindparam("b_sqn"))
    .values(sqn=bindparam("b_sqn"))
)


class AucBatch:
    """Lookups and SQN advances, each kind one statement per database batch.

    The database thread only reads what is pending (under the lock): what it
    handled is taken off on the reactor thread once its batch committed, so a
    batch the worker runs again (``storage.Worker``) loses nothing.
    """

    def __init__(self, writer: BatchWriter) -> None:
        self.writer = writer
        self._lock = threading.Lock()
        self._lookups: dict[str, list[Deferred[Provisioned | None]]] = {}
        self._sqns: dict[str, int] = {}
        self._lookup_queued = self._sqn_queued = False  # reactor thread only

    # -- lookups ----------------------------------------------------------------------

    def lookup(self, imsi: str) -> Deferred[Provisioned | None]:
        """The subscription of ``imsi`` as committed when the batch reads it."""
        d: Deferred[Provisioned | None] = Deferred()
        with self._lock:
            self._lookups.setdefault(imsi, []).append(d)
        if not self._lookup_queued:
            self._queue_lookup()
        return d

    def _queue_lookup(self) -> None:
        self._lookup_queued = True
        self.writer.call(self._select).addCallbacks(self._found, self._failed)

    def _select(self, conn: Connection) -> tuple[dict[str, int], dict[str, Provisioned]]:
        with self._lock:
            wanted = {imsi: len(waiting) for imsi, waiting in self._lookups.items()}
        rows = conn.execute(select(SUBSCRIPTION).where(SUBSCRIPTION.c.imsi.in_(list(wanted))))
        return wanted, {p.imsi: p for p in rows_to_provisioned(rows)}

    def _found(self, result: tuple[dict[str, int], dict[str, Provisioned]]) -> None:
        wanted, found = result
        answers: list[tuple[Deferred[Provisioned | None], Provisioned | None]] = []
        with self._lock:
            for imsi, count in wanted.items():
                waiting = self._lookups[imsi]
                answers += [(d, found.get(imsi)) for d in waiting[:count]]
                del waiting[:count]
                if not waiting:
                    del self._lookups[imsi]
            more = bool(self._lookups)
        self._lookup_queued = False
        for d, sub in answers:
            d.callback(sub)
        if more:  # asked while the batch read
            self._queue_lookup()

    def _failed(self, failure: Failure) -> None:
        with self._lock:
            waiting, self._lookups = self._lookups, {}
        self._lookup_queued = False
        for deferreds in waiting.values():
            for d in deferreds:
                d.errback(failure)

    # -- SQN advances ---------------------------------------------------------------

    def advance(self, imsi: str, sqn: int) -> None:
        """Lazily: nobody waits, and an advance lost to a crash is put right
        by the SIM's synch failure (``radiolink.auth``)."""
        with self._lock:
            self._sqns[imsi] = max(sqn, self._sqns.get(imsi, 0))
        if not self._sqn_queued:
            self._queue_advance()

    def _queue_advance(self) -> None:
        self._sqn_queued = True
        d = self.writer.call(self._update, lazy=True)
        d.addCallbacks(self._stored, self._not_stored)

    def _update(self, conn: Connection) -> dict[str, int]:
        with self._lock:
            due = dict(self._sqns)
        conn.execute(_ADVANCE, [{"b_imsi": i, "b_sqn": s} for i, s in due.items()])
        return due

    def _stored(self, done: dict[str, int]) -> None:
        with self._lock:
            for imsi, sqn in done.items():
                if self._sqns.get(imsi) == sqn:
                    del self._sqns[imsi]
            more = bool(self._sqns)
        self._sqn_queued = False
        if more:
            self._queue_advance()

    def _not_stored(self, failure: Failure) -> None:
        log.warning("SQNs not stored (kept for the next try): %s", failure.getErrorMessage())
        self._sqn_queued = False
