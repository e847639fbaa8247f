"""The six TPDUs of TS 23.040 §9.2.2, as dataclasses, with encode and decode.

TP-MTI alone is ambiguous (00 is SMS-DELIVER from the SC but SMS-DELIVER-REPORT
from the MS, and so on), so ``decode`` takes the direction the octets travelled.

The report TPDUs have two forms, for RP-ACK and for RP-ERROR, and only the
latter carries TP-FCS.  The RP layer knows which (``rp_error``); decoding one
without it, the octet after the first is read as TP-FCS when its top bit is set:
TP-FCS values start at 0x80, while TP-PI keeps bit 7 as a reserved extension bit
that senders set to 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from .address import (
    Address,
    encode_address,
    encode_sc_address,
    read_address,
    read_sc_address,
)
from .build import slot_builder
from .dcs import GSM7, DataCodingScheme, dcs_of
from .errors import PDUError
from .reader import Reader, Span
from .status import TP_CT_NAMES, describe_fcs, describe_pid, describe_st
from .timestamp import decode_timestamp, encode_timestamp, timestamp_at
from .userdata import UserData, decode_user_data, encode_user_data, user_data_at
from .validity import ValidityPeriod, decode_vp, encode_vp, vp_format


class Direction(StrEnum):
    """Which way a TPDU travels: it decides what TP-MTI means."""

    MO = "mo"  # MS -> SC: SMS-SUBMIT, SMS-COMMAND, SMS-DELIVER-REPORT
    MT = "mt"  # SC -> MS: SMS-DELIVER, SMS-STATUS-REPORT, SMS-SUBMIT-REPORT


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsDeliver:
    name: ClassVar[str] = "SMS-DELIVER"
    tp_mti: ClassVar[int] = 0b00
    direction: ClassVar[Direction] = Direction.MT

    tp_oa: Address
    tp_scts: datetime
    tp_pid: int = 0
    tp_dcs: DataCodingScheme = GSM7
    tp_ud: UserData = field(default_factory=UserData)
    tp_mms: bool = False  # more messages are waiting (the TP-MMS bit is 0)
    tp_lp: bool = False
    tp_sri: bool = False
    tp_rp: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsSubmit:
    name: ClassVar[str] = "SMS-SUBMIT"
    tp_mti: ClassVar[int] = 0b01
    direction: ClassVar[Direction] = Direction.MO

    tp_da: Address
    tp_mr: int = 0
    tp_pid: int = 0
    tp_dcs: DataCodingScheme = GSM7
    tp_vp: ValidityPeriod = None
    tp_ud: UserData = field(default_factory=UserData)
    tp_rd: bool = False
    tp_srr: bool = False
    tp_rp: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsStatusReport:
    name: ClassVar[str] = "SMS-STATUS-REPORT"
    tp_mti: ClassVar[int] = 0b10
    direction: ClassVar[Direction] = Direction.MT

    tp_mr: int
    tp_ra: Address
    tp_scts: datetime
    tp_dt: datetime
    tp_st: int
    tp_mms: bool = False
    tp_lp: bool = False
    tp_srq: bool = False  # the report answers an SMS-COMMAND, not an SMS-SUBMIT
    # Optional parameters, present when TP-PI says so.
    tp_pid: int | None = None
    tp_dcs: DataCodingScheme | None = None
    tp_ud: UserData | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsSubmitReport:
    name: ClassVar[str] = "SMS-SUBMIT-REPORT"
    tp_mti: ClassVar[int] = 0b01
    direction: ClassVar[Direction] = Direction.MT

    tp_scts: datetime
    tp_fcs: int | None = None  # set in the RP-ERROR form only
    tp_pid: int | None = None
    tp_dcs: DataCodingScheme | None = None
    tp_ud: UserData | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsDeliverReport:
    name: ClassVar[str] = "SMS-DELIVER-REPORT"
    tp_mti: ClassVar[int] = 0b00
    direction: ClassVar[Direction] = Direction.MO

    tp_fcs: int | None = None  # set in the RP-ERROR form only
    tp_pid: int | None = None
    tp_dcs: DataCodingScheme | None = None
    tp_ud: UserData | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsCommand:
    name: ClassVar[str] = "SMS-COMMAND"
    tp_mti: ClassVar[int] = 0b10
    direction: ClassVar[Direction] = Direction.MO

    tp_mr: int
    tp_ct: int
    tp_mn: int  # TP-MR of the SMS-SUBMIT the command is about
    tp_da: Address
    tp_pid: int = 0
    tp_cd: bytes = b""
    tp_srr: bool = False
    tp_udhi: bool = False  # TP-CD starts with a user data header


Tpdu = SmsDeliver | SmsSubmit | SmsStatusReport | SmsSubmitReport | SmsDeliverReport | SmsCommand

# TP-PI bits (§9.2.3.27).
PI_PID, PI_DCS, PI_UDL = 0x01, 0x02, 0x04

# First-octet bits.
_RP, _UDHI, _SRR_SRI_SRQ, _LP, _MMS_RD = 0x80, 0x40, 0x20, 0x08, 0x04


def _octet(value: int, what: str) -> int:
    if not 0 <= value <= 0xFF:
        raise PDUError(f"{what} {value} is not one octet")
    return value


def udhi_of(tpdu: Tpdu) -> bool:
    if isinstance(tpdu, SmsCommand):
        return tpdu.tp_udhi
    return tpdu.tp_ud is not None and tpdu.tp_ud.udh is not None


def first_octet(tpdu: Tpdu) -> int:
    """The first octet: TP-MTI and the flags of each TPDU type (§9.2.2)."""
    o = tpdu.tp_mti | (_UDHI if udhi_of(tpdu) else 0)
    if isinstance(tpdu, SmsDeliver | SmsStatusReport):
        o |= 0 if tpdu.tp_mms else _MMS_RD
        o |= _LP if tpdu.tp_lp else 0
    if isinstance(tpdu, SmsDeliver):
        o |= (_SRR_SRI_SRQ if tpdu.tp_sri else 0) | (_RP if tpdu.tp_rp else 0)
    elif isinstance(tpdu, SmsStatusReport):
        o |= _SRR_SRI_SRQ if tpdu.tp_srq else 0
    elif isinstance(tpdu, SmsSubmit):
        o |= (_MMS_RD if tpdu.tp_rd else 0) | vp_format(tpdu.tp_vp) << 3
        o |= (_SRR_SRI_SRQ if tpdu.tp_srr else 0) | (_RP if tpdu.tp_rp else 0)
    elif isinstance(tpdu, SmsCommand):
        o |= _SRR_SRI_SRQ if tpdu.tp_srr else 0
    return o


def _optional_tail(pid: int | None, dcs: DataCodingScheme | None, ud: UserData | None) -> bytes:
    """TP-PI and the optional TP-PID / TP-DCS / TP-UDL+TP-UD of the reports."""
    pi = (PI_PID if pid is not None else 0) | (PI_DCS if dcs is not None else 0)
    pi |= PI_UDL if ud is not None else 0
    out = bytes((pi,))
    if pid is not None:
        out += bytes((_octet(pid, "TP-PID"),))
    if dcs is not None:
        out += bytes((dcs.value,))
    if ud is not None:
        out += encode_user_data(ud, dcs or GSM7)
    return out


def encode(tpdu: Tpdu) -> bytes:
    """The TPDU's octets (without an SMSC address field: see ``encode_sca``)."""
    head = bytes((first_octet(tpdu),))
    if isinstance(tpdu, SmsDeliver):
        return (
            head
            + encode_address(tpdu.tp_oa)
            + bytes((_octet(tpdu.tp_pid, "TP-PID"), tpdu.tp_dcs.value))
            + encode_timestamp(tpdu.tp_scts)
            + encode_user_data(tpdu.tp_ud, tpdu.tp_dcs)
        )
    if isinstance(tpdu, SmsSubmit):
        return (
            head
            + bytes((_octet(tpdu.tp_mr, "TP-MR"),))
            + encode_address(tpdu.tp_da)
            + bytes((_octet(tpdu.tp_pid, "TP-PID"), tpdu.tp_dcs.value))
            + encode_vp(tpdu.tp_vp)
            + encode_user_data(tpdu.tp_ud, tpdu.tp_dcs)
        )
    if isinstance(tpdu, SmsStatusReport):
        out = (
            head
            + bytes((_octet(tpdu.tp_mr, "TP-MR"),))
            + encode_address(tpdu.tp_ra)
            + encode_timestamp(tpdu.tp_scts)
            + encode_timestamp(tpdu.tp_dt)
            + bytes((_octet(tpdu.tp_st, "TP-ST"),))
        )
        if tpdu.tp_pid is None and tpdu.tp_dcs is None and tpdu.tp_ud is None:
            return out
        return out + _optional_tail(tpdu.tp_pid, tpdu.tp_dcs, tpdu.tp_ud)
    if isinstance(tpdu, SmsSubmitReport | SmsDeliverReport):
        out = head
        if tpdu.tp_fcs is not None:
            if not 0x80 <= tpdu.tp_fcs <= 0xFF:
                raise PDUError(f"TP-FCS {tpdu.tp_fcs} is not 0x80-0xFF")
            out += bytes((tpdu.tp_fcs,))
        tail = _optional_tail(tpdu.tp_pid, tpdu.tp_dcs, tpdu.tp_ud)
        if isinstance(tpdu, SmsSubmitReport):
            return out + tail[:1] + encode_timestamp(tpdu.tp_scts) + tail[1:]
        return out + tail
    if isinstance(tpdu, SmsCommand):
        if len(tpdu.tp_cd) > 156:
            raise PDUError("TP-CD is longer than 156 octets")
        return (
            head
            + bytes(
                (
                    _octet(tpdu.tp_mr, "TP-MR"),
                    _octet(tpdu.tp_pid, "TP-PID"),
                    _octet(tpdu.tp_ct, "TP-CT"),
                    _octet(tpdu.tp_mn, "TP-MN"),
                )
            )
            + encode_address(tpdu.tp_da)
            + bytes((len(tpdu.tp_cd),))
            + tpdu.tp_cd
        )
    raise PDUError(f"not a TPDU: {type(tpdu).__name__}")


