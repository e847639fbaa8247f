"""A pcapng writer (draft-ietf-opsawg-pcapng), and IPv4 packets to put in it.

Blocks, all little-endian, each ``type, total length, body, total length`` with
the body padded to 32 bits:

* Section Header Block (0x0A0D0D0A): byte-order magic 0x1A2B3C4D, version 1.0,
  section length -1 (not known: the file is written as it goes);
* Interface Description Block (1): link type, snap length, and options
  ``if_name`` (2), ``if_description`` (3), ``if_tsresol`` (9: 6, microseconds);
* Enhanced Packet Block (6): interface, 64-bit timestamp in microseconds,
  captured and original length, the packet.

``PcapngWriter`` writes to anything with ``write`` (a file, an HTTP request),
one ``write`` per call of ``packets``; ``flush`` passes the output's buffer on
(``smsc.capture`` calls it a few milliseconds after a write: a system call per
block would cost more than the rest of the capture together).

``udp`` and ``TcpFlow`` make the IPv4 / UDP / TCP packets Wireshark expects
around payloads that were not read off a wire (link type ``LINKTYPE_IPV4``):
UDP with checksum 0 (allowed in IPv4), TCP with sequence and acknowledgement
numbers that follow the bytes sent each way.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

SHB = 0x0A0D0D0A
IDB = 0x00000001
EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_ENDOFOPT = 0
OPT_IF_NAME = 2
OPT_IF_DESCRIPTION = 3
OPT_IF_TSRESOL = 9
#: Raw IPv4, no link-layer header.
LINKTYPE_IPV4 = 228
SNAPLEN = 0xFFFF


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad(value)


def _block(kind: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", kind, total) + body + struct.pack("<I", total)


def section_header() -> bytes:
    return _block(SHB, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1))


def interface_description(linktype: int, name: str, description: str = "") -> bytes:
    options = _option(OPT_IF_NAME, name.encode())
    if description:
        options += _option(OPT_IF_DESCRIPTION, description.encode())
    options += _option(OPT_IF_TSRESOL, b"\x06") + _option(OPT_ENDOFOPT, b"")
    return _block(IDB, struct.pack("<HHI", linktype, 0, SNAPLEN) + options)


_EPB_HEAD = struct.Struct("<IIIIIII")
_PADS = (b"", b"\0\0\0", b"\0\0", b"\0")
_TOTAL = struct.Struct("<I")


def enhanced_packet(interface: int, seconds: float, packet: bytes) -> bytes:
    """An EPB: the hot path of a capture, so one pack and one join."""
    micros = round(seconds * 1_000_000)
    size = len(packet)
    pad = _PADS[size & 3]
    total = 32 + size + len(pad)
    head = _EPB_HEAD.pack(EPB, total, interface, micros >> 32, micros & 0xFFFFFFFF, size, size)
    return b"".join((head, packet, pad, total.to_bytes(4, "little")))


class Output(Protocol):
    def write(self, data: bytes, /) -> object: ...


Ends = tuple[tuple[str, int], tuple[str, int]]  # (client host, port), (server host, port)


class StreamTap(Protocol):
    """What a TCP server gives the bytes of its connections to, to be captured
    (``smsc.capture``): ``leg`` names the interface, ``connection`` the flow."""

    def stream(
        self, leg: str, connection: object, data: bytes, from_client: bool, ends: Ends
    ) -> None: ...

    def stream_closed(self, leg: str, connection: object) -> None: ...


class PcapngWriter:
    """One pcapng section: interfaces declared as they come, packets as they go."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self._flush: Callable[[], object] | None = getattr(out, "flush", None)
        self.interfaces: dict[str, int] = {}
        self.written = 0
        self._write(section_header())

    def _write(self, block: bytes) -> None:
        self.out.write(block)
        self.written += len(block)

    def flush(self) -> None:
        if self._flush is not None:
            self._flush()

    def interface(self, name: str, description: str = "", linktype: int = LINKTYPE_IPV4) -> int:
        """The id of the interface ``name``, declared on first use."""
        number = self.interfaces.get(name)
        if number is None:
            number = self.interfaces[name] = len(self.interfaces)
            self._write(interface_description(linktype, name, description))
        return number

    def packet(self, interface: int, seconds: float, packet: bytes) -> None:
        self._write(enhanced_packet(interface, seconds, packet))

    def packets(self, interface: int, seconds: float, packets: list[bytes]) -> None:
        """Several packets of one moment, in one write (the hot path of a capture:
        ``enhanced_packet`` inlined)."""
        micros = round(seconds * 1_000_000)
        high, low = micros >> 32, micros & 0xFFFFFFFF
        parts: list[bytes] = []
        for packet in packets:
            size = len(packet)
            pad = _PADS[size & 3]
            total = 32 + size + len(pad)
            head = _EPB_HEAD.pack(EPB, total, interface, high, low, size, size)
            parts += (head, packet, pad, _TOTAL.pack(total))
        block = b"".join(parts)
        self.out.write(block)
        self.written += len(block)


