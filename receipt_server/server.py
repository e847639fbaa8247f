"""The IP server's Twisted side: a protocol that moves frames between a TCP
connection and its ``ServerSession``, runs the session's effects against the
repository, and a factory that knows which sessions to push feedback to.

Logged-in sessions are indexed by device id, and phones by MSISDN (all of
them get a feedback for it): a device that logs in again on a new connection
replaces the old one, which gets ``error session_replaced`` and is closed.
The old connection is most likely a dead one the device has not noticed yet.
Push channels are indexed by device id apart from logins.

The factory also serves the requests of multi-device accounts (SPEC §3,
§2.3): history copies, history queries relayed through ``QueryRelay`` with a
timer per query, sealed answers kept until fetched, and the IP path.  The
indexes are per process: with several IP-server processes on one database,
a device is reached live only through the process it is connected to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IDelayedCall, IListeningPort, IReactorTime
from twisted.internet.protocol import Factory
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from ipwire import wire
from ipwire.ratelimit import RateLimiter
from ipwire.relay import Finish, Forward, Indicate, QueryRelay, RelayAction
from ipwire.server_session import (
    AckFeedback,
    Action,
    Authenticate,
    Close,
    Identity,
    LoadBacklog,
    Send,
    Serve,
    ServerSession,
    State,
    StoreFeedback,
)
from txkit import nodelay

from .history import Retention
from .queries import FinishedQuery, QueryRefused, QueryStart, StoredResults
from .store import ReceiptStore

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_PORT = 7102
DEFAULT_RATE = 50.0  # requests per second per device, on average
DEFAULT_BURST = 100  # requests a device may make at once
#: Seconds a relayed query waits for the account's devices, unless it asks for less.
DEFAULT_QUERY_TIMEOUT = 5.0
#: How long finished results wait to be fetched before they are deleted.
RESULTS_TTL = timedelta(minutes=5)
#: Seconds between sweeps of expired results and history past its window.
SWEEP_EVERY = 30.0


class Repository(Protocol):
    """What the server needs of its storage (``ReceiptStore`` is one)."""

    def authenticate(self, device_id: str, secret: str) -> Deferred[Identity | None]: ...

    def add_feedback(
        self, to_msisdn: str, receiver: str, message_number: int, status: int
    ) -> Deferred[int]: ...

    def pending_for(self, msisdn: str) -> Deferred[list[wire.Feedback]]: ...

    def ack(self, msisdn: str, feedback_id: int) -> Deferred[bool]: ...

    def put_history(
        self, account: str, entries: Sequence[wire.HistoryEntry], retention: Retention
    ) -> Deferred[int]: ...

    def prune_history(self, retention: Retention) -> Deferred[int]: ...

    def start_query(
        self,
        asker: Identity,
        q: wire.Query,
        retention: Retention,
        deadline: timedelta,
        keep: timedelta,
    ) -> Deferred[QueryStart]: ...

    def add_answer(
        self, query_id: str, device: Identity, count: int, sealed: bytes
    ) -> Deferred[None]: ...

    def finish_query(self, query_id: str) -> Deferred[FinishedQuery | None]: ...

    def finish_all_open(self) -> Deferred[list[FinishedQuery]]: ...

    def finished_for(self, asker: str) -> Deferred[list[FinishedQuery]]: ...

    def load_results(self, query_id: str, asker: str) -> Deferred[StoredResults]: ...

    def delete_query(self, query_id: str, asker: str) -> Deferred[None]: ...

    def expire_queries(self) -> Deferred[int]: ...

    def revoked_among(self, device_ids: Sequence[str]) -> Deferred[list[str]]: ...

    def submit_ip(
        self, sender: str, m: wire.IpSubmit
    ) -> Deferred[list[tuple[str, wire.IpMessage]]]: ...

    def pending_ip(self, device_id: str) -> Deferred[list[wire.IpMessage]]: ...

    def ack_ip(self, device_id: str, delivery_id: int) -> Deferred[bool]: ...


class ReceiptServerProtocol(TwistedProtocol):
    def __init__(self, factory: ReceiptServerFactory) -> None:
        self.factory = factory
        self.session = ServerSession(factory.limiter)
        self.reader = wire.FrameReader(wire.DEVICE_MESSAGES)
        self.lost: Deferred[None] = Deferred()
        self.peer = "?"

    def connectionMade(self) -> None:
        assert self.transport is not None
        # A push after a quiet spell (a query request, a feedback) must not
        # wait for the device's delayed ACK: Nagle off.
        nodelay(self.transport)
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

    def reply(self, message: wire.Message) -> None:
        self._apply(self.session.reply(message))

    def reply_all(self, messages: Iterable[wire.Message]) -> None:
        for message in messages:
            self.reply(message)

    def indicate(self, message: wire.LoginIndication) -> None:
        self._apply(self.session.indicate(message))

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
            elif isinstance(action, Serve):
                self.factory.serve(self, action.identity, action.message)

    def _encode(self, message: wire.Message) -> bytes:
        try:
            return wire.encode(message)
        except ValueError as exc:  # cannot happen with bounded fields; never a traceback
            log.error("%s: cannot encode %s: %s", self._who(), message.TYPE, exc)
            # The request it answers still gets its answer: nobody waits forever.
            rid = getattr(message, "id", None)
            reason = "the answer could not be encoded"
            return wire.encode(wire.Error(wire.ErrorCode.SERVER_ERROR, reason, rid))

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
        self._apply(self.session.login_result(identity, self._now()))
        if identity is not None and self.session.state in (State.AUTHENTICATED, State.PUSH):
            self.factory.logged_in(self, identity)
        return []

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


def _fitted(rid: wire.RequestId, found: list[wire.HistoryEntry]) -> wire.QueryResult:
    """The server's own hits, newest first, as many as fit in one frame."""
    keep = len(found)
    while True:
        result = wire.QueryResult(rid, "found", tuple(found[:keep]))
        if keep <= 1 or len(wire.encode_unchecked(result)) <= wire.MAX_FRAME:
            return result
        keep //= 2


