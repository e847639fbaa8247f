"""Engines: SQLite in WAL mode with the durability a component needs, or any
SQLAlchemy URL (PostgreSQL for several processes).  A URL that is none, or
names a driver that is not there, is a ``StorageError`` before any engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from .errors import EXAMPLES, StorageError, safe_url

#: Where a driver that is not installed comes from, by backend.
_INSTALL = {
    "postgresql": "pip install 'smsemu[postgres]' and a postgresql+psycopg:// URL",
}


@dataclass(frozen=True)
class SqliteSettings:
    """The pragmas each connection gets.

    ``synchronous``: FULL where a commit acknowledges what someone else handed
    over (SMSC, IP server: it must survive a power cut); NORMAL where a lost
    last commit is what a phone's flash would lose too (the handset).
    ``autocheckpoint``: False when a ``Checkpointer`` copies the log back on a
    thread of its own, so that no commit waits for a checkpoint.
    """

    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    foreign_keys: bool = False
    autocheckpoint: bool = True


def sqlite_file_url(path: Path) -> str:
    return f"sqlite:///{path}"


def check_url(url: str) -> URL:
    """``url`` parsed, its dialect known and its driver installed: as far as
    it can be checked without connecting.  StorageError says what is wrong."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StorageError(f"not a database URL: {safe_url(url)!r} ({EXAMPLES})") from None
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        raise StorageError(
            f"no database dialect or driver {parsed.drivername!r} in {safe_url(parsed)!r} "
            f"({EXAMPLES})",
            parsed,
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        driver = exc.name or parsed.get_driver_name()
        install = _INSTALL.get(parsed.get_backend_name(), f"pip install {driver}")
        raise StorageError(
            f"the database driver {driver!r} of {safe_url(parsed)} is not installed ({install})",
            parsed,
        ) from None
    return parsed


def open_engine(url: str, sqlite: SqliteSettings | None = None) -> Engine:
    """An engine on ``url``; on SQLite, WAL with ``sqlite``'s pragmas (readers
    never block the writer) and a connection any thread may use."""
    if check_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    settings = sqlite or SqliteSettings()
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={settings.synchronous}")
        if settings.foreign_keys:
            cursor.execute("PRAGMA foreign_keys=ON")
        if not settings.autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    return engine
