"""The IP server's factory: one per listening server, it holds what the
connections share (the repository, the clock, the rate limit, who is
connected) and serves what a logged-in device asks beyond feedback: history
copies, history queries (``RelayRunner``) and the IP path (``IpPath``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure

from ipwire import wire
from ipwire.ratelimit import RateLimiter
from ipwire.server_session import LOGIN_DEADLINE, Identity, State
from txkit.lockout import Lockout
from txkit.pcapng import StreamTap
from txkit.throttle import Throttle
from txkit.watchers import Watchers

from .cluster import Cluster
from .connection import ReceiptServerProtocol
from .history import Retention
from .ip_path import IpPath
from .metrics import IpMetrics
from .queries import QueryRefused
from .read_sync import ReadSync
from .relay_runner import RelayRunner
from .repository import Repository
from .sessions import Sessions

log = logging.getLogger(__name__)

DEFAULT_RATE = 50.0  # requests per second per device, on average
DEFAULT_BURST = 100  # requests a device may make at once
#: Seconds a relayed query waits for the account's devices, unless it asks for less.
DEFAULT_QUERY_TIMEOUT = 5.0
#: How long finished results wait to be fetched before they are deleted.
RESULTS_TTL = timedelta(minutes=5)


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
        metrics: IpMetrics | None = None,
        login_deadline: float = LOGIN_DEADLINE,
    ) -> None:
        self.store = store
        self.clock = clock
        #: Seconds a new connection has to log in (ipwire.server_session).
        self.login_deadline = login_deadline
        #: Where the connections' bytes are captured (``smsemu up --pcap``), if anywhere.
        self.tap: StreamTap | None = None
        self.limiter = RateLimiter(rate, burst)
        #: What a peer's junk makes the server log: a line per kind and
        #: source, then a count each 10 s.
        self.peer_log = Throttle(log, clock=clock)
        #: Bad logins lock the device id and the source address out (txkit.lockout).
        self.lockout = Lockout()
        self.retention = retention or Retention()
        self.sessions = Sessions()
        self.stopped = False  # stop_timers: the server is stopping
        self.metrics = metrics or IpMetrics()
        self.metrics.sessions = self.sessions
        self.metrics.locked = lambda: self.lockout.locked(float(clock.seconds()))
        self.relay = RelayRunner(
            store,
            clock,
            self.sessions,
            retention=self.retention,
            query_timeout=query_timeout,
            results_ttl=results_ttl,
            metrics=self.metrics,
        )
        self.ip_path = IpPath(store, self.sessions)
        self.read_sync = ReadSync(store, self.sessions)
        #: Called with (the sender's MSISDN, the feedback) of each committed feedback.
        self.feedback_watchers: list[Callable[[str, wire.Feedback], None]] = []
        #: Told of logins and of read receipts (``txkit.watchers``; the live log).
        self.watchers = Watchers()
        #: The other nodes on the database (``join``), if any.
        self.cluster: Cluster | None = None

    @property
    def results_ttl(self) -> timedelta:
        return self.relay.results_ttl

    def buildProtocol(self, addr: object) -> ReceiptServerProtocol:
        return ReceiptServerProtocol(self)

    def logged_in(self, protocol: ReceiptServerProtocol, identity: Identity) -> None:
        if protocol.session.state is State.PUSH:
            self.metrics.push_subscriptions.inc()
            self.sessions.push_channel(protocol, identity.device_id)
            return
        self.metrics.logins.inc(identity.kind)
        self.sessions.logged_in(protocol, identity)
        if self.cluster is not None:
            self.cluster.arrived(identity.device_id, identity.msisdn)
        if self.watchers:
            self.watchers.emit(
                "login", device_id=identity.device_id, msisdn=identity.msisdn, peer=protocol.peer
            )
        # What waited for this device: IP-path messages, finished queries it
        # asked, open queries of its account.
        self.ip_path.logged_in(protocol, identity.device_id)
        self.read_sync.logged_in(protocol, identity.device_id)
        self.relay.logged_in(protocol, identity)

    def join(self, cluster: Cluster) -> None:
        """Be a node of ``cluster``: what this node commits for devices
        connected elsewhere is told to the others."""
        self.cluster = cluster
        self.relay.peers = cluster
        self.sessions.elsewhere = cluster.push
        self.sessions.left = cluster.left
        self.ip_path.anywhere = cluster.online

    def deliver(self, msisdn: str, feedback: wire.Feedback, *, local: bool = False) -> None:
        """Push a just-committed feedback to every session of ``msisdn``, and
        tell the watchers (``smsemu up`` reports reads to ESMEs so) and the
        other nodes of a cluster; ``local``: one of them committed it, only
        the sessions here get it."""
        if self.cluster is not None and not local:
            self.cluster.feedback(msisdn, feedback)
        pushed = 0
        for protocol in self.sessions.phones(msisdn):
            protocol.push(feedback)
            pushed += 1
        if local:  # the node that committed it tells the watchers
            return
        if self.watchers:
            self.watchers.emit(
                "feedback",
                sender=msisdn,
                receiver=feedback.receiver,
                number=feedback.message_number,
                status=feedback.status,
                pushed=pushed,
            )
        for watcher in self.feedback_watchers:
            watcher(msisdn, feedback)

    def serve(self, protocol: ReceiptServerProtocol, who: Identity, m: wire.Message) -> None:
        """Answer a ``Serve`` request of a logged-in device."""
        if isinstance(m, wire.IpMessageAck):
            self.ip_path.acknowledged(who, m)
            return
        if isinstance(m, wire.ReadStateAck):
            self.read_sync.acknowledged(who, m)
            return
        rid: wire.RequestId = getattr(m, "id")  # noqa: B009 - every other SERVED has one
        d: Deferred[Any]
        if isinstance(m, wire.HistoryPut):
            d = self.store.put_history(who.account, m.messages, self.retention)
            d.addCallback(lambda _: protocol.reply(wire.Ok(rid)))
        elif isinstance(m, wire.Query):
            d = self.relay.query(protocol, who, m)
        elif isinstance(m, wire.QueryAnswer):
            d = self.relay.answer(protocol, who, m)
        elif isinstance(m, wire.FetchResults):
            d = self.relay.fetch(protocol, who, m)
        elif isinstance(m, wire.ResultsAck):
            d = self.relay.fetched(protocol, who, m)
        elif isinstance(m, wire.IpSubmit):
            d = self.ip_path.submit(protocol, who, m)
        elif isinstance(m, wire.ReadSync):
            d = self.read_sync.read(protocol, who, m)
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
        log.error("%s: %s failed: %s", protocol.who(), what, failure.getErrorMessage())
        reason = f"the server could not serve the {what}"
        protocol.reply(wire.Error(wire.ErrorCode.SERVER_ERROR, reason, rid))

    def recover(self) -> Deferred[Any]:
        """At start: close the queries a stopped server left open."""
        return self.relay.recover()

    def sweep(self) -> Deferred[Any]:
        """Delete expired results and history past the retention window, hang
        up on devices unbound meanwhile (by ``smsemu ip-server unbind``,
        another process): they are served no longer than one sweep; and count
        the pending feedback again (other processes on the database add and
        acknowledge some too)."""

        async def sweep() -> None:
            # Set when the count commits: what commits later moves it from there.
            self.metrics.feedback_pending.set(await self.store.pending_count())
            await self.store.expire_queries()
            if self.cluster is not None:
                await self.relay.finish_overdue()
            await self.store.prune_history(self.retention)
            connected = self.sessions.devices()
            if connected:
                self._revoked(await self.store.revoked_among(connected))

        def failed(failure: Failure) -> None:
            if not self.stopped:  # a sweep the stop cut short is no failure
                log.error("IP server sweep: %s", failure.getErrorMessage())

        return Deferred.fromCoroutine(sweep()).addErrback(failed)

    def stop_timers(self) -> None:
        """The server stops: open queries are closed at its next start."""
        self.stopped = True
        self.relay.stop_timers()

    def _revoked(self, device_ids: list[str]) -> None:
        for device in device_ids:
            for protocol in self.sessions.of_device(device):
                log.info("%s: unbound: hanging up", device)
                protocol.close()
            self.relay.forget(device)

    def close_all(self) -> Deferred[Any]:
        """Hang up every connection; fires when all are gone."""
        return self.sessions.close_all()
