"""The history query relay of docs/history-query.md as a plain state machine.

``QueryRelay`` knows which queries are open, which devices of the account each
one waits for, which have been sent it and which have answered.  It is fed
events (a query opened, a device logged in, an answer committed, a deadline
passed) and returns what to do: forward the query to a device, send a login
indication down a device's push channel, or finish the query.  It keeps no
clock and does no I/O; the server (``receipt_server.relay_runner``) runs its
actions, keeps a timer per query, and stores the answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import wire


@dataclass(frozen=True, slots=True)
class Forward:
    """Send ``request`` to the logged-in ``device``."""

    device: str
    request: wire.QueryRequest


@dataclass(frozen=True, slots=True)
class Indicate:
    """Send a login indication down ``device``'s push channel."""

    device: str


@dataclass(frozen=True, slots=True)
class Finish:
    """Close the query: every device answered, or its deadline passed."""

    query_id: str


RelayAction = Forward | Indicate | Finish


@dataclass
class OpenQuery:
    query_id: str
    account: str
    asker: str
    request: wire.QueryRequest
    expected: frozenset[str]  # the other devices of the account
    sent: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)


class QueryRelay:
    def __init__(self) -> None:
        self.queries: dict[str, OpenQuery] = {}

    def open(
        self,
        account: str,
        asker: str,
        request: wire.QueryRequest,
        devices: list[str],
        logged_in: Callable[[str], bool],
        reachable: Callable[[str], bool],
    ) -> list[RelayAction]:
        """A query nothing on the server answered: to every other device of
        the account that is logged in, and a login indication to each that is
        not but has a push channel (``reachable``)."""
        query = OpenQuery(request.query_id, account, asker, request, frozenset(devices))
        self.queries[query.query_id] = query
        actions: list[RelayAction] = []
        for device in sorted(query.expected):
            if logged_in(device):
                query.sent.add(device)
                actions.append(Forward(device, request))
            elif reachable(device):
                actions.append(Indicate(device))
        return actions

    def logged_in(self, device: str, account: str) -> list[RelayAction]:
        """A device logged in: the open queries of its account that wait for
        it and have not reached it yet (on this connection) go to it now."""
        actions: list[RelayAction] = []
        for query in self.queries.values():
            if (
                query.account == account
                and device in query.expected
                and device not in query.answered
            ):
                query.sent.add(device)
                actions.append(Forward(device, query.request))
        return actions

    def refuse(self, query_id: str, device: str, account: str) -> wire.ErrorCode | None:
        """Why an answer from ``device`` may not be taken, or None if it may."""
        query = self.queries.get(query_id)
        if query is None:
            return wire.ErrorCode.NOT_OPEN
        if query.account != account or device not in query.expected:
            return wire.ErrorCode.FORBIDDEN
        return None

    def answered(self, query_id: str, device: str) -> list[RelayAction]:
        """An answer is committed: the query finishes when every device it
        waits for has answered."""
        query = self.queries.get(query_id)
        if query is None:
            return []
        query.answered.add(device)
        if query.answered >= query.expected:
            del self.queries[query_id]
            return [Finish(query_id)]
        return []

    def forget(self, device: str) -> list[RelayAction]:
        """An unbound device: no query waits for it any longer (one whose
        other devices have all answered finishes now)."""
        actions: list[RelayAction] = []
        for query in list(self.queries.values()):
            if device in query.expected:
                query.expected = query.expected - {device}
                query.answered.discard(device)
                if query.answered >= query.expected:
                    del self.queries[query.query_id]
                    actions.append(Finish(query.query_id))
        return actions

    def deadline(self, query_id: str) -> list[RelayAction]:
        """The query's time is up: it finishes with what arrived."""
        return [Finish(query_id)] if self.queries.pop(query_id, None) is not None else []
