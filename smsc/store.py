"""The SMSC's database: its engine, its migrations, and the batch writer that
keeps database work off the reactor thread.

Every write goes through one ``BatchWriter``, a ``storage.Worker`` that takes
whatever has queued up while the last transaction committed and commits it as
one (group commit): throughput then does not stop at one fsync per message,
and the caller is told only once its write is durable, which is when an
RP-ACK may go out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads

from storage import SqliteSettings, Worker, migrate, sqlite_file_url
from storage import open_engine as open_storage
from storage.checkpoint import Checkpointer
from storage.worker import Job

T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"
#: A commit acknowledges what a handset or an ESME handed over: it must survive
#: ``kill -9`` and a power cut (FULL).  No connection checkpoints as it commits:
#: a ``Checkpointer`` thread does, so that no RP-ACK waits for one.
SQLITE = SqliteSettings(synchronous="FULL", autocheckpoint=False)


def sqlite_url(data_dir: Path) -> str:
    return sqlite_file_url(data_dir / "smsc.sqlite3")


def open_engine(url: str) -> Engine:
    """An engine on ``url``, its schema migrated to the newest revision."""
    engine = open_storage(url, SQLITE)
    migrate(engine, MIGRATIONS)
    return engine


#: ("insert", table, ()), ("update", table, the columns set) or ("upsert", table,
#: the columns set when the row's primary key is taken)
_Key = tuple[str, Table, tuple[str, ...]]
#: The dialects' INSERT ... ON CONFLICT, for upserts.
_UPSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@dataclass(frozen=True)
class _Compiled:
    """A statement as the driver takes it, and how to turn a row into its
    parameters (in the dialect's paramstyle, through the columns' own bind
    processors, so values are stored exactly as SQLAlchemy would store them)."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    positional: bool

    @classmethod
    def of(cls, key: _Key, engine: Engine) -> _Compiled:
        kind, table, columns = key
        if kind == "insert":
            statement: Any = table.insert()
        elif kind == "upsert":
            insert: Any = _UPSERTS[engine.dialect.name](table)
            statement = insert.on_conflict_do_update(
                index_elements=list(table.primary_key),
                set_={c: insert.excluded[c] for c in columns},
            )
        else:
            statement = (
                update(table)
                .where(table.c.id == bindparam("b_key"))
                .values({c: bindparam("b_" + c) for c in columns})
            )
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or []) if compiled.positional else tuple(compiled.binds)
        processors = tuple(
            _faster(compiled.binds[name].type.dialect_impl(dialect), dialect) for name in names
        )
        return cls(compiled.string, names, processors, compiled.positional)

    def parameters(self, row: dict[str, Any], key: int | None = None) -> Any:
        """``row``'s parameters (an update's: its values without the ``b_``
        prefix of the bound names, and the ``key`` of the row it sets)."""
        get = row.get
        values = [get(name) for name in self._sources]
        if self._key_at >= 0:
            values[self._key_at] = key
        for i, fn in self._processed:  # only the columns that have a processor
            values[i] = fn(values[i])
        return tuple(values) if self.positional else dict(zip(self.names, values, strict=True))

    @functools.cached_property
    def _sources(self) -> tuple[str, ...]:
        """Where each parameter comes from in a row: an update's ``b_x`` from ``x``."""
        if self._key_at < 0:
            return self.names
        return tuple(name.removeprefix("b_") for name in self.names)

    @functools.cached_property
    def _key_at(self) -> int:
        """Where an update's row key goes (-1: not an update)."""
        return self.names.index("b_key") if "b_key" in self.names else -1

    @functools.cached_property
    def _processed(self) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
        return tuple((i, fn) for i, fn in enumerate(self.processors) if fn is not None)


#: How SQLAlchemy's SQLite DATETIME stores a time unless told otherwise.
_SQLITE_DATETIME = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)


