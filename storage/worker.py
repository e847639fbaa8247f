"""The database thread: group commit, off the reactor.

A ``Worker`` owns one thread and one kept connection.  Work queued while a
transaction commits runs next, all of it in one transaction, so under load
many callers share one fsync; the whole batch comes back to the reactor in
one call, where each caller's Deferred fires (or its plain ``then`` is
called: no Deferred on a hot path) only once its work is committed, which is
when an acknowledgement may go.

The rules it keeps:

* a batch is everything queued, up to ``max_batch`` jobs; a *lazy* job (an
  acknowledgement nobody waits on) may wait ``lazy_wait`` seconds for company,
  and does not wake the thread once another lazy job has: lazy jobs wait on
  a list of their own and ride at the head of the next batch (under receipt
  load one wake-up and one commit for many acknowledgements, not one each);
* a batch that fails is run again one job at a time, so one bad job fails
  alone, and the connection is opened afresh (a PostgreSQL restart, say);
  what the database says of itself (read-only, disk full, gone) is logged in
  one line, a bug with its traceback;
* ``stop()`` commits what is queued, ends the thread and fires; it never
  blocks the reactor.  ``close()`` is its blocking twin for callers with no
  reactor running (command-line tools);
* ``threaded=False`` runs each job at once on the caller's thread: the same
  database work, for tests driven by ``task.Clock``.

How a batch is applied is the store's choice (``apply``): by default each job
is a function of the connection, run in turn; the SMSC's writer groups its
inserts and updates into one ``executemany`` per statement.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads

from .errors import reason

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(eq=False, slots=True)
class Job:
    """One unit of work: ``fn(connection)`` unless the store's ``apply`` reads
    ``payload`` itself."""

    fn: Callable[[Connection], Any] | None = None
    payload: Any = None
    done: Deferred[Any] | None = field(default=None, repr=False)  # None: nobody waits
    #: Instead of ``done``: called on the reactor with (result, failure).
    then: Callable[[Any, BaseException | None], None] | None = field(default=None, repr=False)
    lazy: bool = False
    result: Any = None
    failure: BaseException | None = None


def run_each(conn: Connection, batch: Sequence[Job]) -> None:
    """The default ``apply``: each job's function in turn."""
    for job in batch:
        assert job.fn is not None
        job.result = job.fn(conn)


#: Put on the queue to wake the thread for lazy jobs.
_LAZY = Job()


