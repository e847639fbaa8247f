"""The device's end of the IP server's wire protocol (docs/receipt-wire.md):
log in, send read responses, receive feedback and acknowledge it.

``IpClient`` is the thin Twisted protocol over ``ipwire.device_session``
(the protocol as a plain object), with a Deferred for every request.
Reconnecting is the handset's business: ``IpClient`` says when its connection
is gone (``lost``) and nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorTCP
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

from ipwire import wire
from ipwire.device_session import DeviceSession, Event
from txkit import nodelay

from .reconnect import connect_tcp

log = logging.getLogger(__name__)


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
#: Takes what else the server pushes: ``query_request``, ``results_ready``,
#: ``login_indication`` and ``ip_message``; an ``ip_message`` is acknowledged
#: once the Deferred returned fires (None: at once), like a feedback.
PushHandler = Callable[[wire.Message], Deferred[None] | None]
#: What ``IpClient.query`` fires with: the answer at once, or the query relayed.
QueryReply = wire.QueryResult | wire.QueryOpen


class IpClient(Protocol):
    """A device's connection to the IP server, with a Deferred for every request."""

    def __init__(
        self,
        device: str,
        secret: str,
        on_feedback: FeedbackHandler | None = None,
        on_push: PushHandler | None = None,
    ) -> None:
        self.device = device
        self.secret = secret
        self.on_feedback = on_feedback
        self.on_push = on_push
        self.session = DeviceSession()
        #: The last error the server sent that answered no request of ours.
        self.last_error: wire.Error | None = None
        self.connected = False
        self._pending: dict[wire.RequestId, Deferred[Any]] = {}
        self._results: dict[wire.RequestId, list[wire.Results]] = {}
        self.lost: Deferred[None] = Deferred()

    @property
    def login_ok(self) -> wire.LoginOk | None:
        return self.session.login_ok

    # -- requests --------------------------------------------------------------------

    def login(self) -> Deferred[wire.LoginOk]:
        """Fires with ``login_ok``, or fails with IpError (bad_credentials ...)."""
        return self._request(*self.session.login(self.device, self.secret))

    def send_response(
        self,
        receiver: str,
        sender: str,
        message_number: int,
        status: int = 1,
        sent_at: int | None = None,
    ) -> Deferred[None]:
        """Fires once the server has committed the feedback for ``sender``; fails
        with IpError (forbidden, rate_limited ...) or IpConnectionLost."""
        try:
            rid, data = self.session.response(receiver, sender, message_number, status, sent_at)
        except ValueError as exc:
            return fail(exc)
        return self._request(rid, data)

    def ping(self) -> Deferred[None]:
        return self._request(*self.session.ping())

    def push_subscribe(self) -> Deferred[wire.LoginOk]:
        """Make this connection the device's push channel (instead of a login)."""
        return self._request(*self.session.push_subscribe(self.device, self.secret))

    def put_history(self, entries: Sequence[wire.HistoryEntry]) -> Deferred[None]:
        """Copies for the server's partial history; fires once it has them."""
        return self._make(lambda rid: wire.HistoryPut(rid, tuple(entries)))

    def query(self, **criteria: Any) -> Deferred[QueryReply]:
        """A history query (``text``, ``peer``, ``since``, ``until``, ``limit``,
        ``timeout``, as ``wire.Query``)."""
        return self._make(lambda rid: wire.Query(rid, **criteria))

    def answer(self, query_id: str, count: int, sealed: bytes) -> Deferred[None]:
        return self._make(lambda rid: wire.QueryAnswer(rid, query_id, count, wire.b64(sealed)))

    def fetch(self, query_id: str) -> Deferred[list[wire.Results]]:
        """Every ``results`` frame of a finished query, in order."""
        return self._make(lambda rid: wire.FetchResults(rid, query_id))

    def ack_results(self, query_id: str) -> Deferred[None]:
        """Fires once the server has deleted its copy of the results."""
        return self._make(lambda rid: wire.ResultsAck(rid, query_id))

    def ip_submit(
        self, to: str, uid: str, message_number: int, text: str, sent_at: int
    ) -> Deferred[None]:
        """Fires once the server has committed the message; IpError
        ``recipient_offline`` when it should go by SMS instead."""
        return self._make(lambda rid: wire.IpSubmit(rid, to, uid, message_number, text, sent_at))

    def read_sync(self, uid: str) -> Deferred[None]:
        """Fires once the server has committed the read of ``uid`` for the
        account's other devices."""
        return self._make(lambda rid: wire.ReadSync(rid, uid))

    def _make(self, make: Callable[[int], wire.Message]) -> Deferred[Any]:
        try:
            rid, data = self.session.request(make)
        except (TypeError, ValueError) as exc:
            return fail(exc)
        return self._request(rid, data)

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
        nodelay(self.transport)
        self.connected = True

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.connected = False
        pending, self._pending = self._pending, {}
        self._results.clear()
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
        elif isinstance(event, wire.Challenge):
            proof = self.session.answer(event)
            if proof is not None:
                self._write(proof)
        elif isinstance(event, wire.Ok | wire.Pong):
            d = self._pending.pop(event.id, None)
            if d is not None:
                d.callback(None)
        elif isinstance(event, wire.LoginOk | wire.QueryResult | wire.QueryOpen):
            d = self._pending.pop(event.id, None)
            if d is not None:
                d.callback(event)
        elif isinstance(event, wire.Results):
            frames = self._results.setdefault(event.id, [])
            frames.append(event)
            if event.last:
                del self._results[event.id]
                d = self._pending.pop(event.id, None)
                if d is not None:
                    d.callback(frames)
        elif isinstance(event, wire.IpMessage):
            self._applied(
                event,
                f"IP message {event.delivery_id}",
                self.session.ip_message_ack(event.delivery_id),
            )
        elif isinstance(event, wire.ReadState):
            self._applied(
                event, f"read state {event.sync_id}", self.session.read_state_ack(event.sync_id)
            )
        elif isinstance(event, wire.QueryRequest | wire.ResultsReady | wire.LoginIndication):
            if self.on_push is not None:
                try:
                    self.on_push(event)
                except Exception:
                    log.exception("%s: handling %s failed", self.device, event.TYPE)
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
        what = f"feedback {feedback.feedback_id}"
        ack = self.session.ack(feedback.feedback_id)
        if self.on_feedback is None:
            self._ack(ack)
            return
        try:
            applied = self.on_feedback(feedback)
        except Exception:
            log.exception("%s: applying %s failed", self.device, what)
            return
        self._after(applied, what, ack)

    def _applied(self, message: wire.Message, what: str, ack: bytes) -> None:
        """Hand a pushed message to ``on_push``; acknowledge once it is applied."""
        if self.on_push is None:
            self._ack(ack)
            return
        try:
            applied = self.on_push(message)
        except Exception:
            log.exception("%s: applying %s failed", self.device, what)
            return
        self._after(applied, what, ack)

    def _after(self, applied: Deferred[None] | None, what: str, ack: bytes) -> None:
        if applied is None:
            self._ack(ack)
            return

        def failed(failure: Failure) -> None:
            log.error("%s: applying %s failed: %s", self.device, what, failure.getErrorMessage())

        applied.addCallbacks(lambda _: self._ack(ack), failed)

    def _ack(self, frame: bytes) -> None:
        # Gone meanwhile: no ack, and the server sends it again at the next login.
        if self.connected:
            self._write(frame)


def connect_ip(
    reactor: IReactorTCP,
    host: str,
    port: int,
    device: str,
    secret: str,
    on_feedback: FeedbackHandler | None = None,
    on_push: PushHandler | None = None,
) -> Deferred[IpClient]:
    """Connect and log in; fires with the logged-in client (its pending feedback
    is already on its way), or fails with IpError and hangs up."""
    client = IpClient(device, secret, on_feedback, on_push)
    return _connect(reactor, host, port, client, client.login)


def connect_push(
    reactor: IReactorTCP, host: str, port: int, device: str, secret: str, on_push: PushHandler
) -> Deferred[IpClient]:
    """Open the device's push channel: a connection that stays logged out and
    carries ``login_indication`` only."""
    client = IpClient(device, secret, on_push=on_push)
    return _connect(reactor, host, port, client, client.push_subscribe)


def _connect(
    reactor: IReactorTCP, host: str, port: int, client: IpClient, first: Callable[[], Deferred[Any]]
) -> Deferred[IpClient]:
    def refused(failure: Failure) -> Failure:
        client.close()
        return failure

    d = connect_tcp(reactor, host, port, client)
    d.addCallback(lambda _: first())
    d.addCallbacks(lambda _: client, refused)
    return d
