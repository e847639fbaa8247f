"""txkit.proxied on a StringTransport: the PROXY header (v1 and v2, after
HAProxy's proxy-protocol.txt) read whole however it is cut, the wrapped
protocol connected only after it with the client's address, and anything else
one log line and a dropped connection, never an exception out of
``dataReceived``."""

from __future__ import annotations

import ipaddress
import itertools
import logging
import struct
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from txkit.proxied import (
    HEADER_DEADLINE,
    V1_MAX,
    V2_SIGNATURE,
    BadHeader,
    HeaderFirstFactory,
    read_header,
)

#: HAProxy's own connection to the node, the address a header replaces.
PROXY_SIDE = IPv4Address("TCP", "127.0.0.1", 40000)
NODE_SIDE = IPv4Address("TCP", "127.0.0.1", 17101)


@dataclass
class Seen:
    """What the wrapped protocol was told: its peer and host at
    ``connectionMade``, its data, whether it lost the connection."""

    peer: IAddress | None = None
    host: IAddress | None = None
    data: list[bytes] = field(default_factory=list)
    lost: bool = False
    #: Close the connection from ``connectionMade`` (a lockout would).
    refuse: bool = False

    @property
    def connected(self) -> bool:
        return self.peer is not None


class Recorder(Protocol):
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.seen.peer, self.seen.host = self.transport.getPeer(), self.transport.getHost()
        if self.seen.refuse:
            self.transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:
        self.seen.data.append(data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.seen.lost = True


class Recording(Factory):
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    def buildProtocol(self, addr: IAddress | None) -> Protocol:
        return Recorder(self.seen)


def connection(
    seen: Seen | None = None, clock: Clock | None = None
) -> tuple[Protocol, StringTransport, Seen]:
    """A wrapped ``Recorder`` on a fresh transport from HAProxy's side."""
    seen = seen or Seen()
    factory = HeaderFirstFactory(Recording(seen), clock or Clock())
    proto: Protocol = factory.buildProtocol(PROXY_SIDE)
    transport = StringTransport(hostAddress=NODE_SIDE, peerAddress=PROXY_SIDE)
    proto.makeConnection(transport)
    return proto, transport, seen


def feed(chunks: list[bytes], seen: Seen | None = None) -> tuple[StringTransport, Seen]:
    proto, transport, seen = connection(seen)
    for chunk in chunks:
        proto.dataReceived(chunk)
    return transport, seen


def at(address: IAddress | None) -> tuple[str, int]:
    assert isinstance(address, IPv4Address | IPv6Address)
    return address.host, address.port


def v2(command: int, family: int, block: bytes) -> bytes:
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(block)) + block


V1_TCP4 = b"PROXY TCP4 192.0.2.7 127.0.0.1 51234 7101\r\n"
V1_TCP6 = b"PROXY TCP6 2001:db8::7 ::1 51234 7101\r\n"
V2_TCP4 = v2(1, 0x11, bytes([192, 0, 2, 7, 127, 0, 0, 1]) + struct.pack("!HH", 51234, 7101))
V2_TCP6 = v2(
    1,
    0x21,
    ipaddress.IPv6Address("2001:db8::7").packed
    + ipaddress.IPv6Address("::1").packed
    + struct.pack("!HH", 51234, 7101),
)
#: A TLV after the addresses (HAProxy's send-proxy-v2-ssl) is skipped.
V2_TLV = v2(1, 0x11, V2_TCP4[16:] + b"\x04\x00\x01\x00")
#: (header, the client's address, the address the client dialled)
WITH_ADDRESSES = [
    (V1_TCP4, ("192.0.2.7", 51234), ("127.0.0.1", 7101)),
    (V1_TCP6, ("2001:db8::7", 51234), ("::1", 7101)),
    (V2_TCP4, ("192.0.2.7", 51234), ("127.0.0.1", 7101)),
    (V2_TCP6, ("2001:db8::7", 51234), ("::1", 7101)),
    (V2_TLV, ("192.0.2.7", 51234), ("127.0.0.1", 7101)),
]
IDS = ["v1-tcp4", "v1-tcp6", "v2-tcp4", "v2-tcp6", "v2-tlv"]


