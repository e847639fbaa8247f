"""What the IP server needs of its storage (``ReceiptStore`` is one), so that
its Twisted side depends on an interface, not on the store."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Protocol, TypeVar

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from ipwire import wire
from ipwire.server_session import Identity

from .history import Retention
from .queries import FinishedQuery, OpenQueryRow, QueryStart, StoredResults

log = logging.getLogger(__name__)
T = TypeVar("T")


class Repository(Protocol):
    """What the server needs of its storage (``ReceiptStore`` is one)."""

    def authenticate(
        self, device_id: str, message: bytes, presented: bytes
    ) -> Deferred[tuple[Identity, bytes] | None]: ...

    def add_feedback(
        self,
        to_msisdn: str,
        receiver: str,
        message_number: int,
        status: int,
        sent_at: int | None = None,
    ) -> Deferred[int]: ...

    def pending_for(self, msisdn: str) -> Deferred[list[wire.Feedback]]: ...

    def ack(self, msisdn: str, feedback_id: int) -> Deferred[bool]: ...

    def pending_count(self) -> Deferred[int]: ...

    def put_history(
        self, account: str, entries: Sequence[wire.HistoryEntry], retention: Retention
    ) -> Deferred[int]: ...

    def prune_history(self, retention: Retention) -> Deferred[int]: ...

    def start_query(
        self,
        asker: Identity,
        q: wire.Query,
        retention: Retention,
        deadline: timedelta,
        keep: timedelta,
    ) -> Deferred[QueryStart]: ...

    def add_answer(
        self, query_id: str, device: Identity, count: int, sealed: bytes
    ) -> Deferred[None]: ...

    def finish_query(self, query_id: str) -> Deferred[FinishedQuery | None]: ...

    def finish_all_open(self, *, overdue_only: bool = False) -> Deferred[list[FinishedQuery]]: ...

    def finished_for(self, asker: str) -> Deferred[list[FinishedQuery]]: ...

    def open_queries(self) -> Deferred[list[OpenQueryRow]]: ...

    def load_results(self, query_id: str, asker: str) -> Deferred[StoredResults]: ...

    def delete_query(self, query_id: str, asker: str) -> Deferred[None]: ...

    def expire_queries(self) -> Deferred[int]: ...

    def revoked_among(self, device_ids: Sequence[str]) -> Deferred[list[str]]: ...

    def submit_ip(
        self, sender: str, m: wire.IpSubmit
    ) -> Deferred[list[tuple[str, wire.IpMessage]]]: ...

    def pending_ip(self, device_id: str) -> Deferred[list[wire.IpMessage]]: ...

    def ack_ip(self, device_id: str, delivery_id: int) -> Deferred[bool]: ...

    def sync_read(
        self, account: str, reader: str, uid: str
    ) -> Deferred[list[tuple[str, wire.ReadState]]]: ...

    def pending_reads(self, device_id: str) -> Deferred[list[wire.ReadState]]: ...

    def ack_read(self, device_id: str, sync_id: int) -> Deferred[bool]: ...


def then(d: Deferred[T], fn: Callable[[T], object]) -> None:
    """Run ``fn`` on what a repository call fires with; a failure is logged,
    for work no device waits an answer to."""

    def failed(failure: Failure) -> None:
        log.error("IP server: %s", failure.getErrorMessage())

    d.addCallback(fn).addErrback(failed)
