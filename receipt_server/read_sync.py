"""Read state that follows the account (docs/receipt-wire.md §Reads):
a device tells the server its user read a message; the server queues that
durably for the account's other devices and pushes it to those connected;
the others get it at their next login.  They show the message read and
send no response: the sender gets one read receipt, from the first reader."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred

from ipwire import wire
from ipwire.server_session import Identity

from .repository import Repository, then
from .sessions import Sessions

if TYPE_CHECKING:
    from .connection import ReceiptServerProtocol


class ReadSync:
    """``read_sync`` in, ``read_state`` queued, pushed, acknowledged."""

    def __init__(self, store: Repository, sessions: Sessions) -> None:
        self.store = store
        self.sessions = sessions

    def logged_in(self, protocol: ReceiptServerProtocol, device: str) -> None:
        """The reads a device that logs in is still to show."""
        then(self.store.pending_reads(device), lambda states: protocol.reply_all(states))

    def read(
        self, protocol: ReceiptServerProtocol, who: Identity, m: wire.ReadSync
    ) -> Deferred[Any]:
        def queued(out: list[tuple[str, wire.ReadState]]) -> None:
            protocol.reply(wire.Ok(m.id))
            self.sessions.push(out)

        return self.store.sync_read(who.account, who.device_id, m.uid).addCallback(queued)

    def acknowledged(self, who: Identity, m: wire.ReadStateAck) -> None:
        then(self.store.ack_read(who.device_id, m.sync_id), lambda _: None)
