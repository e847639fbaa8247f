"""What the SMSC's legs carry, for Wireshark: pcapng files and live GSMTAP.

The radio link and the SMPP door call ``Capture`` with what they read and
write (``Smsc.capture`` is None when nothing captures: one check, no cost).
Each leg is an interface of the pcapng files, named after it:

* ``radio``: each RP message as GSMTAP over UDP to port 4729, rebuilt as the
  air interface carries it (``radiolink.air``: CP-DATA and CP-ACK);
* ``smpp``: each ESME connection's bytes as a TCP stream (client port the
  ESME's, server port the SMSC's), which Wireshark's ``smpp`` dissector reads;
* ``ip``: the IP server's connections (``smsemu up``, the demo), server port
  ``IP_PORT`` whatever port it listens on, which the Lua dissector of
  contrib/wireshark/smsemu_ip.lua registers.

Live, the GSMTAP payloads also go as UDP datagrams to ``--gsmtap HOST:PORT``.
Timestamps are the reactor's clock.  A file is flushed ``FLUSH_AFTER``
seconds after a write (one system call for all the packets of those
milliseconds, not one each), so a file being written is readable, and at
most that much behind.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Hashable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from radiolink import air
from txkit import pcapng

if TYPE_CHECKING:
    from .core import Smsc

log = logging.getLogger(__name__)

LOOPBACK = bytes((127, 0, 0, 1))
#: The UDP source port of the first handset's GSMTAP packets in a file; each
#: radio link has its own, so Wireshark's conversations are the handsets.
RADIO_PORTS = 40_000
#: Files kept besides the one being written when rotating (FILE.1 ... FILE.9).
ROTATE_KEEP = 9
#: Seconds a file may lag behind: its buffer is flushed that long after a write.
FLUSH_AFTER = 0.01
#: The TCP port the IP server's leg shows in a capture (its default port).
IP_PORT = 7102
LEGS = {
    "radio": "GSM air interface: SM-CP/RP as GSMTAP v2 over UDP 4729",
    "smpp": "SMPP v3.4 between the ESMEs and the SMSC, over TCP",
    "ip": f"the IP server's framed JSON, over TCP port {IP_PORT} (contrib/wireshark)",
}


class GsmtapSender:
    """UDP datagrams to a GSMTAP listener (Wireshark on ``lo``, a test).

    A connected, non-blocking socket: a send never waits, and a datagram that
    cannot go (nobody listening: ICMP port unreachable; a full buffer; no route)
    is dropped like on air: capture never stops a message.
    """

    def __init__(self, host: str, port: int = air.GSMTAP_PORT) -> None:
        self.address = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.connect(self.address)
        self.dropped = 0

    def send(self, payload: bytes) -> None:
        try:
            self.sock.send(payload)
        except OSError:
            self.dropped += 1

    def close(self) -> None:
        self.sock.close()


def ipv4_of(host: str) -> bytes:
    """An address's four octets; 127.0.0.1 for what is not dotted IPv4."""
    try:
        return socket.inet_aton(host)
    except OSError:
        return LOOPBACK


