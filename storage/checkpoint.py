"""SQLite's write-ahead log copied back into the database file on a thread of
its own, so that no commit waits for a checkpoint."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

log = logging.getLogger(__name__)


class Checkpointer:
    """A PASSIVE checkpoint every ``interval`` seconds (it never waits for, nor
    blocks, the writer), and a TRUNCATE one at the end so that a clean stop
    leaves the database file whole.  Pair it with
    ``SqliteSettings(autocheckpoint=False)``: the automatic checkpoint would
    otherwise run inside a commit now and then and hold up every
    acknowledgement queued behind it."""

    def __init__(self, engine: Engine, interval: float = 0.5, name: str = "checkpoint") -> None:
        self.engine = engine
        self.interval = interval
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

    def _run(self) -> None:
        with self.engine.connect() as conn:
            while True:
                try:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                except Exception:
                    log.exception("WAL checkpoint failed")
                if self._stop.wait(self.interval):
                    break
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
