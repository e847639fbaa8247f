"""The numbers of SMPP v3.4 (Issue 1.2), and the small functions that read them.

The header's size and the limits (§3.2, §4.4.1, §4.5.1), command_id
(§5.1.2.1), command_status with the wording of Table 5-2 (§5.1.3),
message_state (§5.2.28), and the bits of esm_class, registered_delivery and
data_coding (§5.2.12, §5.2.17, §5.2.19).

Apart because they are the specification's tables, not code that reads
octets: the session, the SMSC's gateway and the tests use them without the
codec, and every module of the codec builds on them.
"""

from __future__ import annotations

from enum import IntEnum

#: Octets of the header: command_length, command_id, command_status, sequence_number.
HEADER_LENGTH = 16
#: The largest command_length accepted (and written): a 64 KiB message_payload
#: and then some.  The specification sets no maximum; a reader needs one to
#: notice a stream whose framing is lost.
MAX_COMMAND_LENGTH = 65536 + HEADER_LENGTH
#: interface_version / sc_interface_version of SMPP v3.4 (§5.2.4).
INTERFACE_VERSION = 0x34
#: short_message is 0-254 octets (§4.4.1); longer text goes in message_payload.
MAX_SHORT_MESSAGE = 254
#: number_of_dests of submit_multi (§4.5.1).
MAX_DESTINATIONS = 254
#: Bit 31 of command_id marks a response (§5.1.2.1).
RESPONSE_BIT = 0x80000000


class CommandId(IntEnum):
    """command_id values (§5.1.2.1), named as the specification names the PDUs."""

    generic_nack = 0x80000000
    bind_receiver = 0x00000001
    bind_receiver_resp = 0x80000001
    bind_transmitter = 0x00000002
    bind_transmitter_resp = 0x80000002
    query_sm = 0x00000003
    query_sm_resp = 0x80000003
    submit_sm = 0x00000004
    submit_sm_resp = 0x80000004
    deliver_sm = 0x00000005
    deliver_sm_resp = 0x80000005
    unbind = 0x00000006
    unbind_resp = 0x80000006
    replace_sm = 0x00000007
    replace_sm_resp = 0x80000007
    cancel_sm = 0x00000008
    cancel_sm_resp = 0x80000008
    bind_transceiver = 0x00000009
    bind_transceiver_resp = 0x80000009
    outbind = 0x0000000B
    enquire_link = 0x00000015
    enquire_link_resp = 0x80000015
    submit_multi = 0x00000021
    submit_multi_resp = 0x80000021
    alert_notification = 0x00000102
    data_sm = 0x00000103
    data_sm_resp = 0x80000103