class Capture:
    """Fans what the legs carry out to pcapng writers and a GSMTAP sender."""

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self.writers: list[pcapng.PcapngWriter] = []
        self.gsmtap: GsmtapSender | None = None
        self.air: air.AirTap[Hashable] = air.AirTap()
        self._radio_ports: dict[Hashable, int] = {}
        self._ack_packets: dict[tuple[int, bytes], bytes] = {}
        self._flows: dict[object, pcapng.TcpFlow] = {}
        self._files: list[BinaryIO] = []
        self._flushing: IDelayedCall | None = None
        self._rotate: dict[pcapng.PcapngWriter, tuple[Path, int]] = {}

    # -- where it goes ---------------------------------------------------------------------

    def add_writer(self, writer: pcapng.PcapngWriter) -> None:
        for leg, description in LEGS.items():
            writer.interface(leg, description)
        self.writers = [*self.writers, writer]  # a new list: a loop over the old one goes on

    def remove_writer(self, writer: pcapng.PcapngWriter) -> None:
        self.writers = [w for w in self.writers if w is not writer]
        self._rotate.pop(writer, None)

    def open_file(self, path: str | Path, max_bytes: int | None = None) -> pcapng.PcapngWriter:
        """Write to a new pcapng file at ``path`` (replaced if it exists).  With
        ``max_bytes``, a file that reaches it is rotated: it becomes ``path.1``
        (``path.1`` becomes ``path.2``, ... up to ``ROTATE_KEEP``) and a new one
        starts, each a whole pcapng readable on its own."""
        out = open(path, "wb", buffering=1 << 16)  # noqa: SIM115 (kept open until close())
        self._files.append(out)
        writer = pcapng.PcapngWriter(out)
        self.add_writer(writer)
        if max_bytes is not None:
            self._rotate[writer] = (Path(path), max_bytes)
        return writer

    def _rotated(self, writer: pcapng.PcapngWriter) -> None:
        """``writer``'s file is full: move it aside, go on in a new one."""
        path, max_bytes = self._rotate[writer]
        self.remove_writer(writer)
        out = writer.out
        self._files = [f for f in self._files if f is not out]
        out.close()  # type: ignore[attr-defined]
        for n in range(ROTATE_KEEP - 1, 0, -1):
            older = path.with_name(f"{path.name}.{n}")
            if older.exists():
                older.replace(path.with_name(f"{path.name}.{n + 1}"))
        path.replace(path.with_name(f"{path.name}.1"))
        for flow in self._flows.values():
            flow.opened = False  # the new file shows each connection's handshake again
        self.open_file(path, max_bytes)

    def close(self) -> None:
        if self._flushing is not None and self._flushing.active():
            self._flushing.cancel()
        self._flushing = None
        for out in self._files:
            out.close()
        self._files = []
        self.writers = []
        self._rotate = {}
        if self.gsmtap is not None:
            self.gsmtap.close()
            self.gsmtap = None

    @property
    def active(self) -> bool:
        return bool(self.writers) or self.gsmtap is not None

    def _write(self, leg: str, packets: list[bytes]) -> None:
        now = self.clock.seconds()
        for writer in self.writers:
            try:
                writer.packets(writer.interfaces[leg], now, packets)
                rotate = self._rotate.get(writer) if self._rotate else None
                if rotate is not None and writer.written >= rotate[1]:
                    self._rotated(writer)
            except OSError as exc:  # a full disk: the capture stops, the SMSC goes on
                self._failed(writer, exc)
        if self._flushing is None:
            self._flushing = self.clock.callLater(FLUSH_AFTER, self.flush)

    def flush(self) -> None:
        """Pass what the writers hold on to the kernel."""
        self._flushing = None
        for writer in self.writers:
            try:
                writer.flush()
            except OSError as exc:
                self._failed(writer, exc)

    def _failed(self, writer: pcapng.PcapngWriter, exc: OSError) -> None:
        log.error("capture stopped: %s", exc)
        self.remove_writer(writer)

    # -- the radio leg ---------------------------------------------------------------------

    def radio(self, link: Hashable, rp_message: bytes, uplink: bool) -> None:
        """An RP message read from (``uplink``) or written to a handset's link."""
        payloads = self.air.rp(link, rp_message, uplink)
        if self.gsmtap is not None:
            for _, payload in payloads:
                self.gsmtap.send(payload)
        if self.writers and payloads:  # none for what is not even an RP header
            port = self._radio_ports.get(link)
            if port is None:
                port = self._radio_ports[link] = RADIO_PORTS + len(self._radio_ports) % 20_000
            (_, data), (_, ack) = payloads
            ack_packet = self._ack_packets.get((port, ack))
            if ack_packet is None:  # the same few CP-ACKs again and again
                ack_packet = pcapng.udp(LOOPBACK, port, LOOPBACK, air.GSMTAP_PORT, ack)
                self._ack_packets[port, ack] = ack_packet
            data_packet = pcapng.udp(LOOPBACK, port, LOOPBACK, air.GSMTAP_PORT, data)
            self._write("radio", [data_packet, ack_packet])

    def radio_lost(self, link: Hashable) -> None:
        self.air.lost(link)
        self._radio_ports.pop(link, None)

    # -- the SMPP leg ----------------------------------------------------------------------

    def smpp(self, connection: Hashable, data: bytes, from_esme: bool, ends: pcapng.Ends) -> None:
        """Bytes an ESME's connection carried; ``ends``: (ESME, SMSC) addresses."""
        self.stream("smpp", connection, data, from_esme, ends)

    def smpp_closed(self, connection: Hashable) -> None:
        self.stream_closed("smpp", connection)

    # -- TCP legs (pcapng.StreamTap) -------------------------------------------------------

    def stream(
        self, leg: str, connection: object, data: bytes, from_client: bool, ends: pcapng.Ends
    ) -> None:
        if not self.writers:
            return
        flow = self._flows.get(connection)
        if flow is None:
            (chost, cport), (shost, sport) = ends
            if leg == "ip":
                sport = IP_PORT
            flow = self._flows[connection] = pcapng.TcpFlow(
                (ipv4_of(chost), cport), (ipv4_of(shost), sport)
            )
        self._write(leg, flow.send(from_client, data))

    def stream_closed(self, leg: str, connection: object) -> None:
        flow = self._flows.pop(connection, None)
        if flow is not None and self.writers:
            self._write(leg, [flow.close(False), flow.close(True)])


class SmscTap:
    """A ``pcapng.StreamTap`` for a server beside the SMSC (the IP server in
    ``smsemu up``): whatever captures the SMSC's legs then, if anything."""

    def __init__(self, smsc: Smsc) -> None:
        self.smsc = smsc

    def stream(
        self, leg: str, connection: object, data: bytes, from_client: bool, ends: pcapng.Ends
    ) -> None:
        capture = self.smsc.capture
        if capture is not None:
            capture.stream(leg, connection, data, from_client, ends)

    def stream_closed(self, leg: str, connection: object) -> None:
        capture = self.smsc.capture
        if capture is not None:
            capture.stream_closed(leg, connection)
