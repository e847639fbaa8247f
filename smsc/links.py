"""The SMSC's end of its radio links: applies what ``radiolink.network``
decides (frames to send, links to close) and hands its events to the core's
parts.  The Twisted protocol (``smsc.server``), or a test double, is the
``Link``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from radiolink import frames as lk
from radiolink import network as nw

if TYPE_CHECKING:
    from .core import Smsc

log = logging.getLogger(__name__)


class Link(Protocol):
    """What the SMSC needs of a handset's connection."""

    def send(self, frame: lk.Frame) -> None: ...

    def close(self) -> None: ...

    def __hash__(self) -> int: ...  # a key of the network's tables


class RadioLinks:
    def __init__(self, smsc: Smsc) -> None:
        self.smsc = smsc
        self.network: nw.NetworkSide[Link] = nw.NetworkSide(smsc.config.address)

    # -- what the connections report ---------------------------------------------------

    def opened(self, link: Link) -> None:
        self.network.opened(link)

    def lost(self, link: Link) -> None:
        if self.smsc.capture is not None:
            self.smsc.capture.radio_lost(link)
        self.apply(self.network.lost(link))

    def received(self, link: Link, frame: lk.Frame | lk.MalformedFrame) -> None:
        self.smsc.metrics.frames_in += 1
        if self.smsc.capture is not None and isinstance(frame, lk.Rp):
            self.smsc.capture.radio(link, frame.message, uplink=True)
        self.apply(self.network.receive(link, frame))

    # -- what the core sends -----------------------------------------------------------

    def links(self) -> Iterator[Link]:
        return self.network.links()

    def is_attached(self, msisdn: str) -> bool:
        return self.network.link_of(msisdn) is not None

    def attached(self) -> Iterator[str]:
        return self.network.attached()

    def deliver(self, msisdn: str, rp_mr: int, tpdu: bytes) -> None:
        self._send(self.network.deliver(msisdn, rp_mr, tpdu))

    def ack(self, link: Link, rp_mr: int, rp_ud: bytes | None = None) -> None:
        self._send(self.network.ack(link, rp_mr, rp_ud))

    def error(self, link: Link, rp_mr: int, cause: int, rp_ud: bytes | None = None) -> None:
        self._send(self.network.error(link, rp_mr, cause, rp_ud))

    def _send(self, send: nw.Send[Link]) -> None:
        self.smsc.metrics.frames_out += 1
        if self.smsc.capture is not None and isinstance(send.frame, lk.Rp):
            self.smsc.capture.radio(send.link, send.frame.message, uplink=False)
        send.link.send(send.frame)

    # -- applying the network's outputs, in order ----------------------------------------

    def apply(self, outputs: list[nw.Output[Link]]) -> None:
        smsc = self.smsc
        for out in outputs:
            if isinstance(out, nw.Send):
                self._send(out)
            elif isinstance(out, nw.Submitted):
                smsc.submissions.submitted(out.link, out.msisdn, out.rp_mr, out.tpdu)
            elif isinstance(out, nw.Acked):
                smsc.delivery.acked(out.msisdn, out.rp_mr)
            elif isinstance(out, nw.Refused):
                smsc.delivery.refused(out.msisdn, out.rp_mr, out.cause)
            elif isinstance(out, nw.Attached):
                self._attached(out.msisdn, out.imsi)
            elif isinstance(out, nw.Detached):
                smsc.delivery.detached(out.msisdn)
                smsc.watchers.emit("detached", msisdn=out.msisdn)
            elif isinstance(out, nw.MemoryAvailable):
                station = smsc.delivery.memory_available(out.msisdn)
                smsc.watchers.emit("memory available", msisdn=out.msisdn)
                smsc.delivery.kick(station)
            elif isinstance(out, nw.Close):
                out.link.close()
            elif isinstance(out, nw.ProtocolError):
                smsc.metrics.protocol_errors += 1
                log.info("radio link: %s", out.reason)
            # AttachRefused and SqnAdvanced come only from an authenticated network;
            # this SMSC's radio link is still open (NetworkSide without an AuthCentre).

    def _attached(self, msisdn: str, imsi: str) -> None:
        smsc = self.smsc
        station = smsc.delivery.attached(msisdn, imsi)
        smsc.store.upsert_subscriber(msisdn, imsi, smsc.now())
        smsc.watchers.emit("attached", msisdn=msisdn, imsi=imsi, queued=len(station.queue))
        smsc.delivery.kick(station)
