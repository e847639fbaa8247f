"""The SMSC as a Twisted service: database, core, radio link, admin API and,
configured, the SMPP door for ESMEs."""

from __future__ import annotations

import logging
from typing import Any

from twisted.application.service import Service
from twisted.internet import threads
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IListeningPort
from twisted.web.server import Site

from .admin import admin_root
from .core import Smsc, SmscConfig
from .repository import SqlQueueRepository
from .server import RadioLinkFactory
from .smpp.gateway import SmppConfig, SmppGateway
from .smpp.server import SmppFactory
from .store import BatchWriter, open_engine

log = logging.getLogger(__name__)


class SmscService(Service):
    def __init__(
        self,
        config: SmscConfig,
        database_url: str,
        *,
        link: tuple[str, int] = ("127.0.0.1", 7101),
        admin: tuple[str, int] | None = ("127.0.0.1", 7180),
        smpp: tuple[str, int] | None = None,
        smpp_config: SmppConfig | None = None,
        reactor: Any = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self.reactor = reactor
        self.config = config
        self.database_url = database_url
        self.link_address = link
        self.admin_address = admin
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

    def startService(self) -> None:
        super().startService()
        engine = open_engine(self.database_url)
        self.writer = BatchWriter(engine, self.reactor.callFromThread)
        self.smsc = Smsc(SqlQueueRepository(self.writer), self.reactor, self.config)
        if self.smpp_address is not None:
            # Before load: the deliver_sms owed to ESMEs are the gateway's.
            self.gateway = SmppGateway(self.smsc.esme_door, self.smpp_config, self.reactor)
            self.smsc.esme = self.gateway
        self.smsc.load()
        self.writer.start()
        self.smsc.start()
        host, port = self.link_address
        link = self.reactor.listenTCP(port, RadioLinkFactory(self.smsc), interface=host)
        self.ports.append(link)
        self.link_port = link.getHost().port
        if self.admin_address is not None:
            host, port = self.admin_address
            admin = self.reactor.listenTCP(port, Site(admin_root(self.smsc)), interface=host)
            self.ports.append(admin)
            self.admin_port = admin.getHost().port
        if self.gateway is not None and self.smpp_address is not None:
            host, port = self.smpp_address
            self.smpp_factory = SmppFactory(self.gateway)
            smpp = self.reactor.listenTCP(port, self.smpp_factory, interface=host)
            self.ports.append(smpp)
            self.smpp_port = smpp.getHost().port

    def stopService(self) -> Deferred[Any]:
        super().stopService()
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
            # Let what is queued commit, on a thread: the reactor does not wait on SQL.
            return threads.deferToThread(writer.stop) if writer is not None else None

        stopped.addCallback(drain)
        return stopped
