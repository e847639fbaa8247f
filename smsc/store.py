"""The SMSC's database: engine, migrations, and the batch writer that keeps
database work off the reactor thread.

Every write goes through one ``BatchWriter`` thread, which takes whatever has
queued up while the last transaction committed and commits it as one (group
commit): throughput then does not stop at one fsync per message, and the caller
is told only once its write is durable, which is when an RP-ACK may go out.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, bindparam, create_engine, event, update
from twisted.internet.defer import Deferred

log = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'smsc.sqlite3'}"


def open_engine(url: str) -> Engine:
    """An engine on ``url``, its schema migrated to the newest revision.

    SQLite runs in WAL mode with synchronous=FULL: a commit survives ``kill -9``
    and a power cut, and readers do not block the writer.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            # No connection checkpoints as it commits: a Checkpointer thread
            # does, so that no commit (and no RP-ACK behind it) waits for one.
            cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()

    else:
        engine = create_engine(url, pool_pre_ping=True)
    migrate(engine)
    return engine


def migrate(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Checkpointer:
    """Copies SQLite's write-ahead log back into the database file on a thread
    of its own, every ``interval`` seconds (a PASSIVE checkpoint: it never
    waits for, nor blocks, the writer).  ``open_engine`` turns the automatic
    checkpoint off, which would otherwise run inside a commit now and then and
    hold up every acknowledgement queued behind it."""

    def __init__(self, engine: Engine, interval: float = 0.5) -> None:
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="smsc-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
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
            # Leave the database file whole on a clean stop.
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


#: ("insert", table, ()) or ("update", table, the columns set)
_Key = tuple[str, Table, tuple[str, ...]]


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
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in names
        )
        return cls(compiled.string, names, processors, compiled.positional)

    def parameters(self, row: dict[str, Any]) -> Any:
        values = [
            row.get(name) if fn is None else fn(row.get(name))
            for name, fn in zip(self.names, self.processors, strict=True)
        ]
        return tuple(values) if self.positional else dict(zip(self.names, values, strict=True))


@dataclass
class _Op:
    kind: str  # "insert", "update" or "call"
    table: Table | None
    params: dict[str, Any] = field(default_factory=dict)
    fn: Callable[[Connection], Any] | None = None
    done: Deferred[Any] | None = None  # None: nobody waits for this one
    result: Any = None
    failure: BaseException | None = None


class BatchWriter:
    """Runs database operations on one thread, committing them in groups.

    Inserts of a batch run first (one executemany per table), then updates (one
    per table and column set), then calls, in one transaction.  The SMSC never
    updates a row in the batch that inserts it: it acts on a message only once
    the message is committed.  If a batch fails, its operations are retried one
    by one, so one bad operation fails alone.

    ``threaded=False`` runs each operation at once on the caller's thread: the
    same database work, for deterministic tests driven by ``task.Clock``.
    """

    def __init__(
        self,
        engine: Engine,
        call_from_thread: Callable[..., Any] | None = None,
        *,
        max_batch: int = 2000,
        threaded: bool = True,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.threaded = threaded
        self._call_from_thread = call_from_thread
        self._queue: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._checkpointer: Checkpointer | None = None
        self._conn: Connection | None = None
        self.batches = 0
        self.operations = 0
        self._statements: dict[_Key, _Compiled] = {}

    def _executemany(self, conn: Connection, key: _Key, rows: list[dict[str, Any]]) -> None:
        """One ``executemany`` of a statement compiled once, straight to the
        driver: SQLAlchemy's per-row work on a plain executemany costs more than
        SQLite's own, and this thread is the SMSC's throughput bound."""
        compiled = self._statements.get(key)
        if compiled is None:
            compiled = self._statements[key] = _Compiled.of(key, self.engine)
        conn.exec_driver_sql(compiled.sql, [compiled.parameters(row) for row in rows])

    # -- the reactor side -------------------------------------------------

    def start(self) -> None:
        if self.threaded and self._thread is None:
            if self._call_from_thread is None:
                from twisted.internet import reactor

                self._call_from_thread = reactor.callFromThread  # type: ignore[attr-defined]
            self._thread = threading.Thread(target=self._run, name="smsc-db", daemon=True)
            self._thread.start()
            if self.engine.dialect.name == "sqlite":
                self._checkpointer = Checkpointer(self.engine)
                self._checkpointer.start()

    def stop(self) -> None:
        """Finish what is queued and end the thread (blocks until it has)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._drop_connection()
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None

    def insert(self, table: Table, row: dict[str, Any]) -> Deferred[None]:
        """Fires once the row is committed."""
        done: Deferred[None] = Deferred()
        self._submit(_Op("insert", table, row, done=done))
        return done

    def update(self, table: Table, key: int, values: dict[str, Any]) -> None:
        """Set ``values`` on row ``key`` in the next batch; a failure is logged
        (the SMSC never waits for an update: its state is in memory)."""
        self._submit(_Op("update", table, {"b_key": key, **values}))

    def call(self, fn: Callable[[Connection], T]) -> Deferred[T]:
        """Run ``fn`` in the next batch's transaction; fires with its result."""
        done: Deferred[T] = Deferred()
        self._submit(_Op("call", None, fn=fn, done=done))
        return done

    def _submit(self, op: _Op) -> None:
        if not self.threaded:
            self._execute([op])
            self._fire([op])
        else:
            self._queue.put(op)

    @staticmethod
    def _fire(ops: list[_Op]) -> None:
        for op in ops:
            if op.done is None:
                continue
            if op.failure is not None:
                op.done.errback(op.failure)
            else:
                op.done.callback(op.result)

    # -- the database thread ----------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    op = self._queue.get_nowait()
                except queue.Empty:
                    break
                if op is None:
                    stopping = True
                    break
                batch.append(op)
            self._execute(batch)
            assert self._call_from_thread is not None
            self._call_from_thread(self._fire, batch)

    def _execute(self, batch: list[_Op]) -> None:
        try:
            conn = self._connection()
            with conn.begin():
                self._apply(conn, batch)
        except Exception as exc:
            self._drop_connection()
            if len(batch) == 1:
                log.exception("database operation failed")
                batch[0].failure = exc
            else:
                log.warning("batch of %d failed; retrying one by one", len(batch))
                for op in batch:
                    op.result = None
                    self._execute([op])
            return
        self.batches += 1
        self.operations += len(batch)

    def _connection(self) -> Connection:
        """The writer's own connection, kept from batch to batch (a pool
        checkout and its reset cost more than a small commit)."""
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def _drop_connection(self) -> None:
        """After a failure, start again on a fresh connection: the old one may
        be broken (a PostgreSQL restart, say)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _apply(self, conn: Connection, batch: list[_Op]) -> None:
        inserts: dict[Table, list[dict[str, Any]]] = {}
        updates: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = {}
        for op in batch:
            if op.kind == "insert":
                assert op.table is not None
                inserts.setdefault(op.table, []).append(op.params)
            elif op.kind == "update":
                assert op.table is not None
                columns = tuple(sorted(k for k in op.params if k != "b_key"))
                updates.setdefault((op.table, columns), []).append(
                    {("b_" + k if k != "b_key" else k): v for k, v in op.params.items()}
                )
        for table, rows in inserts.items():
            self._executemany(conn, ("insert", table, ()), rows)
        for (table, columns), rows in updates.items():
            self._executemany(conn, ("update", table, columns), rows)
        for op in batch:
            if op.kind == "call":
                assert op.fn is not None
                op.result = op.fn(conn)
