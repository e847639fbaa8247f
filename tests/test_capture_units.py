"""The pieces of capture on their own: the pcapng writer against the spec's
block layout and read back by dpkt (an independent reader from PyPI); the IPv4
/ UDP / TCP packets around payloads; the SM-CP layer and GSMTAP header of
``radiolink.air``, transaction identifiers included; fuzzed."""

from __future__ import annotations

import io
import struct

import dpkt
from hypothesis import given
from hypothesis import strategies as st

from radiolink import air
from txkit import pcapng

LO = b"\x7f\0\0\1"


def blocks(data: bytes) -> list[tuple[int, bytes]]:
    """(type, body) of each block, checking both total lengths and the padding."""
    out, pos = [], 0
    while pos < len(data):
        kind, total = struct.unpack_from("<II", data, pos)
        assert total % 4 == 0 and total >= 12
        assert struct.unpack_from("<I", data, pos + total - 4)[0] == total
        out.append((kind, data[pos + 8 : pos + total - 4]))
        pos += total
    assert pos == len(data)
    return out


def options(raw: bytes) -> dict[int, bytes]:
    found, pos = {}, 0
    while pos < len(raw):
        code, length = struct.unpack_from("<HH", raw, pos)
        if code == pcapng.OPT_ENDOFOPT:
            assert length == 0 and pos + 4 == len(raw)
            break
        found[code] = raw[pos + 4 : pos + 4 + length]
        pos += 4 + length + (-length % 4)
    return found


def written() -> bytes:
    out = io.BytesIO()
    writer = pcapng.PcapngWriter(out)
    radio = writer.interface("radio", "GSMTAP")
    smpp = writer.interface("smpp")
    assert writer.interface("radio") == radio == 0 and smpp == 1
    writer.packet(radio, 1_733_400_000.123456, pcapng.udp(LO, 40000, LO, 4729, b"abc"))
    writer.packet(smpp, 1_733_400_001.5, b"\x45" + b"\0" * 20)
    assert writer.written == len(out.getvalue())
    return out.getvalue()


def test_the_blocks_are_as_the_pcapng_spec_lays_them_out() -> None:
    (shb, shb_body), (idb, idb0), (_, idb1), (epb, epb0), (_, epb1) = blocks(written())
    assert shb == 0x0A0D0D0A and idb == 1 and epb == 6
    magic, major, minor, length = struct.unpack("<IHHq", shb_body)
    assert (magic, major, minor, length) == (0x1A2B3C4D, 1, 0, -1)
    linktype, reserved, snaplen = struct.unpack_from("<HHI", idb0)
    assert (linktype, reserved, snaplen) == (228, 0, 0xFFFF)
    assert options(idb0[8:]) == {2: b"radio", 3: b"GSMTAP", 9: b"\x06"}
    assert options(idb1[8:]) == {2: b"smpp", 9: b"\x06"}
    interface, high, low, captured, original = struct.unpack_from("<IIIII", epb0)
    assert interface == 0 and captured == original == 20 + 8 + 3
    assert (high << 32 | low) == 1_733_400_000_123_456  # microseconds (if_tsresol 6)
    assert len(epb0) == 20 + 32  # 31 octets padded to 32
    assert struct.unpack_from("<I", epb1)[0] == 1


def test_dpkt_reads_the_file_back() -> None:
    reader = dpkt.pcapng.Reader(io.BytesIO(written()))
    packets = list(reader)
    assert reader.datalink() == 228
    assert [round(ts, 6) for ts, _ in packets] == [1_733_400_000.123456, 1_733_400_001.5]
    ip = dpkt.ip.IP(packets[0][1])
    assert ip.src == LO and ip.p == dpkt.ip.IP_PROTO_UDP
    assert (ip.data.sport, ip.data.dport, ip.data.data) == (40000, 4729, b"abc")


def test_ipv4_headers_carry_a_valid_checksum() -> None:
    packet = pcapng.udp(LO, 1, b"\x0a\0\0\2", 2, b"x" * 7)
    header = packet[:20]
    assert sum(struct.unpack(">10H", header)) % 0xFFFF == 0
    assert dpkt.ip.IP(packet).len == len(packet)


def test_a_tcp_flow_opens_then_numbers_each_side_by_the_bytes_it_sent() -> None:
    flow = pcapng.TcpFlow((LO, 50000), (LO, 2775))
    syn, syn_ack, ack, data = (dpkt.ip.IP(p).data for p in flow.send(True, b"hello"))
    assert syn.flags == dpkt.tcp.TH_SYN and syn_ack.flags == dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK
    assert syn_ack.ack == syn.seq + 1 and ack.seq == syn.seq + 1 and ack.ack == syn_ack.seq + 1
    assert data.seq == syn.seq + 1 and data.data == b"hello"
    (reply,) = (dpkt.ip.IP(p).data for p in flow.send(False, b"hi"))
    assert (reply.sport, reply.dport) == (2775, 50000)
    assert reply.seq == syn_ack.seq + 1 and reply.ack == data.seq + 5
    (more,) = (dpkt.ip.IP(p).data for p in flow.send(True, b"!"))
    assert more.seq == data.seq + 5 and more.ack == reply.seq + 2
    fin = dpkt.ip.IP(flow.close(True)).data
    assert fin.flags & dpkt.tcp.TH_FIN and fin.seq == more.seq + 1


