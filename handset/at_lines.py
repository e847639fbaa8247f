"""Where a phone's AT port is reachable (docs/at.md): a
pseudo-terminal, as a USB modem's tty, and/or a TCP endpoint on 127.0.0.1.
These only move bytes; ``handset.at_port.AtPort`` is the modem.

Each line has its own ``AtPort`` (its own interpreter, as the several AT
ports of a USB modem): both show the one message store, and both hear of new
messages.  A pty is one serial line, whoever opens it; a TCP endpoint takes
one client at a time and tells a second one that it is in use.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tty
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet.abstract import FileDescriptor
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from txkit import listen

from .at_port import AtPort
from .phone import Phone
from .sim import Sim

log = logging.getLogger(__name__)

#: What ``at`` may be: which lines the phone's AT port has.
MODES = ("pty", "tcp", "both", "off")
#: Where the TCP line listens when ``at_tcp`` is not given: a free port.
DEFAULT_TCP = "tcp:0:interface=127.0.0.1"


@dataclass(frozen=True, slots=True)
class AtSettings:
    """A phone's AT port: ``mode`` (``MODES``); ``link``, a stable symlink to
    the pty; ``tcp``, the endpoint of the TCP line; the SIM profile."""

    mode: str = "pty"
    link: Path | None = None
    tcp: str | None = None
    sim: Sim = field(default_factory=Sim)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"expected one of {', '.join(MODES)}, got {self.mode!r}")

    @property
    def pty(self) -> bool:
        return self.mode in ("pty", "both")

    @property
    def tcp_line(self) -> bool:
        return self.mode in ("tcp", "both")


class PtyLine(FileDescriptor):
    """The master side of a pty; the slave, in raw mode, is the TE's serial
    line.  The slave stays open here too, so the line lives on (and the
    master reads no end of file) while no TE has it open."""

    def __init__(self, port: AtPort, reactor: Any = None) -> None:
        super().__init__(reactor)
        self.port = port
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        os.set_blocking(self.master, False)
        self.connected = True  # FileDescriptor.write drops what comes otherwise
        port.connect(self.write)
        self.startReading()  # type: ignore[no-untyped-call]

    def fileno(self) -> int:
        return self.master

    def doRead(self) -> None:
        try:
            data = os.read(self.master, 8192)
        except BlockingIOError:
            return
        self.port.data_received(data)

    def writeSomeData(self, data: bytes) -> int | BaseException:
        try:
            return os.write(self.master, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            return exc

    def connectionLost(self, reason: Failure) -> None:
        super().connectionLost(reason)  # type: ignore[no-untyped-call]
        self.port.disconnect()
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class _TcpTe(Protocol):
    """One TCP client of the AT port."""

    def __init__(self, port: AtPort, msisdn: str) -> None:
        self.port, self.msisdn = port, msisdn
        self.holds = False

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.holds = self.port.connect(self.transport.write)
        if not self.holds:
            self.transport.write(
                f"\r\nthe AT port of {self.msisdn} is in use by another client\r\n".encode()
            )
            self.transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:
        if self.holds:
            self.port.data_received(data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        if self.holds:
            self.holds = False
            self.port.disconnect()


class _TcpFactory(Factory):
    noisy = False

    def __init__(self, port: AtPort, msisdn: str) -> None:
        self.port, self.msisdn = port, msisdn

    def buildProtocol(self, addr: object) -> Protocol:
        return _TcpTe(self.port, self.msisdn)


class AtLines:
    """The AT lines of one phone, opened as ``settings`` say; ``where`` tells
    each (``pty``, ``link``, ``tcp``), for the start-up lines and the API."""

    def __init__(self, phone: Phone, settings: AtSettings, reactor: Any) -> None:
        self.phone, self.settings, self.reactor = phone, settings, reactor
        self.ports: list[AtPort] = []
        self.pty: PtyLine | None = None
        self.tcp: IListeningPort | None = None
        self._link: Path | None = None

    @property
    def where(self) -> dict[str, str]:
        out = {}
        if self.pty is not None:
            out["pty"] = self.pty.path
        if self._link is not None:
            out["link"] = str(self._link)
        if self.tcp is not None:
            host = self.tcp.getHost()
            out["tcp"] = f"{host.host}:{host.port}"  # type: ignore[attr-defined]
        return out

    def open(self) -> None:
        """Open the lines; on a failure (a TCP port in use: ``ListenError``
        named ``at_tcp``; a symlink that cannot be made: OSError) none stays."""
        try:
            if self.settings.pty:
                self._open_pty()
            if self.settings.tcp_line:
                self._open_tcp()
        except BaseException:
            self.close()
            raise

    def _port(self) -> AtPort:
        port = AtPort(self.phone, self.settings.sim)
        self.ports.append(port)
        return port

    def _open_pty(self) -> None:
        self.pty = PtyLine(self._port(), self.reactor)
        link = self.settings.link
        if link is not None:
            if link.is_symlink():
                link.unlink()
            os.symlink(self.pty.path, link)
            self._link = link

    def _open_tcp(self) -> None:
        port = self._port()
        msisdn = self.phone.msisdn
        factory = _TcpFactory(port, msisdn)
        self.tcp = listen(self.reactor, self.settings.tcp or DEFAULT_TCP, factory, name="at_tcp")

    def close(self) -> None:
        if self._link is not None:
            with contextlib.suppress(OSError):
                if self._link.is_symlink():
                    self._link.unlink()
            self._link = None
        if self.pty is not None:
            self.pty.stopReading()  # type: ignore[no-untyped-call]
            self.pty.stopWriting()  # type: ignore[no-untyped-call]
            self.pty.connectionLost(Failure(ConnectionError("the AT port closed")))  # type: ignore[no-untyped-call]
            self.pty = None
        if self.tcp is not None:
            self.tcp.stopListening()
            self.tcp = None
