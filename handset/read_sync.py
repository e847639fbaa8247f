"""Read state that follows the account (docs/receipt-wire.md §Reads):
what the user reads here, the IP server passes to the account's other
devices; what was read on another device is shown read here, without a
response (the device that read it sent the one read receipt)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from ipwire import wire

from .context import PhoneContext
from .ip_session import IpSession
from .views import MessageView

log = logging.getLogger(__name__)


class ReadSync:
    """Owed reads out (once each, while the IP session is up), others' in."""

    def __init__(self, ctx: PhoneContext, session: Callable[[], IpSession | None]) -> None:
        self.ctx, self.session = ctx, session
        self._sending: set[int] = set()  # message ids on their way

    def flush(self) -> None:
        """Tell the server every read still owed (after a read, after a login)."""
        session = self.session()
        if session is None:
            return

        def send_all(owed: list[tuple[int, str]]) -> None:
            for message_id, uid in owed:
                if message_id not in self._sending:
                    self._send(session, message_id, uid)

        d = self.ctx.store.call(self.ctx.repo.pending_read_syncs)
        d.addCallback(send_all).addErrback(self.ctx.log, "pending read syncs")

    def read_here(self, message: MessageView) -> None:
        """The user read ``message`` here (committed): tell the server now,
        without asking the store what is owed (``flush`` does at login)."""
        session = self.session()
        if session is not None and message.id not in self._sending:
            self._send(session, message.id, message.uid)

    def _send(self, session: IpSession, message_id: int, uid: str) -> None:
        self._sending.add(message_id)

        def taken(_: object) -> Deferred[None]:
            self.ctx.events.emit("read synced", id=message_id)  # the server holds it
            # Bookkeeping: the server has it; may share a later commit.
            return self.ctx.store.settle(self.ctx.repo.read_synced, message_id)

        def owed(failure: Failure) -> None:
            # The session went, or a refusal: owed still, sent at the next login.
            log.info("%s: read of message %d not yet passed on: %s",
                     self.ctx.owner, message_id, failure.getErrorMessage())  # fmt: skip

        def settled(_: object) -> None:
            self._sending.discard(message_id)

        session.read_sync(uid).addCallbacks(taken, owed).addBoth(settled)

    def session_lost(self) -> None:
        self._sending.clear()

    def apply(self, state: wire.ReadState) -> Deferred[None]:
        """Another device read ``state.uid``; fires (and the IP client acks)
        once it is read here too, or known not to be held here unread."""
        d = self.ctx.store.call(self.ctx.repo.read_elsewhere, state.uid, self.ctx.now())

        def shown(message: MessageView | None) -> None:
            if message is not None:
                self.ctx.events.emit("read elsewhere", id=message.id, peer=message.peer,
                                     number=message.number)  # fmt: skip

        return d.addCallback(shown)
