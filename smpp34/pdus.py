"""SMPP v3.4 (Issue 1.2) PDUs as frozen dataclasses, with encode and decode.

Pure and sans-I/O like ``pdu`` and ``radiolink.rp``: ``encode`` turns a PDU into
octets, ``decode`` turns the octets of one PDU into its dataclass, and
``PduReader`` splits a TCP byte stream into PDUs.  Every name is the
specification's: ``command_id``, ``sequence_number``, ``source_addr``,
``sm_length``, ``sar_msg_ref_num`` ...

Layout (§3.2): a 16-octet header of four big-endian integers (command_length,
command_id, command_status, sequence_number), the mandatory parameters of the
command in a fixed order (§4), then optional parameters as TLVs (§3.2.4.1,
tags in §5.3.2) in any order.

Octets that are not a valid PDU raise ``SmppError``, which carries the
command_status a server answers with (``SmppError.response()`` builds that
answer: generic_nack or the request's ``_resp``), the reason, the octet offset,
and the sequence_number and command_id when the header got that far.

Decisions the specification leaves open, made here for real peers:

- C-Octet Strings are read and written as Latin-1, so any octet but NUL
  survives a round trip (the specification says ASCII; peers send more).
- A TLV this codec does not know is kept raw in ``Tlvs.unknown`` and written
  back; a known TLV in a PDU whose table does not list it is decoded all the
  same (whether to refuse it with ESME_ROPTPARNOTALLWD is the session's call).
  A known tag twice in one PDU is refused (ESME_RINVOPTPARSTREAM).
- A response may come without its body: peers leave it out on errors (§4.4.2
  says submit_sm_resp has none then) and some even on success.  A response
  with an empty body decodes to its defaults, and one with a non-zero
  command_status whose body does not parse decodes as if it had none.
  ``encode`` leaves out the body of a response with a non-zero command_status
  when the body holds nothing but defaults.
- deliver_sm_resp's message_id is "unused, set to NULL" (§4.6.2) but accepted
  up to 65 octets like the other message_ids, since SMSCs do fill it.
- schedule_delivery_time, validity_period and final_date stay the strings on
  the wire; ``parse_time`` and ``format_time`` convert them (§7.1.1).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta, timezone
from typing import ClassVar

from pdu.timestamp import CENTURY_PIVOT

from .constants import (
    HEADER_LENGTH,
    INTERFACE_VERSION,
    MAX_COMMAND_LENGTH,
    RESPONSE_BIT,
    CommandId,
    CommandStatus,
)
from .constants import CommandStatus as _S
from .errors import SmppError
from .fields import (
    _DESTS,
    _SM,
    _UNSUCCESS,
    DestAddress,
    UnsuccessSme,
    _c,
    _decode_body,
    _encode_body,
    _Field,
    _u8,
)
from .tlv import NO_TLVS, Tlvs, _decode_tlvs, _encode_tlvs

_HEADER = struct.Struct(">IIII")


_SERVICE_TYPE = _c("service_type", 6, _S.ESME_RINVSERTYP)
_SOURCE_TON = _u8("source_addr_ton", _S.ESME_RINVSRCTON)
_SOURCE_NPI = _u8("source_addr_npi", _S.ESME_RINVSRCNPI)
_SOURCE_21 = _c("source_addr", 21, _S.ESME_RINVSRCADR)
_SOURCE_65 = _c("source_addr", 65, _S.ESME_RINVSRCADR)
_DEST_TON = _u8("dest_addr_ton", _S.ESME_RINVDSTTON)
_DEST_NPI = _u8("dest_addr_npi", _S.ESME_RINVDSTNPI)
_DEST_21 = _c("destination_addr", 21, _S.ESME_RINVDSTADR)
_DEST_65 = _c("destination_addr", 65, _S.ESME_RINVDSTADR)
_ESM_CLASS = _u8("esm_class", _S.ESME_RINVESMCLASS)
_PROTOCOL_ID = _u8("protocol_id")
_PRIORITY = _u8("priority_flag", _S.ESME_RINVPRTFLG)
_SCHEDULE = _c("schedule_delivery_time", 17, _S.ESME_RINVSCHED)
_VALIDITY = _c("validity_period", 17, _S.ESME_RINVEXPIRY)
_REGISTERED = _u8("registered_delivery", _S.ESME_RINVREGDLVFLG)
_REPLACE = _u8("replace_if_present_flag", _S.ESME_RINVREPFLAG)
_DATA_CODING = _u8("data_coding")
_DEFAULT_MSG_ID = _u8("sm_default_msg_id", _S.ESME_RINVDFTMSGID)
_SHORT_MESSAGE = _Field("short_message", _SM, 1, _S.ESME_RINVMSGLEN)
_MESSAGE_ID = _c("message_id", 65, _S.ESME_RINVMSGID)
_SYSTEM_ID = _c("system_id", 16, _S.ESME_RINVSYSID)
_PASSWORD = _c("password", 9, _S.ESME_RINVPASWD)

_BIND_BODY = (
    _SYSTEM_ID,
    _PASSWORD,
    _c("system_type", 13, _S.ESME_RINVSYSTYP),
    _u8("interface_version", _S.ESME_RBINDFAIL),
    _u8("addr_ton", _S.ESME_RBINDFAIL),
    _u8("addr_npi", _S.ESME_RBINDFAIL),
    _c("address_range", 41, _S.ESME_RBINDFAIL),
)
_SM_BODY = (
    _SERVICE_TYPE,
    _SOURCE_TON,
    _SOURCE_NPI,
    _SOURCE_21,
    _DEST_TON,
    _DEST_NPI,
    _DEST_21,
    _ESM_CLASS,
    _PROTOCOL_ID,
    _PRIORITY,
    _SCHEDULE,
    _VALIDITY,
    _REGISTERED,
    _REPLACE,
    _DATA_CODING,
    _DEFAULT_MSG_ID,
    _SHORT_MESSAGE,
)
_SUBMIT_MULTI_BODY = (
    _SERVICE_TYPE,
    _SOURCE_TON,
    _SOURCE_NPI,
    _SOURCE_21,
    _Field("dest_address", _DESTS, 1, _S.ESME_RINVNUMDESTS),
    *_SM_BODY[7:],
)
_DATA_SM_BODY = (
    _SERVICE_TYPE,
    _SOURCE_TON,
    _SOURCE_NPI,
    _SOURCE_65,
    _DEST_TON,
    _DEST_NPI,
    _DEST_65,
    _ESM_CLASS,
    _REGISTERED,
    _DATA_CODING,
)


# -- the PDUs (§4) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class _Pdu:
    """What every PDU has: the header fields other than command_length (which
    ``encode`` computes) and command_id (the class), and its TLVs."""

    command_id: ClassVar[CommandId]
    _body: ClassVar[tuple[_Field, ...]] = ()
    #: The encoded body of a PDU holding only defaults, computed per class.
    _default_body: ClassVar[bytes] = b""

    sequence_number: int
    command_status: int = 0
    tlvs: Tlvs = NO_TLVS

    @property
    def name(self) -> str:
        """The specification's name: 'submit_sm', 'deliver_sm_resp', ..."""
        return self.command_id.name

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)

    def __repr__(self) -> str:
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.name != "tlvs"]
        if self.tlvs != NO_TLVS:
            shown.append(f"tlvs={self.tlvs!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class _Bind(_Pdu):
    """bind_transmitter / bind_receiver / bind_transceiver (§4.1.1, §4.1.3, §4.1.5)."""

    _body: ClassVar[tuple[_Field, ...]] = _BIND_BODY
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class BindTransmitter(_Bind):
    command_id: ClassVar[CommandId] = CommandId.bind_transmitter


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class BindReceiver(_Bind):
    command_id: ClassVar[CommandId] = CommandId.bind_receiver


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class BindTransceiver(_Bind):
    command_id: ClassVar[CommandId] = CommandId.bind_transceiver


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class _BindResp(_Pdu):
    """The bind responses: the SMSC's system_id, sc_interface_version as a TLV."""

    _body: ClassVar[tuple[_Field, ...]] = (_SYSTEM_ID,)
    system_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class BindTransmitterResp(_BindResp):
    command_id: ClassVar[CommandId] = CommandId.bind_transmitter_resp


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class BindReceiverResp(_BindResp):
    command_id: ClassVar[CommandId] = CommandId.bind_receiver_resp


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class BindTransceiverResp(_BindResp):
    command_id: ClassVar[CommandId] = CommandId.bind_transceiver_resp


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Outbind(_Pdu):
    """outbind (§4.1.7): the SMSC asks the ESME to bind_receiver; no response PDU."""

    command_id: ClassVar[CommandId] = CommandId.outbind
    _body: ClassVar[tuple[_Field, ...]] = (_SYSTEM_ID, _PASSWORD)
    system_id: str = ""
    password: str = ""


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Unbind(_Pdu):
    command_id: ClassVar[CommandId] = CommandId.unbind


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class UnbindResp(_Pdu):
    command_id: ClassVar[CommandId] = CommandId.unbind_resp


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class GenericNack(_Pdu):
    """generic_nack (§4.3.1): the answer to a PDU with a bad header."""

    command_id: ClassVar[CommandId] = CommandId.generic_nack


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class EnquireLink(_Pdu):
    command_id: ClassVar[CommandId] = CommandId.enquire_link


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class EnquireLinkResp(_Pdu):
    command_id: ClassVar[CommandId] = CommandId.enquire_link_resp


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class _ShortMessage(_Pdu):
    """submit_sm (§4.4.1) and deliver_sm (§4.6.1) share their mandatory
    parameters; deliver_sm sends schedule_delivery_time, validity_period,
    replace_if_present_flag and sm_default_msg_id empty or zero."""

    _body: ClassVar[tuple[_Field, ...]] = _SM_BODY
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""

    @property
    def sm_length(self) -> int:
        return len(self.short_message)


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class SubmitSm(_ShortMessage):
    command_id: ClassVar[CommandId] = CommandId.submit_sm


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class DeliverSm(_ShortMessage):
    command_id: ClassVar[CommandId] = CommandId.deliver_sm


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class _MessageIdResp(_Pdu):
    _body: ClassVar[tuple[_Field, ...]] = (_MESSAGE_ID,)
    message_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class SubmitSmResp(_MessageIdResp):
    command_id: ClassVar[CommandId] = CommandId.submit_sm_resp


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class DeliverSmResp(_MessageIdResp):
    command_id: ClassVar[CommandId] = CommandId.deliver_sm_resp


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class DataSmResp(_MessageIdResp):
    """data_sm_resp (§4.7.2): TLVs delivery_failure_reason, network_error_code,
    additional_status_info_text and dpf_result may come with an error."""

    command_id: ClassVar[CommandId] = CommandId.data_sm_resp


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class SubmitMulti(_Pdu):
    """submit_multi (§4.5.1): number_of_dests is ``len(dest_address)``."""

    command_id: ClassVar[CommandId] = CommandId.submit_multi
    _body: ClassVar[tuple[_Field, ...]] = _SUBMIT_MULTI_BODY
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_address: tuple[DestAddress, ...] = ()
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""

    @property
    def number_of_dests(self) -> int:
        return len(self.dest_address)

    @property
    def sm_length(self) -> int:
        return len(self.short_message)


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class SubmitMultiResp(_Pdu):
    """submit_multi_resp (§4.5.2): no_unsuccess is ``len(unsuccess_sme)``."""

    command_id: ClassVar[CommandId] = CommandId.submit_multi_resp
    _body: ClassVar[tuple[_Field, ...]] = (
        _MESSAGE_ID,
        _Field("unsuccess_sme", _UNSUCCESS, 1, _S.ESME_RSYSERR),
    )
    message_id: str = ""
    unsuccess_sme: tuple[UnsuccessSme, ...] = ()

    @property
    def no_unsuccess(self) -> int:
        return len(self.unsuccess_sme)


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class DataSm(_Pdu):
    """data_sm (§4.7.1): the user data travels in the message_payload TLV."""

    command_id: ClassVar[CommandId] = CommandId.data_sm
    _body: ClassVar[tuple[_Field, ...]] = _DATA_SM_BODY
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class QuerySm(_Pdu):
    command_id: ClassVar[CommandId] = CommandId.query_sm
    _body: ClassVar[tuple[_Field, ...]] = (_MESSAGE_ID, _SOURCE_TON, _SOURCE_NPI, _SOURCE_21)
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class QuerySmResp(_Pdu):
    """query_sm_resp (§4.8.2): message_state a MessageState value, error_code
    the network's (GSM: the TP-ST / RP cause), final_date empty until final."""

    command_id: ClassVar[CommandId] = CommandId.query_sm_resp
    _body: ClassVar[tuple[_Field, ...]] = (
        _MESSAGE_ID,
        _c("final_date", 17, _S.ESME_RUNKNOWNERR),
        _u8("message_state"),
        _u8("error_code"),
    )
    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class CancelSm(_Pdu):
    command_id: ClassVar[CommandId] = CommandId.cancel_sm
    _body: ClassVar[tuple[_Field, ...]] = (
        _SERVICE_TYPE,
        _MESSAGE_ID,
        _SOURCE_TON,
        _SOURCE_NPI,
        _SOURCE_21,
        _DEST_TON,
        _DEST_NPI,
        _DEST_21,
    )
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class CancelSmResp(_Pdu):
    command_id: ClassVar[CommandId] = CommandId.cancel_sm_resp


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class ReplaceSm(_Pdu):
    command_id: ClassVar[CommandId] = CommandId.replace_sm
    _body: ClassVar[tuple[_Field, ...]] = (
        _MESSAGE_ID,
        _SOURCE_TON,
        _SOURCE_NPI,
        _SOURCE_21,
        _SCHEDULE,
        _VALIDITY,
        _REGISTERED,
        _DEFAULT_MSG_ID,
        _SHORT_MESSAGE,
    )
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""

    @property
    def sm_length(self) -> int:
        return len(self.short_message)


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class ReplaceSmResp(_Pdu):
    command_id: ClassVar[CommandId] = CommandId.replace_sm_resp


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class AlertNotification(_Pdu):
    """alert_notification (§4.12.1): an MS is reachable again (its
    ms_availability_status TLV); no response PDU."""

    command_id: ClassVar[CommandId] = CommandId.alert_notification
    _body: ClassVar[tuple[_Field, ...]] = (
        _SOURCE_TON,
        _SOURCE_NPI,
        _SOURCE_65,
        _u8("esme_addr_ton", _S.ESME_RINVDSTTON),
        _u8("esme_addr_npi", _S.ESME_RINVDSTNPI),
        _c("esme_addr", 65, _S.ESME_RINVDSTADR),
    )
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    esme_addr_ton: int = 0
    esme_addr_npi: int = 0
    esme_addr: str = ""


Pdu = (
    BindTransmitter
    | BindTransmitterResp
    | BindReceiver
    | BindReceiverResp
    | BindTransceiver
    | BindTransceiverResp
    | Outbind
    | Unbind
    | UnbindResp
    | GenericNack
    | SubmitSm
    | SubmitSmResp
    | SubmitMulti
    | SubmitMultiResp
    | DeliverSm
    | DeliverSmResp
    | DataSm
    | DataSmResp
    | QuerySm
    | QuerySmResp
    | CancelSm
    | CancelSmResp
    | ReplaceSm
    | ReplaceSmResp
    | EnquireLink
    | EnquireLinkResp
    | AlertNotification
)

_ALL: tuple[type[Pdu], ...] = (
    BindTransmitter,
    BindTransmitterResp,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    Outbind,
    Unbind,
    UnbindResp,
    GenericNack,
    SubmitSm,
    SubmitSmResp,
    SubmitMulti,
    SubmitMultiResp,
    DeliverSm,
    DeliverSmResp,
    DataSm,
    DataSmResp,
    QuerySm,
    QuerySmResp,
    CancelSm,
    CancelSmResp,
    ReplaceSm,
    ReplaceSmResp,
    EnquireLink,
    EnquireLinkResp,
    AlertNotification,
)
#: The class of each command_id.
PDU_CLASSES: dict[int, type[Pdu]] = {cls.command_id: cls for cls in _ALL}
#: The response class of each request that has one (outbind and
#: alert_notification do not).
RESPONSE_CLASSES: dict[int, type[Pdu]] = {
    cid & ~RESPONSE_BIT: cls for cid, cls in PDU_CLASSES.items() if cid & RESPONSE_BIT
}
del RESPONSE_CLASSES[GenericNack.command_id & ~RESPONSE_BIT]
for _cls in _ALL:
    _cls._default_body = _encode_body(_cls._body, _cls(sequence_number=0))
del _cls


# -- encode and decode -------------------------------------------------------------


def encode(pdu: Pdu) -> bytes:
    """The octets of ``pdu``, command_length computed; SmppError for a value
    that cannot be written (offset None)."""
    if not isinstance(pdu, _Pdu) or type(pdu) not in _ALL:
        raise SmppError(_S.ESME_RSYSERR, f"not an SMPP PDU: {type(pdu).__name__}")
    body = _encode_body(pdu._body, pdu) + _encode_tlvs(pdu.tlvs)
    status = pdu.command_status
    if status and pdu.is_response and body == pdu._default_body:
        body = b""  # §4.4.2 and kin: an error response carries no body
    length = HEADER_LENGTH + len(body)
    if length > MAX_COMMAND_LENGTH:
        raise SmppError(
            _S.ESME_RINVCMDLEN, f"{pdu.name} of {length} octets exceeds {MAX_COMMAND_LENGTH}"
        )
    seq = pdu.sequence_number
    for name, value in (("command_status", status), ("sequence_number", seq)):
        if not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
            raise SmppError(_S.ESME_RSYSERR, f"{name} {value!r} is not a 32-bit unsigned integer")
    return _HEADER.pack(length, pdu.command_id, status, seq) + body


def decode(octets: bytes | bytearray | memoryview) -> Pdu:
    """The PDU in ``octets``, which must be exactly one PDU (``PduReader``
    splits a stream).  Raises SmppError, never another exception."""
    data = bytes(octets)
    n = len(data)
    if n < HEADER_LENGTH:
        command_id = int.from_bytes(data[4:8], "big") if n >= 8 else None
        raise SmppError(
            _S.ESME_RINVCMDLEN,
            f"truncated: {n} octets, the header alone is {HEADER_LENGTH}",
            n,
            command_id=command_id,
        )
    command_length, command_id, command_status, sequence_number = _HEADER.unpack_from(data)
    if command_length != n or n > MAX_COMMAND_LENGTH:
        raise SmppError(
            _S.ESME_RINVCMDLEN,
            f"command_length {command_length} but the PDU is {n} octets"
            if command_length != n
            else f"command_length {n} exceeds {MAX_COMMAND_LENGTH}",
            0,
            sequence_number,
            command_id,
        )
    cls = PDU_CLASSES.get(command_id)
    if cls is None:
        raise SmppError(
            _S.ESME_RINVCMDID,
            f"unknown command_id {command_id:#010x}",
            4,
            sequence_number,
            command_id,
        )
    is_response = command_id & RESPONSE_BIT
    if n == HEADER_LENGTH and is_response:
        # Peers leave out the body of responses (always on errors, §4.4.2).
        return cls(sequence_number=sequence_number, command_status=command_status)
    try:
        values, pos = _decode_body(cls._body, data)
        tlvs = _decode_tlvs(data, pos)
    except SmppError as exc:
        if command_status and is_response:
            # What an error response carries besides its status is not
            # specified to be there: read it as absent rather than fail.
            return cls(sequence_number=sequence_number, command_status=command_status)
        exc.sequence_number = sequence_number
        exc.command_id = command_id
        raise
    return cls(sequence_number=sequence_number, command_status=command_status, tlvs=tlvs, **values)


class PduReader:
    """Splits a byte stream into PDUs, whatever the TCP segmentation.

    ``feed`` returns, in order, each complete PDU or, in its place, the
    SmppError it raised (carrying its sequence_number and command_id, so the
    session can answer ``error.response()``).  A command_length below 16 or
    above ``max_command_length`` means the framing is lost: the PDUs before it
    are still returned, then a fatal SmppError (ESME_RINVCMDLEN), and from then
    on ``feed`` returns nothing; the connection should be closed.
    """

    def __init__(self, max_command_length: int = MAX_COMMAND_LENGTH) -> None:
        self.max_command_length = max_command_length
        self._buf = bytearray()
        self.failed: SmppError | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> list[Pdu | SmppError]:
        if self.failed is not None:
            return []
        buf = self._buf
        buf += data
        out: list[Pdu | SmppError] = []
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            length = int.from_bytes(buf[pos : pos + 4], "big")
            if not HEADER_LENGTH <= length <= self.max_command_length:
                have = n - pos
                self.failed = SmppError(
                    _S.ESME_RINVCMDLEN,
                    f"command_length {length} is not {HEADER_LENGTH}-{self.max_command_length}:"
                    " framing lost",
                    0,
                    int.from_bytes(buf[pos + 12 : pos + 16], "big") if have >= 16 else None,
                    int.from_bytes(buf[pos + 4 : pos + 8], "big") if have >= 8 else None,
                    fatal=True,
                )
                out.append(self.failed)
                buf.clear()
                return out
            if n - pos < length:
                break
            end = pos + length
            try:
                out.append(decode(buf[pos:end]))
            except SmppError as exc:
                out.append(exc)
            pos = end
        del buf[:pos]
        return out

    @property
    def pending(self) -> int:
        """Octets of an incomplete PDU held back."""
        return len(self._buf)


# -- time strings (§7.1.1) ---------------------------------------------------------

_TWO = "([0-9]{2})"
# YY MM DD hh mm ss, then t nn p (absolute) or 000R (relative).
_ABSOLUTE = re.compile(_TWO * 6 + "([0-9])" + _TWO + "([+-])")
_RELATIVE = re.compile(_TWO * 6 + "[0-9]{3}R")
#: nn, the quarter hours between local time and UTC, is 00-48 (§7.1.1.1).
MAX_QUARTER_HOURS = 48
_ZONES = {q: timezone(timedelta(minutes=15 * q)) for q in range(-48, 49)}
_ZONES[0] = UTC
#: A relative time's years and months, as days: §7.1.1.2 says neither how
#: long they are nor from when, and a timedelta needs a fixed length.
DAYS_PER_YEAR = 365
DAYS_PER_MONTH = 30


def parse_time(
    text: str, *, status: int = CommandStatus.ESME_RINVEXPIRY
) -> datetime | timedelta | None:
    """A schedule_delivery_time, validity_period or final_date: an aware
    datetime for the absolute format "YYMMDDhhmmsstnn+" / "-", a timedelta for
    the relative "YYMMDDhhmmss000R", None for the empty string.

    Two-digit years 00-79 are 2000-2079, 80-99 1980-1999, as in ``pdu``.
    ``status`` is the command_status of the SmppError raised for anything else
    (ESME_RINVSCHED for schedule_delivery_time).
    """
    if text == "":
        return None
    if len(text) != 16:
        raise SmppError(status, f"time {text!r} is not 16 characters (YYMMDDhhmmsstnnp)")
    m = _ABSOLUTE.fullmatch(text)
    if m is not None:
        yy, month, day, hour, minute, second, tenths, quarters = map(int, m.groups()[:8])
        if quarters > MAX_QUARTER_HOURS:
            raise SmppError(status, f"time {text!r}: {quarters} quarter hours from UTC, max 48")
        year = yy + (2000 if yy < CENTURY_PIVOT else 1900)
        zone = _ZONES[-quarters if m.group(9) == "-" else quarters]
        try:
            return datetime(year, month, day, hour, minute, second, tenths * 100_000, zone)
        except ValueError as exc:
            raise SmppError(status, f"time {text!r} is not a valid date: {exc}") from None
    m = _RELATIVE.fullmatch(text)
    if m is not None:
        yy, months, days, hours, minutes, seconds = map(int, m.groups())
        return timedelta(
            days=yy * DAYS_PER_YEAR + months * DAYS_PER_MONTH + days,
            hours=hours,
            minutes=minutes,
            seconds=seconds,
        )
    raise SmppError(status, f"time {text!r} is neither YYMMDDhhmmsstnn+/- nor YYMMDDhhmmss000R")


def format_time(
    value: datetime | timedelta | None, *, status: int = CommandStatus.ESME_RINVEXPIRY
) -> str:
    """The string ``parse_time`` reads back: absolute for an aware datetime
    (tenths of a second kept, finer parts dropped; a zone that is not a whole
    number of quarter hours within 12 hours is written as the same instant in
    UTC), relative for a timedelta (years of 365 and months of 30 days, below a
    second dropped), "" for None."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        offset = value.utcoffset()
        if offset is None:
            raise SmppError(status, f"time {value.isoformat()} has no time zone")
        quarters, rest = divmod(offset, timedelta(minutes=15))
        if rest or abs(quarters) > MAX_QUARTER_HOURS:
            value = value.astimezone(UTC)
            quarters = 0
        if not 1900 + CENTURY_PIVOT <= value.year < 2000 + CENTURY_PIVOT:
            raise SmppError(status, f"year {value.year} cannot be written with two digits")
        return (
            f"{value.year % 100:02d}{value.month:02d}{value.day:02d}"
            f"{value.hour:02d}{value.minute:02d}{value.second:02d}"
            f"{value.microsecond // 100_000}{abs(quarters):02d}{'-' if quarters < 0 else '+'}"
        )
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise SmppError(status, f"relative time {value} is negative")
        days, seconds = value.days, value.seconds
        years, days = divmod(days, DAYS_PER_YEAR)
        months, days = divmod(days, DAYS_PER_MONTH)
        if years > 99:
            raise SmppError(status, f"relative time {value} is more than 99 years")
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return f"{years:02d}{months:02d}{days:02d}{hours:02d}{minutes:02d}{seconds:02d}000R"
    raise SmppError(status, f"a time is a datetime, a timedelta or None, not {value!r}")
