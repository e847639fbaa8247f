"""The IP server's Twisted side: a protocol that moves frames between a TCP
connection and its ``ServerSession``, runs the session's effects against the
repository, and a factory that knows which sessions to push feedback to.

Logged-in sessions are indexed by MSISDN (all of them get a feedback for it)
and by device id: a device that logs in again on a new connection replaces
the old one, which gets ``error session_replaced`` and is closed.  The old
connection is most likely a dead one the device has not noticed yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IListeningPort, IReactorTime
from twisted.internet.protocol import Factory
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.python.failure import Failure

from . import wire
from .ratelimit import RateLimiter
from .session import (
    AckFeedback,
    Action,
    Authenticate,
    Close,
    Identity,
    LoadBacklog,
    Send,
    ServerSession,
    StoreFeedback,
)
from .store import ReceiptStore

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_PORT = 7102
DEFAULT_RATE = 50.0  # requests per second per device, on average
DEFAULT_BURST = 100  # requests a device may make at once


class Repository(Protocol):
    """What the server needs of its storage (``ReceiptStore`` is one)."""

    def authenticate(self, device_id: str, secret: str) -> Deferred[Identity | None]: ...

    def add_feedback(
        self, to_msisdn: str, receiver: str, message_number: int, status: int
    ) -> Deferred[int]: ...

    def pending_for(self, msisdn: str) -> Deferred[list[wire.Feedback]]: ...

    def ack(self, msisdn: str, feedback_id: int) -> Deferred[bool]: ...


class ReceiptServerProtocol(TwistedProtocol):
    def __init__(self, factory: ReceiptServerFactory) -> None:
        self.factory = factory
        self.session = ServerSession(factory.limiter)
        self.reader = wire.FrameReader(wire.DEVICE_MESSAGES)
        self.lost: Deferred[None] = Deferred()
        self.peer = "?"

    def connectionMade(self) -> None:
        assert self.transport is not None
        address = self.transport.getPeer()
        self.peer = f"{getattr(address, 'host', '?')}:{getattr(address, 'port', '?')}"
        self.factory.connections.add(self)

    def dataReceived(self, data: bytes) -> None:
        for item in self.reader.feed(data):
            if self.session.closed:
                break
            self._apply(self.session.receive(item, self._now()))

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.session.close()
        self.factory.gone(self)
        self.lost.callback(None)

    def push(self, feedback: wire.Feedback) -> None:
        self._apply(self.session.push(feedback))

    def replaced(self) -> None:
        self._apply(self.session.replaced())

    def close(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()

    def _who(self) -> str:
        identity = self.session.identity
        return f"{self.peer} ({identity.device_id})" if identity else self.peer

    # -- actions -------------------------------------------------------------------

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                if isinstance(action.message, wire.Error):
                    log.info("%s: error %s: %s", self._who(), action.message.code,
                             action.message.reason)  # fmt: skip
                if self.transport is not None:
                    self.transport.write(self._encode(action.message))
            elif isinstance(action, Close):
                self.close()
            elif isinstance(action, Authenticate):
                self._effect(
                    self.factory.store.authenticate(action.device, action.secret),
                    self._logged_in,
                    lambda reason: self.session.login_failed(reason, self._now()),
                    "authentication failed",
                )
            elif isinstance(action, LoadBacklog):
                self._effect(
                    self.factory.store.pending_for(action.msisdn),
                    self.session.backlog,
                    self.session.backlog_failed,
                    "could not load the pending feedback",
                )
            elif isinstance(action, StoreFeedback):
                self._store(action)
            elif isinstance(action, AckFeedback):
                self._effect(
                    self.factory.store.ack(action.msisdn, action.feedback_id),
                    lambda _: [],
                    lambda _: [],
                    "could not record an acknowledgement",
                )

    def _encode(self, message: wire.Message) -> bytes:
        try:
            return wire.encode(message)
        except ValueError as exc:  # cannot happen with bounded fields; never a traceback
            log.error("%s: cannot encode %s: %s", self._who(), message.TYPE, exc)
            return wire.encode(wire.Error("server_error", "the answer could not be encoded"))

    def _effect(
        self,
        d: Deferred[T],
        then: Callable[[T], list[Action]],
        failed: Callable[[str], list[Action]],
        what: str,
    ) -> None:
        """Feed the outcome of a store call back into the session."""

        def ok(result: T) -> None:
            self._apply(then(result))

        def error(failure: Failure) -> None:
            log.error("%s: %s: %s", self._who(), what, failure.getErrorMessage())
            self._apply(failed(what))

        d.addCallbacks(ok, error)

    def _now(self) -> float:
        return float(self.factory.clock.seconds())

    def _logged_in(self, identity: Identity | None) -> list[Action]:
        if identity is not None and not self.session.closed:
            self.factory.logged_in(self, identity)
        return self.session.login_result(identity, self._now())

    def _store(self, action: StoreFeedback) -> None:
        def stored(feedback_id: int) -> list[Action]:
            feedback = wire.Feedback(
                feedback_id, action.receiver, action.message_number, action.status
            )
            self.factory.deliver(action.to_msisdn, feedback)
            return self.session.stored(action.request_id)

        self._effect(
            self.factory.store.add_feedback(
                action.to_msisdn, action.receiver, action.message_number, action.status
            ),
            stored,
            lambda reason: self.session.store_failed(action.request_id, reason),
            "could not store the response",
        )


class ReceiptServerFactory(Factory):
    def __init__(
        self,
        store: Repository,
        clock: IReactorTime,
        *,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
    ) -> None:
        self.store = store
        self.clock = clock
        self.limiter = RateLimiter(rate, burst)
        self.connections: set[ReceiptServerProtocol] = set()
        self.by_msisdn: dict[str, set[ReceiptServerProtocol]] = {}
        self.by_device: dict[str, ReceiptServerProtocol] = {}

    def buildProtocol(self, addr: object) -> ReceiptServerProtocol:
        return ReceiptServerProtocol(self)

    def logged_in(self, protocol: ReceiptServerProtocol, identity: Identity) -> None:
        old = self.by_device.get(identity.device_id)
        if old is not None and old is not protocol:
            self._forget(old)
            old.replaced()
        self.by_device[identity.device_id] = protocol
        self.by_msisdn.setdefault(identity.msisdn, set()).add(protocol)

    def deliver(self, msisdn: str, feedback: wire.Feedback) -> None:
        """Push a just-committed feedback to every session of ``msisdn``."""
        for protocol in list(self.by_msisdn.get(msisdn, ())):
            protocol.push(feedback)

    def gone(self, protocol: ReceiptServerProtocol) -> None:
        self.connections.discard(protocol)
        self._forget(protocol)

    def _forget(self, protocol: ReceiptServerProtocol) -> None:
        identity = protocol.session.identity
        if identity is None:
            return
        if self.by_device.get(identity.device_id) is protocol:
            del self.by_device[identity.device_id]
        sessions = self.by_msisdn.get(identity.msisdn)
        if sessions is not None:
            sessions.discard(protocol)
            if not sessions:
                del self.by_msisdn[identity.msisdn]

    def close_all(self) -> Deferred[Any]:
        """Hang up every connection; fires when all are gone."""
        waits = [p.lost for p in self.connections]
        for protocol in list(self.connections):
            protocol.close()
        return DeferredList(waits) if waits else succeed(None)


@dataclass
class Listening:
    """A listening IP server: its port and its factory."""

    port: IListeningPort
    factory: ReceiptServerFactory

    @property
    def address(self) -> tuple[str, int]:
        host = self.port.getHost()
        return host.host, host.port  # type: ignore[attr-defined]

    def stop(self) -> Deferred[Any]:
        """Stop listening and hang up every connection; fires when all is closed."""
        stopped = self.port.stopListening() or succeed(None)
        stopped.addCallback(lambda _: self.factory.close_all())
        return stopped


def listen(
    reactor: Any,
    store: Repository,
    port: int = DEFAULT_PORT,
    interface: str = "127.0.0.1",
    *,
    rate: float = DEFAULT_RATE,
    burst: int = DEFAULT_BURST,
) -> Listening:
    """Serve devices on ``interface:port`` (0: any free port, see ``address``)."""
    factory = ReceiptServerFactory(store, reactor, rate=rate, burst=burst)
    listening: IListeningPort = reactor.listenTCP(port, factory, interface=interface)
    return Listening(listening, factory)


class ReceiptServerService(Service):
    """The IP server as a Twisted service: its store on ``database_url``, listening."""

    def __init__(
        self,
        database_url: str,
        *,
        address: tuple[str, int] = ("127.0.0.1", DEFAULT_PORT),
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        reactor: Any = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self.reactor = reactor
        self.database_url = database_url
        self.address = address
        self.rate = rate
        self.burst = burst
        self.store: ReceiptStore | None = None
        self.listening: Listening | None = None

    @property
    def port(self) -> int:
        """The port it listens on (the real one when configured as 0)."""
        return self.listening.address[1] if self.listening is not None else 0

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        self.store = ReceiptStore.open(self.database_url, reactor=self.reactor)
        host, port = self.address
        self.listening = listen(
            self.reactor, self.store, port, host, rate=self.rate, burst=self.burst
        )
        log.info("IP server on %s:%d", host, self.port)

    def stopService(self) -> Deferred[Any]:
        super().stopService()  # type: ignore[no-untyped-call]
        listening, self.listening = self.listening, None
        store, self.store = self.store, None
        d = listening.stop() if listening is not None else succeed(None)
        if store is not None:
            d.addCallback(lambda _: store.stop())
        return d
