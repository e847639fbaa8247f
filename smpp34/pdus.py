"""SMPP v3.4 (Issue 1.2) PDUs as frozen dataclasses, one per command_id (§4).

Every name is the specification's: ``command_id``, ``sequence_number``,
``source_addr``, ``sm_length`` ...  A class's ``_body`` lists its mandatory
parameters in their order on the wire (``smpp34.fields`` reads and writes
them), ``tlvs`` holds its optional ones (``smpp34.tlv``), and
``smpp34.codec`` adds the header.  ``PDU_CLASSES`` and ``RESPONSE_CLASSES``
find the class of a command_id and the response class of a request.

deliver_sm_resp's message_id is "unused, set to NULL" (§4.6.2) but accepted
up to 65 octets like the other message_ids, since SMSCs do fill it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

from .constants import INTERFACE_VERSION, RESPONSE_BIT, CommandId
from .constants import CommandStatus as _S
from .fields import (
    _DESTS,
    _SM,
    _UNSUCCESS,
    DestAddress,
    UnsuccessSme,
    _c,
    _encode_body,
    _Field,
    _u8,
)
from .tlv import NO_TLVS, Tlvs

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


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class _Pdu:
    """What every PDU has: the header fields other than command_length (which
    ``encode`` computes) and command_id (the class), and its TLVs."""

    command_id: ClassVar[CommandId]
    _body: ClassVar[tuple[_Field, ...]] = ()
    #: The encoded body of a PDU holding only defaults, computed per class.
    _default_body: ClassVar[bytes] = b""
    #: ``name`` and ``is_response``, computed per class: asked several times
    #: a PDU on the SMSC's hot path, where an enum's ``.name`` is slow.
    _name: ClassVar[str] = ""
    _is_response: ClassVar[bool] = False

    sequence_number: int
    command_status: int = 0
    tlvs: Tlvs = NO_TLVS

    @property
    def name(self) -> str:
        """The specification's name: 'submit_sm', 'deliver_sm_resp', ..."""
        return self._name

    @property
    def is_response(self) -> bool:
        return self._is_response

    def __bytes__(self) -> bytes:
        """Its octets (``codec.encode``), for whoever shows a PDU only when
        someone looks: an event may carry the PDU itself, encoded if ever shown."""
        from .codec import encode

        return encode(self)  # type: ignore[arg-type]

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
    _cls._name = _cls.command_id.name
    _cls._is_response = bool(_cls.command_id & RESPONSE_BIT)
del _cls
