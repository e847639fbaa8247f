"""Listeners behind HAProxy (``send-proxy``): the PROXY header read before the
protocol is told of its connection.

Twisted's own wrapper (``twisted.protocols.haproxy``) tells the wrapped
protocol ``connectionMade`` at once, when the header has not come yet, so a
protocol that notes its peer there (the SMPP door for its lockout and
allow-list, the radio link and the IP server for their logs) would note
HAProxy's address.  Its parsers are also private, and lenient where the
specification is not: a header split before its 8th (v1) or 16th (v2) byte is
refused, ``PROXY UNKNOWN\\r\\n`` is refused, a port of ``x`` raises out of
``dataReceived``, a host of ``999.1.1.1`` is taken.  So the header is read here
(``read_header``, after HAProxy's proxy-protocol.txt) and the wrapped protocol
is connected only once it is whole: from its first callback on, ``getPeer`` is
the client's.  A connection that closes before a whole header is closed without
the wrapped protocol ever hearing of it; one that sends something else, or
nothing for ``HEADER_DEADLINE`` seconds, is told in one log line and dropped.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import struct
from dataclasses import dataclass
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IListeningPort,
    IOpenSSLServerConnectionCreator,
    IProtocolFactory,
    IReactorTime,
    IStreamServerEndpoint,
)
from twisted.internet.protocol import Protocol
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from zope.interface import directlyProvides, implementer, providedBy

log = logging.getLogger(__name__)

#: The v1 header's first bytes, and its longest line (CRLF included).
V1_PREFIX = b"PROXY "
V1_MAX = 107
#: The v2 header's signature; its 13th byte says version 2 and the command,
#: the 14th the family, the 15th and 16th how many bytes follow.
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED = 16
#: Seconds a connection has to send its header (HAProxy sends it at once).
HEADER_DEADLINE = 10.0

_PORT = re.compile(rb"0|[1-9][0-9]{0,4}")
_AF_INET, _AF_INET6 = 0x1, 0x2
_STREAM = 0x1


class BadHeader(ValueError):
    """Not a PROXY header: the text says why, in words."""


@dataclass(frozen=True)
class Header:
    """A whole header: the client's (``source``) and the proxy's listening
    (``destination``) addresses, both ``None`` when the header names none (v1
    ``UNKNOWN``, v2 ``LOCAL``, a family not TCP), and its ``length``."""

    source: IAddress | None
    destination: IAddress | None
    length: int


def read_header(buffer: bytes) -> Header | None:
    """The PROXY header (v1 or v2) at the start of ``buffer``, or ``None`` while
    it could still become one.  Raises ``BadHeader`` as soon as it cannot."""
    if buffer[:1] == V2_SIGNATURE[:1]:
        return _read_v2(buffer)
    if not V1_PREFIX.startswith(buffer[: len(V1_PREFIX)]):
        raise BadHeader(f"starts {_shown(buffer[: len(V1_PREFIX)])}, not PROXY")
    end = buffer.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(buffer) >= V1_MAX:
            raise BadHeader(f"a v1 line longer than {V1_MAX} bytes")
        if b"\n" in buffer:
            raise BadHeader("a v1 line ended without CR")
        return None
    source, destination = _v1_addresses(buffer[len(V1_PREFIX) : end])
    return Header(source, destination, end + 2)


def _v1_addresses(line: bytes) -> tuple[IAddress | None, IAddress | None]:
    words = line.split(b" ")
    if words[0] == b"UNKNOWN":  # the rest, whatever it is, is to be ignored
        return None, None
    family = {b"TCP4": IPv4Address, b"TCP6": IPv6Address}.get(words[0])
    if family is None:
        raise BadHeader(f"protocol {_shown(words[0])}, not TCP4, TCP6 or UNKNOWN")
    if len(words) != 5:
        raise BadHeader(f"{len(words) - 1} fields after {words[0].decode()}, not 4")
    source, destination, sport, dport = words[1:]
    version = 4 if family is IPv4Address else 6
    return (
        family("TCP", _host(version, source), _port(sport)),
        family("TCP", _host(version, destination), _port(dport)),
    )


def _host(version: int, text: bytes) -> str:
    """The canonical text of an address of ``version`` (no leading zeros in v4,
    no scope in v6: the spec's literals)."""
    kind = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    try:
        if b"%" in text:
            raise ValueError(text)
        return str(kind(text.decode("ascii")))
    except ValueError:  # UnicodeDecodeError included
        raise BadHeader(f"{_shown(text)} is no IPv{version} address") from None


def _port(text: bytes) -> int:
    if _PORT.fullmatch(text) is None or int(text) > 0xFFFF:
        raise BadHeader(f"port {_shown(text)} is not 0-65535 without leading zeros")
    return int(text)


def _read_v2(buffer: bytes) -> Header | None:
    if not buffer.startswith(V2_SIGNATURE[: len(buffer)]):
        raise BadHeader(f"starts {_shown(buffer[:12])}, neither PROXY nor the v2 signature")
    if len(buffer) < V2_FIXED:
        return None
    version, command = buffer[12] >> 4, buffer[12] & 0xF
    if version != 2 or command > 1:
        raise BadHeader(f"v2 version {version} command {command}, not 2 and LOCAL or PROXY")
    family, transport = buffer[13] >> 4, buffer[13] & 0xF
    # LOCAL discards the protocol block, family included (the spec, 2.2).
    if command == 1 and (family > 3 or transport > 2):
        raise BadHeader(f"v2 family and protocol 0x{buffer[13]:02x}, none of the spec's")
    (size,) = struct.unpack_from("!H", buffer, 14)
    length = V2_FIXED + size
    if len(buffer) < length:
        return None
    # LOCAL (HAProxy's own health checks), UNSPEC, UDP and UNIX: the
    # connection's own addresses stand, as the spec allows a receiver.
    if command == 0 or transport != _STREAM or family not in (_AF_INET, _AF_INET6):
        return Header(None, None, length)
    kind, width = (IPv4Address, 4) if family == _AF_INET else (IPv6Address, 16)
    if size < 2 * width + 4:
        raise BadHeader(f"v2 addresses in {size} bytes, fewer than {2 * width + 4}")
    block = buffer[V2_FIXED : V2_FIXED + 2 * width + 4]
    source, destination = (str(ipaddress.ip_address(block[i : i + width])) for i in (0, width))
    sport, dport = struct.unpack_from("!HH", block, 2 * width)
    return Header(kind("TCP", source, sport), kind("TCP", destination, dport), length)


def _shown(data: bytes) -> str:
    """At most 20 bytes of what came, printable in a log line."""
    return repr(data[:20]) + ("..." if len(data) > 20 else "")


class _HeaderFirst(ProtocolWrapper):
    """Connects the wrapped protocol once the PROXY header is in."""

    factory: HeaderFirstFactory

    def __init__(self, factory: HeaderFirstFactory, wrappedProtocol: Any) -> None:
        super().__init__(factory, wrappedProtocol)
        self._buffer = b""
        self._header: Header | None = None
        self._refused = False
        self._deadline: IDelayedCall | None = None

    def makeConnection(self, transport: Any) -> None:
        directlyProvides(self, providedBy(transport))
        Protocol.makeConnection(self, transport)  # type: ignore[no-untyped-call]
        self.factory.registerProtocol(self)  # type: ignore[no-untyped-call]
        # The wrapped protocol's own deadlines (a login's) start at its
        # connectionMade: until then this one keeps a silent client from
        # holding the connection.
        factory = self.factory
        self._deadline = factory.clock.callLater(factory.deadline, self._late)

    def _late(self) -> None:
        self._deadline = None
        self._refuse(f"none within {self.factory.deadline:g} s")

    def _refuse(self, why: object) -> None:
        self._refused = True
        self._buffer = b""
        peer = _at(self.transport.getPeer()) if self.transport is not None else "?"
        log.warning("%s: no PROXY header from %s (%s): closed", self.factory, peer, why)
        self.loseConnection()  # type: ignore[no-untyped-call]

    def _stop_deadline(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def dataReceived(self, data: bytes) -> None:
        if self._header is not None:
            self.wrappedProtocol.dataReceived(data)
            return
        if self._refused:
            return
        self._buffer += data
        try:
            header = read_header(self._buffer)
        except BadHeader as error:
            self._stop_deadline()
            self._refuse(error)
            return
        if header is None:
            return
        self._stop_deadline()
        rest, self._buffer = self._buffer[header.length :], b""
        self._header = header
        self.wrappedProtocol.makeConnection(self)  # type: ignore[arg-type]
        if rest and not self.disconnecting:
            self.wrappedProtocol.dataReceived(rest)

    def getPeer(self) -> IAddress:
        if self._header is not None and self._header.source is not None:
            return self._header.source
        return self.transport.getPeer()  # type: ignore[union-attr]

    def getHost(self) -> IAddress:
        if self._header is not None and self._header.destination is not None:
            return self._header.destination
        return self.transport.getHost()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._stop_deadline()
        self.factory.unregisterProtocol(self)  # type: ignore[no-untyped-call]
        if self._header is not None:
            lost = reason or Failure(ConnectionError("lost"))  # type: ignore[no-untyped-call]
            self.wrappedProtocol.connectionLost(lost)


def _at(address: IAddress) -> str:
    host, port = getattr(address, "host", None), getattr(address, "port", None)
    return f"{host}:{port}" if host is not None else str(address)


class HeaderFirstFactory(WrappingFactory[_HeaderFirst]):
    """Wraps a factory's protocols in ``_HeaderFirst``: each has ``deadline``
    seconds of ``clock`` (the reactor's) to send its header."""

    protocol = _HeaderFirst

    def __init__(
        self,
        wrappedFactory: IProtocolFactory,
        clock: IReactorTime | None = None,
        deadline: float = HEADER_DEADLINE,
    ) -> None:
        super().__init__(wrappedFactory)  # type: ignore[no-untyped-call]
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock: IReactorTime = clock  # type: ignore[assignment]
        self.deadline = deadline

    def logPrefix(self) -> str:
        inner = self.wrappedFactory
        name = inner.logPrefix() if hasattr(inner, "logPrefix") else type(inner).__name__
        return f"{name} (PROXY)"

    __str__ = logPrefix


@implementer(IStreamServerEndpoint)
class ProxiedEndpoint:
    """``inner`` with every connection's PROXY header read first."""

    def __init__(
        self, inner: IStreamServerEndpoint, *, tls: IOpenSSLServerConnectionCreator | None = None
    ) -> None:
        self.inner = inner
        #: TLS after the header (``haproxy:ssl:``): HAProxy passes the
        #: client's TLS on as it came, behind a header in clear.
        self.tls = tls

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        if self.tls is not None:
            factory = TLSMemoryBIOFactory(self.tls, False, factory)
        wrapped: Any = HeaderFirstFactory(factory)
        return self.inner.listen(wrapped)
