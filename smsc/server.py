"""The radio link's Twisted side: a protocol that moves bytes between a TCP
connection and the SMSC core, and its factory."""

from __future__ import annotations

import logging

from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from radiolink import frames as lk
from txkit import nodelay

from .core import Smsc

log = logging.getLogger(__name__)


class RadioLinkProtocol(Protocol):
    def __init__(self, smsc: Smsc) -> None:
        self.smsc = smsc
        self.reader = lk.FrameReader()
        self._closing = False

    def connectionMade(self) -> None:
        nodelay(self.transport)
        self.smsc.radio.opened(self)

    def dataReceived(self, data: bytes) -> None:
        for frame in self.reader.feed(data):
            self.smsc.radio.received(self, frame)
        error = self.reader.error
        if error is not None and not self._closing:
            # The length field lies beyond repair: say why, then hang up.
            log.info("closing a radio link: %s", error)
            self.send(lk.Error(lk.ErrorCode.FRAME_TOO_LONG, str(error)))
            self._closing = True
            self.close()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.smsc.radio.lost(self)

    # Link
    def send(self, frame: lk.Frame) -> None:
        if self.transport is not None:
            self.transport.write(lk.encode_frame(frame))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()


class RadioLinkFactory(Factory):
    def __init__(self, smsc: Smsc) -> None:
        self.smsc = smsc

    def buildProtocol(self, addr: object) -> RadioLinkProtocol:
        return RadioLinkProtocol(self.smsc)
