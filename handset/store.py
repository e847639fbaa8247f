"""The handset's store: engine and migrations, and the database thread that
runs the repository.

``Repository`` (``handset.repo``) is plain synchronous code, one short
transaction per method, returning frozen views (``handset.views``, re-exported
here).  ``HandsetStore`` runs those methods on the handset's ``storage.Worker``:
the reactor never waits on SQL, every write happens in the order it was asked
for, and what queued while one commit ran is committed with the next as one
transaction (the methods join it).  A Deferred fires once its work is
committed, which is when the phone may acknowledge what it stored.
``threaded=False`` runs them at once on the caller's thread, for tests driven
by ``task.Clock``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ParamSpec, TypeVar

from sqlalchemy import Connection, Engine
from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorFromThreads

from storage import SqliteSettings, Worker
from storage import migrate as migrate_component
from storage import open_engine as open_storage
from storage import sqlite_file_url as sqlite_url
from storage.worker import Job, run_each

from .repo import Repository, part_digest, received_uid
from .views import (
    Build,
    ConversationView,
    FragmentKey,
    HeldFragment,
    HistoryItem,
    HistoryQuery,
    IpPath,
    MessageView,
    NotFound,
    Opened,
    Outgoing,
    PendingPart,
    Received,
    Response,
    Settings,
    StateChange,
    StoredSms,
    StoreFull,
    check_uid,
)

__all__ = [
    "MIGRATIONS",
    "Build",
    "ConversationView",
    "FragmentKey",
    "HandsetStore",
    "HeldFragment",
    "HistoryItem",
    "HistoryQuery",
    "IpPath",
    "MessageView",
    "NotFound",
    "Opened",
    "Outgoing",
    "PendingPart",
    "Received",
    "Repository",
    "Response",
    "Settings",
    "StateChange",
    "StoreFull",
    "StoredSms",
    "check_uid",
    "migrate",
    "open_engine",
    "part_digest",
    "received_uid",
    "sqlite_url",
]

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"


#: Every commit is in the log before the handset acknowledges what it stored,
#: so a message survives ``kill -9`` of the handset; only a power cut of the
#: host could lose its last commits, as a phone's flash might (NORMAL: no fsync
#: per commit, which matters with many handsets in one process).
SQLITE = SqliteSettings(synchronous="NORMAL", foreign_keys=True)


def open_engine(url: str) -> Engine:
    """An engine on ``url``, its schema migrated to the newest revision."""
    engine = open_storage(url, SQLITE)
    migrate(engine)
    return engine


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest revision."""
    migrate_component(engine, MIGRATIONS)


class HandsetStore:
    """A ``Repository`` behind the handset's database thread (see the module
    docstring)."""

    def __init__(
        self,
        engine: Engine,
        owner: str,
        reactor: IReactorFromThreads | None = None,
        *,
        threaded: bool = True,
    ) -> None:
        self.engine = engine
        self.repo = Repository(engine, owner)
        self.worker = Worker(
            engine,
            reactor,
            name=f"handset-db {owner}",
            threaded=threaded,
            apply=self._apply,
            # What a caller is told (no such message, a bad value), not a fault.
            expected=(LookupError, ValueError, StoreFull),
        )
        self.worker.start()

    @classmethod
    def open(
        cls,
        url: str,
        owner: str,
        reactor: IReactorFromThreads | None = None,
        *,
        threaded: bool = True,
    ) -> HandsetStore:
        """Open (and migrate) the database at ``url`` for the handset ``owner``."""
        return cls(open_engine(url), owner, reactor, threaded=threaded)

    @property
    def owner(self) -> str:
        return self.repo.owner

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        """Run ``fn`` on the database thread; fires with its result once committed."""
        if self.worker.stopping:
            return fail(RuntimeError(f"the store of {self.owner} is closed"))
        return self.worker.run(lambda _conn: fn(*args, **kwargs))

    def settle(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        """``call`` for bookkeeping nobody waits on (what the IP server took):
        it may wait ``Worker.lazy_wait`` to share a commit with other work."""
        if self.worker.stopping:
            return fail(RuntimeError(f"the store of {self.owner} is closed"))
        return self.worker.run(lambda _conn: fn(*args, **kwargs), lazy=True)

    def _apply(self, conn: Connection, batch: Sequence[Job]) -> None:
        """The repository's sessions join the batch's transaction."""
        with self.repo.bound(conn):
            run_each(conn, batch)

    def close(self) -> Deferred[None]:
        """Let queued work commit, end the thread, release the engine; never
        blocks the reactor."""
        return self.worker.stop()
