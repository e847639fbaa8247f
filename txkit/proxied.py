"""Listeners behind HAProxy (``send-proxy``): the PROXY header read before the
protocol is told of its connection.

Twisted's own wrapper (``twisted.protocols.haproxy``) tells the wrapped
protocol ``connectionMade`` at once, when the header has not come yet, so a
protocol that notes its peer there (the SMPP door for its lockout and
allow-list, the radio link and the IP server for their logs) would note
HAProxy's address.  Here the wrapped protocol is connected only once the
header has been read: from its first callback on, ``getPeer`` is the client's.
A connection that closes, or sends something else, before a whole header is
closed without the wrapped protocol ever hearing of it.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint
from twisted.internet.protocol import Protocol
from twisted.protocols.haproxy._wrapper import HAProxyProtocolWrapper, HAProxyWrappingFactory
from twisted.python.failure import Failure
from zope.interface import directlyProvides, implementer, providedBy


class _HeaderFirst(HAProxyProtocolWrapper):
    """Connects the wrapped protocol once the PROXY header is in."""

    _connected = False

    def makeConnection(self, transport: Any) -> None:
        directlyProvides(self, providedBy(transport))
        Protocol.makeConnection(self, transport)  # type: ignore[no-untyped-call]
        self.factory.registerProtocol(self)

    def dataReceived(self, data: bytes) -> None:
        if self._connected:
            self.wrappedProtocol.dataReceived(data)
            return
        wrapped, held = self.wrappedProtocol, list[bytes]()
        # Read the header with the wrapped protocol's bytes held back, then
        # connect it and hand them over.
        self.wrappedProtocol = _Hold(held)  # type: ignore[assignment]
        try:
            super().dataReceived(data)
        finally:
            self.wrappedProtocol = wrapped
        if self._proxyInfo is None or self.disconnecting:
            return
        self._connected = True
        wrapped.makeConnection(self)  # type: ignore[arg-type]
        for chunk in held:
            wrapped.dataReceived(chunk)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.factory.unregisterProtocol(self)
        if self._connected:
            lost = reason or Failure(ConnectionError("lost"))  # type: ignore[no-untyped-call]
            self.wrappedProtocol.connectionLost(lost)


class _Hold:
    """Keeps what follows the header while it is being read."""

    def __init__(self, held: list[bytes]) -> None:
        self.held = held

    def dataReceived(self, data: bytes) -> None:
        self.held.append(data)


class HeaderFirstFactory(HAProxyWrappingFactory):
    """Wraps a factory's protocols in ``_HeaderFirst``."""

    protocol = _HeaderFirst  # type: ignore[assignment]


@implementer(IStreamServerEndpoint)
class ProxiedEndpoint:
    """``inner`` with every connection's PROXY header read first."""

    def __init__(self, inner: IStreamServerEndpoint) -> None:
        self.inner = inner

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        wrapped: Any = HeaderFirstFactory(factory)  # type: ignore[no-untyped-call]
        return self.inner.listen(wrapped)
