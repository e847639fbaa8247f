"""The handset's store: engine and migrations, and the one thread that runs
the repository.

``Repository`` (``handset.repo``) is plain synchronous code, one short
transaction per method, returning frozen views (``handset.views``, re-exported
here).  ``HandsetStore`` runs those
methods on a single database thread of its own, so the reactor never waits on
SQL and every write of the handset happens in the order it was asked for: a
commit is done when its Deferred fires, which is when the phone may acknowledge
what it stored.  ``threaded=False`` runs them at once on the caller's thread,
for tests driven by ``task.Clock``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorCore, IReactorFromThreads
from twisted.internet.threads import deferToThread, deferToThreadPool
from twisted.python.threadpool import ThreadPool

from storage import SqliteSettings
from storage import migrate as migrate_component
from storage import open_engine as open_storage

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


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


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
    """A ``Repository`` behind one database thread (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        owner: str,
        reactor: IReactorFromThreads | None = None,
        *,
        threaded: bool = True,
        pool: ThreadPool | None = None,
    ) -> None:
        self.engine = engine
        self.repo = Repository(engine, owner)
        self.threaded = threaded
        self._reactor = reactor
        self._pool: ThreadPool | None = None
        self._owns_pool = pool is None
        self._trigger: Any = None
        self._closed = False
        if threaded:
            if self._reactor is None:
                from twisted.internet import reactor as default_reactor

                self._reactor = default_reactor  # type: ignore[assignment]
            if pool is not None:
                # One database thread for many handsets in one process: their
                # work runs in turn instead of fighting over the GIL.
                self._pool = pool
                return
            self._pool = ThreadPool(1, 1, name=f"handset-db {owner}")
            self._pool.start()
            if IReactorCore.providedBy(self._reactor):
                # A store nobody closed must not keep the process from exiting.
                self._trigger = IReactorCore(self._reactor).addSystemEventTrigger(
                    "during", "shutdown", self._pool.stop
                )

    @classmethod
    def open(
        cls,
        url: str,
        owner: str,
        reactor: IReactorFromThreads | None = None,
        *,
        threaded: bool = True,
        pool: ThreadPool | None = None,
    ) -> HandsetStore:
        """Open (and migrate) the database at ``url`` for the handset ``owner``;
        ``pool``, a started single-thread pool, is shared with other stores."""
        return cls(open_engine(url), owner, reactor, threaded=threaded, pool=pool)

    @property
    def owner(self) -> str:
        return self.repo.owner

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        """Run ``fn`` on the database thread; fires with its result once done."""
        if self._closed:
            return fail(RuntimeError(f"the store of {self.owner} is closed"))
        if self._pool is None:
            try:
                return succeed(fn(*args, **kwargs))
            except Exception:
                return fail()
        assert self._reactor is not None
        return deferToThreadPool(self._reactor, self._pool, fn, *args, **kwargs)

    def close(self) -> Deferred[None]:
        """Let queued work finish, end the thread, release the engine."""
        self._closed = True
        pool, self._pool = self._pool, None
        if self._trigger is not None:
            IReactorCore(self._reactor).removeSystemEventTrigger(self._trigger)
            self._trigger = None

        def finish() -> None:
            if pool is not None and self._owns_pool:
                pool.stop()
            self.engine.dispose()

        if pool is None:
            finish()
            return succeed(None)
        if not self._owns_pool:
            assert self._reactor is not None
            # Behind this store's queued work on the shared thread.
            return deferToThreadPool(self._reactor, pool, self.engine.dispose)
        return deferToThread(finish)
