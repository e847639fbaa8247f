"""Fixtures for tests that run the SMSC on real sockets: an SMSC service on a
free loopback port over a real database, and handsets attached to it; and a
reactor whose time is a ``task.Clock``, for the services of a test about time."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import Clock

from handset.link_client import Answer, LinkClient, connect
from smsc.core import SmscConfig
from smsc.service import SmscService
from smsc.subscriptions import Provisioned

from .sims import subscription


def start_smsc(url: str, **config: Any) -> SmscService:
    service = SmscService(SmscConfig(**config), url, link="tcp:0", admin="tcp:0")
    service.startService()
    return service


def stop(service: SmscService) -> None:
    pytest_twisted.blockon(service.stopService())


def provision(service: SmscService, msisdn: str) -> Deferred[Provisioned]:
    """The test SIM of ``msisdn`` (``tests.sims``) in ``service``'s subscriptions."""
    assert service.smsc is not None
    return service.smsc.store.provision(subscription(msisdn))


def handset(
    service: SmscService, msisdn: str, answer: Answer | None = None
) -> Deferred[LinkClient]:
    """A handset with its SIM provisioned, attached to ``service`` (await it)."""
    sub = subscription(msisdn)

    def attach(_: object) -> Deferred[LinkClient]:
        port = service.link_port
        return connect(reactor, "127.0.0.1", port, sub.imsi, msisdn, answer, sub.keys)

    return provision(service, msisdn).addCallback(attach)


async def hangup(client: LinkClient) -> None:
    client.close()
    await client.lost


def smsc_fixture(url: str, **config: Any) -> Iterator[SmscService]:
    service = start_smsc(url, **config)
    try:
        yield service
    finally:
        stop(service)


def clock_at_now() -> Clock:
    """A ``task.Clock`` that starts at the real time (dates look like today's)."""
    clock = Clock()
    clock.advance(time.time())
    return clock


class ClockedReactor:
    """The real reactor for sockets and threads, with its time taken from a
    ``task.Clock``: a service given it (``reactor=``) schedules its deadlines,
    delays, retries and rate limits on the clock, so they happen when the test
    advances it, never because the machine was slow.  Everything but time is
    the real reactor's."""

    def __init__(self, clock: Clock, real: Any = reactor) -> None:
        self.clock = clock
        self._real = real

    def callLater(self, delay: float, fn: Callable[..., Any], *a: Any, **kw: Any) -> IDelayedCall:
        return self.clock.callLater(delay, fn, *a, **kw)

    def seconds(self) -> float:
        return self.clock.seconds()

    def getDelayedCalls(self) -> list[IDelayedCall]:
        return list(self.clock.getDelayedCalls())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)
