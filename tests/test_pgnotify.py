"""LISTEN/NOTIFY between processes' connections, on a real PostgreSQL server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_twisted
from sqlalchemy import Engine, create_engine, text
from twisted.internet.defer import Deferred

from storage import open_engine
from storage.pgnotify import MAX_PAYLOAD, Listener, conninfo, notify


class Heard:
    """What a listener delivered, and Deferreds for what a test waits on."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str, str]]] = []
        self.listens = 0
        self._want: list[tuple[int, Deferred[None]]] = []
        self._listen_wait: list[tuple[int, Deferred[None]]] = []

    @property
    def notes(self) -> list[tuple[str, str]]:
        return [note for batch in self.batches for note in batch]

    def deliver(self, batch: list[tuple[str, str]]) -> None:
        self.batches.append(batch)
        self._fire(self._want, len(self.notes))

    def listening(self) -> None:
        self.listens += 1
        self._fire(self._listen_wait, self.listens)

    def notes_reach(self, n: int) -> Deferred[None]:
        return self._wait(self._want, n, len(self.notes))

    def listens_reach(self, n: int) -> Deferred[None]:
        return self._wait(self._listen_wait, n, self.listens)

    @staticmethod
    def _wait(waits: list[tuple[int, Deferred[None]]], n: int, now: int) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        if now >= n:
            d.callback(None)
        else:
            waits.append((n, d))
        return d

    @staticmethod
    def _fire(waits: list[tuple[int, Deferred[None]]], now: int) -> None:
        for item in [w for w in waits if w[0] <= now]:
            waits.remove(item)
            item[1].callback(None)


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(postgres_url)
    yield engine
    engine.dispose()


def _channel() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest_twisted.ensureDeferred
async def test_a_notification_arrives_at_commit_in_order_and_a_rollback_sends_none(
    postgres_url: str, engine: Engine
) -> None:
    work, other = _channel(), _channel()
    heard = Heard()
    listener = Listener(postgres_url, [work, other], heard.deliver, heard.listening)
    listener.startService()
    try:
        await heard.listens_reach(1)
        with engine.connect() as conn:
            notify(conn, work, "lost")
            conn.rollback()
        with engine.begin() as conn:
            for n in range(5):
                notify(conn, work, f"m{n}")
            notify(conn, other, "x")
            notify(conn, _channel(), "not listened to")
        with engine.begin() as conn:
            notify(conn, work, "after")
        await heard.notes_reach(7)
        assert heard.notes == [(work, f"m{n}") for n in range(5)] + [(other, "x"), (work, "after")]
        # A burst wakes the reactor once, not once a notification.
        assert len(heard.batches) < 7
    finally:
        await listener.stopService()
    assert listener._thread is not None and not listener._thread.is_alive()


@pytest_twisted.ensureDeferred
async def test_a_lost_connection_is_reopened_and_listening_says_when_to_rescan(
    postgres_url: str, engine: Engine
) -> None:
    work = _channel()
    heard = Heard()
    listener = Listener(postgres_url, [work], heard.deliver, heard.listening, retry=lambda _n: 0.05)
    listener.startService()
    try:
        await heard.listens_reach(1)
        with engine.begin() as conn:
            killed = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query = :q AND pid <> pg_backend_pid()"
                ),
                {"q": f'LISTEN "{work}"'},
            ).all()
        assert killed == [(True,)]
        await heard.listens_reach(2)
        with engine.begin() as conn:
            notify(conn, work, "again")
        await heard.notes_reach(1)
        assert heard.notes == [(work, "again")]
    finally:
        await listener.stopService()


def test_notify_is_nothing_on_sqlite_and_a_payload_too_long_is_refused(
    tmp_path: Path, engine: Engine
) -> None:
    lite = open_engine(f"sqlite:///{tmp_path / 'n.sqlite3'}")
    with lite.begin() as conn:
        notify(conn, "anything", "ignored")  # one process: nobody else to tell
    lite.dispose()
    with engine.begin() as conn, pytest.raises(ValueError, match="payload"):
        notify(conn, _channel(), "x" * (MAX_PAYLOAD + 1))


def test_conninfo_is_libpq_s_url_with_its_password() -> None:
    url = "postgresql+psycopg://smsc:s3cret@db.example:5433/smsemu"
    assert conninfo(url) == "postgresql://smsc:s3cret@db.example:5433/smsemu"