@pytest.mark.parametrize(("header", "client", "dialled"), WITH_ADDRESSES, ids=IDS)
def test_a_header_in_one_chunk_connects_with_the_client_s_address(
    header: bytes, client: tuple[str, int], dialled: tuple[str, int]
) -> None:
    transport, seen = feed([header + b"first"])
    assert at(seen.peer) == client and at(seen.host) == dialled
    assert seen.data == [b"first"] and not transport.disconnecting


@pytest.mark.parametrize(("header", "client", "dialled"), WITH_ADDRESSES, ids=IDS)
def test_a_header_byte_by_byte_connects_only_once_whole(
    header: bytes, client: tuple[str, int], dialled: tuple[str, int]
) -> None:
    proto, transport, seen = connection()
    for i in range(len(header) - 1):
        proto.dataReceived(header[i : i + 1])
        assert not seen.connected and not transport.disconnecting
    proto.dataReceived(header[-1:])
    assert at(seen.peer) == client and seen.data == []
    for byte in b"after":
        proto.dataReceived(bytes([byte]))
    assert b"".join(seen.data) == b"after"


@pytest.mark.parametrize(
    "header",
    [
        b"PROXY UNKNOWN\r\n",
        # The receiver ignores whatever follows UNKNOWN; the longest line.
        b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n".replace(
            b"f...f", b"ffff:ffff:ffff:ffff:ffff:ffff"
        ),
        v2(0, 0x00, b""),  # LOCAL: HAProxy's own connection (a health check)
        v2(0, 0x11, bytes(12)),  # LOCAL: the addresses are ignored
        v2(0, 0x41, bytes(12)),  # LOCAL: the family too (discarded, the spec's 2.2)
        v2(1, 0x00, b""),  # PROXY UNSPEC
        v2(1, 0x12, bytes(12)),  # UDP over IPv4: not a stream; the connection's own
        v2(1, 0x31, bytes(216)),  # AF_UNIX
    ],
    ids=[
        "v1-unknown", "v1-unknown-longest", "v2-local", "v2-local-inet", "v2-local-family",
        "v2-unspec", "v2-udp",
        "v2-unix",
    ],
)  # fmt: skip
def test_a_header_naming_no_client_keeps_the_proxy_s_own_address(header: bytes) -> None:
    assert len(header) <= V1_MAX or header.startswith(V2_SIGNATURE)
    transport, seen = feed([header, b"data"])
    assert seen.peer == PROXY_SIDE and seen.host == NODE_SIDE
    assert seen.data == [b"data"] and not transport.disconnecting


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x00\x00\x00\x10 an SMPP bind, no header", "not PROXY"),
        (b"GET / HTTP/1.0\r\n\r\n", "not PROXY"),
        (b"PROXY TCP4 192.0.2.7 127.0.0.1 51234 " + b"7" * 70, f"longer than {V1_MAX}"),
        (b"PROXY UNKNOWN " + b"x" * 100 + b"\r\n", f"longer than {V1_MAX}"),
        (b"PROXY TCP4 192.0.2.7 127.0.0.1 51234 7101\n", "without CR"),
        (b"PROXY UDP4 192.0.2.7 127.0.0.1 51234 7101\r\n", "not TCP4, TCP6 or UNKNOWN"),
        (b"PROXY TCP4 192.0.2.7 127.0.0.1 51234\r\n", "3 fields after TCP4"),
        (b"PROXY TCP4 192.0.2.7  127.0.0.1 51234 7101\r\n", "5 fields"),
        (b"PROXY TCP4 192.0.2.7 127.0.0.1 51234 7101 \r\n", "5 fields"),
        (b"PROXY\r\n", "not PROXY"),
        (b"PROXY TCP4 999.0.2.7 127.0.0.1 51234 7101\r\n", "no IPv4 address"),
        (b"PROXY TCP4 192.0.2.07 127.0.0.1 51234 7101\r\n", "no IPv4 address"),
        (b"PROXY TCP4 ::1 127.0.0.1 51234 7101\r\n", "no IPv4 address"),
        (b"PROXY TCP6 192.0.2.7 ::1 51234 7101\r\n", "no IPv6 address"),
        (b"PROXY TCP6 fe80::1%eth0 ::1 51234 7101\r\n", "no IPv6 address"),
        (b"PROXY TCP4 \xc3\xa9.0.2.7 127.0.0.1 51234 7101\r\n", "no IPv4 address"),
        (b"PROXY TCP4 192.0.2.7 127.0.0.1 65536 7101\r\n", "not 0-65535"),
        (b"PROXY TCP4 192.0.2.7 127.0.0.1 x 7101\r\n", "not 0-65535"),
        (b"PROXY TCP4 192.0.2.7 127.0.0.1 -1 7101\r\n", "not 0-65535"),
        (b"PROXY TCP4 192.0.2.7 127.0.0.1 +1 7101\r\n", "not 0-65535"),
        (b"PROXY TCP4 192.0.2.7 127.0.0.1 1_0 7101\r\n", "not 0-65535"),
        (b"PROXY TCP4 192.0.2.7 127.0.0.1 051234 7101\r\n", "not 0-65535"),
        (V2_SIGNATURE[:6] + b"X", "neither PROXY nor the v2 signature"),
        (V2_SIGNATURE + b"\x11\x11\x00\x0c" + bytes(12), "v2 version 1"),
        (V2_SIGNATURE + b"\x22\x11\x00\x0c" + bytes(12), "command 2"),
        (v2(1, 0x41, bytes(12)), "none of the spec's"),
        (v2(1, 0x13, bytes(12)), "none of the spec's"),
        (v2(1, 0x11, bytes(11)), "fewer than 12"),
        (v2(1, 0x21, bytes(12)), "fewer than 36"),
    ],
)
def test_anything_but_a_header_is_one_log_line_and_a_dropped_connection(
    data: bytes, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="txkit.proxied"):
        for chunks in ([data], [data[i : i + 1] for i in range(len(data))]):
            caplog.clear()
            transport, seen = feed([*chunks, b"more"])
            assert transport.disconnecting
            assert not seen.connected and seen.data == []
            [record] = caplog.records
            assert why in record.getMessage() and "127.0.0.1:40000" in record.getMessage()
            assert record.exc_info is None and "\n" not in record.getMessage()


