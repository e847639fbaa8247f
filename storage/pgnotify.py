"""PostgreSQL's LISTEN/NOTIFY, for the nodes of a cluster: new work is
signalled, not polled for.

A sender calls ``notify(conn, channel, payload)`` inside the transaction that
makes the work: PostgreSQL delivers the notification only if, and when, that
transaction commits, so a node is never told of work it cannot yet see.

A ``Listener`` keeps one connection of its own on a thread of its own, blocked
in ``LISTEN`` (no query runs at idle), and hands each notification to the
reactor.  The rules it keeps:

* notifications are delivered on the reactor thread, in the order PostgreSQL
  sent them; a burst comes back in one reactor call, not one per
  notification;
* after each ``LISTEN`` (the first, and after every reconnect) ``listening``
  is called on the reactor: whatever was notified while the connection was
  down is lost, so that is when a node looks again for work it may have
  missed (a rescan), rather than ever trusting notifications alone;
* a lost connection (a PostgreSQL restart, a terminated backend) is logged in
  one line and reopened after the product's back-off;
* ``stopService`` ends the thread and fires once it has; it never blocks the
  reactor.

On any other database than PostgreSQL there is one process, which tells itself
directly: ``notify`` does nothing there, and a ``Listener`` is never started.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from twisted.application.internet import backoffPolicy
from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads

from .errors import reason, safe_url

log = logging.getLogger(__name__)

#: PostgreSQL's limit on a notification's payload, in bytes.
MAX_PAYLOAD = 7999
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")

Deliver = Callable[[list[tuple[str, str]]], None]


def notify(conn: Connection, channel: str, payload: str = "") -> None:
    """Tell the listeners of ``channel`` when ``conn``'s transaction commits.

    PostgreSQL folds identical (channel, payload) pairs of one transaction into
    one notification; nothing is sent on a rollback.
    """
    if conn.dialect.name != "postgresql":
        return
    if len(payload.encode()) > MAX_PAYLOAD:
        raise ValueError(f"notification payload of {len(payload.encode())} bytes > {MAX_PAYLOAD}")
    conn.execute(_NOTIFY, {"channel": channel, "payload": payload})


def conninfo(url: str) -> str:
    """The libpq connection string of a SQLAlchemy ``postgresql+psycopg://`` URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener(Service):
    """LISTEN on ``channels`` at ``url``; ``deliver(batch)`` gets each burst of
    ``(channel, payload)`` pairs and ``listening()`` follows each LISTEN."""

    #: How often the thread looks up from its wait to see whether it must stop.
    poll_stop = 0.5

    def __init__(
        self,
        url: str,
        channels: Iterable[str],
        deliver: Deliver,
        listening: Callable[[], None] = lambda: None,
        *,
        reactor: IReactorFromThreads | None = None,
        retry: Callable[[int], float] | None = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as default

            reactor = default  # type: ignore[assignment]
        assert reactor is not None
        self.url = url
        self.channels = tuple(channels)
        self.deliver = deliver
        self.listening = listening
        self.reactor = reactor
        #: Seconds before reconnecting after ``n`` failures in a row (Twisted's
        #: back-off, as ``txkit.backoff`` uses it: 0.5 s doubling up to 5 s).
        self.retry = retry or backoffPolicy(0.5, 5.0, factor=2.0, jitter=lambda: 0.0)
        self._failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped: Deferred[None] | None = None
        self._pending: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._conn: Any = None

    # -- the service ------------------------------------------------------------

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        self._stop.clear()
        self._stopped = Deferred()
        self._thread = threading.Thread(target=self._run, name="pg-listen", daemon=True)
        self._thread.start()

    def stopService(self) -> Deferred[None]:
        super().stopService()  # type: ignore[no-untyped-call]
        self._stop.set()
        done = self._stopped
        assert done is not None
        return done

    # -- the thread -------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._listen()
                except Exception as exc:  # the connection is gone: say so, come back
                    if self._stop.is_set():
                        break
                    wait = self.retry(self._failures)
                    self._failures += 1
                    log.warning(
                        "LISTEN on %s lost (%s); again in %.1f s",
                        safe_url(self.url),
                        reason(exc),
                        wait,
                    )
                    self._stop.wait(wait)
                finally:
                    self._close()
        finally:
            self.reactor.callFromThread(self._ended, threading.current_thread())

    def _ended(self, thread: threading.Thread) -> None:
        """On the reactor, once ``thread`` has nothing left to do but return:
        the join is that return, not a wait."""
        thread.join()
        done, self._stopped = self._stopped, None
        if done is not None:
            done.callback(None)

    def _listen(self) -> None:
        import psycopg
        from psycopg import sql

        self._conn = conn = psycopg.connect(conninfo(self.url), autocommit=True)
        for channel in self.channels:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        self._failures = 0
        self.reactor.callFromThread(self.listening)
        while not self._stop.is_set():
            for note in conn.notifies(timeout=self.poll_stop):
                self._queue(note.channel, note.payload)
                if self._stop.is_set():
                    return

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken one: nothing to tell
                conn.close()

    def _queue(self, channel: str, payload: str) -> None:
        """Add to the burst; only the first of a burst wakes the reactor."""
        with self._lock:
            first = not self._pending
            self._pending.append((channel, payload))
        if first:
            self.reactor.callFromThread(self._flush)

    def _flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            self.deliver(batch)
