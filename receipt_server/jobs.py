"""What the repository's parts share: each call builds ``work(session)`` and
hands it to the store's database thread, which runs it in a group-committed
transaction and fires the call's Deferred after commit.  A part only knows
how to submit and what time it is, not how the thread runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import Table, Update, bindparam, update
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred

T = TypeVar("T")


class Submit(Protocol):
    """Run ``work`` on the database thread; ``lazy`` work (acknowledgements)
    may wait a little for company in its transaction."""

    def __call__(self, work: Callable[[Session], T], *, lazy: bool = False) -> Deferred[T]: ...


class Part:
    """One idea of the repository (devices, the outbox, ...): its calls
    return Deferreds of work submitted through ``_submit``."""

    def __init__(self, submit: Submit, now: Callable[[], datetime]) -> None:
        self._submit = submit
        #: Naive UTC; read at each call, so a test may move the store's clock.
        self.now = now


def from_millis(ms: int) -> datetime:
    """Unix milliseconds as naive UTC, the form of every time in the tables."""
    return datetime(1970, 1, 1) + timedelta(milliseconds=ms)


def to_millis(when: datetime) -> int:
    return (when - datetime(1970, 1, 1)) // timedelta(milliseconds=1)


def ack_pending(table: Table, owner: str) -> Update:
    """The acknowledgement of a durable queue's row, built once: the row
    ``b_id`` of ``b_owner`` (in column ``owner``) still pending gets
    ``acked_at = b_at``; its rowcount says whether it was pending."""
    return (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            table.c[owner] == bindparam("b_owner"),
            table.c.acked_at.is_(None),
        )
        .values(acked_at=bindparam("b_at"))
    )
