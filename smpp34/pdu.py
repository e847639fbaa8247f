"""SMPP v3.4 (Issue 1.2), sans-I/O: the codec's public names, whichever module holds them.

Pure and sans-I/O like ``pdu`` and ``radiolink.rp``: ``encode`` turns a PDU
into octets, ``decode`` turns the octets of one PDU into its dataclass, and
``PduReader`` splits a TCP byte stream into PDUs.  Octets that are not a
valid PDU raise ``SmppError``, which says how a server answers them.

Callers import from here (``from smpp34 import pdu as p``); the codec is
split by concern:

- ``constants``: limits, command_id, command_status, message_state and the
  bits of esm_class, registered_delivery and data_coding;
- ``errors``: ``SmppError``;
- ``fields``: mandatory parameters (§4), C-Octet Strings, submit_multi's
  addresses;
- ``tlv``: optional parameters (§3.2.4.1, §5.3.2);
- ``pdus``: the PDU dataclasses (§4);
- ``codec``: ``encode`` and ``decode``, the header (§3.2);
- ``reader``: ``PduReader``;
- ``times``: the time strings (§7.1.1).
"""

from __future__ import annotations

from .codec import (
    decode,
    encode,
)
from .constants import (
    ESM_MODE_MASK,
    ESM_REPLY_PATH,
    ESM_TYPE_MASK,
    ESM_UDHI,
    HEADER_LENGTH,
    INTERFACE_VERSION,
    INTERMEDIATE_NOTIFICATION,
    MAX_COMMAND_LENGTH,
    MAX_DESTINATIONS,
    MAX_SHORT_MESSAGE,
    RECEIPT_MASK,
    RECEIPT_NONE,
    RECEIPT_ON_FAILURE,
    RECEIPT_ON_SUCCESS,
    RECEIPT_ON_SUCCESS_OR_FAILURE,
    RESPONSE_BIT,
    SME_ACK_DELIVERY,
    SME_ACK_MANUAL,
    SME_ACK_MASK,
    STATUS_DESCRIPTIONS,
    CommandId,
    CommandStatus,
    DataCoding,
    MessageState,
    MessageType,
    MessagingMode,
    describe_status,
    has_reply_path,
    has_udhi,
    is_delivery_receipt,
    make_esm_class,
    message_type,
    messaging_mode,
    text_codec,
    wants_receipt,
)
from .errors import (
    SmppError,
)
from .fields import (
    DestAddress,
    DistributionList,
    SmeAddress,
    UnsuccessSme,
)
from .pdus import (
    PDU_CLASSES,
    RESPONSE_CLASSES,
    AlertNotification,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CancelSm,
    CancelSmResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    Pdu,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    ReplaceSmResp,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)
from .reader import (
    PduReader,
)
from .times import (
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    MAX_QUARTER_HOURS,
    format_time,
    parse_time,
)
from .tlv import (
    NO_TLVS,
    TLV_TAGS,
    NetworkErrorCode,
    Tlvs,
)

__all__ = [
    "DAYS_PER_MONTH",
    "DAYS_PER_YEAR",
    "ESM_MODE_MASK",
    "ESM_REPLY_PATH",
    "ESM_TYPE_MASK",
    "ESM_UDHI",
    "HEADER_LENGTH",
    "INTERFACE_VERSION",
    "INTERMEDIATE_NOTIFICATION",
    "MAX_COMMAND_LENGTH",
    "MAX_DESTINATIONS",
    "MAX_QUARTER_HOURS",
    "MAX_SHORT_MESSAGE",
    "NO_TLVS",
    "PDU_CLASSES",
    "RECEIPT_MASK",
    "RECEIPT_NONE",
    "RECEIPT_ON_FAILURE",
    "RECEIPT_ON_SUCCESS",
    "RECEIPT_ON_SUCCESS_OR_FAILURE",
    "RESPONSE_BIT",
    "RESPONSE_CLASSES",
    "SME_ACK_DELIVERY",
    "SME_ACK_MANUAL",
    "SME_ACK_MASK",
    "STATUS_DESCRIPTIONS",
    "TLV_TAGS",
    "AlertNotification",
    "BindReceiver",
    "BindReceiverResp",
    "BindTransceiver",
    "BindTransceiverResp",
    "BindTransmitter",
    "BindTransmitterResp",
    "CancelSm",
    "CancelSmResp",
    "CommandId",
    "CommandStatus",
    "DataCoding",
    "DataSm",
    "DataSmResp",
    "DeliverSm",
    "DeliverSmResp",
    "DestAddress",
    "DistributionList",
    "EnquireLink",
    "EnquireLinkResp",
    "GenericNack",
    "MessageState",
    "MessageType",
    "MessagingMode",
    "NetworkErrorCode",
    "Outbind",
    "Pdu",
    "PduReader",
    "QuerySm",
    "QuerySmResp",
    "ReplaceSm",
    "ReplaceSmResp",
    "SmeAddress",
    "SmppError",
    "SubmitMulti",
    "SubmitMultiResp",
    "SubmitSm",
    "SubmitSmResp",
    "Tlvs",
    "Unbind",
    "UnbindResp",
    "UnsuccessSme",
    "decode",
    "describe_status",
    "encode",
    "format_time",
    "has_reply_path",
    "has_udhi",
    "is_delivery_receipt",
    "make_esm_class",
    "message_type",
    "messaging_mode",
    "parse_time",
    "text_codec",
    "wants_receipt",
]
