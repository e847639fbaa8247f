"""Fixtures for tests that run the SMSC on real sockets: an SMSC service on a
free loopback port over a real database, and handsets attached to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred

from handset.link_client import Answer, LinkClient, connect
from smsc.core import SmscConfig
from smsc.service import SmscService


def start_smsc(url: str, **config: Any) -> SmscService:
    service = SmscService(SmscConfig(**config), url, link="tcp:0", admin="tcp:0")
    service.startService()
    return service


def stop(service: SmscService) -> None:
    pytest_twisted.blockon(service.stopService())


def handset(
    service: SmscService, msisdn: str, answer: Answer | None = None
) -> Deferred[LinkClient]:
    """A handset attached to ``service`` (await it)."""
    imsi = "00101" + msisdn[-10:].rjust(10, "0")
    return connect(reactor, "127.0.0.1", service.link_port, imsi, msisdn, answer)


async def hangup(client: LinkClient) -> None:
    client.close()
    await client.lost


def smsc_fixture(url: str, **config: Any) -> Iterator[SmscService]:
    service = start_smsc(url, **config)
    try:
        yield service
    finally:
        stop(service)
