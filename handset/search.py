"""The history search of docs/history-query.md: this device's store first, then the IP
server's partial history, then the account's other devices, whose answers
come back sealed to this device's key; and the other side, answering what
another device of the account asks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.defer import TimeoutError as DeferredTimeout
from twisted.python.failure import Failure

from ipwire import wire
from ipwire.sealed import DeviceKey
from pdu import PDUError

from .context import PhoneContext, PhoneError, number_of
from .history import (
    LOCAL,
    SERVER,
    Found,
    SearchResult,
    from_entry,
    from_millis,
    merge,
    millis,
    open_answers,
    open_window,
    seal_answer,
)
from .ip_session import IpSession
from .views import HistoryQuery

log = logging.getLogger(__name__)

#: Seconds a search waits past the query's deadline for the results to be
#: ready, in case the server fails to say: a search never hangs.
RESULTS_GRACE = 10.0


class HistorySearch:
    """Searches, and answers searches; ``session`` gives the IP session, if
    it is up; ``key`` opens what the other devices found."""

    def __init__(
        self,
        ctx: PhoneContext,
        session: Callable[[], IpSession | None],
        key: DeviceKey | None,
    ) -> None:
        self.ctx, self.session, self.key = ctx, session, key
        self._ready: dict[str, Deferred[wire.ResultsReady]] = {}
        self._early_ready: dict[str, wire.ResultsReady] = {}

    def search(
        self,
        text: str | None,
        peer: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        timeout: float | None,
    ) -> Deferred[SearchResult]:
        try:
            query = HistoryQuery(
                text, number_of(peer) if peer is not None else None, since, until, limit
            )
        except (PDUError, ValueError) as exc:
            return fail(PhoneError(str(exc)))
        return Deferred.fromCoroutine(self._search(query, timeout))

    async def _search(self, q: HistoryQuery, timeout: float | None) -> SearchResult:
        ctx = self.ctx
        local = await ctx.store.call(ctx.repo.search, q)
        if local:
            items = [Found(i, (LOCAL,)) for i in local]
            return self._searched(SearchResult("found", items, LOCAL, answered=[LOCAL]))
        session = self.session()
        if session is None:
            return self._searched(SearchResult("not_found", [], LOCAL, answered=[LOCAL]))
        ctx.events.emit("search missed", where=LOCAL)
        criteria = {
            "text": q.text,
            "peer": q.peer,
            "since": millis(q.since) if q.since is not None else None,
            "until": millis(q.until) if q.until is not None else None,
            "limit": q.limit,
            "timeout": timeout,
        }
        reply = await ctx.bounded(session.query(**criteria), "history query")
        # The window's hits (in the clear from a server before the sealed window).
        window, unopened = self._window(reply.window or ())
        if isinstance(reply, wire.QueryResult):
            window += [Found(from_entry(e), (SERVER,)) for e in reply.messages]
            status = "found" if window else "partial" if unopened else "not_found"
            missing = [SERVER] if unopened else []
            return self._searched(SearchResult(status, merge(window, q.limit), SERVER,
                                               missing, answered=[LOCAL, SERVER]))  # fmt: skip
        if window:
            ctx.events.emit("search window", where=SERVER, results=len(window))
        else:
            ctx.events.emit("search missed", where=SERVER)
        ctx.events.emit("search relayed", query_id=reply.query_id, devices=reply.devices)
        await self._results_ready(reply.query_id, (reply.deadline or 0) + RESULTS_GRACE)
        session = self.session()  # the session may have been replaced meanwhile
        if session is None:
            raise PhoneError("the IP session went while the query ran: search again")
        frames = await ctx.bounded(session.fetch(reply.query_id), "fetching results")
        if self.key is None:
            raise PhoneError("this device has no key to open the results with")
        answers = [a for f in frames for a in f.answers]
        found, unusable = open_answers(answers, self.key, reply.query_id)
        items = merge(window + found, q.limit)
        await ctx.bounded(session.ack_results(reply.query_id), "acknowledging results")
        # An answer that cannot be opened is no answer: "partial" as long as a
        # source is missing, "not_found" only when every one answered.
        missing = [*(frames[-1].missing if frames else ()), *unusable]
        if unopened:
            missing.append(SERVER)
        status = "partial" if missing else "complete" if items else "not_found"
        answered = [LOCAL, SERVER, *(a.device for a in answers if a.device not in unusable)]
        return self._searched(
            SearchResult(status, items, "devices", missing, reply.query_id, answered)
        )

    def _window(self, entries: Sequence[wire.WindowEntry]) -> tuple[list[Found], int]:
        """The server's window hits, opened; and how many did not open."""
        if not entries:
            return [], 0
        if self.key is None:
            return [], len(entries)
        return open_window(entries, self.key)

    def _searched(self, result: SearchResult) -> SearchResult:
        self.ctx.events.emit("searched", status=result.status, source=result.source,
                             results=len(result.items), query_id=result.query_id)  # fmt: skip
        return result

    def _results_ready(self, query_id: str, within: float) -> Deferred[wire.ResultsReady]:
        early = self._early_ready.pop(query_id, None)
        if early is not None:
            return succeed(early)
        d: Deferred[wire.ResultsReady] = Deferred()
        self._ready[query_id] = d

        def too_late(failure: Failure) -> Any:
            if not isinstance(failure.value, DeferredTimeout):
                return failure
            self._ready.pop(query_id, None)
            raise PhoneError(f"query {query_id}: no results from the IP server in time")

        return d.addTimeout(within, self.ctx.reactor).addErrback(too_late)

    def results_ready(self, message: wire.ResultsReady) -> None:
        """The server says a relayed query's results are ready (maybe before
        this device has heard the query is open)."""
        waiting = self._ready.pop(message.query_id, None)
        if waiting is not None:
            waiting.callback(message)
        else:
            self._early_ready[message.query_id] = message

    def stop(self) -> None:
        """Searches still waiting fail: the phone stopped."""
        for waiting in list(self._ready.values()):
            waiting.errback(PhoneError("the phone stopped"))

    def answer(self, request: wire.QueryRequest) -> None:
        """Another device of the account asks: search here, seal what was found
        to the asker's key, answer."""
        session = self.session()
        if session is None:
            return
        q = HistoryQuery(
            request.text,
            request.peer,
            from_millis(request.since) if request.since is not None else None,
            from_millis(request.until) if request.until is not None else None,
            request.limit,
        )
        reply_key = wire.unb64(request.reply_key)
        ctx = self.ctx

        async def answer() -> None:
            if not await ctx.store.call(ctx.repo.pin_key, request.asker, reply_key, ctx.now()):
                log.warning("%s: query %s: the key of %s is not the one pinned: not answered",
                            ctx.owner, request.query_id, request.asker)  # fmt: skip
                ctx.events.emit("query refused", query_id=request.query_id, asker=request.asker,
                                reason="the asking device's key changed")  # fmt: skip
                return
            found = await ctx.store.call(ctx.repo.search, q)
            count, blob = seal_answer(found, reply_key, request.query_id, session.device)
            ctx.events.emit("query answered", query_id=request.query_id, asker=request.asker,
                            results=count)  # fmt: skip
            await ctx.bounded(session.answer(request.query_id, count, blob), "answer")

        d = Deferred.fromCoroutine(answer())
        d.addErrback(ctx.log, f"answering query {request.query_id}")
