"""Connecting, and staying connected: the one reconnect loop of the handset,
used for its three links (the radio link, the IP session, the push channel).

Why not ``twisted.application.internet.ClientService``: (1) the radio link is
up only once the SMSC accepts the attach, and a ClientService whose
``prepareConnection`` refuses a connection leaves it open; closing it then
reaches the service in its Waiting state, which has no transition for a
disconnect (automat's ``NoTransition``).  (2) The IP session and the push
channel are opened by connectors (``IpConnector``), which the tests give as
in-memory fakes with no transport, and ClientService wants an endpoint.  The
delays are the same as ClientService's would be: ``txkit.Backoff``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol, wrapClientTLS
from twisted.internet.interfaces import (
    IDelayedCall,
    IOpenSSLClientConnectionCreator,
    IReactorTCP,
    IReactorTime,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Protocol as TxProtocol
from twisted.python.failure import Failure

from txkit import Backoff

log = logging.getLogger(__name__)

P = TypeVar("P", bound=TxProtocol)


class Channel(Protocol):
    """A connection the handset keeps up: it says when it is gone."""

    @property
    def lost(self) -> Deferred[None]: ...

    def close(self) -> None: ...


C = TypeVar("C", bound=Channel)

_connect_protocol: Callable[[IStreamClientEndpoint, TxProtocol], Deferred[TxProtocol]]
_connect_protocol = connectProtocol


def connect_tcp(
    reactor: IReactorTCP,
    host: str,
    port: int,
    protocol: P,
    tls: IOpenSSLClientConnectionCreator | None = None,
) -> Deferred[P]:
    """Connect ``protocol`` to ``host:port`` through an endpoint; fires with
    it.  With ``tls`` (``txkit.tls.client_tls``) the connection is TLS, and a
    server whose certificate is not trusted is hung up on in the handshake:
    the protocol's first exchange fails."""
    endpoint: IStreamClientEndpoint = TCP4ClientEndpoint(reactor, host, port)
    if tls is not None:
        endpoint = wrapClientTLS(tls, endpoint)
    d = _connect_protocol(endpoint, protocol)
    return d.addCallback(lambda _: protocol)


class Reconnector(Generic[C]):
    """Keeps one channel up while wanted: ``connect``, and after a failure or
    a loss, wait the back-off and connect again; a channel that comes up
    resets the back-off.  ``on_up`` and ``on_down`` hear of each channel."""

    def __init__(
        self,
        what: str,
        who: str,
        connect: Callable[[], Awaitable[C]],
        clock: IReactorTime,
        backoff: Backoff,
        *,
        on_up: Callable[[C], None],
        on_down: Callable[[C], None] = lambda _: None,
    ) -> None:
        self.what, self.who = what, who
        self._connect = connect
        self.clock = clock
        self.backoff = backoff
        self.on_up, self.on_down = on_up, on_down
        self.current: C | None = None
        self.wanted = False
        self._connecting = False
        self._retry: IDelayedCall | None = None

    def start(self) -> None:
        """Want the channel up, and connect now unless it is up or on its way."""
        self.wanted = True
        self._attempt()

    def stop(self) -> Deferred[None]:
        """Stop wanting it: no more attempts, the channel closed; fires once it is gone."""
        self.wanted = False
        self._cancel_retry()
        channel = self.current
        if channel is None:
            return succeed(None)
        channel.close()
        return channel.lost

    def _cancel_retry(self) -> None:
        retry, self._retry = self._retry, None
        if retry is not None and retry.active():
            retry.cancel()

    def _attempt(self) -> None:
        if not self.wanted or self.current is not None or self._connecting:
            return
        self._connecting = True

        async def connect() -> C:
            return await self._connect()

        Deferred.fromCoroutine(connect()).addCallbacks(self._up, self._failed)

    def _up(self, channel: C) -> None:
        self._connecting = False
        if not self.wanted or self.current is not None:
            channel.close()
            return
        self.current = channel
        self.backoff.reset()
        channel.lost.addBoth(self._lost, channel)
        self.on_up(channel)

    def _failed(self, failure: Failure) -> None:
        self._connecting = False
        log.info("%s: %s: %s", self.who, self.what, failure.getErrorMessage())
        self._later()

    def _lost(self, _: object, channel: C) -> None:
        if self.current is not channel:
            return
        self.current = None
        self.on_down(channel)
        self._later()

    def _later(self) -> None:
        if not self.wanted or (self._retry is not None and self._retry.active()):
            return
        self._retry = self.clock.callLater(self.backoff.next(), self._again)

    def _again(self) -> None:
        self._retry = None
        self._attempt()