def test_a_header_in_pieces_connects_after_it_and_none_never_reaches_the_protocol() -> None:
    proto, _, seen = connection()
    proto.dataReceived(b"PROXY TCP4 192.0.2.7 ")
    assert not seen.connected  # not yet connected: the header is not whole
    proto.dataReceived(b"127.0.0.1 51234 7101\r\nfirst")
    assert at(seen.peer) == ("192.0.2.7", 51234)
    proto.dataReceived(b" second")
    assert b"".join(seen.data) == b"first second"
    proto.connectionLost(Failure(ConnectionError("gone")))
    assert seen.lost


def test_a_connection_lost_before_its_header_is_not_told_to_the_protocol() -> None:
    proto, transport, seen = connection()
    proto.dataReceived(b"PROXY TCP4")  # HAProxy's check, or a client gone early
    proto.connectionLost(Failure(ConnectionError("gone")))
    assert not seen.connected and not seen.lost and not transport.disconnecting


def test_a_connection_silent_past_the_deadline_is_one_line_and_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    proto, transport, seen = connection(clock=clock)
    proto.dataReceived(b"PROXY TCP4 192.0.2.7")
    clock.advance(HEADER_DEADLINE - 0.5)
    assert not transport.disconnecting
    with caplog.at_level(logging.WARNING, logger="txkit.proxied"):
        clock.advance(0.5)
    assert transport.disconnecting and not seen.connected
    [record] = caplog.records
    assert f"none within {HEADER_DEADLINE:g} s" in record.getMessage()
    proto.dataReceived(b" 127.0.0.1 51234 7101\r\n")  # too late: nothing comes of it
    assert not seen.connected


