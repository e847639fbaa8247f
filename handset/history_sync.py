"""Copies for the IP server's partial history (docs/history-query.md §Window): every message stored
here is owed to the server until it holds it, sent a frame at a time while
the IP session is up."""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from ipwire import wire

from .context import PhoneContext, PhoneError
from .history import to_entry
from .ip_session import IpSession

#: Octets of history entries in one history_put frame, with room for the rest.
_PUT_BUDGET = wire.MAX_FRAME - 256


class HistoryCopies:
    """Copies what the server's history lacks; ``session`` gives the IP
    session, if it is up.  One flush runs at a time; one asked for meanwhile
    runs after it."""

    def __init__(self, ctx: PhoneContext, session: Callable[[], IpSession | None]) -> None:
        self.ctx, self.session = ctx, session
        self._busy = False
        self._again = False
        self._synced: list[Deferred[None]] = []

    def sync(self) -> Deferred[None]:
        """Fires once the server has a copy of everything stored so far (or
        the IP session is down: then at once)."""
        if self.session() is None:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._synced.append(d)
        self.flush()
        return d

    def flush(self) -> None:
        """Copy what the server's history lacks to it, a frame at a time."""
        if self.session() is None:
            self._settle()
            return
        if self._busy:
            self._again = True
            return
        self._busy = True
        d = Deferred.fromCoroutine(self._put())

        def done(result: object) -> None:
            self._busy = False
            if isinstance(result, Failure):
                self.ctx.log(result, "history copies")
                self._settle(result)
            elif self._again:
                self._again = False
                self.flush()
            else:
                self._settle()

        d.addBoth(done)

    def _settle(self, failure: Failure | None = None) -> None:
        synced, self._synced = self._synced, []
        for d in synced:
            if failure is None:
                d.callback(None)
            else:
                d.errback(PhoneError(f"history copies: {failure.getErrorMessage()}"))

    async def _put(self) -> None:
        repo = self.ctx.repo
        while (session := self.session()) is not None:
            owed = await self.ctx.store.call(repo.history_pending)
            if not owed:
                return
            done: list[str] = []  # sent in this frame, or too long ever to be
            entries: list[wire.HistoryEntry] = []
            budget = _PUT_BUDGET
            for item in owed:
                entry = to_entry(item) if len(item.text) <= wire.MAX_TEXT else None
                size = len(wire.encode_unchecked(entry)) if entry is not None else 0
                if entry is not None and (size > budget or len(entries) == wire.MAX_ENTRIES):
                    if entries:
                        break
                    entry = None  # alone it still does not fit: never sent
                done.append(item.uid)
                if entry is not None:
                    entries.append(entry)
                    budget -= size + 1
            if entries:
                await self.ctx.bounded(session.put_history(entries), "history copies")
            await self.ctx.store.call(repo.history_done, done)
            self.ctx.events.emit("history copied", count=len(entries))
