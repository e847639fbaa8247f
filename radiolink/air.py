"""The radio link as the GSM air interface would carry it, for Wireshark.

smsemu's radio link frames RP messages its own way (``frames``), which no
dissector knows.  On a real network each RP message rides in a CP-DATA of the
SM-CP layer (TS 24.011 §7.2) and each CP-DATA is answered by a CP-ACK; this
module rebuilds that layer around the RP messages the link carries and wraps
each CP message in a GSMTAP v2 header (libosmocore ``gsmtap.h``), so that
Wireshark's ``gsmtap`` -> ``gsm_a.dtap`` -> ``gsm_a.rp`` -> ``gsm_sms``
dissectors decode it down to the TPDU's text.

Sans-I/O: ``AirTap.rp`` takes one RP message and which way it went and returns
the GSMTAP payloads (UDP port 4729) to emit, in order.

GSMTAP type ABIS (2) hands the payload straight to DTAP; type UM (1) would want
LAPDm framing around it (checked with tshark 4.0).

The transaction identifier (TS 24.007 §11.2.3.1.3): the side that starts a CP
transaction sends TI flag 0, the other side answers with flag 1.  An MS->network
RP-DATA or RP-SMMA starts a mobile-originated transaction, a network->MS RP-DATA
a mobile-terminated one; the RP-ACK / RP-ERROR that answers it (same RP-MR, the
other way) ends it.  Each handset has its TI values 0-6 for each kind:

===========================  =========  ===========  ====================
RP message                   way        CP-DATA TI   CP-ACK (other way)
===========================  =========  ===========  ====================
RP-DATA, RP-SMMA             MS -> N    MO, flag 0   MO, flag 1
RP-ACK, RP-ERROR             N -> MS    MO, flag 1   MO, flag 0
RP-DATA                      N -> MS    MT, flag 0   MT, flag 1
RP-ACK, RP-ERROR             MS -> N    MT, flag 1   MT, flag 0
===========================  =========  ===========  ====================
"""

from __future__ import annotations

import struct
from collections.abc import Hashable
from typing import Generic, TypeVar

#: IANA's port of GSMTAP.
GSMTAP_PORT = 4729
GSMTAP_VERSION = 2
GSMTAP_TYPE_ABIS = 0x02
#: ARFCN flag of a burst sent by the MS (libosmocore GSMTAP_ARFCN_F_UPLINK).
ARFCN_UPLINK = 0x4000
#: The ARFCN the emulated cell transmits on (any value 0-1023 would do).
ARFCN = 1

#: Protocol discriminator of SMS (TS 24.007 §11.2.3.1.1).
PD_SMS = 0x9
CP_DATA = 0x01
CP_ACK = 0x04
CP_ERROR = 0x10
#: TI values 0-6; 7 asks for an extension octet (TS 24.007 §11.2.3.1.3).
TI_VALUES = 7

_HEADER = struct.Struct(">BBBBHbbIBBBB")  # 16 octets: length 4 words


def gsmtap_header(
    uplink: bool, *, frame_number: int = 0, arfcn: int = ARFCN, signal_dbm: int = -60
) -> bytes:
    """The 16 octets of a GSMTAP v2 header for an ABIS-type (DTAP) payload."""
    return _HEADER.pack(
        GSMTAP_VERSION,
        _HEADER.size // 4,
        GSMTAP_TYPE_ABIS,
        0,  # timeslot
        arfcn | (ARFCN_UPLINK if uplink else 0),
        signal_dbm,
        0,  # SNR
        frame_number & 0xFFFFFFFF,
        0,  # sub-type: unknown
        0,  # antenna
        0,  # sub-slot
        0,
    )


_LENGTHS = [bytes((n,)) for n in range(256)]


def cp_header(ti_flag: int, ti: int, message_type: int) -> bytes:
    """Octet 1 (TI flag, TI value, PD 9) and the message type of a CP message."""
    return bytes((ti_flag << 7 | (ti % TI_VALUES) << 4 | PD_SMS, message_type))


def cp_data(ti_flag: int, ti: int, rp_message: bytes) -> bytes:
    """A CP-DATA carrying ``rp_message`` as its CP-User Data (§7.2.1, LV)."""
    if len(rp_message) > 248:
        raise ValueError(f"an RP message of {len(rp_message)} octets exceeds CP-User Data's 248")
    return cp_header(ti_flag, ti, CP_DATA) + bytes((len(rp_message),)) + rp_message


def cp_ack(ti_flag: int, ti: int) -> bytes:
    return cp_header(ti_flag, ti, CP_ACK)


L = TypeVar("L", bound=Hashable)


class AirTap(Generic[L]):
    """Each handset's CP transactions, rebuilt from the RP messages it exchanges."""

    def __init__(self) -> None:
        # link -> (next MO TI, next MT TI); (link, "mo"|"mt", rp_mr) -> TI of an open one
        self._next: dict[L, list[int]] = {}
        self._open: dict[tuple[L, bool, int], int] = {}
        # GSMTAP header + CP-ACK, and GSMTAP header + CP-DATA's first two octets, by
        # (uplink, TI flag, TI): 28 values each, made once.
        self._acks: dict[tuple[bool, int, int], bytes] = {}
        self._heads: dict[tuple[bool, int, int], bytes] = {}

    def rp(self, link: L, rp_message: bytes, uplink: bool) -> list[tuple[bool, bytes]]:
        """The GSMTAP payloads of ``rp_message`` crossing ``link`` (``uplink``: MS to
        network), each with its own direction: the CP-DATA, then the CP-ACK that
        answers it.  Empty for what is not even an RP header."""
        if len(rp_message) < 2 or len(rp_message) > 248:
            return []
        mti, rp_mr = rp_message[0] & 0x07, rp_message[1]
        starts = mti in (0, 1, 6)  # RP-DATA either way, RP-SMMA
        # An MS->network RP-DATA / RP-SMMA starts an MO transaction; the answer to an
        # MT one travels MS->network too.
        mo = uplink == starts
        key = (link, mo, rp_mr)
        if starts:
            counters = self._next.setdefault(link, [0, 0])
            ti = counters[0 if mo else 1]
            counters[0 if mo else 1] = (ti + 1) % TI_VALUES
            self._open[key] = ti
            flag = 0
        else:
            ti = self._open.pop(key, 0)
            flag = 1
        ack_key = (not uplink, flag ^ 1, ti)
        ack = self._acks.get(ack_key)
        if ack is None:
            ack = self._acks[ack_key] = gsmtap_header(not uplink) + cp_ack(flag ^ 1, ti)
        head = self._heads.get((uplink, flag, ti))
        if head is None:
            head = gsmtap_header(uplink) + cp_header(flag, ti, CP_DATA)
            self._heads[uplink, flag, ti] = head
        return [(uplink, head + _LENGTHS[len(rp_message)] + rp_message), (not uplink, ack)]

    def lost(self, link: L) -> None:
        """Forget a link's transactions."""
        self._next.pop(link, None)
        for key in [k for k in self._open if k[0] == link]:
            del self._open[key]