# -- radiolink.air --------------------------------------------------------------------------

RP_DATA_MO = bytes((0x00, 7, 0, 1, 0x91, 1)) + b"\x02\x01\x00"  # MTI 0, MR 7
RP_ACK_NET = bytes((0x03, 7))
RP_DATA_NET = bytes((0x01, 9, 1, 0x91, 0, 2, 0x04, 0x00))
RP_ACK_MS = bytes((0x02, 9))


def cp(payload: bytes) -> tuple[int, int, int, int]:
    """(uplink, TI flag, TI, message type) of a GSMTAP + CP packet."""
    header, octet = payload[:16], payload[16]
    assert header[:3] == bytes((2, 4, 2))  # version 2, 4 words, type ABIS
    arfcn = struct.unpack_from(">H", header, 4)[0]
    assert arfcn & 0x3FFF == air.ARFCN and octet & 0x0F == 9  # PD: SMS
    return int(bool(arfcn & 0x4000)), octet >> 7, octet >> 4 & 7, payload[17]


def test_an_rp_message_rides_in_a_cp_data_answered_by_a_cp_ack() -> None:
    tap: air.AirTap[str] = air.AirTap()
    (up, data), (down, ack) = tap.rp("alice", RP_DATA_MO, uplink=True)
    assert (up, down) == (True, False)
    assert cp(data) == (1, 0, 0, air.CP_DATA) and data[18] == len(RP_DATA_MO)
    assert data[19:] == RP_DATA_MO
    assert cp(ack) == (0, 1, 0, air.CP_ACK) and len(ack) == 18


def test_transaction_identifiers_follow_each_handsets_transactions() -> None:
    tap: air.AirTap[str] = air.AirTap()
    mo = [cp(p) for _, p in tap.rp("alice", RP_DATA_MO, True)]
    mt = [cp(p) for _, p in tap.rp("alice", RP_DATA_NET, False)]
    mt += [cp(p) for _, p in tap.rp("alice", RP_ACK_MS, True)]
    mo += [cp(p) for _, p in tap.rp("alice", RP_ACK_NET, False)]
    # MO: the MS opened it (flag 0 from the MS); the network's RP-ACK answers (flag 1).
    assert mo == [(1, 0, 0, 1), (0, 1, 0, 4), (0, 1, 0, 1), (1, 0, 0, 4)]
    assert mt == [(0, 0, 0, 1), (1, 1, 0, 4), (1, 1, 0, 1), (0, 0, 0, 4)]
    # The next MO of alice takes TI 1; bob's first one TI 0.
    assert cp(tap.rp("alice", bytes((0x00, 8)) + RP_DATA_MO[2:], True)[0][1])[2] == 1
    assert cp(tap.rp("bob", RP_DATA_MO, True)[0][1])[2] == 0


def test_ti_values_wrap_after_six() -> None:
    tap: air.AirTap[str] = air.AirTap()
    tis = [cp(tap.rp("a", bytes((6, mr)), True)[0][1])[2] for mr in range(9)]  # RP-SMMA
    assert tis == [0, 1, 2, 3, 4, 5, 6, 0, 1]
    tap.lost("a")
    assert cp(tap.rp("a", bytes((6, 0)), True)[0][1])[2] == 0


@given(st.binary(max_size=300), st.booleans())
def test_any_octets_are_wrapped_or_skipped_never_a_crash(message: bytes, uplink: bool) -> None:
    out = air.AirTap[int]().rp(1, message, uplink)
    if not 2 <= len(message) <= 248:
        assert out == []
        return
    (_, data), (_, ack) = out
    assert data[19:] == message and data[18] == len(message) and len(ack) == 18


class FullDisk:
    """An output with room for ``room`` writes, then failing as a full disk does."""

    def __init__(self) -> None:
        self.room = 0

    def write(self, data: bytes) -> int:
        if self.room <= 0:
            raise OSError(28, "No space left on device")
        self.room -= 1
        return len(data)


def test_a_capture_that_cannot_write_stops_and_the_smsc_goes_on() -> None:
    from twisted.internet.task import Clock

    from smsc.capture import Capture

    capture = Capture(Clock())
    out, kept = FullDisk(), io.BytesIO()
    out.room = 4  # the section header and the three interfaces
    capture.add_writer(pcapng.PcapngWriter(out))
    capture.add_writer(pcapng.PcapngWriter(kept))
    capture.radio("alice", RP_DATA_MO, uplink=True)  # the disk is full: no exception
    assert len(capture.writers) == 1 and capture.writers[0].out is kept
    assert len(blocks(kept.getvalue())) == 1 + 3 + 2  # SHB, 3 IDBs, CP-DATA and CP-ACK


def test_what_is_not_an_rp_message_is_not_captured_and_breaks_nothing() -> None:
    from twisted.internet.task import Clock

    from smsc.capture import Capture

    capture, out = Capture(Clock()), io.BytesIO()
    capture.add_writer(pcapng.PcapngWriter(out))
    before = len(out.getvalue())
    capture.radio("alice", b"\x00", uplink=True)  # a handset's garbage: refused elsewhere
    assert len(out.getvalue()) == before
