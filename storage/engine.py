"""Engines: SQLite in WAL mode with the durability a component needs, or any
SQLAlchemy URL (PostgreSQL for several processes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, create_engine, event


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


def open_engine(url: str, sqlite: SqliteSettings | None = None) -> Engine:
    """An engine on ``url``; on SQLite, WAL with ``sqlite``'s pragmas (readers
    never block the writer) and a connection any thread may use."""
    if not url.startswith("sqlite"):
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