#: Octets of TP-VP by TP-VPF (bits 4-3 of an SMS-SUBMIT's first octet).
_VP_OCTETS = {0: 0, 1: 7, 2: 1, 3: 7}


def deliver_from_submit(submit: bytes, tp_oa: bytes, tp_scts: bytes) -> bytes:
    """The SMS-DELIVER that forwards the SMS-SUBMIT ``submit``: its TP-PID,
    TP-DCS, TP-UDL and TP-UD octets carried over as they came, behind an
    already encoded TP-OA and TP-SCTS (``encode_address``, ``encode_timestamp``).

    The SMSC's path for every message, so it copies octets instead of decoding
    and packing the user data again.  ``submit`` must be a valid SMS-SUBMIT
    (one that ``decode`` accepted): this checks only that the lengths add up.
    """
    first = submit[0]
    if first & 0x03 != 0x01:
        raise PDUError("not an SMS-SUBMIT", 0)
    pid_at = 3 + 1 + (submit[2] + 1) // 2  # TP-MTI..TP-MR, TP-DA length, type, value
    ud_at = pid_at + 2 + _VP_OCTETS[first >> 3 & 0x03]
    if ud_at >= len(submit):
        raise PDUError("SMS-SUBMIT too short", len(submit))
    udl = submit[ud_at]
    # TP-UDL counts septets or octets; what may follow the user data is not passed on.
    end = ud_at + 1 + ((udl * 7 + 7) // 8 if dcs_of(submit[pid_at + 1]).counts_septets else udl)
    if end > len(submit):
        raise PDUError("SMS-SUBMIT user data shorter than its TP-UDL", len(submit))
    # TP-MMS 1 (no more messages: the SMSC clears it when more are waiting);
    # TP-SRR becomes TP-SRI; TP-UDHI and TP-RP stay.
    head = (first & (_RP | _UDHI | _SRR_SRI_SRQ)) | _MMS_RD
    return bytes((head,)) + tp_oa + submit[pid_at : pid_at + 2] + tp_scts + submit[ud_at:end]


def encode_sca(tpdu: Tpdu, sca: Address | None) -> bytes:
    """AT PDU mode (TS 27.005 §3.1): the SMSC address field, then the TPDU."""
    return encode_sc_address(sca) + encode(tpdu)


# What each first-octet bit means, per TPDU type, for ``explain``.
FIRST_OCTET_FIELDS: dict[str, list[tuple[str, int, dict[int, str]]]] = {
    "SMS-DELIVER": [
        ("TP-RP", _RP, {0: "no reply path", 1: "reply path set"}),
        ("TP-UDHI", _UDHI, {0: "no user data header", 1: "user data begins with a header"}),
        ("TP-SRI", _SRR_SRI_SRQ, {0: "no status report to the SME", 1: "status report requested"}),
        ("TP-LP", _LP, {0: "not forwarded or spawned", 1: "forwarded or spawned"}),
        ("TP-MMS", _MMS_RD, {0: "more messages are waiting", 1: "no more messages waiting"}),
        ("TP-MTI", 0x03, {0: "SMS-DELIVER"}),
    ],
    "SMS-SUBMIT": [
        ("TP-RP", _RP, {0: "no reply path", 1: "reply path set"}),
        ("TP-UDHI", _UDHI, {0: "no user data header", 1: "user data begins with a header"}),
        ("TP-SRR", _SRR_SRI_SRQ, {0: "no status report", 1: "status report requested"}),
        ("TP-VPF", 0x18, {0: "no TP-VP", 1: "enhanced", 2: "relative", 3: "absolute"}),
        ("TP-RD", _MMS_RD, {0: "accept duplicates", 1: "reject duplicates"}),
        ("TP-MTI", 0x03, {1: "SMS-SUBMIT"}),
    ],
    "SMS-STATUS-REPORT": [
        ("TP-UDHI", _UDHI, {0: "no user data header", 1: "user data begins with a header"}),
        ("TP-SRQ", _SRR_SRI_SRQ, {0: "result of an SMS-SUBMIT", 1: "result of an SMS-COMMAND"}),
        ("TP-LP", _LP, {0: "not forwarded or spawned", 1: "forwarded or spawned"}),
        ("TP-MMS", _MMS_RD, {0: "more messages are waiting", 1: "no more messages waiting"}),
        ("TP-MTI", 0x03, {2: "SMS-STATUS-REPORT"}),
    ],
    "SMS-SUBMIT-REPORT": [
        ("TP-UDHI", _UDHI, {0: "no user data header", 1: "user data begins with a header"}),
        ("TP-MTI", 0x03, {1: "SMS-SUBMIT-REPORT"}),
    ],
    "SMS-DELIVER-REPORT": [
        ("TP-UDHI", _UDHI, {0: "no user data header", 1: "user data begins with a header"}),
        ("TP-MTI", 0x03, {0: "SMS-DELIVER-REPORT"}),
    ],
    "SMS-COMMAND": [
        ("TP-UDHI", _UDHI, {0: "no user data header", 1: "TP-CD begins with a header"}),
        ("TP-SRR", _SRR_SRI_SRQ, {0: "no status report", 1: "status report requested"}),
        ("TP-MTI", 0x03, {2: "SMS-COMMAND"}),
    ],
}

_BY_MTI = {
    Direction.MT: {0: SmsDeliver.name, 1: SmsSubmitReport.name, 2: SmsStatusReport.name},
    Direction.MO: {0: SmsDeliverReport.name, 1: SmsSubmit.name, 2: SmsCommand.name},
}


def _byte(r: Reader, name: str, describe: Callable[[int], str] | None = None) -> int:
    value = r.octet(name)
    if r.trace is not None and describe is not None:
        r.note(describe(value))
    return value


def _read_pi(r: Reader) -> int:
    pi = r.octet("TP-PI")
    if r.trace is not None:
        present = [n for bit, n in ((1, "TP-PID"), (2, "TP-DCS"), (4, "TP-UDL")) if pi & bit]
        r.note("present: " + (", ".join(present) or "none"))
    extension = pi
    while extension & 0x80:
        # Bit 7 announces another TP-PI octet (§9.2.3.27), defined by no release yet.
        extension = r.octet("TP-PI (extension)")
        if r.trace is not None:
            r.note("reserved for future use, skipped")
    return pi


def _decode_announced(
    r: Reader, pi: int, udhi: bool
) -> tuple[int | None, DataCodingScheme | None, UserData | None]:
    """The optional TP-PID, TP-DCS and TP-UDL + TP-UD that TP-PI announces."""
    pid = _byte(r, "TP-PID", describe_pid) if pi & PI_PID else None
    dcs = dcs_of(_byte(r, "TP-DCS")) if pi & PI_DCS else None
    if dcs is not None and r.trace is not None:
        r.note(dcs.describe())
    ud = decode_user_data(r, dcs or GSM7, udhi) if pi & PI_UDL else None
    return pid, dcs, ud


def _decode_fcs(r: Reader, rp_error: bool | None) -> int | None:
    if rp_error is False or r.at_end() or (rp_error is None and r.buf[r.pos] < 0x80):
        return None
    return _byte(r, "TP-FCS", describe_fcs)


def decode(
    data: bytes,
    direction: Direction,
    *,
    trace: list[Span] | None = None,
    offset: int = 0,
    rp_error: bool | None = None,
) -> Tpdu:
    """Decode the TPDU in ``data`` starting at ``offset``.

    Octets after the user data are ignored.  ``trace``, when given, collects a
    Span for every field (see ``pdu.explain``).  ``rp_error`` says whether a
    report came in RP-ERROR (True: it has TP-FCS) or RP-ACK (False); None guesses.
    """
    r = Reader(data, offset, trace)
    return _decode(r, _direction(direction), rp_error)


def decode_sca(
    data: bytes,
    direction: Direction,
    *,
    trace: list[Span] | None = None,
    rp_error: bool | None = None,
) -> tuple[Address | None, Tpdu]:
    """AT PDU mode: the SMSC address field, then the TPDU."""
    r = Reader(data, 0, trace)
    sca = read_sc_address(r, "SCA")
    return sca, _decode(r, _direction(direction), rp_error)


def _direction(direction: Direction | str) -> Direction:
    return direction if type(direction) is Direction else Direction(direction)


_new_deliver = slot_builder(SmsDeliver)
_new_submit = slot_builder(SmsSubmit)


def _quick(r: Reader, direction: Direction) -> Tpdu | None:
    """SMS-DELIVER, SMS-SUBMIT and the SMS-STATUS-REPORT without TP-PI, the
    TPDUs of every message, decoded in one pass over the octets when nobody
    asks for a trace.  None for anything else and for anything wrong: the
    Reader path then decodes it, or says where and why it cannot."""
    start = r.pos
    buf = r.buf
    try:
        fo = buf[start]
        mti = fo & 0x03
        r.pos = start + 1
        if mti == 0 and direction is Direction.MT:
            tp_oa = read_address(r, "TP-OA")
            p = r.pos
            tp_dcs = dcs_of(buf[p + 1])
            tp_scts = timestamp_at(buf, p + 2)
            ud = user_data_at(buf, p + 9, tp_dcs, fo & _UDHI)
            if tp_scts is not None and ud is not None:
                return _new_deliver(
                    tp_oa,
                    tp_scts,
                    buf[p],
                    tp_dcs,
                    ud,
                    not fo & _MMS_RD,
                    fo & _LP != 0,
                    fo & _SRR_SRI_SRQ != 0,
                    fo & _RP != 0,
                )
        elif mti == 1 and direction is Direction.MO:
            r.pos = start + 2
            tp_da = read_address(r, "TP-DA")
            p = r.pos
            tp_dcs = dcs_of(buf[p + 1])
            r.pos = p + 2
            tp_vp = decode_vp(r, fo >> 3 & 0x03)
            ud = user_data_at(buf, r.pos, tp_dcs, fo & _UDHI)
            if ud is not None:
                return _new_submit(
                    tp_da,
                    buf[start + 1],
                    buf[p],
                    tp_dcs,
                    tp_vp,
                    ud,
                    fo & _MMS_RD != 0,
                    fo & _SRR_SRI_SRQ != 0,
                    fo & _RP != 0,
                )
        elif mti == 2 and direction is Direction.MT:
            r.pos = start + 2
            tp_ra = read_address(r, "TP-RA")
            p = r.pos
            tp_scts = timestamp_at(buf, p)
            tp_dt = timestamp_at(buf, p + 7)
            if p + 15 == len(buf) and tp_scts is not None and tp_dt is not None:
                r.pos = p + 15
                return SmsStatusReport(
                    tp_mr=buf[start + 1],
                    tp_ra=tp_ra,
                    tp_scts=tp_scts,
                    tp_dt=tp_dt,
                    tp_st=buf[p + 14],
                    tp_mms=not fo & _MMS_RD,
                    tp_lp=fo & _LP != 0,
                    tp_srq=fo & _SRR_SRI_SRQ != 0,
                )
    except (IndexError, PDUError):
        pass
    r.pos = start
    return None


def _decode(r: Reader, direction: Direction, rp_error: bool | None = None) -> Tpdu:
    if r.trace is None:
        quick = _quick(r, direction)
        if quick is not None:
            return quick
    fo = r.octet("first octet")
    mti = fo & 0x03
    name = _BY_MTI[direction].get(mti)
    if name is None:
        raise r.error(f"TP-MTI 11 is reserved ({direction.value.upper()})", r.pos - 1)
    if r.trace is not None:
        r.note(name)
    udhi = bool(fo & _UDHI)
    if name == SmsDeliver.name:
        tp_oa = read_address(r, "TP-OA")
        tp_pid = _byte(r, "TP-PID", describe_pid)
        tp_dcs = dcs_of(_byte(r, "TP-DCS"))
        if r.trace is not None:
            r.note(tp_dcs.describe())
        tp_scts = decode_timestamp(r, "TP-SCTS")
        return SmsDeliver(
            tp_oa=tp_oa,
            tp_scts=tp_scts,
            tp_pid=tp_pid,
            tp_dcs=tp_dcs,
            tp_ud=decode_user_data(r, tp_dcs, udhi),
            tp_mms=not fo & _MMS_RD,
            tp_lp=bool(fo & _LP),
            tp_sri=bool(fo & _SRR_SRI_SRQ),
            tp_rp=bool(fo & _RP),
        )
    if name == SmsSubmit.name:
        tp_mr = _byte(r, "TP-MR", lambda v: f"message reference {v}")
        tp_da = read_address(r, "TP-DA")
        tp_pid = _byte(r, "TP-PID", describe_pid)
        tp_dcs = dcs_of(_byte(r, "TP-DCS"))
        if r.trace is not None:
            r.note(tp_dcs.describe())
        tp_vp = decode_vp(r, fo >> 3 & 0x03)
        return SmsSubmit(
            tp_da=tp_da,
            tp_mr=tp_mr,
            tp_pid=tp_pid,
            tp_dcs=tp_dcs,
            tp_vp=tp_vp,
            tp_ud=decode_user_data(r, tp_dcs, udhi),
            tp_rd=bool(fo & _MMS_RD),
            tp_srr=bool(fo & _SRR_SRI_SRQ),
            tp_rp=bool(fo & _RP),
        )
    if name == SmsStatusReport.name:
        tp_mr = _byte(r, "TP-MR", lambda v: f"reference of the reported SMS-SUBMIT: {v}")
        tp_ra = read_address(r, "TP-RA")
        tp_scts = decode_timestamp(r, "TP-SCTS")
        tp_dt = decode_timestamp(r, "TP-DT")
        tp_st = _byte(r, "TP-ST", describe_st)
        # TP-PI is optional here: a report may end after TP-ST.
        pi = 0 if r.at_end() else _read_pi(r)
        pid, dcs, ud = _decode_announced(r, pi, udhi)
        return SmsStatusReport(
            tp_mr=tp_mr,
            tp_ra=tp_ra,
            tp_scts=tp_scts,
            tp_dt=tp_dt,
            tp_st=tp_st,
            tp_mms=not fo & _MMS_RD,
            tp_lp=bool(fo & _LP),
            tp_srq=bool(fo & _SRR_SRI_SRQ),
            tp_pid=pid,
            tp_dcs=dcs,
            tp_ud=ud,
        )
    if name == SmsSubmitReport.name:
        fcs = _decode_fcs(r, rp_error)
        pi = _read_pi(r)
        tp_scts = decode_timestamp(r, "TP-SCTS")
        pid, dcs, ud = _decode_announced(r, pi, udhi)
        return SmsSubmitReport(tp_scts=tp_scts, tp_fcs=fcs, tp_pid=pid, tp_dcs=dcs, tp_ud=ud)
    if name == SmsDeliverReport.name:
        fcs = _decode_fcs(r, rp_error)
        pid, dcs, ud = _decode_announced(r, _read_pi(r), udhi)
        return SmsDeliverReport(tp_fcs=fcs, tp_pid=pid, tp_dcs=dcs, tp_ud=ud)
    # SMS-COMMAND
    tp_mr = _byte(r, "TP-MR", lambda v: f"message reference {v}")
    tp_pid = _byte(r, "TP-PID", describe_pid)
    tp_ct = _byte(r, "TP-CT", lambda v: TP_CT_NAMES.get(v, "reserved or SC specific"))
    tp_mn = _byte(r, "TP-MN", lambda v: f"the command is about TP-MR {v}")
    tp_da = read_address(r, "TP-DA")
    cdl = _byte(r, "TP-CDL", lambda v: f"{v} octets of command data")
    tp_cd = r.take(cdl, "TP-CD")
    return SmsCommand(
        tp_mr=tp_mr,
        tp_ct=tp_ct,
        tp_mn=tp_mn,
        tp_da=tp_da,
        tp_pid=tp_pid,
        tp_cd=tp_cd,
        tp_srr=bool(fo & _SRR_SRI_SRQ),
        tp_udhi=udhi,
    )
