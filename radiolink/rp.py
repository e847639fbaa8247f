"""The RP layer of TS 24.011 (§7.3, §8.2): RP-DATA, RP-ACK, RP-ERROR, RP-SMMA.

Pure and sans-I/O like ``pdu``: bytes and frozen dataclasses in and out.  The
TPDU an RP message carries stays raw bytes; ``decode_tpdu`` (or ``pdu.decode``
with the message's ``direction`` and ``rp_error``) opens it, because which TPDU
a TP-MTI names depends on the direction the RP message travelled.

Layout (TS 24.011 §8.2.1): octet 1 holds RP-MTI in bits 3-1 (bits 8-4 spare,
sent 0, ignored on receipt), octet 2 RP-Message Reference, then

    RP-DATA  MS->N  RP-OA (LV, length 0), RP-DA (LV, SMSC), RP-User Data (LV)
    RP-DATA  N->MS  RP-OA (LV, SMSC), RP-DA (LV, length 0), RP-User Data (LV)
    RP-ACK          [RP-User Data (TLV, IEI 0x41)]
    RP-ERROR        RP-Cause (LV), [RP-User Data (TLV, IEI 0x41)]
    RP-SMMA  MS->N  nothing more

Every malformed input raises ``RPError``, which says where decoding stopped, why,
which RP-Cause a network answers with, and the RP-Message Reference to answer
with when the octets got that far.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from functools import lru_cache

from pdu.address import TON_ALPHANUMERIC, Address, encode_sc_address, read_sc_address
from pdu.errors import PDUError
from pdu.reader import Reader, Span
from pdu.status import RP_CAUSE_NAMES
from pdu.tpdu import (
    Direction,
    SmsCommand,
    SmsDeliver,
    SmsDeliverReport,
    SmsStatusReport,
    SmsSubmit,
    SmsSubmitReport,
    Tpdu,
    decode,
)

#: IEI of RP-User Data where it is optional (RP-ACK, RP-ERROR; §7.3.3, §7.3.4).
IEI_RP_USER_DATA = 0x41
#: TPDU octets an RP-User Data element carries at most: the element is at most
#: 233 octets with its length octet (§8.2.5.3), which is what is left of the
#: 248-octet CP-User Data (§8.1.4.1) after MTI, reference and a full address.
MAX_TPDU = 232
#: RP-OA / RP-DA length octet, type-of-address included (§8.2.5.1, §8.2.5.2).
MAX_ADDRESS_LENGTH = 11


class RpCause(IntEnum):
    """RP-Cause values of TS 24.011 §8.2.5.4 Table 8.4 (meanings in Annex E.2)."""

    UNASSIGNED_NUMBER = 1
    OPERATOR_DETERMINED_BARRING = 8
    CALL_BARRED = 10
    SHORT_MESSAGE_TRANSFER_REJECTED = 21
    MEMORY_CAPACITY_EXCEEDED = 22
    DESTINATION_OUT_OF_ORDER = 27
    UNIDENTIFIED_SUBSCRIBER = 28
    FACILITY_REJECTED = 29
    UNKNOWN_SUBSCRIBER = 30
    NETWORK_OUT_OF_ORDER = 38
    TEMPORARY_FAILURE = 41
    CONGESTION = 42
    RESOURCES_UNAVAILABLE_UNSPECIFIED = 47
    REQUESTED_FACILITY_NOT_SUBSCRIBED = 50
    REQUESTED_FACILITY_NOT_IMPLEMENTED = 69
    INVALID_SHORT_MESSAGE_TRANSFER_REFERENCE_VALUE = 81
    SEMANTICALLY_INCORRECT_MESSAGE = 95
    INVALID_MANDATORY_INFORMATION = 96
    MESSAGE_TYPE_NON_EXISTENT_OR_NOT_IMPLEMENTED = 97
    MESSAGE_NOT_COMPATIBLE_WITH_SHORT_MESSAGE_PROTOCOL_STATE = 98
    INFORMATION_ELEMENT_NON_EXISTENT_OR_NOT_IMPLEMENTED = 99
    PROTOCOL_ERROR_UNSPECIFIED = 111
    INTERWORKING_UNSPECIFIED = 127


def describe_cause(cause: int) -> str:
    """'22 (memory capacity exceeded)'; causes Table 8.4 does not list are
    shown as such rather than refused, since peers do send them."""
    return f"{cause} ({RP_CAUSE_NAMES.get(cause, 'not in TS 24.011 Table 8.4')})"


class RPError(PDUError):
    """Octets that are not a valid RP message (or a value the encoder refuses).

    Besides PDUError's ``offset`` and ``reason`` it carries ``rp_cause``, the
    RP-Cause a network answers with in RP-ERROR, and ``rp_mr``, the
    RP-Message Reference to answer with: ``None`` when fewer than two octets
    arrived, in which case the "message too short" rule (TS 24.008 §8.2)
    says the message is ignored rather than answered.

    Not to be confused with ``RpError``, the RP-ERROR message.
    """

    def __init__(
        self,
        reason: str,
        offset: int | None = None,
        *,
        rp_cause: int = RpCause.PROTOCOL_ERROR_UNSPECIFIED,
        rp_mr: int | None = None,
    ) -> None:
        super().__init__(reason, offset)
        self.rp_cause = int(rp_cause)
        self.rp_mr = rp_mr

    def __str__(self) -> str:
        return f"{super().__str__()} [RP-Cause {describe_cause(self.rp_cause)}]"


class RpMti(IntEnum):
    """RP-MTI (§8.2.2 Table 8.3).  Even values travel MS -> network."""

    DATA_MS_TO_N = 0
    DATA_N_TO_MS = 1
    ACK_MS_TO_N = 2
    ACK_N_TO_MS = 3
    ERROR_MS_TO_N = 4
    ERROR_N_TO_MS = 5
    SMMA = 6

    @property
    def direction(self) -> Direction:
        """``Direction.MO`` for MS -> network, ``Direction.MT`` the other way:
        also the direction of the TPDU inside, as ``pdu.decode`` wants it."""
        return Direction.MT if self & 1 else Direction.MO

    @property
    def is_ms_to_network(self) -> bool:
        return not self & 1


_NAMES = {
    RpMti.DATA_MS_TO_N: "RP-DATA (MS to network)",
    RpMti.DATA_N_TO_MS: "RP-DATA (network to MS)",
    RpMti.ACK_MS_TO_N: "RP-ACK (MS to network)",
    RpMti.ACK_N_TO_MS: "RP-ACK (network to MS)",
    RpMti.ERROR_MS_TO_N: "RP-ERROR (MS to network)",
    RpMti.ERROR_N_TO_MS: "RP-ERROR (network to MS)",
    RpMti.SMMA: "RP-SMMA (MS to network)",
}


def _invalid(reason: str) -> RPError:
    return RPError(reason, None, rp_cause=RpCause.PROTOCOL_ERROR_UNSPECIFIED)


def _check_mr(rp_mr: int) -> None:
    if not 0 <= rp_mr <= 0xFF:
        raise _invalid(f"RP-Message Reference {rp_mr} is not 0-255")


def _check_ud(rp_ud: bytes, what: str) -> None:
    if len(rp_ud) > MAX_TPDU:
        raise _invalid(f"{what}: {len(rp_ud)} TPDU octets, more than the {MAX_TPDU} that fit")


def _check_address(address: Address, what: str) -> None:
    problem = _address_problem(address)
    if problem is not None:
        raise _invalid(f"{what}{problem}")


@lru_cache(maxsize=256)
def _address_problem(address: Address) -> str | None:
    """Why ``address`` cannot be an RP address, or None.  Cached: a network
    sees the same few SMSC addresses in every message."""
    # RP addresses are BCD numbers (TS 24.008 §10.5.4.7 coding); the shared SMSC
    # address codec would pack an alphanumeric one in GSM 7-bit instead.
    if address.ton == TON_ALPHANUMERIC:
        return f" {address.number!r}: an RP address cannot be alphanumeric"
    if not address.number:
        return " has no digits"
    try:
        encode_sc_address(address)
    except PDUError as e:
        return f": {e.reason}"
    return None


class _Message:
    """Direction helpers shared by the four message classes."""

    __slots__ = ()
    mti: RpMti
    rp_mr: int

    @property
    def name(self) -> str:
        return _NAMES[self.mti]

    @property
    def direction(self) -> Direction:
        """MO (MS -> network) or MT: a network must receive only MO ones."""
        return self.mti.direction

    @property
    def is_ms_to_network(self) -> bool:
        return self.mti.is_ms_to_network


@dataclass(frozen=True, slots=True)
class RpData(_Message):
    """RP-DATA (§7.3.1): relays an SMS-SUBMIT / SMS-COMMAND from the MS, or an
    SMS-DELIVER / SMS-STATUS-REPORT to it.  The SMSC is RP-DA in the first case
    and RP-OA in the second; the other address is absent (length 0)."""

    rp_mr: int
    rp_oa: Address | None
    rp_da: Address | None
    rp_ud: bytes
    mti: RpMti = field(kw_only=True)

    def __post_init__(self) -> None:
        _check_mr(self.rp_mr)
        if self.mti is RpMti.DATA_MS_TO_N:
            if self.rp_oa is not None or self.rp_da is None:
                raise _invalid("RP-DATA (MS to network) has no RP-OA and the SMSC as RP-DA")
            _check_address(self.rp_da, "RP-DA")
        elif self.mti is RpMti.DATA_N_TO_MS:
            if self.rp_da is not None or self.rp_oa is None:
                raise _invalid("RP-DATA (network to MS) has the SMSC as RP-OA and no RP-DA")
            _check_address(self.rp_oa, "RP-OA")
        else:
            raise _invalid(f"RP-DATA cannot have RP-MTI {self.mti!r}")
        if not self.rp_ud:
            raise _invalid("RP-DATA carries a TPDU: RP-User Data is empty")
        _check_ud(self.rp_ud, "RP-User Data")

    @classmethod
    def mo(cls, rp_mr: int, smsc: Address, tpdu: bytes) -> RpData:
        """MS -> network: an SMS-SUBMIT or SMS-COMMAND for ``smsc``."""
        return cls(rp_mr, None, smsc, tpdu, mti=RpMti.DATA_MS_TO_N)

    @classmethod
    def mt(cls, rp_mr: int, smsc: Address, tpdu: bytes) -> RpData:
        """Network -> MS: an SMS-DELIVER or SMS-STATUS-REPORT from ``smsc``."""
        return cls(rp_mr, smsc, None, tpdu, mti=RpMti.DATA_N_TO_MS)

    @property
    def smsc(self) -> Address:
        """The SMSC address, whichever field carries it."""
        address = self.rp_da if self.mti is RpMti.DATA_MS_TO_N else self.rp_oa
        assert address is not None  # __post_init__ saw to it
        return address


@dataclass(frozen=True, slots=True)
class RpAck(_Message):
    """RP-ACK (§7.3.3), optionally with an SMS-DELIVER-REPORT (from the MS) or
    SMS-SUBMIT-REPORT (from the network) in RP-User Data."""

    rp_mr: int
    rp_ud: bytes | None = None
    mti: RpMti = field(kw_only=True)

    def __post_init__(self) -> None:
        _check_mr(self.rp_mr)
        if self.mti not in (RpMti.ACK_MS_TO_N, RpMti.ACK_N_TO_MS):
            raise _invalid(f"RP-ACK cannot have RP-MTI {self.mti!r}")
        if self.rp_ud is not None:
            _check_ud(self.rp_ud, "RP-User Data")

    @classmethod
    def mo(cls, rp_mr: int, rp_ud: bytes | None = None) -> RpAck:
        """MS -> network, optionally with an SMS-DELIVER-REPORT."""
        return cls(rp_mr, rp_ud, mti=RpMti.ACK_MS_TO_N)

    @classmethod
    def mt(cls, rp_mr: int, rp_ud: bytes | None = None) -> RpAck:
        """Network -> MS, optionally with an SMS-SUBMIT-REPORT."""
        return cls(rp_mr, rp_ud, mti=RpMti.ACK_N_TO_MS)


@dataclass(frozen=True, slots=True)
class RpError(_Message):
    """RP-ERROR (§7.3.4): RP-Cause with an optional diagnostic, and optionally
    the RP-ERROR form of an SMS-DELIVER-REPORT / SMS-SUBMIT-REPORT (the one with
    TP-FCS).  Not to be confused with ``RPError``, the exception."""

    rp_mr: int
    rp_cause: int
    diagnostic: bytes = b""
    rp_ud: bytes | None = None
    mti: RpMti = field(kw_only=True)

    def __post_init__(self) -> None:
        _check_mr(self.rp_mr)
        if self.mti not in (RpMti.ERROR_MS_TO_N, RpMti.ERROR_N_TO_MS):
            raise _invalid(f"RP-ERROR cannot have RP-MTI {self.mti!r}")
        if not 0 <= self.rp_cause <= 0x7F:
            raise _invalid(f"RP-Cause {self.rp_cause} does not fit bits 7-1")
        if len(self.diagnostic) > 0xFE:
            raise _invalid("RP-Cause diagnostic longer than its length octet can say")
        if self.rp_ud is not None:
            _check_ud(self.rp_ud, "RP-User Data")

    @classmethod
    def mo(
        cls, rp_mr: int, rp_cause: int, diagnostic: bytes = b"", rp_ud: bytes | None = None
    ) -> RpError:
        """MS -> network, optionally with an SMS-DELIVER-REPORT (TP-FCS form)."""
        return cls(rp_mr, rp_cause, diagnostic, rp_ud, mti=RpMti.ERROR_MS_TO_N)

    @classmethod
    def mt(
        cls, rp_mr: int, rp_cause: int, diagnostic: bytes = b"", rp_ud: bytes | None = None
    ) -> RpError:
        """Network -> MS, optionally with an SMS-SUBMIT-REPORT (TP-FCS form)."""
        return cls(rp_mr, rp_cause, diagnostic, rp_ud, mti=RpMti.ERROR_N_TO_MS)

    @property
    def cause_text(self) -> str:
        return describe_cause(self.rp_cause)


@dataclass(frozen=True, slots=True)
class RpSmma(_Message):
    """RP-SMMA (§7.3.2): the MS has memory again; only the reference."""

    rp_mr: int
    mti: RpMti = field(default=RpMti.SMMA, init=False, repr=False)

    def __post_init__(self) -> None:
        _check_mr(self.rp_mr)


RpMessage = RpData | RpAck | RpError | RpSmma


def _user_data_tlv(rp_ud: bytes | None) -> bytes:
    if rp_ud is None:
        return b""
    return bytes((IEI_RP_USER_DATA, len(rp_ud))) + rp_ud


def encode_rp(msg: RpMessage) -> bytes:
    """The message's octets.  The dataclasses refuse invalid values when built,
    so this cannot fail on one of them."""
    head = bytes((msg.mti, msg.rp_mr))
    if isinstance(msg, RpData):
        return (
            head
            + encode_sc_address(msg.rp_oa)
            + encode_sc_address(msg.rp_da)
            + bytes((len(msg.rp_ud),))
            + msg.rp_ud
        )
    if isinstance(msg, RpAck):
        return head + _user_data_tlv(msg.rp_ud)
    if isinstance(msg, RpError):
        cause = bytes((1 + len(msg.diagnostic), msg.rp_cause)) + msg.diagnostic
        return head + cause + _user_data_tlv(msg.rp_ud)
    if isinstance(msg, RpSmma):
        return head
    raise _invalid(f"not an RP message: {type(msg).__name__}")


class NetworkEncoder:
    """The RP messages a network sends, as ``encode_rp`` of ``RpData.mt``,
    ``RpAck.mt`` and ``RpError.mt`` would give them, with the SMSC address
    encoded once: the SMSC's path for every message, where building and
    checking a message object each time costs more than the octets."""

    __slots__ = ("_rp_oa",)

    def __init__(self, smsc: Address) -> None:
        _check_address(smsc, "RP-OA")
        self._rp_oa = encode_sc_address(smsc) + b"\x00"  # RP-OA, then an empty RP-DA

    def data(self, rp_mr: int, tpdu: bytes) -> bytes:
        _check_mr(rp_mr)
        if not tpdu:
            raise _invalid("RP-DATA carries a TPDU: RP-User Data is empty")
        _check_ud(tpdu, "RP-User Data")
        return bytes((RpMti.DATA_N_TO_MS, rp_mr)) + self._rp_oa + bytes((len(tpdu),)) + tpdu

    @staticmethod
    def ack(rp_mr: int, rp_ud: bytes | None = None) -> bytes:
        _check_mr(rp_mr)
        if rp_ud is None:
            return bytes((RpMti.ACK_N_TO_MS, rp_mr))
        _check_ud(rp_ud, "RP-User Data")
        return bytes((RpMti.ACK_N_TO_MS, rp_mr, IEI_RP_USER_DATA, len(rp_ud))) + rp_ud

    @staticmethod
    def error(rp_mr: int, rp_cause: int, rp_ud: bytes | None = None) -> bytes:
        """RP-ERROR, with ``rp_ud`` an SMS-SUBMIT-REPORT (TP-FCS form) if given."""
        return encode_rp(RpError(rp_mr, rp_cause, rp_ud=rp_ud, mti=RpMti.ERROR_N_TO_MS))


class _RpReader(Reader):
    """A Reader whose overruns become RPError with the cause that fits the field
    being read: mandatory fields 96, the optional part 111."""

    __slots__ = ("cause", "rp_mr")

    def __init__(self, buf: bytes, trace: list[Span] | None = None) -> None:
        super().__init__(buf, trace=trace)
        self.cause: int = RpCause.INVALID_MANDATORY_INFORMATION
        self.rp_mr: int | None = None

    def error(self, reason: str, at: int | None = None) -> RPError:
        offset = self.base + (self.pos if at is None else at)
        return RPError(reason, offset, rp_cause=self.cause, rp_mr=self.rp_mr)

    def fail(self, reason: str, at: int, cause: int | None = None) -> RPError:
        return RPError(
            reason, at, rp_cause=self.cause if cause is None else cause, rp_mr=self.rp_mr
        )


def _read_address(r: _RpReader, name: str, present: bool) -> Address | None:
    """RP-OA / RP-DA: the SMSC address format; ``present`` says whether this
    direction carries one (length 2-11) or must leave it empty (length 0)."""
    at = r.pos
    length = r.octet(f"{name} length")
    if not present:
        if length:
            raise r.fail(f"{name} must be empty (length 0) in this direction, not {length}", at)
        return None
    if length < 2:
        raise r.fail(f"{name} length {length}: the SMSC address needs 2-11 octets", at)
    if length > MAX_ADDRESS_LENGTH:
        raise r.fail(f"{name} length {length} is more than {MAX_ADDRESS_LENGTH} octets", at)
    if r.remaining() >= 1 and r.buf[r.pos] >> 4 & 0x7 == TON_ALPHANUMERIC:
        raise r.fail(f"{name}: type of number 101 is reserved for a BCD number", r.pos)
    r.pos = at  # the shared codec reads the length octet itself
    address = read_sc_address(r, name)  # overruns raise RPError through r.error
    assert address is not None
    if not address.number:
        raise r.fail(f"{name} holds no digits, only fillers", at)
    return address


def _read_lv_user_data(r: _RpReader) -> bytes:
    at = r.pos
    length = r.octet("RP-User Data length")
    if length == 0:
        raise r.fail("RP-User Data is empty: RP-DATA must carry a TPDU", at)
    if length > MAX_TPDU:
        raise r.fail(f"RP-User Data length {length} is more than {MAX_TPDU} octets", at)
    return r.take(length, "RP-User Data")


def _read_optional(r: _RpReader, with_user_data: bool) -> bytes | None:
    """The non-imperative part (TS 24.007 §11.2.4, TS 24.008 §8.5-8.6).

    RP-User Data (IEI 0x41) is the only optional IE RP defines, in RP-ACK and
    RP-ERROR.  Anything else is skipped the way TS 24.007 lets a receiver
    skip an IE it does not know: bit 8 of the IEI set means one octet (type 1
    or 2), otherwise a length octet follows (type 4).  An unknown IEI with bits
    8-5 = 0000 is "comprehension required" and refused with cause 96; a
    repeated RP-User Data is ignored after the first (TS 24.008 §8.6.3).
    """
    r.cause = RpCause.PROTOCOL_ERROR_UNSPECIFIED
    rp_ud: bytes | None = None
    while not r.at_end():
        at = r.pos
        iei = r.octet("IEI")
        if iei & 0x80:
            continue
        if iei >> 4 == 0:
            raise r.fail(
                f"unknown IEI {iei:#04x} is comprehension required",
                at,
                RpCause.INVALID_MANDATORY_INFORMATION,
            )
        known = with_user_data and iei == IEI_RP_USER_DATA and rp_ud is None
        name = "RP-User Data" if known else f"IE {iei:#04x}"
        length_at = r.pos
        length = r.octet(f"{name} length")
        if known and length > MAX_TPDU:
            raise r.fail(f"RP-User Data length {length} is more than {MAX_TPDU} octets", length_at)
        value = r.take(length, name)
        if known:
            rp_ud = value
    return rp_ud


def decode_rp(
    data: bytes, *, direction: Direction | None = None, trace: list[Span] | None = None
) -> RpMessage:
    """Decode one RP message.

    ``direction``, when given, is the way the octets travelled (``Direction.MO``
    at a network, ``MT`` at an MS): an RP-MTI of the other direction is then
    refused with cause 97, as Table 8.3 marks it reserved there.  Without it,
    check ``msg.direction`` yourself.  ``trace`` records each field read, for
    ``radiolink.explain``.
    """
    r = _RpReader(data, trace)
    first = r.octet("RP-MTI")
    r.rp_mr = r.octet("RP-Message Reference")
    try:
        mti = RpMti(first & 0x07)  # bits 8-4 are spare: ignored on receipt
    except ValueError:
        raise r.fail(
            "RP-MTI 111 is reserved", 0, RpCause.MESSAGE_TYPE_NON_EXISTENT_OR_NOT_IMPLEMENTED
        ) from None
    if direction is not None and mti.direction != Direction(direction):
        raise r.fail(
            f"{_NAMES[mti]} cannot arrive {Direction(direction).value.upper()}: "
            "that RP-MTI is reserved in this direction",
            0,
            RpCause.MESSAGE_TYPE_NON_EXISTENT_OR_NOT_IMPLEMENTED,
        )
    mr = r.rp_mr
    if mti in (RpMti.DATA_MS_TO_N, RpMti.DATA_N_TO_MS):
        mo = mti is RpMti.DATA_MS_TO_N
        rp_oa = _read_address(r, "RP-OA", present=not mo)
        rp_da = _read_address(r, "RP-DA", present=mo)
        rp_ud = _read_lv_user_data(r)
        _read_optional(r, with_user_data=False)
        return RpData(mr, rp_oa, rp_da, rp_ud, mti=mti)
    if mti in (RpMti.ACK_MS_TO_N, RpMti.ACK_N_TO_MS):
        return RpAck(mr, _read_optional(r, with_user_data=True), mti=mti)
    if mti in (RpMti.ERROR_MS_TO_N, RpMti.ERROR_N_TO_MS):
        at = r.pos
        length = r.octet("RP-Cause length")
        if length == 0:
            raise r.fail("RP-Cause length 0: the cause value is missing", at)
        cause = r.take(length, "RP-Cause")
        # Bit 8 of the cause octet is an extension bit sent as 0; it is ignored,
        # as the cause is bits 7-1 only.
        report = _read_optional(r, with_user_data=True)
        return RpError(mr, cause[0] & 0x7F, cause[1:], report, mti=mti)
    _read_optional(r, with_user_data=False)
    return RpSmma(mr)


#: The TPDUs each RP message may carry (TS 24.011 §7.3, TS 23.040 §9.2.2).
_ALLOWED_TPDUS: dict[RpMti, tuple[type, ...]] = {
    RpMti.DATA_MS_TO_N: (SmsSubmit, SmsCommand),
    RpMti.DATA_N_TO_MS: (SmsDeliver, SmsStatusReport),
    RpMti.ACK_MS_TO_N: (SmsDeliverReport,),
    RpMti.ACK_N_TO_MS: (SmsSubmitReport,),
    RpMti.ERROR_MS_TO_N: (SmsDeliverReport,),
    RpMti.ERROR_N_TO_MS: (SmsSubmitReport,),
}


def decode_tpdu(msg: RpMessage) -> Tpdu | None:
    """The TPDU in RP-User Data, decoded for the message's direction and, for
    reports, in its RP-ACK or RP-ERROR form; None when there is none.

    A TPDU of a type the RP message cannot carry (an SMS-DELIVER-REPORT in
    RP-DATA, say) raises RPError with cause 95 and no offset.  A malformed TPDU
    raises the codec's PDUError, offsets counted from the TPDU's first octet:
    answering it is the transfer layer's business (TP-FCS), not RP's.
    """
    if isinstance(msg, RpSmma) or msg.rp_ud is None:
        return None
    tpdu = decode(msg.rp_ud, msg.direction, rp_error=isinstance(msg, RpError))
    if not isinstance(tpdu, _ALLOWED_TPDUS[msg.mti]):
        raise RPError(
            f"{msg.name} cannot carry an {tpdu.name}",
            None,
            rp_cause=RpCause.SEMANTICALLY_INCORRECT_MESSAGE,
            rp_mr=msg.rp_mr,
        )
    return tpdu
