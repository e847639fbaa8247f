"""The history query relay's storage (docs/history-query.md §Search, steps 4-8): the open query, the
sealed answers the devices send, how it ended, and the temporary copy of
the results until the asker has fetched them or they expire."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred

from ipwire import wire
from ipwire.server_session import Identity

from .devices import AccountDevice, bound_devices
from .history import Retention, WindowAnswer, search
from .jobs import Part
from .models import Device, HistoryQuery, QueryResult


@dataclass(frozen=True, slots=True)
class QueryStart:
    """What opening a query found: the server's window (its hits sealed to
    the asker, and whether they are the whole answer), and, when they are
    not, the account's other devices to relay it to (``query_id`` set when
    there are any, and the asker's public key they seal their answers to)."""

    window: WindowAnswer
    query_id: str | None = None
    devices: list[AccountDevice] = field(default_factory=list)
    reply_key: bytes | None = None
    request: wire.QueryRequest | None = None  # what the devices are sent


@dataclass(frozen=True, slots=True)
class OpenQueryRow:
    """An open query as the table holds it, for a node that did not open it."""

    account: str
    asker: str
    request: wire.QueryRequest
    devices: list[str]
    left: float  # seconds to its deadline


@dataclass(frozen=True, slots=True)
class FinishedQuery:
    query_id: str
    asker: str
    status: str
    answered: int
    expected: int

    def ready(self) -> wire.ResultsReady:
        return wire.ResultsReady(self.query_id, self.status, self.answered, self.expected)


@dataclass(frozen=True, slots=True)
class StoredResults:
    status: str
    answers: list[wire.SealedAnswer]
    missing: list[str]


