"""The history query relay (docs/history-query.md), run: ``ipwire.relay.QueryRelay``
decides which open query goes to which device; this carries its actions out
over the connected sessions, keeps a deadline timer per query, stores the
sealed answers, and tells the asker when its results are ready."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from ipwire import wire
from ipwire.relay import Finish, Forward, Indicate, QueryRelay, RelayAction
from ipwire.server_session import Identity

from .history import Retention
from .metrics import IpMetrics
from .queries import FinishedQuery, OpenQueryRow, QueryStart, StoredResults
from .repository import Repository, then
from .sessions import Sessions

if TYPE_CHECKING:
    from .cluster import Cluster
    from .connection import ReceiptServerProtocol


def _fitted(
    make: Callable[[tuple[wire.WindowEntry, ...]], wire.Message], entries: list[wire.WindowEntry]
) -> wire.Message:
    """``make`` of the window's hits, newest first, as many as fit one frame."""
    keep = len(entries)
    while True:
        message = make(tuple(entries[:keep]))
        if keep <= 1 or len(wire.encode_unchecked(message)) <= wire.MAX_FRAME:
            return message
        keep //= 2


class RelayRunner:
    """Queries from their opening to the asker's fetch, for one server process."""

    def __init__(
        self,
        store: Repository,
        clock: IReactorTime,
        sessions: Sessions,
        *,
        retention: Retention,
        query_timeout: float,
        results_ttl: timedelta,
        metrics: IpMetrics,
    ) -> None:
        self.store = store
        self.clock = clock
        self.sessions = sessions
        self.retention = retention
        self.query_timeout = query_timeout
        self.results_ttl = results_ttl
        self.relay = QueryRelay()
        self.metrics = metrics
        self._deadlines: dict[str, IDelayedCall] = {}
        #: When each query relayed by this process came, for the relay's latency.
        self._asked_at: dict[str, float] = {}
        #: The other nodes of a cluster (``cluster``), if any: told of opened
        #: queries, answers and results whose asker is not here.
        self.peers: Cluster | None = None

    def logged_in(self, protocol: ReceiptServerProtocol, identity: Identity) -> None:
        """What waited for a device that logs in: the results of queries it
        asked, and the open queries of its account."""
        device = identity.device_id
        then(self.store.finished_for(device), lambda fs: protocol.reply_all(f.ready() for f in fs))
        self._run(self.relay.logged_in(device, identity.account))

    def query(self, protocol: ReceiptServerProtocol, who: Identity, q: wire.Query) -> Deferred[Any]:
        asked_at = self.clock.seconds()
        self.metrics.queries.inc()
        timeout = q.timeout if q.timeout is not None else self.query_timeout
        d = self.store.start_query(
            who, q, self.retention, timedelta(seconds=timeout), self.results_ttl
        )

        def started(start: QueryStart) -> None:
            hits = start.window.entries
            if start.window.covered or start.query_id is None or start.request is None:
                # The window covers the query, or there is nowhere else to
                # look: the account has no other device.  (A device without a
                # public key opens no query: results could not be sealed to it.)
                if start.window.covered:
                    self.metrics.queries_from_window.inc()
                status = "found" if hits else "not_found"
                protocol.reply(
                    _fitted(lambda w: wire.QueryResult(q.id, status, window=w or None), hits)
                )
                return
            query_id = start.query_id
            self.metrics.queries_relayed.inc()
            self._asked_at[query_id] = asked_at
            request = start.request
            devices = len(start.devices)
            protocol.reply(
                _fitted(lambda w: wire.QueryOpen(q.id, query_id, devices, timeout, w or None), hits)
            )
            device_ids = [d.device_id for d in start.devices]
            self.mirror(who.account, who.device_id, request, device_ids, timeout)
            if self.peers is not None:
                self.peers.opened(who.account, who.device_id, request, device_ids, timeout)

        return d.addCallback(started)

    def mirror(self, account: str, asker: str, request: wire.QueryRequest,
               devices: list[str], timeout: float) -> None:  # fmt: skip
        """Relay an open query to this node's devices, with a deadline timer
        (every node of a cluster keeps one: any of them closes the query)."""
        query_id = request.query_id
        if query_id in self.relay.queries:  # heard, and found in a rescan
            return
        self._deadlines[query_id] = self.clock.callLater(timeout, self._deadline, query_id)
        self._run(
            self.relay.open(
                account,
                asker,
                request,
                devices,
                lambda device: device in self.sessions.by_device,
                lambda device: device in self.sessions.push_channels,
            )
        )

    def rescan(self) -> Deferred[Any]:
        """Mirror the open queries another node opened while this one did
        not hear (it started, or LISTENs again after a gap)."""

        def mirror(rows: list[OpenQueryRow]) -> None:
            for row in rows:  # those mirrored already are passed over
                self.mirror(row.account, row.asker, row.request, row.devices, max(row.left, 0.0))

        return self.store.open_queries().addCallback(mirror)

    def answered_elsewhere(self, query_id: str, device: str) -> None:
        """Another node kept an answer to a query mirrored here."""
        self._run(self.relay.answered(query_id, device))

    def answer(
        self, protocol: ReceiptServerProtocol, who: Identity, a: wire.QueryAnswer
    ) -> Deferred[Any]:
        code = self.relay.refuse(a.query_id, who.device_id, who.account)
        if code is not None:
            reason = (
                f"query {a.query_id} is not open"
                if code is wire.ErrorCode.NOT_OPEN
                else "only another device of the asking account may answer"
            )
            protocol.reply(wire.Error(code, reason, a.id))
            return succeed(None)
        d = self.store.add_answer(a.query_id, who, a.count, wire.unb64(a.sealed))

        def kept(_: object) -> None:
            protocol.reply(wire.Ok(a.id))
            if self.peers is not None:
                self.peers.answered(a.query_id, who.device_id)
            self._run(self.relay.answered(a.query_id, who.device_id))

        return d.addCallback(kept)

    def _deadline(self, query_id: str) -> None:
        self._deadlines.pop(query_id, None)
        actions = self.relay.deadline(query_id)
        if actions:
            self.metrics.queries_timed_out.inc()
        self._run(actions)

    def _run(self, actions: list[RelayAction]) -> None:
        for action in actions:
            if isinstance(action, Forward):
                protocol = self.sessions.by_device.get(action.device)
                if protocol is not None:
                    protocol.reply(action.request)
            elif isinstance(action, Indicate):
                channel = self.sessions.push_channels.get(action.device)
                if channel is not None:
                    channel.indicate(wire.LoginIndication("history_query"))
            elif isinstance(action, Finish):
                call = self._deadlines.pop(action.query_id, None)
                if call is not None and call.active():
                    call.cancel()
                asked_at = self._asked_at.pop(action.query_id, None)
                then(self.store.finish_query(action.query_id), partial(self._finished, asked_at))

    def _finished(self, asked_at: float | None, finished: FinishedQuery | None) -> None:
        """A relayed query is closed: counted (if this process relayed it, not
        one a stopped server left open), and its asker told."""
        if finished is not None and asked_at is not None:
            self.metrics.queries_finished.inc(finished.status)
            self.metrics.relay_seconds.observe(self.clock.seconds() - asked_at)
        self._ready(finished)

    def _ready(self, finished: FinishedQuery | None) -> None:
        """Tell the asker its results are ready (if it is gone, it is told at
        its next login)."""
        if finished is not None:
            protocol = self.sessions.by_device.get(finished.asker)
            if protocol is not None:
                protocol.reply(finished.ready())
            elif self.peers is not None:
                self.peers.ready(finished)

    @staticmethod
    def _send_results(
        protocol: ReceiptServerProtocol, rid: wire.RequestId, query_id: str, r: StoredResults
    ) -> None:
        """As many answers per frame as fit; the last frame says so."""
        chunks: list[list[wire.SealedAnswer]] = [[]]
        for answer in r.answers:
            trial = wire.Results(rid, query_id, r.status, (*chunks[-1], answer), tuple(r.missing))
            if chunks[-1] and len(wire.encode_unchecked(trial)) > wire.MAX_FRAME:
                chunks.append([])
            chunks[-1].append(answer)
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            protocol.reply(
                wire.Results(rid, query_id, r.status, tuple(chunk), tuple(r.missing), last)
            )

    def recover(self) -> Deferred[Any]:
        """At start: close the queries a stopped server left open (in a
        cluster, only those past their deadline: the others are the live
        nodes')."""
        return self.finish_overdue() if self.peers is not None else self._close_open(False)

    def finish_overdue(self) -> Deferred[Any]:
        """Close the open queries past their deadline (a node that kept
        their timers is gone)."""
        return self._close_open(True)

    def _close_open(self, overdue: bool) -> Deferred[Any]:
        def tell(finished: list[FinishedQuery]) -> None:
            for f in finished:
                self._ready(f)

        return self.store.finish_all_open(overdue_only=overdue).addCallback(tell)

    def stop_timers(self) -> None:
        """The server stops: open queries are closed at its next start."""
        deadlines, self._deadlines = self._deadlines, {}
        self._asked_at.clear()
        for call in deadlines.values():
            if call.active():
                call.cancel()

    def fetch(
        self, protocol: ReceiptServerProtocol, who: Identity, m: wire.FetchResults
    ) -> Deferred[Any]:
        d = self.store.load_results(m.query_id, who.device_id)
        return d.addCallback(lambda r: self._send_results(protocol, m.id, m.query_id, r))

    def fetched(
        self, protocol: ReceiptServerProtocol, who: Identity, m: wire.ResultsAck
    ) -> Deferred[Any]:
        """The asker has its results: the server's copy goes."""
        d = self.store.delete_query(m.query_id, who.device_id)
        return d.addCallback(lambda _: protocol.reply(wire.Ok(m.id)))

    def forget(self, device: str) -> None:
        """An unbound device: open queries stop waiting for it."""
        self._run(self.relay.forget(device))