def test_the_deadline_ends_with_the_header_or_the_connection() -> None:
    clock = Clock()
    proto, transport, seen = connection(clock=clock)
    proto.dataReceived(V1_TCP4)
    assert seen.connected and clock.getDelayedCalls() == []
    proto, transport, seen = connection(clock=clock)
    proto.connectionLost(Failure(ConnectionError("gone")))
    assert clock.getDelayedCalls() == []
    proto, transport, seen = connection(clock=clock)
    proto.dataReceived(b"GET")
    assert transport.disconnecting and clock.getDelayedCalls() == []


def test_a_protocol_that_closes_as_it_connects_gets_none_of_what_followed() -> None:
    transport, seen = feed([V1_TCP4 + b"bind"], Seen(refuse=True))
    assert seen.connected and transport.disconnecting and seen.data == []


# The fuzz: the header (or not) and what follows, cut anywhere.

ports = st.integers(0, 0xFFFF)
v4 = st.ip_addresses(v=4)
v6 = st.ip_addresses(v=6)


@st.composite
def headers(draw: st.DrawFn) -> bytes:
    """A valid header of any kind."""
    kind = draw(st.sampled_from(["tcp4", "tcp6", "unknown", "v2-4", "v2-6", "v2-local"]))
    if kind == "unknown":
        rest = draw(st.binary(max_size=V1_MAX - 16).filter(lambda b: b"\n" not in b))
        return b"PROXY UNKNOWN" + (b" " + rest if rest else b"") + b"\r\n"
    if kind in ("tcp4", "tcp6"):
        family = v4 if kind == "tcp4" else v6
        a, b, p, q = draw(family), draw(family), draw(ports), draw(ports)
        return f"PROXY {kind.upper()} {a} {b} {p} {q}\r\n".encode()
    tlvs = draw(st.binary(max_size=40))
    if kind == "v2-local":
        return v2(0, draw(st.sampled_from([0x00, 0x11, 0x21])), tlvs)
    family = v4 if kind == "v2-4" else v6
    block = (
        draw(family).packed
        + draw(family).packed
        + struct.pack("!HH", draw(ports), draw(ports))
        + tlvs
    )
    return v2(1, 0x11 if kind == "v2-4" else 0x21, block)


@st.composite
def cut(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` in chunks of any sizes."""
    points = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


inputs = st.one_of(
    st.binary(max_size=200),  # anything
    st.tuples(headers(), st.binary(max_size=60)).map(b"".join),  # a header, then data
    st.tuples(st.sampled_from([b"PROXY ", V2_SIGNATURE]), st.binary(max_size=120)).map(b"".join),
    # A valid header with one byte changed.
    st.tuples(headers(), st.integers(0, 200), st.integers(0, 255)).map(
        lambda t: t[0][: t[1]] + bytes([t[2]]) + t[0][t[1] + 1 :]
    ),
)


@settings(max_examples=600)
@given(st.data())
def test_any_bytes_cut_anywhere_connect_after_a_whole_header_or_drop(data: st.DataObject) -> None:
    whole = data.draw(inputs)
    transport, seen = feed(data.draw(cut(whole)))  # nothing escapes dataReceived
    try:
        header = read_header(whole)
    except BadHeader:
        assert transport.disconnecting and not seen.connected and seen.data == []
        return
    if header is None:  # a header's beginning: still waiting for the rest
        assert not transport.disconnecting and not seen.connected
        return
    assert seen.connected and not transport.disconnecting
    assert b"".join(seen.data) == whole[header.length :]


@settings(max_examples=300)
@given(headers(), st.binary(max_size=60), st.data())
def test_a_valid_header_cut_anywhere_passes_exactly_what_follows(
    header: bytes, after: bytes, data: st.DataObject
) -> None:
    transport, seen = feed(data.draw(cut(header + after)))
    assert seen.connected and not transport.disconnecting
    assert b"".join(seen.data) == after