class CommandStatus(IntEnum):
    """The SMPP v3.4 error codes (§5.1.3 Table 5-2).  0x400-0x4FF are left to
    SMSC vendors, the rest of the range is reserved."""

    ESME_ROK = 0x00000000
    ESME_RINVMSGLEN = 0x00000001
    ESME_RINVCMDLEN = 0x00000002
    ESME_RINVCMDID = 0x00000003
    ESME_RINVBNDSTS = 0x00000004
    ESME_RALYBND = 0x00000005
    ESME_RINVPRTFLG = 0x00000006
    ESME_RINVREGDLVFLG = 0x00000007
    ESME_RSYSERR = 0x00000008
    ESME_RINVSRCADR = 0x0000000A
    ESME_RINVDSTADR = 0x0000000B
    ESME_RINVMSGID = 0x0000000C
    ESME_RBINDFAIL = 0x0000000D
    ESME_RINVPASWD = 0x0000000E
    ESME_RINVSYSID = 0x0000000F
    ESME_RCANCELFAIL = 0x00000011
    ESME_RREPLACEFAIL = 0x00000013
    ESME_RMSGQFUL = 0x00000014
    ESME_RINVSERTYP = 0x00000015
    ESME_RINVNUMDESTS = 0x00000033
    ESME_RINVDLNAME = 0x00000034
    ESME_RINVDESTFLAG = 0x00000040
    ESME_RINVSUBREP = 0x00000042
    ESME_RINVESMCLASS = 0x00000043
    ESME_RCNTSUBDL = 0x00000044
    ESME_RSUBMITFAIL = 0x00000045
    ESME_RINVSRCTON = 0x00000048
    ESME_RINVSRCNPI = 0x00000049
    ESME_RINVDSTTON = 0x00000050
    ESME_RINVDSTNPI = 0x00000051
    ESME_RINVSYSTYP = 0x00000053
    ESME_RINVREPFLAG = 0x00000054
    ESME_RINVNUMMSGS = 0x00000055
    ESME_RTHROTTLED = 0x00000058
    ESME_RINVSCHED = 0x00000061
    ESME_RINVEXPIRY = 0x00000062
    ESME_RINVDFTMSGID = 0x00000063
    ESME_RX_T_APPN = 0x00000064
    ESME_RX_P_APPN = 0x00000065
    ESME_RX_R_APPN = 0x00000066
    ESME_RQUERYFAIL = 0x00000067
    ESME_RINVOPTPARSTREAM = 0x000000C0
    ESME_ROPTPARNOTALLWD = 0x000000C1
    ESME_RINVPARLEN = 0x000000C2
    ESME_RMISSINGOPTPARAM = 0x000000C3
    ESME_RINVOPTPARAMVAL = 0x000000C4
    ESME_RDELIVERYFAILURE = 0x000000FE
    ESME_RUNKNOWNERR = 0x000000FF


_S = CommandStatus

#: The wording of Table 5-2 for each error code.
STATUS_DESCRIPTIONS: dict[int, str] = {
    _S.ESME_ROK: "No Error",
    _S.ESME_RINVMSGLEN: "Message Length is invalid",
    _S.ESME_RINVCMDLEN: "Command Length is invalid",
    _S.ESME_RINVCMDID: "Invalid Command ID",
    _S.ESME_RINVBNDSTS: "Incorrect BIND Status for given command",
    _S.ESME_RALYBND: "ESME Already in Bound State",
    _S.ESME_RINVPRTFLG: "Invalid Priority Flag",
    _S.ESME_RINVREGDLVFLG: "Invalid Registered Delivery Flag",
    _S.ESME_RSYSERR: "System Error",
    _S.ESME_RINVSRCADR: "Invalid Source Address",
    _S.ESME_RINVDSTADR: "Invalid Dest Addr",
    _S.ESME_RINVMSGID: "Message ID is invalid",
    _S.ESME_RBINDFAIL: "Bind Failed",
    _S.ESME_RINVPASWD: "Invalid Password",
    _S.ESME_RINVSYSID: "Invalid System ID",
    _S.ESME_RCANCELFAIL: "Cancel SM Failed",
    _S.ESME_RREPLACEFAIL: "Replace SM Failed",
    _S.ESME_RMSGQFUL: "Message Queue Full",
    _S.ESME_RINVSERTYP: "Invalid Service Type",
    _S.ESME_RINVNUMDESTS: "Invalid number of destinations",
    _S.ESME_RINVDLNAME: "Invalid Distribution List name",
    _S.ESME_RINVDESTFLAG: "Destination flag is invalid (submit_multi)",
    _S.ESME_RINVSUBREP: "Invalid 'submit with replace' request",
    _S.ESME_RINVESMCLASS: "Invalid esm_class field data",
    _S.ESME_RCNTSUBDL: "Cannot Submit to Distribution List",
    _S.ESME_RSUBMITFAIL: "submit_sm or submit_multi failed",
    _S.ESME_RINVSRCTON: "Invalid Source address TON",
    _S.ESME_RINVSRCNPI: "Invalid Source address NPI",
    _S.ESME_RINVDSTTON: "Invalid Destination address TON",
    _S.ESME_RINVDSTNPI: "Invalid Destination address NPI",
    _S.ESME_RINVSYSTYP: "Invalid system_type field",
    _S.ESME_RINVREPFLAG: "Invalid replace_if_present flag",
    _S.ESME_RINVNUMMSGS: "Invalid number of messages",
    _S.ESME_RTHROTTLED: "Throttling error (ESME has exceeded allowed message limits)",
    _S.ESME_RINVSCHED: "Invalid Scheduled Delivery Time",
    _S.ESME_RINVEXPIRY: "Invalid message validity period (Expiry time)",
    _S.ESME_RINVDFTMSGID: "Predefined Message Invalid or Not Found",
    _S.ESME_RX_T_APPN: "ESME Receiver Temporary App Error Code",
    _S.ESME_RX_P_APPN: "ESME Receiver Permanent App Error Code",
    _S.ESME_RX_R_APPN: "ESME Receiver Reject Message Error Code",
    _S.ESME_RQUERYFAIL: "query_sm request failed",
    _S.ESME_RINVOPTPARSTREAM: "Error in the optional part of the PDU Body",
    _S.ESME_ROPTPARNOTALLWD: "Optional Parameter not allowed",
    _S.ESME_RINVPARLEN: "Invalid Parameter Length",
    _S.ESME_RMISSINGOPTPARAM: "Expected Optional Parameter missing",
    _S.ESME_RINVOPTPARAMVAL: "Invalid Optional Parameter Value",
    _S.ESME_RDELIVERYFAILURE: "Delivery Failure (used for data_sm_resp)",
    _S.ESME_RUNKNOWNERR: "Unknown Error",
}


