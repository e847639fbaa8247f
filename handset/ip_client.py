"""The device's end of the IP server's wire protocol (docs/receipt-wire.md):
log in, send read responses, receive feedback and acknowledge it.

``DeviceSession`` is the protocol as a plain object (requests in, bytes out;
bytes in, messages out); ``IpClient`` is the thin Twisted protocol over it,
with a Deferred for every request.  Reconnecting is the handset's business:
``IpClient`` says when its connection is gone (``lost``) and nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorTCP
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.python.failure import Failure

from receipt_server import wire

log = logging.getLogger(__name__)

#: What the server may send, and a frame of it that could not be read.
Event = wire.Message | wire.WireError


class DeviceSession:
    """The device side of the protocol, with no I/O.  Request ids are integers
    counting from 1; each request returns its id with its frame."""

    def __init__(self) -> None:
        self._reader = wire.FrameReader(wire.SERVER_MESSAGES)
        self._last_id = 0
        self.login_ok: wire.LoginOk | None = None

    def _id(self) -> int:
        self._last_id += 1
        return self._last_id

    def login(self, device: str, secret: str) -> tuple[int, bytes]:
        rid = self._id()
        return rid, wire.encode(wire.Login(rid, device, secret))

    def response(
        self, receiver: str, sender: str, message_number: int, status: int = 1
    ) -> tuple[int, bytes]:
        """``receiver`` (this device) has read message ``message_number`` of
        ``sender``; ValueError if a field is out of range."""
        rid = self._id()
        return rid, wire.encode(wire.Response(rid, receiver, sender, message_number, status))

    def ack(self, feedback_id: int) -> bytes:
        return wire.encode(wire.FeedbackAck(feedback_id))

    def ping(self) -> tuple[int, bytes]:
        rid = self._id()
        return rid, wire.encode(wire.Ping(rid))

    def receive(self, data: bytes) -> list[Event]:
        events = self._reader.feed(data)
        for event in events:
            if isinstance(event, wire.LoginOk):
                self.login_ok = event
        return events

    @property
    def failed(self) -> wire.WireError | None:
        """Set once the server's framing was lost: nothing more can be read."""
        return self._reader.failed


class IpError(Exception):
    """The server answered ``error``; ``retry_after`` is set for rate_limited."""

    def __init__(self, code: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.retry_after = retry_after


class IpConnectionLost(ConnectionError):
    pass


#: Applies a feedback; the ack goes to the server only once the Deferred it
#: returns has fired (None: at once).  Raising or failing sends no ack: the
#: server sends the feedback again at the next login.
FeedbackHandler = Callable[[wire.Feedback], Deferred[None] | None]


class IpClient(Protocol):
    """A device's connection to the IP server, with a Deferred for every request."""

    def __init__(
        self, device: str, secret: str, on_feedback: FeedbackHandler | None = None
    ) -> None:
        self.device = device
        self.secret = secret
        self.on_feedback = on_feedback
        self.session = DeviceSession()
        #: The last error the server sent that answered no request of ours.
        self.last_error: wire.Error | None = None
        self.connected = False
        self._pending: dict[wire.RequestId, Deferred[Any]] = {}
        self.ready: Deferred[IpClient] = Deferred()
        self.lost: Deferred[None] = Deferred()

    @property
    def login_ok(self) -> wire.LoginOk | None:
        return self.session.login_ok

    # -- requests --------------------------------------------------------------------

    def login(self) -> Deferred[wire.LoginOk]:
        """Fires with ``login_ok``, or fails with IpError (bad_credentials ...)."""
        return self._request(*self.session.login(self.device, self.secret))

    def send_response(
        self, receiver: str, sender: str, message_number: int, status: int = 1
    ) -> Deferred[None]:
        """Fires once the server has committed the feedback for ``sender``; fails
        with IpError (forbidden, rate_limited ...) or IpConnectionLost."""
        try:
            rid, data = self.session.response(receiver, sender, message_number, status)
        except ValueError as exc:
            return fail(exc)
        return self._request(rid, data)

    def ping(self) -> Deferred[None]:
        return self._request(*self.session.ping())

    def close(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()

    def _request(self, rid: int, data: bytes) -> Deferred[Any]:
        if not self.connected:
            return fail(IpConnectionLost("not connected to the IP server"))
        d: Deferred[Any] = Deferred()
        self._pending[rid] = d
        self._write(data)
        return d

    def _write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    # -- the connection ----------------------------------------------------------------

    def connectionMade(self) -> None:
        self.connected = True
        self.ready.callback(self)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.connected = False
        pending, self._pending = self._pending, {}
        for d in pending.values():
            d.errback(IpConnectionLost("connection to the IP server lost"))
        self.lost.callback(None)

    def dataReceived(self, data: bytes) -> None:
        for event in self.session.receive(data):
            self._handle(event)
        if self.session.failed is not None:
            self.close()

    def _handle(self, event: Event) -> None:
        if isinstance(event, wire.Feedback):
            self._feedback(event)
        elif isinstance(event, wire.LoginOk | wire.Ok | wire.Pong):
            d = self._pending.pop(event.id, None)
            if d is not None:
                d.callback(event if isinstance(event, wire.LoginOk) else None)
        elif isinstance(event, wire.Error):
            d = self._pending.pop(event.id, None) if event.id is not None else None
            if d is not None:
                d.errback(IpError(event.code, event.reason, event.retry_after))
            else:
                log.warning("%s: IP server error %s: %s", self.device, event.code, event.reason)
                self.last_error = event
        elif isinstance(event, wire.WireError):
            log.warning("%s: unreadable frame from the IP server: %s", self.device, event.reason)

    def _feedback(self, feedback: wire.Feedback) -> None:
        if self.on_feedback is None:
            self._ack(feedback.feedback_id)
            return
        try:
            applied = self.on_feedback(feedback)
        except Exception:
            log.exception("%s: applying feedback %d failed", self.device, feedback.feedback_id)
            return
        if applied is None:
            self._ack(feedback.feedback_id)
            return

        def failed(failure: Failure) -> None:
            log.error("%s: applying feedback %d failed: %s", self.device,
                      feedback.feedback_id, failure.getErrorMessage())  # fmt: skip

        applied.addCallbacks(lambda _: self._ack(feedback.feedback_id), failed)

    def _ack(self, feedback_id: int) -> None:
        # Gone meanwhile: no ack, and the server sends it again at the next login.
        if self.connected:
            self._write(self.session.ack(feedback_id))


class _Factory(ClientFactory):
    def __init__(self, client: IpClient) -> None:
        self.client = client

    def buildProtocol(self, addr: object) -> IpClient:
        return self.client

    def clientConnectionFailed(self, connector: object, reason: Failure) -> None:
        self.client.ready.errback(reason)


def connect_ip(
    reactor: IReactorTCP,
    host: str,
    port: int,
    device: str,
    secret: str,
    on_feedback: FeedbackHandler | None = None,
) -> Deferred[IpClient]:
    """Connect and log in; fires with the logged-in client (its pending feedback
    is already on its way), or fails with IpError and hangs up."""
    client = IpClient(device, secret, on_feedback)
    reactor.connectTCP(host, port, _Factory(client))

    def refused(failure: Failure) -> Failure:
        client.close()
        return failure

    d = client.ready
    d.addCallback(lambda c: c.login())
    d.addCallbacks(lambda _: client, refused)
    return d
