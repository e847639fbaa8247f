"""The radio link's Twisted side: a protocol that moves bytes between a TCP
connection and the SMSC core, and its factory.

A connection has ``SmscConfig.attach_timeout`` seconds to attach (a
challenge answered included); one that has not is told ERROR NOT_ATTACHED
and closed, so idle sockets cannot pile up.  An attached phone that is merely
quiet is never cut: the link has no keepalive, and a phone may sleep for
hours.  A phone that detaches and stays connected gets a new deadline."""

from __future__ import annotations

import logging

from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from radiolink import frames as lk
from radiolink.network import State
from txkit import nodelay
from txkit.sendnow import send_now

from .core import Smsc

log = logging.getLogger(__name__)


class RadioLinkProtocol(Protocol):
    def __init__(self, smsc: Smsc) -> None:
        self.smsc = smsc
        self.reader = lk.FrameReader()
        self._closing = False
        self._deadline: IDelayedCall | None = None
        self.host = "?"

    def connectionMade(self) -> None:
        nodelay(self.transport)
        self.host = str(getattr(self.transport.getPeer(), "host", "?"))  # type: ignore[union-attr]
        self.smsc.radio.opened(self)
        self._arm()

    def _arm(self) -> None:
        self._deadline = self.smsc.clock.callLater(self.smsc.config.attach_timeout, self._late)

    def _late(self) -> None:
        self._deadline = None
        if self.smsc.radio.network.state(self) is State.ATTACHED or self._closing:
            return
        seconds = f"{self.smsc.config.attach_timeout:g}"
        self.smsc.radio.peer_log.info(
            f"radio links from {self.host} closed unattached",
            "closing a radio link from %s: not attached within %s s",
            self.host,
            seconds,
        )
        self.send(lk.Error(lk.ErrorCode.NOT_ATTACHED, f"not attached within {seconds} s"))
        self._closing = True
        self.close()

    def dataReceived(self, data: bytes) -> None:
        for frame in self.reader.feed(data):
            self.smsc.radio.received(self, frame)
        error = self.reader.error
        if error is not None and not self._closing:
            # The length field lies beyond repair: say why, then hang up.
            self.smsc.radio.peer_log.info(
                f"radio links from {self.host} closed for bad framing",
                "closing a radio link from %s: %s",
                self.host,
                error,
            )
            self.send(lk.Error(lk.ErrorCode.FRAME_TOO_LONG, str(error)))
            self._closing = True
            self.close()
        elif self._deadline is None and self.smsc.radio.network.state(self) is not State.ATTACHED:
            self._arm()  # detached and still here: attach again in time, or go

    def connectionLost(self, reason: Failure | None = None) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None
        self.smsc.radio.lost(self)

    # Link
    def send(self, frame: lk.Frame) -> None:
        if self.transport is not None:  # one send(), not Twisted's epoll dance (txkit.sendnow)
            send_now(self.transport, lk.encode_frame(frame))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()


class RadioLinkFactory(Factory):
    def __init__(self, smsc: Smsc) -> None:
        self.smsc = smsc

    def buildProtocol(self, addr: object) -> RadioLinkProtocol:
        return RadioLinkProtocol(self.smsc)