def describe_status(status: int) -> str:
    """'ESME_RINVCMDLEN (0x00000002, Command Length is invalid)'; codes the
    table lacks are shown as vendor specific or reserved, not refused."""
    try:
        name = CommandStatus(status).name
    except ValueError:
        kind = "SMSC vendor specific" if 0x400 <= status <= 0x4FF else "reserved"
        return f"{status:#010x} ({kind})"
    return f"{name} ({status:#010x}, {STATUS_DESCRIPTIONS[status]})"


class MessageState(IntEnum):
    """message_state (§5.2.28), in query_sm_resp and the message_state TLV."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8

    @property
    def receipt_stat(self) -> str:
        """The seven-letter ``stat:`` of a delivery receipt's text (Appendix B)."""
        return _RECEIPT_STATS[self]


_RECEIPT_STATS = {
    MessageState.ENROUTE: "ENROUTE",
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
}


# -- esm_class, registered_delivery, data_coding (§5.2.12, §5.2.17, §5.2.19) -------


class MessagingMode(IntEnum):
    """esm_class bits 1-0 (submit_sm, submit_multi, data_sm)."""

    DEFAULT = 0x00  # the SMSC's default, store and forward as a rule
    DATAGRAM = 0x01
    FORWARD = 0x02  # transaction mode
    STORE_AND_FORWARD = 0x03


class MessageType(IntEnum):
    """esm_class bits 5-2.  DELIVERY_RECEIPT, CONVERSATION_ABORT and
    INTERMEDIATE_NOTIFICATION travel SMSC -> ESME only (deliver_sm, data_sm)."""

    DEFAULT = 0x00
    DELIVERY_RECEIPT = 0x04  # SMSC delivery receipt
    DELIVERY_ACK = 0x08  # SME delivery acknowledgement
    MANUAL_ACK = 0x10  # SME manual/user acknowledgement
    CONVERSATION_ABORT = 0x18  # Korean CDMA
    INTERMEDIATE_NOTIFICATION = 0x20


ESM_MODE_MASK = 0x03
ESM_TYPE_MASK = 0x3C
#: esm_class bit 6: short_message (or message_payload) starts with a User Data Header.
ESM_UDHI = 0x40
#: esm_class bit 7: set TP-Reply-Path.
ESM_REPLY_PATH = 0x80


