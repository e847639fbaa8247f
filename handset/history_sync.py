"""Copies for the IP server's partial history (docs/history-query.md §Window): every message stored
here is owed to the server until it holds it, sent a frame at a time while
the IP session is up."""

from __future__ import annotations

import logging
from collections.abc import Callable

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from ipwire import wire
from txkit import Backoff

from .context import PhoneContext, PhoneError
from .history import to_entry
from .ip_session import LOG_IN_AGAIN, RETRY_LATER, IpSession
from .views import HistoryItem

log = logging.getLogger(__name__)

#: Octets of history entries in one history_put frame, with room for the rest.
_PUT_BUDGET = wire.MAX_FRAME - 256


class HistoryCopies:
    """Copies what the server's history lacks; ``session`` gives the IP
    session, if it is up.  One flush runs at a time; one asked for meanwhile
    runs after it.  A copy the server refuses for good is dropped (logged
    once) so that the ones after it still go; one refused for now (rate
    limited, server error, no answer) is tried again after ``backoff``."""

    def __init__(
        self, ctx: PhoneContext, session: Callable[[], IpSession | None], backoff: Backoff
    ) -> None:
        self.ctx, self.session, self.backoff = ctx, session, backoff
        self._busy = False
        self._alone = 0  # owed copies still to send one per frame, after a refusal
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
                wait = getattr(result.value, "retry_after", None)
                delay = float(wait) if isinstance(wait, int | float) else self.backoff.next()
                self.ctx.later("history copies", delay, self.flush)
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
            owed = await self.ctx.store.call(repo.history_pending, 1 if self._alone else 100)
            if not owed:
                return
            self._alone = max(0, self._alone - len(owed))
            entries, done, dropped = self._frame(owed)
            if dropped:
                await self._drop(dropped)
            if not entries:
                continue
            try:
                await self.ctx.bounded(session.put_history(entries), "history copies")
            except Exception as exc:
                if not _for_good(exc):
                    raise  # tried again later (``flush``)
                if len(entries) > 1:
                    # One of them at least the server will never take: each
                    # goes alone, so the rest still get through.
                    self._alone = len(entries)
                    continue
                await self._drop({entries[0].uid: str(exc)})
                continue
            self.backoff.reset()
            await self.ctx.store.call(repo.history_done, done)
            self.ctx.events.emit("history copied", count=len(entries))

    def _frame(
        self, owed: list[HistoryItem]
    ) -> tuple[list[wire.HistoryEntry], list[str], dict[str, str]]:
        """The entries of the next frame, their uids, and the uids never to be
        sent, each with why: an entry the wire refuses (a peer that is not a
        number), or one too large alone for a frame (it stays on the phone)."""
        entries: list[wire.HistoryEntry] = []
        done: list[str] = []
        dropped: dict[str, str] = {}
        budget = _PUT_BUDGET
        for item in owed:
            entry = to_entry(item)
            try:
                size = len(wire.encode_unchecked(entry))
            except ValueError as exc:
                dropped[item.uid] = str(exc)
                continue
            if size > budget or len(entries) == wire.MAX_ENTRIES:
                if entries:
                    break
                dropped[item.uid] = f"{size} octets do not fit a frame"
                continue
            entries.append(entry)
            done.append(item.uid)
            budget -= size + 1
        return entries, done, dropped

    async def _drop(self, refused: dict[str, str]) -> None:
        """Owe these copies no more: told once, never tried again."""
        await self.ctx.store.call(self.ctx.repo.history_done, list(refused))
        for uid, reason in refused.items():
            log.warning("%s: history copy %s dropped: %s", self.ctx.owner, uid, reason)
            self.ctx.events.emit("history copy dropped", uid=uid, reason=reason)


def _for_good(exc: BaseException) -> bool:
    """Whether the server refused a history_put for good (``ip_session``): any
    error code but those that say to try again later."""
    code = getattr(exc, "code", None)
    return code is not None and code not in RETRY_LATER and code != LOG_IN_AGAIN
