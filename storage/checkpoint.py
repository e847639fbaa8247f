"""SQLite's write-ahead log copied back into the database file on a thread of
its own, so that no commit waits for a checkpoint."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from .errors import place, reason

log = logging.getLogger(__name__)


class Checkpointer:
    """A PASSIVE checkpoint every ``interval`` seconds (it never waits for, nor
    blocks, the writer), and a TRUNCATE one at the end so that a clean stop
    leaves the database file whole.  Pair it with
    ``SqliteSettings(autocheckpoint=False)``: the automatic checkpoint would
    otherwise run inside a commit now and then and hold up every
    acknowledgement queued behind it.

    A file that stops taking writes (made read-only, its disk full) fails the
    checkpoint, not the commits before it: they are in the log, which SQLite
    copies back once it can.  So a failure is told in one line, once (again
    only if the reason changes), and the checkpoint is tried less and less
    often, up to every ``max_interval`` seconds; one line says when it works
    again.  Commits that fail meanwhile fail on their own (``Worker``): what
    was not committed was not acknowledged.
    """

    def __init__(
        self,
        engine: Engine,
        interval: float = 0.5,
        name: str = "checkpoint",
        max_interval: float = 30.0,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.max_interval = max_interval
        self.failing: str | None = None  # the reason of the last failure, while failing
        self._wait = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Blocks until the last checkpoint is done: call it off the reactor
        (the worker calls it from its own thread as it exits)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def step(self, conn: Connection, mode: str = "PASSIVE") -> float:
        """One checkpoint; the seconds to wait before the next."""
        try:
            conn.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})")
        except DBAPIError as exc:
            why = reason(exc, self.engine.url)
            if why != self.failing:
                log.error(
                    "checkpoint of %s failed (%s); its write-ahead log keeps the commits",
                    place(self.engine.url),
                    why,
                )
            self.failing = why
            self._wait = min(self._wait * 2, self.max_interval)
            return self._wait
        if self.failing is not None:
            log.warning("checkpoint of %s works again", place(self.engine.url))
        self.failing, self._wait = None, self.interval
        return self._wait

    def _run(self) -> None:
        with self.engine.connect() as conn:
            while not self._stop.wait(self.step(conn)):
                pass
            self.step(conn, "TRUNCATE")