class ReceiptServerFactory(Factory):
    def __init__(
        self,
        store: Repository,
        clock: IReactorTime,
        *,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        retention: Retention | None = None,
        query_timeout: float = DEFAULT_QUERY_TIMEOUT,
        results_ttl: timedelta = RESULTS_TTL,
    ) -> None:
        self.store = store
        self.clock = clock
        self.limiter = RateLimiter(rate, burst)
        self.retention = retention or Retention()
        self.query_timeout = query_timeout
        self.results_ttl = results_ttl
        self.connections: set[ReceiptServerProtocol] = set()
        self.by_msisdn: dict[str, set[ReceiptServerProtocol]] = {}  # phones only
        self.devices_of: dict[str, set[str]] = {}  # MSISDN -> its devices logged in
        self.by_device: dict[str, ReceiptServerProtocol] = {}
        self.push_channels: dict[str, ReceiptServerProtocol] = {}
        self.relay = QueryRelay()
        #: Called with (the sender's MSISDN, the feedback) of each committed feedback.
        self.feedback_watchers: list[Callable[[str, wire.Feedback], None]] = []
        self._deadlines: dict[str, IDelayedCall] = {}

    def buildProtocol(self, addr: object) -> ReceiptServerProtocol:
        return ReceiptServerProtocol(self)

    def logged_in(self, protocol: ReceiptServerProtocol, identity: Identity) -> None:
        device = identity.device_id
        if protocol.session.state is State.PUSH:
            old = self.push_channels.get(device)
            self.push_channels[device] = protocol
            if old is not None and old is not protocol:
                old.replaced()
            return
        old = self.by_device.get(device)
        if old is not None and old is not protocol:
            self._forget(old)
            old.replaced()
        self.by_device[device] = protocol
        self.devices_of.setdefault(identity.msisdn, set()).add(device)
        if identity.kind == "phone":
            self.by_msisdn.setdefault(identity.msisdn, set()).add(protocol)
        # What waited for this device: IP-path messages, finished queries it
        # asked, open queries of its account.
        self._then(self.store.pending_ip(device), lambda ms: protocol.reply_all(ms))
        self._then(
            self.store.finished_for(device), lambda fs: protocol.reply_all(f.ready() for f in fs)
        )
        self._relay(self.relay.logged_in(device, identity.account))

    def deliver(self, msisdn: str, feedback: wire.Feedback) -> None:
        """Push a just-committed feedback to every session of ``msisdn``, and
        tell the watchers (``smsemu up`` reports reads to ESMEs so)."""
        for protocol in list(self.by_msisdn.get(msisdn, ())):
            protocol.push(feedback)
        for watcher in self.feedback_watchers:
            watcher(msisdn, feedback)

    def gone(self, protocol: ReceiptServerProtocol) -> None:
        self.connections.discard(protocol)
        self._forget(protocol)

    def _forget(self, protocol: ReceiptServerProtocol) -> None:
        identity = protocol.session.identity
        if identity is None:
            return
        if self.push_channels.get(identity.device_id) is protocol:
            del self.push_channels[identity.device_id]
        if self.by_device.get(identity.device_id) is protocol:
            del self.by_device[identity.device_id]
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

    # -- multi-device accounts -----------------------------------------------------

    def _then(self, d: Deferred[T], fn: Callable[[T], object]) -> None:
        def failed(failure: Failure) -> None:
            log.error("IP server: %s", failure.getErrorMessage())

        d.addCallback(fn).addErrback(failed)

    def serve(self, protocol: ReceiptServerProtocol, who: Identity, m: wire.Message) -> None:
        """Answer a ``Serve`` request of a logged-in device."""
        if isinstance(m, wire.IpMessageAck):
            self._then(self.store.ack_ip(who.device_id, m.delivery_id), lambda _: None)
            return
        rid: wire.RequestId = getattr(m, "id")  # noqa: B009 - every other SERVED has one
        d: Deferred[Any]
        if isinstance(m, wire.HistoryPut):
            d = self.store.put_history(who.account, m.messages, self.retention)
            d.addCallback(lambda _: protocol.reply(wire.Ok(rid)))
        elif isinstance(m, wire.Query):
            d = self._query(protocol, who, m)
        elif isinstance(m, wire.QueryAnswer):
            d = self._answer(protocol, who, m)
        elif isinstance(m, wire.FetchResults):
            d = self.store.load_results(m.query_id, who.device_id)
            d.addCallback(lambda r: self._send_results(protocol, rid, m.query_id, r))
        elif isinstance(m, wire.ResultsAck):
            d = self.store.delete_query(m.query_id, who.device_id)
            d.addCallback(lambda _: protocol.reply(wire.Ok(rid)))
        elif isinstance(m, wire.IpSubmit):
            d = self._submit_ip(protocol, who, m)
        else:
            raise AssertionError(f"the session served a {m.TYPE} the server cannot")
        d.addErrback(self._refused, protocol, rid, m.TYPE)

    @staticmethod
    def _refused(
        failure: Failure, protocol: ReceiptServerProtocol, rid: wire.RequestId, what: str
    ) -> None:
        exc = failure.value
        if isinstance(exc, QueryRefused):
            protocol.reply(wire.Error(exc.code, str(exc), rid))
            return
        log.error("%s: %s failed: %s", protocol._who(), what, failure.getErrorMessage())
        reason = f"the server could not serve the {what}"
        protocol.reply(wire.Error(wire.ErrorCode.SERVER_ERROR, reason, rid))

    def _query(
        self, protocol: ReceiptServerProtocol, who: Identity, q: wire.Query
    ) -> Deferred[Any]:
        timeout = q.timeout if q.timeout is not None else self.query_timeout
        d = self.store.start_query(
            who, q, self.retention, timedelta(seconds=timeout), self.results_ttl
        )

        def started(start: QueryStart) -> None:
            if start.found:
                protocol.reply(_fitted(q.id, start.found))
                return
            if start.query_id is None or start.reply_key is None:
                # Nowhere else to look: the account has no other device.  (A
                # device without a public key opens no query: results could not
                # be sealed to it.)
                protocol.reply(wire.QueryResult(q.id, "not_found"))
                return
            query_id = start.query_id
            request = wire.QueryRequest(query_id, who.device_id, wire.b64(start.reply_key),
                                        q.text, q.peer, q.since, q.until, q.limit)  # fmt: skip
            protocol.reply(wire.QueryOpen(q.id, query_id, len(start.devices), timeout))
            self._deadlines[query_id] = self.clock.callLater(timeout, self._deadline, query_id)
            self._relay(
                self.relay.open(
                    who.account,
                    who.device_id,
                    request,
                    [d.device_id for d in start.devices],
                    lambda device: device in self.by_device,
                    lambda device: device in self.push_channels,
                )
            )

        return d.addCallback(started)

    def _answer(
        self, protocol: ReceiptServerProtocol, who: Identity, a: wire.QueryAnswer
    ) -> Deferred[Any]:
        code = self.relay.refuse(a.query_id, who.device_id, who.account)
        if code is not None:
            reason = (
                f"query {a.query_id} is not open"
                if code is wire.ErrorCode.NOT_OPEN
                else "only another device of the asking account may answer"
            )
            protocol.reply(wire.Error(code, reason, a.id))
            return succeed(None)
        d = self.store.add_answer(a.query_id, who, a.count, wire.unb64(a.sealed))

        def kept(_: object) -> None:
            protocol.reply(wire.Ok(a.id))
            self._relay(self.relay.answered(a.query_id, who.device_id))

        return d.addCallback(kept)

    def _deadline(self, query_id: str) -> None:
        self._deadlines.pop(query_id, None)
        self._relay(self.relay.deadline(query_id))

    def _relay(self, actions: list[RelayAction]) -> None:
        for action in actions:
            if isinstance(action, Forward):
                protocol = self.by_device.get(action.device)
                if protocol is not None:
                    protocol.reply(action.request)
            elif isinstance(action, Indicate):
                channel = self.push_channels.get(action.device)
                if channel is not None:
                    channel.indicate(wire.LoginIndication("history_query"))
            elif isinstance(action, Finish):
                call = self._deadlines.pop(action.query_id, None)
                if call is not None and call.active():
                    call.cancel()
                self._then(self.store.finish_query(action.query_id), self._finished)

    def _finished(self, finished: FinishedQuery | None) -> None:
        """Tell the asker its results are ready (if it is gone, it is told at
        its next login)."""
        if finished is not None:
            protocol = self.by_device.get(finished.asker)
            if protocol is not None:
                protocol.reply(finished.ready())

    @staticmethod
    def _send_results(
        protocol: ReceiptServerProtocol, rid: wire.RequestId, query_id: str, r: StoredResults
    ) -> None:
        """As many answers per frame as fit; the last frame says so."""
        chunks: list[list[wire.SealedAnswer]] = [[]]
        for answer in r.answers:
            trial = wire.Results(rid, query_id, r.status, (*chunks[-1], answer), tuple(r.missing))
            if chunks[-1] and len(wire.encode_unchecked(trial)) > wire.MAX_FRAME:
                chunks.append([])
            chunks[-1].append(answer)
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            protocol.reply(
                wire.Results(rid, query_id, r.status, tuple(chunk), tuple(r.missing), last)
            )

    def _submit_ip(
        self, protocol: ReceiptServerProtocol, who: Identity, m: wire.IpSubmit
    ) -> Deferred[Any]:
        if not self.devices_of.get(m.to):
            # No device of the recipient logged in: SMS reaches it sooner.  (One
            # that is, takes it now; the others get it from the queue at login.)
            reason = f"{m.to} is not logged in: send it by SMS"
            protocol.reply(wire.Error(wire.ErrorCode.RECIPIENT_OFFLINE, reason, m.id))
            return succeed(None)

        def queued(out: list[tuple[str, wire.IpMessage]]) -> None:
            protocol.reply(wire.Ok(m.id))
            for device, message in out:
                target = self.by_device.get(device)
                if target is not None:
                    target.reply(message)

        return self.store.submit_ip(who.msisdn, m).addCallback(queued)

    def recover(self) -> Deferred[Any]:
        """At start: close the queries a stopped server left open."""

        def tell(finished: list[FinishedQuery]) -> None:
            for f in finished:
                self._finished(f)

        return self.store.finish_all_open().addCallback(tell)

    def sweep(self) -> Deferred[Any]:
        """Delete expired results and history past the retention window, and
        hang up on devices unbound meanwhile (by ``smsemu ip-server unbind``,
        another process): they are served no longer than one sweep."""

        async def sweep() -> None:
            await self.store.expire_queries()
            await self.store.prune_history(self.retention)
            connected = sorted(set(self.by_device) | set(self.push_channels))
            if connected:
                self._revoked(await self.store.revoked_among(connected))

        d = Deferred.fromCoroutine(sweep())
        return d.addErrback(lambda f: log.error("IP server sweep: %s", f.getErrorMessage()))

    def stop_timers(self) -> None:
        """The server stops: open queries are closed at its next start."""
        deadlines, self._deadlines = self._deadlines, {}
        for call in deadlines.values():
            if call.active():
                call.cancel()

    def _revoked(self, device_ids: list[str]) -> None:
        for device in device_ids:
            for index in (self.by_device, self.push_channels):
                protocol = index.get(device)
                if protocol is not None:
                    log.info("%s: unbound: hanging up", device)
                    protocol.close()
            # Open queries stop waiting for it.
            self._relay(self.relay.forget(device))

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
    sweeper: LoopingCall | None = None

    @property
    def address(self) -> tuple[str, int]:
        host = self.port.getHost()
        return host.host, host.port  # type: ignore[attr-defined]

    def stop(self) -> Deferred[Any]:
        """Stop listening and hang up every connection; fires when all is closed."""
        if self.sweeper is not None and self.sweeper.running:
            self.sweeper.stop()
        self.factory.stop_timers()
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
    retention: Retention | None = None,
    query_timeout: float = DEFAULT_QUERY_TIMEOUT,
    results_ttl: timedelta = RESULTS_TTL,
) -> Listening:
    """Serve devices on ``interface:port`` (0: any free port, see ``address``),
    sweeping expired results and old history every ``SWEEP_EVERY`` seconds."""
    factory = ReceiptServerFactory(
        store,
        reactor,
        rate=rate,
        burst=burst,
        retention=retention,
        query_timeout=query_timeout,
        results_ttl=results_ttl,
    )
    factory.recover()
    listening: IListeningPort = reactor.listenTCP(port, factory, interface=interface)
    sweeper = LoopingCall(factory.sweep)
    sweeper.clock = reactor
    sweeper.start(SWEEP_EVERY, now=True)
    return Listening(listening, factory, sweeper)


class ReceiptServerService(Service):
    """The IP server as a Twisted service: its store on ``database_url``, listening."""

    def __init__(
        self,
        database_url: str,
        *,
        address: tuple[str, int] = ("127.0.0.1", DEFAULT_PORT),
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        retention: Retention | None = None,
        query_timeout: float = DEFAULT_QUERY_TIMEOUT,
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
        self.retention = retention
        self.query_timeout = query_timeout
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
        self.listening = listen(self.reactor, self.store, port, host, rate=self.rate,
                                burst=self.burst, retention=self.retention,
                                query_timeout=self.query_timeout)  # fmt: skip
        log.info("IP server on %s:%d", host, self.port)

    def stopService(self) -> Deferred[Any]:
        super().stopService()  # type: ignore[no-untyped-call]
        listening, self.listening = self.listening, None
        store, self.store = self.store, None
        d = listening.stop() if listening is not None else succeed(None)
        if store is not None:
            d.addCallback(lambda _: store.stop())
        return d