# -- IPv4, UDP and TCP around payloads --------------------------------------------------

_IP = struct.Struct(">BBHHHBBH4s4s")
PROTO_TCP = 6
PROTO_UDP = 17
TCP_FIN, TCP_SYN, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x08, 0x10


@lru_cache(maxsize=256)
def _fixed_sum(src: bytes, dst: bytes, proto: int) -> int:
    """The one's-complement sum of the header words that do not change per packet."""
    words: tuple[int, ...] = struct.unpack(">4H", src + dst)
    return 0x4500 + 0x4000 + (64 << 8 | proto) + sum(words)


def ipv4(src: bytes, dst: bytes, proto: int, payload: bytes, ident: int = 0) -> bytes:
    """An IPv4 packet (no options, don't fragment, TTL 64) around ``payload``,
    its header checksum right (RFC 791)."""
    length = 20 + len(payload)
    total = _fixed_sum(src, dst, proto) + length + (ident & 0xFFFF)
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    header = _IP.pack(0x45, 0, length, ident & 0xFFFF, 0x4000, 64, proto, ~total & 0xFFFF, src, dst)
    return header + payload


_IP_UDP = struct.Struct(">BBHHHBBH4s4sHHHH")


def udp(src: bytes, sport: int, dst: bytes, dport: int, payload: bytes) -> bytes:
    """A UDP datagram (checksum 0: none, allowed in IPv4) in an IPv4 packet: one
    pack, as a capture makes one for each GSMTAP packet."""
    length = 28 + len(payload)
    total = _fixed_sum(src, dst, PROTO_UDP) + length
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    header = _IP_UDP.pack(0x45, 0, length, 0, 0x4000, 64, PROTO_UDP, ~total & 0xFFFF, src, dst,
                          sport, dport, length - 20, 0)  # fmt: skip
    return header + payload


class TcpFlow:
    """One TCP connection's packets, client and server side, sequence numbers kept.

    ``open`` gives the three-way handshake, ``send`` a data segment (PSH, ACK)
    from one side, ``close`` the FIN of one side; each ACKs all the other side
    sent, so Wireshark reassembles the stream without a gap.
    """

    def __init__(self, client: tuple[bytes, int], server: tuple[bytes, int]) -> None:
        self.ends = (client, server)
        self.seq = [1_000, 500_000]  # next sequence number of client, server
        self.opened = False

    def _segment(self, from_client: bool, flags: int, payload: bytes = b"") -> bytes:
        me, peer = (0, 1) if from_client else (1, 0)
        (src, sport), (dst, dport) = self.ends[me], self.ends[peer]
        ack = self.seq[peer] if flags & TCP_ACK else 0
        header = struct.pack(
            ">HHIIBBHHH", sport, dport, self.seq[me], ack, 5 << 4, flags, 65535, 0, 0
        )
        self.seq[me] = (self.seq[me] + len(payload) + (1 if flags & (TCP_SYN | TCP_FIN) else 0)) & (
            0xFFFFFFFF
        )
        return ipv4(src, dst, PROTO_TCP, header + payload)

    def open(self) -> list[bytes]:
        self.opened = True
        return [
            self._segment(True, TCP_SYN),
            self._segment(False, TCP_SYN | TCP_ACK),
            self._segment(True, TCP_ACK),
        ]

    def send(self, from_client: bool, payload: bytes) -> list[bytes]:
        """The packets that carry ``payload``: the handshake first if not yet open."""
        out = [] if self.opened else self.open()
        out.append(self._segment(from_client, TCP_PSH | TCP_ACK, payload))
        return out

    def close(self, from_client: bool) -> bytes:
        return self._segment(from_client, TCP_FIN | TCP_ACK)