def _faster(impl: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """``impl``'s bind processor; for SQLite's DATETIME in its default format,
    one that makes the same text from a naive datetime with ``isoformat``
    (SQLAlchemy's builds a dict a value; the writer stores several a message)
    and leaves anything else to SQLAlchemy's."""
    general: Callable[[Any], Any] | None = impl.bind_processor(dialect)
    if (
        general is None
        or dialect.name != "sqlite"
        or not isinstance(impl, sqlite.DATETIME)
        or getattr(impl, "_storage_format", None) != _SQLITE_DATETIME
    ):
        return general

    def process(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is None:
            return value.isoformat(" ", "microseconds")
        return general(value)

    return process


@dataclass(slots=True)
class _Write:
    """An insert (``key`` None) or an update of row ``key``; with ``refresh``,
    an insert that sets those columns instead if its primary key is taken."""

    table: Table
    values: dict[str, Any]
    key: int | None = None
    refresh: tuple[str, ...] = ()


class BatchWriter:
    """The SMSC's writes, committed in groups on the database thread.

    Inserts of a batch run first (one executemany per table), then upserts and
    updates (one per table and column set), then calls, in one transaction.  The SMSC never
    updates a row in the batch that inserts it: it acts on a message only once
    the message is committed.  A batch that fails is retried one operation at
    a time, so one bad operation fails alone (``storage.Worker``).

    ``threaded=False`` runs each operation at once on the caller's thread: the
    same database work, for deterministic tests driven by ``task.Clock``.
    """

    def __init__(
        self,
        engine: Engine,
        reactor: IReactorFromThreads | None = None,
        *,
        max_batch: int = 2000,
        threaded: bool = True,
    ) -> None:
        self.engine = engine
        self.worker = Worker(
            engine,
            reactor,
            name="smsc-db",
            threaded=threaded,
            max_batch=max_batch,
            apply=lambda conn, batch: self._apply(conn, batch),
        )
        self._statements: dict[_Key, _Compiled] = {}

    @property
    def batches(self) -> int:
        return self.worker.batches

    @property
    def operations(self) -> int:
        return self.worker.jobs

    def start(self) -> None:
        if self.worker.threaded and self.engine.dialect.name == "sqlite":
            checkpointer = Checkpointer(self.engine, name="smsc-checkpoint")
            checkpointer.start()
            self.worker.on_exit.append(checkpointer.stop)
        self.worker.start()

    def stop(self) -> Deferred[None]:
        """Commit what is queued and end the thread; never blocks the reactor."""
        return self.worker.stop()

    def insert(self, table: Table, row: dict[str, Any]) -> Deferred[None]:
        """Fires once the row is committed."""
        done: Deferred[None] = Deferred()
        self.worker.submit(Job(payload=(_Write(table, row),), done=done))
        return done

    def insert_all(
        self,
        rows: Sequence[tuple[Table, dict[str, Any]]],
        then: Callable[[None, BaseException | None], None],
    ) -> None:
        """Insert ``rows`` (a message's parts and what goes with them), all or
        none; ``then(None, None)`` on the reactor once committed,
        ``then(None, error)`` if not.  One job, no Deferred: the hot path of
        submit_sm."""
        writes = tuple(_Write(table, row) for table, row in rows)
        self.worker.submit(Job(payload=writes, then=then))

    def upsert(self, table: Table, row: dict[str, Any], refresh: tuple[str, ...]) -> None:
        """Insert ``row`` in the next batch or, if its primary key is taken,
        set its ``refresh`` columns; a failure is logged, as an update's."""
        self.worker.submit(Job(payload=(_Write(table, row, refresh=refresh),)))

    def update(self, table: Table, key: int, values: dict[str, Any]) -> None:
        """Set ``values`` on row ``key`` in the next batch; a failure is logged
        (the SMSC never waits for an update: its state is in memory)."""
        self.worker.submit(Job(payload=(_Write(table, values, key),)))

    def call(self, fn: Callable[[Connection], T], *, lazy: bool = False) -> Deferred[T]:
        """Run ``fn`` in the next batch's transaction; fires with its result.
        ``lazy``: nobody waits on it, it may wait a little for company."""
        return self.worker.run(fn, lazy=lazy)

    def _apply(self, conn: Connection, batch: Sequence[Job]) -> None:
        inserts: dict[Table, list[dict[str, Any]]] = {}
        upserts: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = {}
        updates: dict[tuple[Table, tuple[str, ...]], list[_Write]] = {}
        for job in batch:
            if job.fn is not None:
                continue
            write: _Write
            for write in job.payload:
                if write.refresh:
                    upserts.setdefault((write.table, write.refresh), []).append(write.values)
                elif write.key is None:
                    inserts.setdefault(write.table, []).append(write.values)
                else:
                    columns = tuple(sorted(write.values))
                    updates.setdefault((write.table, columns), []).append(write)
        for table, rows in inserts.items():
            self._executemany(conn, ("insert", table, ()), rows)
        for (table, columns), rows in upserts.items():  # in order: the last one wins
            self._executemany(conn, ("upsert", table, columns), rows)
        for (table, columns), writes in updates.items():
            compiled = self._compiled(("update", table, columns))
            params = [compiled.parameters(w.values, w.key) for w in writes]
            conn.exec_driver_sql(compiled.sql, params)
        for job in batch:
            if job.fn is not None:
                job.result = job.fn(conn)

    def _executemany(self, conn: Connection, key: _Key, rows: list[dict[str, Any]]) -> None:
        """One ``executemany`` of a statement compiled once, straight to the
        driver: SQLAlchemy's per-row work on a plain executemany costs more than
        SQLite's own, and this thread is the SMSC's throughput bound."""
        compiled = self._compiled(key)
        conn.exec_driver_sql(compiled.sql, [compiled.parameters(row) for row in rows])

    def _compiled(self, key: _Key) -> _Compiled:
        compiled = self._statements.get(key)
        if compiled is None:
            compiled = self._statements[key] = _Compiled.of(key, self.engine)
        return compiled