def make_esm_class(
    mode: int = MessagingMode.DEFAULT,
    message_type: int = MessageType.DEFAULT,
    *,
    udhi: bool = False,
    reply_path: bool = False,
) -> int:
    return (
        (mode & ESM_MODE_MASK)
        | (message_type & ESM_TYPE_MASK)
        | (ESM_UDHI if udhi else 0)
        | (ESM_REPLY_PATH if reply_path else 0)
    )


def messaging_mode(esm_class: int) -> int:
    return esm_class & ESM_MODE_MASK


def message_type(esm_class: int) -> int:
    return esm_class & ESM_TYPE_MASK


def has_udhi(esm_class: int) -> bool:
    return bool(esm_class & ESM_UDHI)


def has_reply_path(esm_class: int) -> bool:
    return bool(esm_class & ESM_REPLY_PATH)


def is_delivery_receipt(esm_class: int) -> bool:
    return esm_class & ESM_TYPE_MASK == MessageType.DELIVERY_RECEIPT


#: registered_delivery bits 1-0: the SMSC delivery receipt asked for.
RECEIPT_MASK = 0x03
RECEIPT_NONE = 0x00
RECEIPT_ON_SUCCESS_OR_FAILURE = 0x01
RECEIPT_ON_FAILURE = 0x02
#: Reserved in v3.4; v5.0 made it "on success only", which is how it is read here.
RECEIPT_ON_SUCCESS = 0x03
#: registered_delivery bits 3-2: SME originated acknowledgements; bit 4:
#: intermediate notification.
SME_ACK_MASK = 0x0C
SME_ACK_DELIVERY = 0x04
SME_ACK_MANUAL = 0x08
INTERMEDIATE_NOTIFICATION = 0x10


def wants_receipt(registered_delivery: int, delivered: bool) -> bool:
    """Whether an SMSC delivery receipt is due for a message that reached its
    final state, delivered or not."""
    asked = registered_delivery & RECEIPT_MASK
    if asked == RECEIPT_ON_SUCCESS_OR_FAILURE:
        return True
    if asked == RECEIPT_ON_FAILURE:
        return not delivered
    return asked == RECEIPT_ON_SUCCESS and delivered


class DataCoding(IntEnum):
    """data_coding values of §5.2.19.  0xC0-0xEF carry the GSM message waiting
    groups and 0xF0-0xFF the GSM message class group of TS 23.038, as is."""

    SMSC_DEFAULT = 0x00
    IA5 = 0x01  # IA5 (CCITT T.50) / ASCII (ANSI X3.4)
    OCTET_UNSPECIFIED = 0x02
    LATIN_1 = 0x03  # ISO-8859-1
    OCTET_UNSPECIFIED_4 = 0x04
    JIS = 0x05  # X 0208-1990
    CYRILLIC = 0x06  # ISO-8859-5
    LATIN_HEBREW = 0x07  # ISO-8859-8
    UCS2 = 0x08  # ISO/IEC-10646
    PICTOGRAM = 0x09
    ISO_2022_JP = 0x0A  # music codes
    EXTENDED_KANJI_JIS = 0x0D  # X 0212-1990
    KS_C_5601 = 0x0E


_CODECS: dict[int, str] = {
    DataCoding.IA5: "ascii",
    DataCoding.LATIN_1: "latin-1",
    DataCoding.CYRILLIC: "iso8859-5",
    DataCoding.LATIN_HEBREW: "iso8859-8",
    DataCoding.UCS2: "utf-16-be",  # UCS2 in name, UTF-16 in practice
    DataCoding.ISO_2022_JP: "iso2022_jp",
    DataCoding.KS_C_5601: "euc_kr",
}


def text_codec(data_coding: int) -> str | None:
    """The Python codec for short_message text in ``data_coding``, or None
    where the octets are binary or the alphabet is the SMSC's to choose
    (SMSC_DEFAULT, which an SMSC maps to GSM 7-bit or Latin-1 as configured)."""
    return _CODECS.get(data_coding)
