"""The IP server as a Twisted service: its store, listening on an endpoint
string, a sweep every ``SWEEP_EVERY`` seconds, its Prometheus metrics on
another endpoint if asked, and a stop that hangs up on every device.  The
connection is in ``connection``, what the connections share and what they
are served in ``factory``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IListeningPort
from twisted.internet.task import LoopingCall
from twisted.web.server import Site

import txkit
from ipwire.server_session import LOGIN_DEADLINE
from txkit.limits import HTTP_IDLE, process_limits
from txkit.prometheus import metrics_root

from .cluster import LEASE, Cluster
from .factory import (
    DEFAULT_BURST,
    DEFAULT_QUERY_TIMEOUT,
    DEFAULT_RATE,
    RESULTS_TTL,
    ReceiptServerFactory,
)
from .history import Retention
from .metrics import IpMetrics
from .repository import Repository
from .store import ReceiptStore

#: The names ``smsemu`` and the tests take from here.
__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_BURST",
    "DEFAULT_PORT",
    "DEFAULT_QUERY_TIMEOUT",
    "DEFAULT_RATE",
    "IpMetrics",
    "Listening",
    "ReceiptServerFactory",
    "ReceiptServerService",
    "listen",
]

log = logging.getLogger(__name__)

DEFAULT_PORT = 7102
#: Where the IP server listens unless told: loopback only.
DEFAULT_ADDRESS = f"tcp:{DEFAULT_PORT}"
#: Seconds between sweeps of expired results and history past its window.
SWEEP_EVERY = 30.0


@dataclass
class Listening:
    """A listening IP server: its port and its factory."""

    port: IListeningPort
    factory: ReceiptServerFactory
    sweeper: LoopingCall | None = None
    cluster: Cluster | None = None

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
        cluster = self.cluster
        if cluster is not None:
            stopped.addCallback(lambda _: cluster.stop())
        return stopped


def listen(
    reactor: Any,
    store: Repository,
    address: str = DEFAULT_ADDRESS,
    *,
    rate: float = DEFAULT_RATE,
    burst: int = DEFAULT_BURST,
    retention: Retention | None = None,
    query_timeout: float = DEFAULT_QUERY_TIMEOUT,
    results_ttl: timedelta = RESULTS_TTL,
    metrics: IpMetrics | None = None,
    login_deadline: float = LOGIN_DEADLINE,
    node: tuple[str, str] | None = None,
    node_lease: float = LEASE,
) -> Listening:
    """Serve devices on ``address``, an endpoint string (``tcp:0``: any free
    port on 127.0.0.1, see ``Listening.address``), sweeping expired results
    and old history every ``SWEEP_EVERY`` seconds; ``node``: (its name, the
    PostgreSQL URL) as a node of a cluster (``cluster``), alive while its
    lease of ``node_lease`` seconds lasts (renewed five times as often)."""
    factory = ReceiptServerFactory(
        store,
        reactor,
        rate=rate,
        burst=burst,
        retention=retention,
        query_timeout=query_timeout,
        results_ttl=results_ttl,
        metrics=metrics,
        login_deadline=login_deadline,
    )
    # First: a port in use (txkit.ListenError, named "ip_server") leaves no work behind.
    listening = txkit.listen(reactor, address, factory, name="ip_server")
    cluster = None
    if node is not None:
        assert isinstance(store, ReceiptStore)
        cluster = Cluster(node[0], node[1], factory, store.tell_nodes, store.roster,
                          heartbeat=node_lease / 5, lease=node_lease)  # fmt: skip
        factory.join(cluster)
        cluster.start()
    factory.recover()
    sweeper = LoopingCall(factory.sweep)
    sweeper.clock = reactor
    sweeper.start(SWEEP_EVERY, now=True)
    return Listening(listening, factory, sweeper, cluster)


class ReceiptServerService(Service):
    """The IP server as a Twisted service: its store on ``database_url``,
    listening on ``address`` (an endpoint string, or HOST:PORT), and its
    metrics at ``/metrics`` on ``metrics_address`` if given."""

    def __init__(
        self,
        database_url: str,
        *,
        address: str = DEFAULT_ADDRESS,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        retention: Retention | None = None,
        query_timeout: float = DEFAULT_QUERY_TIMEOUT,
        metrics_address: str | None = None,
        login_deadline: float = LOGIN_DEADLINE,
        node: str | None = None,
        node_lease: float = LEASE,
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
        self.login_deadline = login_deadline
        #: Its name as a node of a cluster on ``database_url`` (PostgreSQL), if one.
        self.node = node
        self.node_lease = node_lease
        self.store: ReceiptStore | None = None
        self.listening: Listening | None = None
        self.metrics_address = metrics_address
        #: Its counters live as long as the service: a restart does not reset them.
        self.metrics = IpMetrics()
        self.metrics_port: IListeningPort | None = None

    @property
    def port(self) -> int:
        """The port it listens on (the real one when configured as 0)."""
        return self.listening.address[1] if self.listening is not None else 0

    @property
    def metrics_url(self) -> str | None:
        """Where its metrics are served, if they are."""
        if self.metrics_port is None:
            return None
        host = self.metrics_port.getHost()
        return f"http://{host.host}:{host.port}/metrics"  # type: ignore[attr-defined]

    def startService(self) -> None:
        """A database that cannot be used (``storage.StorageError``) or a port
        in use (``txkit.ListenError``) is raised with nothing left running."""
        super().startService()  # type: ignore[no-untyped-call]
        try:
            self.store = ReceiptStore.open(self.database_url, reactor=self.reactor)
            self.listening = listen(self.reactor, self.store, self.address, rate=self.rate,
                                    burst=self.burst, retention=self.retention,
                                    query_timeout=self.query_timeout,
                                    login_deadline=self.login_deadline,
                                    metrics=self.metrics,
                                    node=None if self.node is None
                                    else (self.node, self.database_url),
                                    node_lease=self.node_lease)  # fmt: skip
            if self.metrics_address is not None:
                registries = (self.metrics.registry, process_limits().registry)
                site = Site(metrics_root(*registries), timeout=HTTP_IDLE)  # type: ignore[no-untyped-call]
                self.metrics_port = txkit.listen(
                    self.reactor, self.metrics_address, site, name="metrics"
                )
        except BaseException:
            if self.listening is not None:
                self.listening.stop()
                self.listening = None
            if self.store is not None:
                self.store.stop()  # nothing queued: its thread ends at once
                self.store = None
            super().stopService()  # type: ignore[no-untyped-call]
            raise
        host, port = self.listening.address
        log.debug("IP server on %s:%d", host, port)

    def stopService(self) -> Deferred[Any]:
        super().stopService()  # type: ignore[no-untyped-call]
        listening, self.listening = self.listening, None
        store, self.store = self.store, None
        metrics_port, self.metrics_port = self.metrics_port, None
        d = listening.stop() if listening is not None else succeed(None)
        if metrics_port is not None:
            d.addCallback(lambda _: metrics_port.stopListening())
        if store is not None:
            d.addCallback(lambda _: store.stop())
        return d
