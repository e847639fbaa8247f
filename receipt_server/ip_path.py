"""The IP path (docs/read-receipts.md §Routing): a device sends a message to a number over the IP
server instead of SMS when a device of that number is logged in; the server
queues it durably for each of the recipient's devices and pushes it to those
connected, the others get it at their next login."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, succeed

from ipwire import wire
from ipwire.server_session import Identity

from .repository import Repository, then
from .sessions import Sessions

if TYPE_CHECKING:
    from .connection import ReceiptServerProtocol


class IpPath:
    """IP-path messages in, queued, pushed, acknowledged."""

    def __init__(self, store: Repository, sessions: Sessions) -> None:
        self.store = store
        self.sessions = sessions
        #: Whether a device of a number is logged in on any node (a cluster), if set.
        self.anywhere: Callable[[str], Deferred[bool]] | None = None

    def logged_in(self, protocol: ReceiptServerProtocol, device: str) -> None:
        """What the queue holds for a device that logs in."""
        then(self.store.pending_ip(device), lambda ms: protocol.reply_all(ms))

    def submit(
        self, protocol: ReceiptServerProtocol, who: Identity, m: wire.IpSubmit
    ) -> Deferred[Any]:
        if self.sessions.online(m.to):
            return self._queue(protocol, who, m)
        if self.anywhere is None:
            return self._offline(protocol, m)

        def online(anywhere: bool) -> Deferred[Any]:
            return self._queue(protocol, who, m) if anywhere else self._offline(protocol, m)

        return self.anywhere(m.to).addCallback(online)

    @staticmethod
    def _offline(protocol: ReceiptServerProtocol, m: wire.IpSubmit) -> Deferred[Any]:
        # No device of the recipient logged in: SMS reaches it sooner.  (One
        # that is, takes it now; the others get it from the queue at login.)
        reason = f"{m.to} is not logged in: send it by SMS"
        protocol.reply(wire.Error(wire.ErrorCode.RECIPIENT_OFFLINE, reason, m.id))
        return succeed(None)

    def _queue(
        self, protocol: ReceiptServerProtocol, who: Identity, m: wire.IpSubmit
    ) -> Deferred[Any]:
        def queued(out: list[tuple[str, wire.IpMessage]]) -> None:
            protocol.reply(wire.Ok(m.id))
            self.sessions.push(out)

        return self.store.submit_ip(who.msisdn, m).addCallback(queued)

    def acknowledged(self, who: Identity, m: wire.IpMessageAck) -> None:
        then(self.store.ack_ip(who.device_id, m.delivery_id), lambda _: None)