class QueryRefused(ValueError):
    """An answer, fetch or ack the server refuses: ``code`` says why."""

    def __init__(self, code: wire.ErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def query_status(found: int, answered: int, expected: int) -> str:
    """How a query ended (docs/history-query.md §Deadline): "partial" while a
    device has not answered, whatever was found; once every one has,
    "complete" or, when nothing was found anywhere, "not_found"."""
    if answered < expected:
        return "partial"
    return "complete" if found else "not_found"


def _missing(s: Session, query: HistoryQuery) -> list[str]:
    """The account's other bound devices that have not answered ``query``."""
    answered = select(QueryResult.device_id).where(QueryResult.query_id == query.query_id)
    waited = s.scalars(
        select(Device.device_id)
        .where(
            Device.account == query.account,
            Device.revoked_at.is_(None),
            Device.device_id != query.asker,
        )
        .order_by(Device.device_id)
        .limit(wire.MAX_DEVICES)
    )
    done = set(s.scalars(answered))
    return [d for d in waited if d not in done]


class Queries(Part):
    """Relayed queries and their sealed answers, until fetched or expired."""

    def start_query(
        self,
        asker: Identity,
        q: wire.Query,
        retention: Retention,
        deadline: timedelta,
        keep: timedelta,
    ) -> Deferred[QueryStart]:
        """Steps 3-4 of docs/history-query.md §Search in one transaction: the server's window
        first; unless it covers the query, a query row for the account's other
        devices (none: nothing to relay).  The query and its results are
        deleted ``keep`` after the deadline if never fetched."""

        def work(s: Session) -> QueryStart:
            window = search(s, asker.account, asker.device_id, q, retention, self.now())
            if window.covered:
                return QueryStart(window)
            # An account's devices past MAX_DEVICES are not asked: the wire
            # counts them in a bounded field.
            devices = bound_devices(s, asker.account, but=asker.device_id)[: wire.MAX_DEVICES]
            me = s.get(Device, asker.device_id)
            if not devices or me is None or me.public_key is None:
                # Nobody else to ask, or nothing to seal answers to: the
                # window's hits are all there is.
                return QueryStart(window, devices=devices)
            query_id = secrets.token_hex(16)
            now = self.now()
            request = wire.QueryRequest(query_id, asker.device_id, wire.b64(me.public_key),
                                        q.text, q.peer, q.since, q.until, q.limit)  # fmt: skip
            s.add(HistoryQuery(query_id=query_id, account=asker.account,
                               asker=asker.device_id, status="open", expected=len(devices),
                               window_found=len(window.entries), created_at=now,
                               deadline_at=now + deadline, expires_at=now + deadline + keep,
                               request=json.dumps(request.to_json())))  # fmt: skip
            return QueryStart(window, query_id, devices, me.public_key, request)

        return self._submit(work)

    def add_answer(
        self, query_id: str, device: Identity, count: int, sealed: bytes
    ) -> Deferred[None]:
        """Keep a device's sealed answer to an open query of its account;
        QueryRefused otherwise.  The same device answering again replaces
        nothing: the first answer stands."""

        def work(s: Session) -> None:
            query = s.get(HistoryQuery, query_id)
            if query is None or query.status != "open":
                raise QueryRefused(wire.ErrorCode.NOT_OPEN, f"query {query_id} is not open")
            author = s.get(Device, device.device_id)
            if (
                query.account != device.account
                or query.asker == device.device_id
                or author is None
                or author.revoked_at is not None
            ):
                raise QueryRefused(
                    wire.ErrorCode.FORBIDDEN, "only another bound device of the account may answer"
                )
            held = s.scalar(
                select(QueryResult.id).where(
                    QueryResult.query_id == query_id, QueryResult.device_id == device.device_id
                )
            )
            if held is None:
                s.add(QueryResult(query_id=query_id, device_id=device.device_id, count=count,
                                  sealed=sealed, received_at=self.now()))  # fmt: skip

        return self._submit(work)

    def finish_query(self, query_id: str) -> Deferred[FinishedQuery | None]:
        """Close an open query (everyone answered, or the deadline passed):
        its status is set from the answers kept.  None if it is not open."""
        return self._submit(lambda s: self._finish(s, query_id))

    @staticmethod
    def _finish(s: Session, query_id: str) -> FinishedQuery | None:
        # Locked: nodes of a cluster may close it at once; one closes it.
        query = s.get(HistoryQuery, query_id, with_for_update=True)
        if query is None or query.status != "open":
            return None
        answered, found = s.execute(
            select(func.count(QueryResult.id), func.coalesce(func.sum(QueryResult.count), 0)).where(
                QueryResult.query_id == query_id
            )
        ).one()
        # A device unbound since it opened is no longer waited for.
        waited = int(answered) + len(_missing(s, query))
        query.status = query_status(int(found) + query.window_found, int(answered), waited)
        return FinishedQuery(query_id, query.asker, query.status, int(answered), query.expected)

    def finish_all_open(self, *, overdue_only: bool = False) -> Deferred[list[FinishedQuery]]:
        """At start: queries a stopped server left open are closed with what
        they have, so that no asker waits for them forever (``overdue_only``:
        those past their deadline, in a cluster whose other nodes run the rest)."""

        def work(s: Session) -> list[FinishedQuery]:
            query = select(HistoryQuery.query_id).where(HistoryQuery.status == "open")
            if overdue_only:
                query = query.where(HistoryQuery.deadline_at < self.now())
            ids = list(s.scalars(query))
            return [f for i in ids if (f := self._finish(s, i)) is not None]

        return self._submit(work)

    def open_queries(self) -> Deferred[list[OpenQueryRow]]:
        """The open queries whose request is kept, and the devices each
        still waits for (a cluster node relays them to its own)."""

        def work(s: Session) -> list[OpenQueryRow]:
            now = self.now()
            rows = s.scalars(
                select(HistoryQuery).where(
                    HistoryQuery.status == "open", HistoryQuery.request.is_not(None)
                )
            ).all()
            out = []
            for q in rows:
                request = wire.decode_payload((q.request or "").encode(), wire.SERVER_MESSAGES)
                if isinstance(request, wire.QueryRequest):
                    left = (q.deadline_at - now).total_seconds()
                    out.append(OpenQueryRow(q.account, q.asker, request, _missing(s, q), left))
            return out

        return self._submit(work)

    def finished_for(self, asker: str) -> Deferred[list[FinishedQuery]]:
        """The asker's finished queries whose results wait to be fetched."""

        def work(s: Session) -> list[FinishedQuery]:
            answered = func.count(QueryResult.id)
            rows = s.execute(
                select(HistoryQuery.query_id, HistoryQuery.status, HistoryQuery.expected, answered)
                .outerjoin(QueryResult, QueryResult.query_id == HistoryQuery.query_id)
                .where(HistoryQuery.asker == asker, HistoryQuery.status != "open")
                .group_by(
                    HistoryQuery.query_id,
                    HistoryQuery.status,
                    HistoryQuery.expected,
                    HistoryQuery.created_at,
                )
                .order_by(HistoryQuery.created_at)
            )
            return [
                FinishedQuery(q, asker, status, int(n), expected) for q, status, expected, n in rows
            ]

        return self._submit(work)

    def _asked(self, s: Session, query_id: str, asker: str) -> HistoryQuery:
        query = s.get(HistoryQuery, query_id)
        if query is None or query.status == "open":
            raise QueryRefused(wire.ErrorCode.NOT_OPEN, f"query {query_id} has no results ready")
        if query.asker != asker:
            raise QueryRefused(wire.ErrorCode.FORBIDDEN, "only the device that asked may fetch")
        return query

    def load_results(self, query_id: str, asker: str) -> Deferred[StoredResults]:
        """The sealed answers of a finished query, for the device that asked."""

        def work(s: Session) -> StoredResults:
            query = self._asked(s, query_id, asker)
            rows = s.scalars(
                select(QueryResult).where(QueryResult.query_id == query_id).order_by(QueryResult.id)
            ).all()
            answers = [wire.SealedAnswer(r.device_id, r.count, wire.b64(r.sealed)) for r in rows]
            return StoredResults(query.status, answers, _missing(s, query))

        return self._submit(work)

    def delete_query(self, query_id: str, asker: str) -> Deferred[None]:
        """The asker has its results: the server's copy goes
        (docs/history-query.md §Search, step 7)."""

        def work(s: Session) -> None:
            self._asked(s, query_id, asker)
            s.execute(delete(QueryResult).where(QueryResult.query_id == query_id))
            s.execute(delete(HistoryQuery).where(HistoryQuery.query_id == query_id))

        return self._submit(work)

    def expire_queries(self) -> Deferred[int]:
        """Delete queries (open or finished) past their expiry, with their
        results: results never fetched do not stay.  Fires with how many."""

        def work(s: Session) -> int:
            ids = list(
                s.scalars(select(HistoryQuery.query_id).where(HistoryQuery.expires_at < self.now()))
            )
            if ids:
                s.execute(delete(QueryResult).where(QueryResult.query_id.in_(ids)))
                s.execute(delete(HistoryQuery).where(HistoryQuery.query_id.in_(ids)))
            return len(ids)

        return self._submit(work)

    def query_rows(self) -> Deferred[int]:
        """Rows of queries and their results held: the temporary copy."""

        def work(s: Session) -> int:
            queries = s.scalar(select(func.count()).select_from(HistoryQuery))
            results = s.scalar(select(func.count()).select_from(QueryResult))
            return int(queries or 0) + int(results or 0)

        return self._submit(work)
