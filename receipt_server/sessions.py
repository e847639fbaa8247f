"""Who is connected to this IP server process.

Logged-in sessions are indexed by device id, and phones by MSISDN (all of
them get a feedback for it): a device that logs in again on a new connection
replaces the old one, which gets ``error session_replaced`` and is closed.
The old connection is most likely a dead one the device has not noticed yet.
Push channels are indexed by device id apart from logins.  The indexes are
per process: with several IP-server processes on one database, a device is
reached live only through the process it is connected to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList, succeed

from ipwire import wire
from ipwire.server_session import Identity

if TYPE_CHECKING:
    from .connection import ReceiptServerProtocol


class Sessions:
    """The connections, and the logged-in devices and push channels among them."""

    def __init__(self) -> None:
        self.connections: set[ReceiptServerProtocol] = set()
        self.by_msisdn: dict[str, set[ReceiptServerProtocol]] = {}  # phones only
        self.devices_of: dict[str, set[str]] = {}  # MSISDN -> its devices logged in
        self.by_device: dict[str, ReceiptServerProtocol] = {}
        self.push_channels: dict[str, ReceiptServerProtocol] = {}
        #: Where ``push`` sends what is for devices not connected here (the
        #: other nodes of a cluster), if anywhere.
        self.elsewhere: Callable[[list[tuple[str, wire.Message]]], None] | None = None
        #: Told of each device whose session here ends (a cluster's roster).
        self.left: Callable[[str], None] | None = None

    def add(self, protocol: ReceiptServerProtocol) -> None:
        self.connections.add(protocol)

    def gone(self, protocol: ReceiptServerProtocol) -> None:
        self.connections.discard(protocol)
        self._forget(protocol)

    def push_channel(self, protocol: ReceiptServerProtocol, device: str) -> None:
        """``protocol`` is now the device's push channel."""
        old = self.push_channels.get(device)
        self.push_channels[device] = protocol
        if old is not None and old is not protocol:
            old.replaced()

    def logged_in(self, protocol: ReceiptServerProtocol, identity: Identity) -> None:
        """``protocol`` is now the device's session, replacing any other."""
        device = identity.device_id
        old = self.by_device.get(device)
        if old is not None and old is not protocol:
            self._forget(old)
            old.replaced()
        self.by_device[device] = protocol
        self.devices_of.setdefault(identity.msisdn, set()).add(device)
        if identity.kind == "phone":
            self.by_msisdn.setdefault(identity.msisdn, set()).add(protocol)

    def phones(self, msisdn: str) -> list[ReceiptServerProtocol]:
        """The sessions a feedback for ``msisdn`` goes to."""
        return list(self.by_msisdn.get(msisdn, ()))

    def online(self, msisdn: str) -> bool:
        """Whether a device of ``msisdn`` is logged in."""
        return bool(self.devices_of.get(msisdn))

    def devices(self) -> list[str]:
        """The devices connected, logged in or by their push channel."""
        return sorted(set(self.by_device) | set(self.push_channels))

    def push(self, out: Iterable[tuple[str, wire.Message]]) -> None:
        """Each (device, message) just committed to a durable queue, to the
        device's session if it is logged in (here, or on another node); the
        others get it at login."""
        away: list[tuple[str, wire.Message]] = []
        for device, message in out:
            target = self.by_device.get(device)
            if target is not None:
                target.reply(message)
            else:
                away.append((device, message))
        if away and self.elsewhere is not None:
            self.elsewhere(away)

    def of_device(self, device: str) -> list[ReceiptServerProtocol]:
        """The device's session and its push channel, those it has."""
        found = (self.by_device.get(device), self.push_channels.get(device))
        return [p for p in found if p is not None]

    def close_all(self) -> Deferred[Any]:
        """Hang up every connection; fires when all are gone."""
        waits = [p.lost for p in self.connections]
        for protocol in list(self.connections):
            protocol.close()
        return DeferredList(waits) if waits else succeed(None)

    def _forget(self, protocol: ReceiptServerProtocol) -> None:
        identity = protocol.session.identity
        if identity is None:
            return
        if self.push_channels.get(identity.device_id) is protocol:
            del self.push_channels[identity.device_id]
        if self.by_device.get(identity.device_id) is protocol:
            del self.by_device[identity.device_id]
            if self.left is not None:
                self.left(identity.device_id)
            online = self.devices_of.get(identity.msisdn)
            if online is not None:
                online.discard(identity.device_id)
                if not online:
                    del self.devices_of[identity.msisdn]
        sessions = self.by_msisdn.get(identity.msisdn)
        if sessions is not None:
            sessions.discard(protocol)
            if not sessions:
                del self.by_msisdn[identity.msisdn]