class Worker:
    def __init__(
        self,
        engine: Engine,
        reactor: IReactorFromThreads | None = None,
        *,
        name: str = "db",
        threaded: bool = True,
        max_batch: int = 500,
        lazy_wait: float = 0.05,
        apply: Callable[[Connection, Sequence[Job]], None] = run_each,
        expected: tuple[type[BaseException], ...] = (),
    ) -> None:
        """``expected``: failures a caller handles (a duplicate key, say), not
        logged with their traceback."""
        self.engine = engine
        self.name = name
        self.threaded = threaded
        self.max_batch = max_batch
        self.lazy_wait = lazy_wait
        self.apply = apply
        self.expected = expected
        self._reactor = reactor
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        #: Lazy jobs, waiting for the next batch; ``_lazy_armed``: the thread
        #: has been woken for them (set by the reactor, cleared by the thread
        #: before it takes them, so that none is left behind).
        self._lazy: deque[Job] = deque()
        self._lazy_armed = False
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        self._stopped: Deferred[None] | None = None
        #: Called on the thread once it has drained, before ``stop()`` fires.
        self.on_exit: list[Callable[[], None]] = []
        #: Context managers each batch's callbacks run in, on the reactor (a
        #: ``txkit.cork.Cork``: what they write goes out in one write a connection).
        self.firing_in: list[AbstractContextManager[Any]] = []
        self.batches = 0
        self.jobs = 0

    # -- the reactor side ----------------------------------------------------------

    def start(self) -> None:
        if not self.threaded or self._thread is not None:
            return
        if self._reactor is None:
            from twisted.internet import reactor

            self._reactor = reactor  # type: ignore[assignment]
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    @property
    def stopping(self) -> bool:
        return self._stopped is not None

    def run(self, fn: Callable[[Connection], T], *, lazy: bool = False) -> Deferred[T]:
        """Run ``fn`` in the next batch's transaction; fires with its result
        once committed."""
        done: Deferred[T] = Deferred()
        self.submit(Job(fn, done=done, lazy=lazy))
        return done

    def submit(self, job: Job) -> None:
        if not self.threaded:
            self._execute([job])
            # No thread to keep a connection for: callers may share the engine.
            self._drop_connection()
            self._fire([job])
        elif job.lazy:
            self._lazy.append(job)
            if not self._lazy_armed:
                self._lazy_armed = True
                self._queue.put(_LAZY)
        else:
            self._queue.put(job)

    def stop(self) -> Deferred[None]:
        """Commit what is queued, end the thread; fires without blocking."""
        if self._stopped is not None:
            return self._stopped
        self._stopped = Deferred()
        if self._thread is None:
            self._finish()
            self._stopped.callback(None)
        else:
            self._queue.put(None)
        return self._stopped

    def close(self) -> None:
        """``stop``, blocking until done: only for callers with no reactor."""
        thread = self._thread
        self.stop()
        if thread is not None:
            thread.join()

    def _fire(self, batch: Sequence[Job]) -> None:
        """A committed batch, on the reactor: its callers told, in order."""
        if not self.firing_in:
            self._tell(batch)
            return
        with contextlib.ExitStack() as stack:
            for context in self.firing_in:
                stack.enter_context(context)
            self._tell(batch)

    @staticmethod
    def _tell(batch: Sequence[Job]) -> None:
        for job in batch:
            if job.then is not None:
                try:
                    job.then(job.result, job.failure)
                except Exception:  # one caller's bug must not keep the others waiting
                    log.exception("a commit's callback failed")
                continue
            if job.done is None:
                continue
            if job.failure is not None:
                job.done.errback(job.failure)
            else:
                job.done.callback(job.result)

    # -- the database thread -------------------------------------------------------

    def _run(self) -> None:
        assert self._reactor is not None
        call = self._reactor.callFromThread
        end = False
        while not end:
            first = self._queue.get()
            if first is None:
                end = True
            batch = [] if first is _LAZY or first is None else [first]
            if first is _LAZY:
                # Lazy jobs alone may wait a little for company.
                try:
                    job = self._queue.get(timeout=self.lazy_wait)
                except queue.Empty:
                    job = _LAZY
                if job is None:
                    end = True
                elif job is not _LAZY:
                    batch.append(job)
            while not end and len(batch) < self.max_batch:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    end = True
                elif job is not _LAZY:
                    batch.append(job)
            batch = self._take_lazy() + batch
            if batch:
                self._execute(batch)
                call(self._fire, batch)
        self._finish()
        assert self._stopped is not None
        call(self._stopped.callback, None)

    def _take_lazy(self) -> list[Job]:
        """The lazy jobs waiting, oldest first (they go at the head of a batch)."""
        self._lazy_armed = False  # before taking: one added meanwhile re-arms
        taken = []
        with contextlib.suppress(IndexError):
            while True:
                taken.append(self._lazy.popleft())
        return taken

    def _finish(self) -> None:
        for fn in self.on_exit:
            try:
                fn()
            except Exception:
                log.exception("%s: stopping", self.name)
        self._drop_connection()
        self.engine.dispose()

    def _execute(self, batch: Sequence[Job]) -> None:
        """One transaction for the batch; if it fails, each job alone."""
        try:
            conn = self._connection()
            with conn.begin():
                self.apply(conn, batch)
        except Exception as exc:
            self._drop_connection()
            if len(batch) > 1:
                level = logging.DEBUG if isinstance(exc, self.expected) else logging.WARNING
                log.log(level, "%s: a batch of %d failed; retrying each", self.name, len(batch))
                for job in batch:
                    job.result = None
                    self._execute([job])
            else:
                if isinstance(exc, OperationalError):  # the database's, not a bug: one line
                    why = reason(exc, self.engine.url)
                    log.error("%s: database work failed: %s", self.name, why)
                elif not isinstance(exc, self.expected):
                    log.exception("%s: database work failed", self.name)
                batch[0].failure = exc
            return
        self.batches += 1
        self.jobs += len(batch)

    def _connection(self) -> Connection:
        """The thread's own connection, kept from batch to batch: a pool
        checkout and its reset cost more than a small commit."""
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
