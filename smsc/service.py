"""The SMSC as a Twisted service: database, core, radio link, admin API and,
configured, the SMPP door for ESMEs.

It listens at once (the ports are known when ``startService`` returns), but
takes up what a previous run left queued on a thread: until that is done its
listeners accept nothing (the kernel holds the connections), so no handset or
ESME meets an SMSC that does not know its queue yet.  ``ready`` fires then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.application.service import Service
from twisted.internet import threads
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import (
    IListeningPort,
    IPushProducer,
    IReactorCore,
    IReactorTCP,
    IReactorThreads,
    IReactorTime,
)
from twisted.internet.protocol import Factory
from twisted.web.resource import Resource
from twisted.web.server import Site

from txkit import gcpolicy, listen
from txkit.bearer import TokenGuard, new_token, token_url
from txkit.cork import Cork
from txkit.limits import HTTP_IDLE, process_limits
from txkit.prometheus import Registry
from txkit.sse import EventLog
from txkit.tls import is_tls

from .admin import admin_root
from .capture import Capture, GsmtapSender
from .core import Smsc, SmscConfig
from .live import Live
from .node import ClusterNode, ClusterPage, check_name
from .repository import Backlog, SqlQueueRepository
from .server import RadioLinkFactory
from .smpp.gateway import SmppConfig, SmppGateway
from .smpp.server import SmppFactory
from .store import BatchWriter, open_engine

log = logging.getLogger(__name__)
T = TypeVar("T")


class ISmscReactor(IReactorCore, IReactorTime, IReactorTCP, IReactorThreads):
    """What the service uses of its reactor: time, TCP, and a thread pool."""


class SmscService(Service):
    def __init__(
        self,
        config: SmscConfig,
        database_url: str,
        *,
        link: str = "tcp:7101",
        admin: str | None = "tcp:7180",
        smpp: str | None = None,
        smpp_config: SmppConfig | None = None,
        reactor: ISmscReactor | None = None,
        pcap: str | None = None,
        pcap_max_bytes: int | None = None,
        gsmtap: tuple[str, int] | None = None,
        admin_token: str | None = None,
        metrics_public: bool = True,
        freeze_gc: bool = False,
        node: str | None = None,
        lease: float = 5.0,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor  # type: ignore[assignment]
        assert reactor is not None
        self.reactor: ISmscReactor = reactor
        self.config = config
        self.database_url = database_url
        self.link_address = link
        self.admin_address = admin
        #: The admin API's bearer token (``txkit.bearer``): the caller's (``smsemu``
        #: keeps one in the data directory), else one made for this run only.
        self.admin_token = admin_token or new_token()
        self.metrics_public = metrics_public  # /metrics served without the token
        #: Freeze the queue once taken up (``txkit.gcpolicy``): for a process of
        #: its own (``smsemu``), not for a test's.
        self.freeze_gc = freeze_gc
        #: This process's name as a node of a cluster on PostgreSQL (``smsc.node``),
        #: its lease in seconds; None: the only SMSC on its database.
        self.node_name = node
        self.lease = lease
        self.node: ClusterNode | None = None
        self.smsc: Smsc | None = None
        self.writer: BatchWriter | None = None
        self.ports: list[IListeningPort] = []
        self.link_port = 0
        self.admin_port = 0
        self.smpp_address = smpp
        self.smpp_config = smpp_config or SmppConfig()
        self.gateway: SmppGateway | None = None
        self.smpp_factory: SmppFactory | None = None
        self.smpp_port = 0
        #: Metrics the admin API's /metrics shows besides the SMSC's and the
        #: SMPP door's: ``smsemu up`` includes the IP server's here.
        self.extra_metrics = Registry()
        #: Where the legs' traffic is captured (docs/wireshark.md): a pcapng file, a
        #: GSMTAP listener; ``capture`` is made at start when either is set.
        self.pcap = pcap
        self.pcap_max_bytes = pcap_max_bytes
        self.gsmtap = gsmtap
        self.capture: Capture | None = None
        #: The live stream of ``GET /events`` (``txkit.sse``): the SMSC's events and,
        #: in ``smsemu up``, the IP server's and the handsets'.
        self.events = EventLog(reactor)
        #: Sections ``GET /network`` adds (``smsc.live``), and resources put
        #: beside the API's own routes (``mount``): ``smsemu`` adds its console.
        self.sections: dict[str, Callable[[], Any]] = {}
        self.mounts: dict[bytes, Resource] = {}
        #: Where each listener is, as /network shows it: ``"127.0.0.1:7101 (TLS)"``
        #: by name (``radio link``, ``admin API``, ``SMPP``; ``smsemu up`` adds its own).
        self.listeners: dict[str, str] = {}
        self.sections["listeners"] = lambda: self.listeners
        self.admin_root: Resource | None = None
        #: Fires once the SMSC has taken up its queue and accepts connections.
        self.ready: Deferred[None] = succeed(None)

    def startService(self) -> None:
        """Open the database, then listen; a database that cannot be used
        (``storage.StorageError``) or a port in use (``txkit.ListenError``,
        named ``link``, ``admin`` or ``smpp``) is raised with nothing left
        open: the database thread starts only once every listener is up."""
        super().startService()
        try:
            self._start()
        except BaseException:
            self._abandon()
            raise

    def _start(self) -> None:
        if self.pcap is not None or self.gsmtap is not None:  # a file that will not do: first
            self.capture = Capture(self.reactor)
            if self.pcap is not None:
                self.capture.open_file(self.pcap, self.pcap_max_bytes)
            if self.gsmtap is not None:
                self.capture.gsmtap = GsmtapSender(*self.gsmtap)
        if self.node_name is not None:
            check_name(self.node_name)
            if not self.database_url.startswith("postgresql"):
                raise ValueError(
                    f"--node {self.node_name}: a cluster's nodes share a PostgreSQL database "
                    "(--database-url postgresql+psycopg://...)"
                )
        engine = open_engine(self.database_url)
        self.writer = BatchWriter(engine, self.reactor)
        store = SqlQueueRepository(self.writer)
        self.smsc = smsc = Smsc(store, self.reactor, self.config)
        smsc.capture = self.capture
        if self.smpp_address is not None:
            # Before the backlog: the deliver_sm owed to ESMEs are the gateway's.
            self.gateway = SmppGateway(smsc.esme_door, self.smpp_config, self.reactor)
            smsc.esme = self.gateway
        self.link_port = self._listen("link", self.link_address, RadioLinkFactory(smsc))
        smsc.watch(self.events.watcher("smsc"))
        if self.admin_address is not None:
            smpp = [self.gateway.metrics.registry] if self.gateway is not None else []
            registries = (*smpp, self.extra_metrics, process_limits().registry)
            live = Live(smsc, self.events, self.gateway, registries, self.sections)
            if self.node_name is not None:
                live.metric_labels["node"] = self.node_name
            self.admin_root = root = admin_root(live)
            for path, resource in self.mounts.items():
                root.putChild(path, resource)
            guard = TokenGuard(
                root,
                self.admin_token,
                self.reactor,
                open=frozenset({b"metrics"} if self.metrics_public else ()),
            )
            self.admin_port = self._listen(
                "admin", self.admin_address, Site(guard, timeout=HTTP_IDLE)
            )
        if self.gateway is not None and self.smpp_address is not None:
            # The responses a committed batch makes: one write a connection.
            cork = Cork()
            self.writer.worker.firing_in.append(cork)
            self.smpp_factory = SmppFactory(self.gateway, cork)
            self.smpp_port = self._listen("smpp", self.smpp_address, self.smpp_factory)
        if self.node_name is not None:
            self.node = node = ClusterNode(
                smsc,
                self.writer,
                self.node_name,
                self.database_url,
                self.reactor,
                lease_seconds=self.lease,
                interval=min(1.0, self.lease / 3),
                admin_url=self.listeners.get("admin API"),
                lost=self._lost,
            )
            smsc.cluster, store.place = node, node.place
            self.mount("cluster", ClusterPage(node))
        self.writer.start()
        held = [IPushProducer(p) for p in self.ports if IPushProducer.providedBy(p)]
        for port in held:
            port.pauseProducing()

        def take_up(backlog: Backlog) -> None:
            if not self.running:  # stopped meanwhile
                return
            smsc.take_up(backlog)
            if self.freeze_gc:
                gcpolicy.freeze()
            for port in held:
                port.resumeProducing()

        def load(_: object) -> Deferred[Backlog]:
            return threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), store.load)

        joined = self.node.start() if self.node is not None else succeed(None)
        self.ready = joined.addCallback(load).addCallback(take_up)
        self.ready.addErrback(lambda f: log.error("could not load the queue: %s", f.value))

    def _lost(self) -> None:
        """This node's lease lapsed and others took what it held: it stops (to
        be started again, clean) rather than deliver what is no longer its own."""
        if self.running:
            self.reactor.stop()

    def _abandon(self) -> None:
        """Undo a start that failed half-way: no port, no engine, not running."""
        for port in self.ports:
            port.stopListening()
        self.ports = []
        self.listeners.clear()
        if self.gateway is not None:
            self.gateway.stop()
        if self.writer is not None:  # its thread never started: nothing is queued
            self.writer.engine.dispose()
        if self.capture is not None:
            self.capture.close()
        self.smsc = self.writer = self.gateway = self.smpp_factory = self.capture = None
        self.admin_root = None
        super().stopService()

    def mount(self, path: str, resource: Resource) -> None:
        """Serve ``resource`` at ``/path`` of the admin API, behind its token
        (``""`` for the root: what the printed URL opens)."""
        self.mounts[path.encode()] = resource
        if self.admin_root is not None:
            self.admin_root.putChild(path.encode(), resource)

    def _listen(self, name: str, spec: str, factory: Factory[Any]) -> int:
        port = listen(self.reactor, spec, factory, name=name)
        self.ports.append(port)
        number: int = getattr(port.getHost(), "port", 0)
        shown = {"link": "radio link", "admin": "admin API", "smpp": "SMPP"}[name]
        self.listeners[shown] = self.where(port.getHost(), spec)
        return number

    @staticmethod
    def where(address: Any, spec: str | None) -> str:
        """``HOST:PORT`` of a listening address, marked when it is on TLS."""
        host, port = getattr(address, "host", "?"), getattr(address, "port", "?")
        return f"{host}:{port}" + (" (TLS)" if is_tls(spec) else "")

    @property
    def admin_url(self) -> str:
        """The admin API's URL with its token, as printed (it works as is)."""
        host, port = self.host(self.admin_port), self.admin_port
        return token_url(host, port, self.admin_token, tls=is_tls(self.admin_address))

    def host(self, port: int) -> str:
        """The address the listener on ``port`` is bound to (for what a user is told)."""
        for listening in self.ports:
            address = listening.getHost()
            if getattr(address, "port", None) == port:
                return str(getattr(address, "host", ""))
        return ""

    def stopService(self) -> Deferred[Any]:
        super().stopService()
        self.events.close()
        stopped = DeferredList([d for p in self.ports if (d := p.stopListening()) is not None])
        self.ports = []
        if self.smsc is not None:
            self.smsc.stop()
            for link in self.smsc.radio.links():
                link.close()
        if self.gateway is not None:
            self.gateway.stop()
        if self.smpp_factory is not None:
            self.smpp_factory.close_all()
        writer = self.writer

        def drain(_: object) -> Deferred[None] | None:
            # Let what is queued commit; the reactor does not wait on SQL.
            return writer.stop() if writer is not None else None

        node = self.node
        loading = DeferredList([self.ready], consumeErrors=True)  # a thread may still read
        stopped.addCallback(lambda _: loading)
        if node is not None:  # leave the cluster: what it held is released at once
            stopped.addCallback(lambda _: node.stop())
        stopped.addCallback(drain)
        capture = self.capture
        if capture is not None:  # after the connections' last packets
            stopped.addBoth(self._close_capture, capture)
        return stopped

    @staticmethod
    def _close_capture(result: T, capture: Capture) -> T:
        capture.close()
        return result
