"""The SMPP v3.4 codec (smpp34.pdu): every PDU built octet by octet from the
specification's tables, round trips, published PDUs, a cross-check with
smpplib (an independent implementation), the status each malformation earns,
fuzzing of ``decode`` and ``PduReader``, and the time strings of §7.1.1."""

from __future__ import annotations

import dataclasses
import itertools
import struct
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import smpplib.command_codes
import smpplib.consts
import smpplib.smpp
from hypothesis import given, settings
from hypothesis import strategies as st

from smpp34.pdu import (
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    ESM_REPLY_PATH,
    ESM_UDHI,
    MAX_COMMAND_LENGTH,
    NO_TLVS,
    PDU_CLASSES,
    RESPONSE_CLASSES,
    TLV_TAGS,
    AlertNotification,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CancelSm,
    CancelSmResp,
    CommandId,
    CommandStatus,
    DataCoding,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    DistributionList,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    MessageState,
    MessageType,
    MessagingMode,
    NetworkErrorCode,
    Outbind,
    Pdu,
    PduReader,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    ReplaceSmResp,
    SmeAddress,
    SmppError,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
    Tlvs,
    Unbind,
    UnbindResp,
    UnsuccessSme,
    decode,
    describe_status,
    encode,
    format_time,
    has_reply_path,
    has_udhi,
    is_delivery_receipt,
    make_esm_class,
    message_type,
    messaging_mode,
    parse_time,
    text_codec,
    wants_receipt,
)

S = CommandStatus

# -- octets by hand, without the codec -----------------------------------------


def cstr(text: str) -> bytes:
    """A C-Octet String (§3.1): the characters, then NUL."""
    return text.encode("latin-1") + b"\0"


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


def octets(command_id: int, body: bytes = b"", seq: int = 1, status: int = 0) -> bytes:
    """A PDU: the 16-octet header of §3.2 (command_length counts itself), then the body."""
    return struct.pack(">IIII", 16 + len(body), command_id, status, seq) + body


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# -- the specification's tables, written out independently of the codec ----------

ALL_CLASSES: list[type[Pdu]] = [
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
]

_BIND = [
    "system_id",
    "password",
    "system_type",
    "interface_version",
    "addr_ton",
    "addr_npi",
    "address_range",
]
_SM = [
    "service_type",
    "source_addr_ton",
    "source_addr_npi",
    "source_addr",
    "dest_addr_ton",
    "dest_addr_npi",
    "destination_addr",
    "esm_class",
    "protocol_id",
    "priority_flag",
    "schedule_delivery_time",
    "validity_period",
    "registered_delivery",
    "replace_if_present_flag",
    "data_coding",
    "sm_default_msg_id",
    "short_message",  # preceded by sm_length
]
#: The mandatory parameters of each PDU in wire order (§4.1-§4.12).
SPEC_BODIES: dict[type[Pdu], list[str]] = {
    BindTransmitter: _BIND,
    BindReceiver: _BIND,
    BindTransceiver: _BIND,
    BindTransmitterResp: ["system_id"],
    BindReceiverResp: ["system_id"],
    BindTransceiverResp: ["system_id"],
    Outbind: ["system_id", "password"],
    Unbind: [],
    UnbindResp: [],
    GenericNack: [],
    SubmitSm: _SM,
    SubmitSmResp: ["message_id"],
    SubmitMulti: [*_SM[:4], "dest_address", *_SM[7:]],  # preceded by number_of_dests
    SubmitMultiResp: ["message_id", "unsuccess_sme"],  # preceded by no_unsuccess
    DeliverSm: _SM,
    DeliverSmResp: ["message_id"],
    DataSm: [*_SM[:8], "registered_delivery", "data_coding"],
    DataSmResp: ["message_id"],
    QuerySm: ["message_id", "source_addr_ton", "source_addr_npi", "source_addr"],
    QuerySmResp: ["message_id", "final_date", "message_state", "error_code"],
    CancelSm: ["service_type", "message_id", *_SM[1:7]],
    CancelSmResp: [],
    ReplaceSm: [
        "message_id",
        *_SM[1:4],
        "schedule_delivery_time",
        "validity_period",
        "registered_delivery",
        "sm_default_msg_id",
        "short_message",
    ],
    ReplaceSmResp: [],
    EnquireLink: [],
    EnquireLinkResp: [],
    AlertNotification: [
        "source_addr_ton",
        "source_addr_npi",
        "source_addr",
        "esme_addr_ton",
        "esme_addr_npi",
        "esme_addr",
    ],
}

#: C-Octet String maxima, NUL included (§4): by name, then where a PDU differs.
C_OCTET_MAX = {
    "system_id": 16,
    "password": 9,
    "system_type": 13,
    "address_range": 41,
    "service_type": 6,
    "source_addr": 21,
    "destination_addr": 21,
    "schedule_delivery_time": 17,
    "validity_period": 17,
    "final_date": 17,
    "message_id": 65,
    "esme_addr": 65,
}
C_OCTET_MAX_IN = {
    (DataSm, "source_addr"): 65,
    (DataSm, "destination_addr"): 65,
    (AlertNotification, "source_addr"): 65,
}


def c_max(cls: type[Pdu], name: str) -> int:
    return C_OCTET_MAX_IN.get((cls, name), C_OCTET_MAX[name])


#: §5.3.2: tag and size in octets of the integer TLVs ...
INT_TLVS = {
    "dest_addr_subunit": (0x0005, 1),
    "dest_network_type": (0x0006, 1),
    "dest_bearer_type": (0x0007, 1),
    "dest_telematics_id": (0x0008, 2),
    "source_addr_subunit": (0x000D, 1),
    "source_network_type": (0x000E, 1),
    "source_bearer_type": (0x000F, 1),
    "source_telematics_id": (0x0010, 1),
    "qos_time_to_live": (0x0017, 4),
    "payload_type": (0x0019, 1),
    "ms_msg_wait_facilities": (0x0030, 1),
    "privacy_indicator": (0x0201, 1),
    "user_message_reference": (0x0204, 2),
    "user_response_code": (0x0205, 1),
    "source_port": (0x020A, 2),
    "destination_port": (0x020B, 2),
    "sar_msg_ref_num": (0x020C, 2),
    "language_indicator": (0x020D, 1),
    "sar_total_segments": (0x020E, 1),
    "sar_segment_seqnum": (0x020F, 1),
    "sc_interface_version": (0x0210, 1),
    "callback_num_pres_ind": (0x0302, 1),
    "number_of_messages": (0x0304, 1),
    "dpf_result": (0x0420, 1),
    "set_dpf": (0x0421, 1),
    "ms_availability_status": (0x0422, 1),
    "delivery_failure_reason": (0x0425, 1),
    "more_messages_to_send": (0x0426, 1),
    "message_state": (0x0427, 1),
    "ussd_service_op": (0x0501, 1),
    "display_time": (0x1201, 1),
    "sms_signal": (0x1203, 2),
    "ms_validity": (0x1204, 1),
    "its_reply_type": (0x1380, 1),
    "its_session_info": (0x1383, 2),
}
#: ... the C-Octet String ones (maximum, NUL included) ...
CSTRING_TLVS = {"additional_status_info_text": (0x001D, 256), "receipted_message_id": (0x001E, 65)}
#: ... the octet strings (minimum and maximum) ...
OCTET_TLVS = {
    "source_subaddress": (0x0202, 2, 23),
    "dest_subaddress": (0x0203, 2, 23),
    "callback_num_atag": (0x0303, 0, 65),
    "callback_num": (0x0381, 4, 19),
    "message_payload": (0x0424, 0, 0xFFFF),
}
#: ... and the two of their own kind.
NETWORK_ERROR_CODE = 0x0423  # network type (1) + error code (2)
ALERT_ON_MESSAGE_DELIVERY = 0x130C  # no value


# -- strategies --------------------------------------------------------------------

latin1 = st.characters(min_codepoint=1, max_codepoint=255)
ascii_printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
octet = st.integers(0, 255)
u32 = st.integers(0, 0xFFFFFFFF)


def c_octet(size: int, alphabet: st.SearchStrategy[str] = latin1) -> st.SearchStrategy[str]:
    return st.text(alphabet, max_size=size - 1)


def _known_tlv(name: str) -> st.SearchStrategy[Any]:
    if name in INT_TLVS:
        return st.integers(0, (1 << (8 * INT_TLVS[name][1])) - 1)
    if name in CSTRING_TLVS:
        return c_octet(CSTRING_TLVS[name][1])
    if name in OCTET_TLVS:
        _, low, high = OCTET_TLVS[name]
        return st.binary(min_size=low, max_size=min(high, 300))
    if name == "network_error_code":
        return st.builds(NetworkErrorCode, octet, st.integers(0, 0xFFFF))
    assert name == "alert_on_message_delivery"
    return st.booleans()


unknown_tags = st.integers(0, 0xFFFF).filter(lambda t: t not in TLV_TAGS.values())
tlvs_strategy = st.builds(
    lambda known, unknown: Tlvs(unknown=tuple(unknown), **known),
    st.fixed_dictionaries({}, optional={name: _known_tlv(name) for name in TLV_TAGS}),
    st.lists(st.tuples(unknown_tags, st.binary(max_size=20)), max_size=3),
)
some_tlvs = st.just(NO_TLVS) | tlvs_strategy

sme_address = st.builds(SmeAddress, octet, octet, c_octet(21))
dest_addresses = st.lists(sme_address | st.builds(DistributionList, c_octet(21)), max_size=6).map(
    tuple
)
unsuccess = st.lists(st.builds(UnsuccessSme, octet, octet, c_octet(21), u32), max_size=6).map(tuple)


def pdu_strategy(cls: type[Pdu], tlvs: st.SearchStrategy[Tlvs] = some_tlvs) -> Any:
    """Any valid ``cls``: fields from the tables above, by the type of their default."""
    kwargs: dict[str, st.SearchStrategy[Any]] = {}
    for f in dataclasses.fields(cls):
        if f.name in ("sequence_number", "command_status", "tlvs"):
            continue
        if f.name == "short_message":
            kwargs[f.name] = st.binary(max_size=254)
        elif f.name == "dest_address":
            kwargs[f.name] = dest_addresses
        elif f.name == "unsuccess_sme":
            kwargs[f.name] = unsuccess
        elif isinstance(f.default, str):
            kwargs[f.name] = c_octet(c_max(cls, f.name))
        else:
            assert isinstance(f.default, int), f.name
            kwargs[f.name] = octet
    status = st.just(0) | u32
    return st.builds(cls, sequence_number=u32, command_status=status, tlvs=tlvs, **kwargs)


any_pdu = st.one_of([pdu_strategy(cls) for cls in ALL_CLASSES])


# -- tables and constants ----------------------------------------------------------


def test_command_ids_match_smpplib() -> None:
    theirs = smpplib.command_codes.commands
    assert {c.name: c.value for c in CommandId} == theirs
    assert set(PDU_CLASSES) == set(CommandId)
    assert [PDU_CLASSES[c.command_id] for c in ALL_CLASSES] == ALL_CLASSES
    for cls in ALL_CLASSES:
        assert cls(sequence_number=0).name == cls.command_id.name


def test_response_classes() -> None:
    requests = {c for c in CommandId if not c & 0x80000000}
    without = {CommandId.outbind, CommandId.alert_notification}
    assert set(RESPONSE_CLASSES) == requests - without
    for request, response in RESPONSE_CLASSES.items():
        assert response.command_id == request | 0x80000000
        assert response(sequence_number=0).is_response
        assert not PDU_CLASSES[request](sequence_number=0).is_response


def test_command_status_matches_smpplib_and_the_spec_table() -> None:
    theirs = {
        name[len("SMPP_") :]: value
        for name, value in vars(smpplib.consts).items()
        if name.startswith("SMPP_ESME_")
    }
    assert {s.name: s.value for s in CommandStatus} == theirs
    assert describe_status(2) == "ESME_RINVCMDLEN (0x00000002, Command Length is invalid)"
    assert describe_status(0x58).startswith("ESME_RTHROTTLED (0x00000058, Throttling")
    assert describe_status(0x401) == "0x00000401 (SMSC vendor specific)"
    assert describe_status(0x09) == "0x00000009 (reserved)"


def test_tlv_tags_match_the_spec_and_smpplib() -> None:
    spec = {name: tag for name, (tag, *_) in {**INT_TLVS, **CSTRING_TLVS, **OCTET_TLVS}.items()}
    spec["network_error_code"] = NETWORK_ERROR_CODE
    spec["alert_on_message_delivery"] = ALERT_ON_MESSAGE_DELIVERY
    assert spec == TLV_TAGS
    assert smpplib.consts.OPTIONAL_PARAMS == TLV_TAGS
    assert {f.name for f in dataclasses.fields(Tlvs)} == {*TLV_TAGS, "unknown"}


def test_message_state() -> None:
    assert [(s.name, s.value) for s in MessageState] == [
        ("ENROUTE", 1),
        ("DELIVERED", 2),
        ("EXPIRED", 3),
        ("DELETED", 4),
        ("UNDELIVERABLE", 5),
        ("ACCEPTED", 6),
        ("UNKNOWN", 7),
        ("REJECTED", 8),
    ]
    for state in MessageState:
        assert getattr(smpplib.consts, f"SMPP_MESSAGE_STATE_{state.name}") == state
    stats = " ".join(s.receipt_stat for s in MessageState)
    assert stats == "ENROUTE DELIVRD EXPIRED DELETED UNDELIV ACCEPTD UNKNOWN REJECTD"


def test_esm_class_helpers() -> None:
    receipt = 0x04
    assert is_delivery_receipt(receipt)
    assert message_type(receipt) == MessageType.DELIVERY_RECEIPT
    assert not is_delivery_receipt(0x08) and not is_delivery_receipt(0x44 & ~0x04)
    esm = make_esm_class(MessagingMode.STORE_AND_FORWARD, udhi=True, reply_path=True)
    assert esm == 0xC3
    assert messaging_mode(esm) == MessagingMode.STORE_AND_FORWARD
    assert has_udhi(esm) and has_reply_path(esm)
    assert not has_udhi(0x03) and not has_reply_path(0x40)
    assert make_esm_class(MessagingMode.DATAGRAM, MessageType.MANUAL_ACK) == 0x11
    assert is_delivery_receipt(make_esm_class(message_type=MessageType.DELIVERY_RECEIPT, udhi=True))
    assert (ESM_UDHI, ESM_REPLY_PATH) == (0x40, 0x80)


@pytest.mark.parametrize(
    ("registered_delivery", "on_success", "on_failure"),
    [
        (0x00, False, False),
        (0x01, True, True),
        (0x02, False, True),
        (0x03, True, False),  # reserved in v3.4, "success only" in v5.0
        (0x11, True, True),  # other bits do not matter
        (0x1E, False, True),
    ],
)
def test_wants_receipt(registered_delivery: int, on_success: bool, on_failure: bool) -> None:
    assert wants_receipt(registered_delivery, delivered=True) is on_success
    assert wants_receipt(registered_delivery, delivered=False) is on_failure


def test_data_coding() -> None:
    assert text_codec(DataCoding.UCS2) == "utf-16-be"
    assert "é".encode(text_codec(3) or "") == b"\xe9"
    assert text_codec(DataCoding.IA5) == "ascii"
    for binary in (DataCoding.SMSC_DEFAULT, DataCoding.OCTET_UNSPECIFIED, 0x04, 0xF4):
        assert text_codec(binary) is None
    assert (DataCoding.KS_C_5601.value, DataCoding.EXTENDED_KANJI_JIS.value) == (0x0E, 0x0D)


# -- every PDU octet by octet, from the tables above ---------------------------------

SAMPLE_DESTS = (SmeAddress(1, 2, "447700900001"), DistributionList("friends"))
SAMPLE_UNSUCCESS = (UnsuccessSme(1, 1, "447700900002", S.ESME_RINVDSTADR),)


def by_hand(name: str, value: Any) -> bytes:
    """One mandatory parameter's octets, as §4 lays them out."""
    if name == "short_message":
        message: bytes = value
        return bytes((len(message),)) + message  # sm_length, short_message
    if name == "dest_address":  # number_of_dests, then dest_flag and the address
        out = bytes((len(value),))
        for dest in value:
            if isinstance(dest, SmeAddress):
                out += bytes((1, dest.dest_addr_ton, dest.dest_addr_npi))
                out += cstr(dest.destination_addr)
            else:
                out += b"\x02" + cstr(dest.dl_name)
        return out
    if name == "unsuccess_sme":  # no_unsuccess, then each with its error_status_code
        out = bytes((len(value),))
        for sme in value:
            out += bytes((sme.dest_addr_ton, sme.dest_addr_npi)) + cstr(sme.destination_addr)
            out += struct.pack(">I", sme.error_status_code)
        return out
    return cstr(value) if isinstance(value, str) else bytes((value,))


def spec_sample(cls: type[Pdu]) -> dict[str, Any]:
    """Distinct values for each mandatory parameter of ``cls``."""
    values: dict[str, Any] = {}
    for i, name in enumerate(SPEC_BODIES[cls], start=1):
        if name == "short_message":
            values[name] = bytes(range(i, i + 5))
        elif name == "dest_address":
            values[name] = SAMPLE_DESTS
        elif name == "unsuccess_sme":
            values[name] = SAMPLE_UNSUCCESS
        elif name in C_OCTET_MAX:
            values[name] = f"{name[:4]}{i}"[: c_max(cls, name) - 1]
        else:
            values[name] = 0x30 + i
    return values


def spec_body(cls: type[Pdu], values: dict[str, Any], raw: dict[str, bytes] | None = None) -> bytes:
    """The body laid out by SPEC_BODIES; ``raw`` replaces a parameter's octets."""
    raw = raw or {}
    return b"".join(raw.get(n, by_hand(n, values.get(n))) for n in SPEC_BODIES[cls])


def offset_of(cls: type[Pdu], values: dict[str, Any], name: str) -> int:
    before = SPEC_BODIES[cls][: SPEC_BODIES[cls].index(name)]
    return 16 + sum(len(by_hand(n, values[n])) for n in before)


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.command_id.name)
def test_every_pdu_octet_by_octet(cls: type[Pdu]) -> None:
    values = spec_sample(cls)
    wire = octets(cls.command_id, spec_body(cls, values), seq=0x01020304)
    pdu = cls(sequence_number=0x01020304, **values)
    assert encode(pdu) == wire
    assert decode(wire) == pdu
    # Field names are the specification's, and there is no other mandatory one.
    own = {f.name for f in dataclasses.fields(cls)} - {"sequence_number", "command_status", "tlvs"}
    assert own == set(SPEC_BODIES[cls])


def test_derived_lengths() -> None:
    values = spec_sample(SubmitMulti)
    multi = SubmitMulti(sequence_number=1, **values)
    assert (multi.number_of_dests, multi.sm_length) == (2, 5)
    assert SubmitMultiResp(sequence_number=1, unsuccess_sme=SAMPLE_UNSUCCESS).no_unsuccess == 1
    assert SubmitSm(sequence_number=1, short_message=b"abc").sm_length == 3
    assert ReplaceSm(sequence_number=1).sm_length == 0


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.command_id.name)
def test_c_octet_string_maxima(cls: type[Pdu]) -> None:
    """Each C-Octet String takes max - 1 characters and refuses max, both ways."""
    values = spec_sample(cls)
    for name in SPEC_BODIES[cls]:
        if name not in C_OCTET_MAX:
            continue
        size = c_max(cls, name)
        longest = cls(sequence_number=1, **{**values, name: "x" * (size - 1)})
        assert decode(encode(longest)) == longest
        with pytest.raises(SmppError) as err:
            encode(cls(sequence_number=1, **{**values, name: "x" * size}))
        assert err.value.offset is None
        # On the wire: the field's size in octets without a NUL among them.
        wire = octets(cls.command_id, spec_body(cls, values, {name: b"y" * size + b"\0"}))
        with pytest.raises(SmppError) as err:
            decode(wire)
        assert err.value.offset == offset_of(cls, values, name)
        assert err.value.command_status not in (S.ESME_ROK, S.ESME_RINVCMDLEN)
        assert err.value.sequence_number == 1


# -- round trips -------------------------------------------------------------------


# One test over all classes: pytest-twisted re-wraps a @given test per parametrized item.
@settings(max_examples=3000)
@given(any_pdu)
def test_round_trip(pdu: Pdu) -> None:
    wire = encode(pdu)
    assert int.from_bytes(wire[0:4], "big") == len(wire)
    assert int.from_bytes(wire[4:8], "big") == pdu.command_id
    assert int.from_bytes(wire[12:16], "big") == pdu.sequence_number
    assert decode(wire) == pdu
    assert encode(decode(wire)) == wire


@given(tlvs_strategy)
def test_tlvs_round_trip_and_repr(tlvs: Tlvs) -> None:
    pdu = DataSm(sequence_number=7, tlvs=tlvs)
    assert decode(encode(pdu)).tlvs == tlvs
    assert repr(tlvs).startswith("Tlvs(")
    assert bool(tlvs) == (tlvs != NO_TLVS)


def test_known_tlvs_by_hand() -> None:
    """Each known TLV of the spec's table, octets by hand, decodes to its field."""
    for name, (tag, size) in INT_TLVS.items():
        value = (1 << (8 * size)) - 2
        wire = octets(CommandId.data_sm, _data_sm_body() + tlv(tag, value.to_bytes(size, "big")))
        assert getattr(decode(wire).tlvs, name) == value, name
        assert encode(decode(wire)) == wire
    for name, (tag, size) in CSTRING_TLVS.items():
        wire = octets(CommandId.data_sm, _data_sm_body() + tlv(tag, cstr("z" * (size - 1))))
        assert getattr(decode(wire).tlvs, name) == "z" * (size - 1)
    for name, (tag, low, high) in OCTET_TLVS.items():
        for n in (low, min(high, 1000)):
            wire = octets(CommandId.data_sm, _data_sm_body() + tlv(tag, b"\x07" * n))
            assert getattr(decode(wire).tlvs, name) == b"\x07" * n
    wire = octets(CommandId.data_sm, _data_sm_body() + tlv(NETWORK_ERROR_CODE, h("030401")))
    assert decode(wire).tlvs.network_error_code == NetworkErrorCode(3, 0x0401)
    wire = octets(CommandId.data_sm, _data_sm_body() + tlv(ALERT_ON_MESSAGE_DELIVERY, b""))
    assert decode(wire).tlvs.alert_on_message_delivery is True
    assert encode(decode(wire)) == wire


def _data_sm_body() -> bytes:
    source = b"\x01\x01" + cstr("447700900001")
    destination = b"\x01\x01" + cstr("12345")
    return (
        cstr("") + source + destination + b"\x00\x01\x08"
    )  # esm_class, registered_delivery, data_coding


def test_unknown_tlvs_kept_in_order_after_known_ones() -> None:
    vendor = tlv(0x1400, b"\x01\x02") + tlv(0x3000, b"")
    mixed = tlv(0x1400, b"\x01\x02") + tlv(0x020E, b"\x03") + tlv(0x3000, b"")
    wire = octets(CommandId.data_sm, _data_sm_body() + mixed)
    pdu = decode(wire)
    assert pdu.tlvs == Tlvs(sar_total_segments=3, unknown=((0x1400, b"\x01\x02"), (0x3000, b"")))
    assert encode(pdu) == octets(CommandId.data_sm, _data_sm_body() + tlv(0x020E, b"\x03") + vendor)


# -- published PDUs ----------------------------------------------------------------

# The bind_transmitter of Wikipedia's "Short Message Peer-to-Peer" article
# (example PDU), also in larvit/larvitsmpp's tests: system_id "SMPP3TEST",
# password "secret08", system_type "SUBMIT1", interface_version 0x00 (sic),
# addr_ton 1, addr_npi 1, empty address_range.
WIKIPEDIA_BIND = (
    "0000002F000000020000000000000001534D50503354455354007365637265743038005355424D4954310000010100"
)
# twitter-archive/cloudhopper-smpp src/test/java/com/cloudhopper/smpp/transcoder/
# PduDecoderTest.java: decodeSubmitSm, decodeDeliverSmAsDeliveryReceipt, ...
CLOUDHOPPER_SUBMIT_SM = (
    "00000039000000040000000000004FE8000101343034303400010134343935313336313932300000"
    "0000000001000000084024232125262F3A"
)
CLOUDHOPPER_RECEIPT = (
    "000000BA000000050000000000000002000101343439353133363139323000010134303430340004"
    "00000000000000006E69643A30303539313133393738207375623A30303120646C7672643A303031"
    "207375626D697420646174653A3130303231303137333020646F6E6520646174653A313030323130"
    "3137333120737461743A44454C49565244206572723A30303020746578743A4024232125262F3A00"
    "0E0001010006000101001E000833383630316661000427000102"
)


def test_wikipedia_bind_transmitter() -> None:
    pdu = decode(h(WIKIPEDIA_BIND))
    assert pdu == BindTransmitter(
        sequence_number=1,
        system_id="SMPP3TEST",
        password="secret08",
        system_type="SUBMIT1",
        interface_version=0x00,
        addr_ton=1,
        addr_npi=1,
        address_range="",
    )
    assert encode(pdu) == h(WIKIPEDIA_BIND)


def test_cloudhopper_submit_sm() -> None:
    pdu = decode(h(CLOUDHOPPER_SUBMIT_SM))
    assert pdu == SubmitSm(
        sequence_number=20456,
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="40404",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="44951361920",
        registered_delivery=1,
        short_message=h("4024232125262f3a"),
    )
    assert encode(pdu) == h(CLOUDHOPPER_SUBMIT_SM)


def test_cloudhopper_delivery_receipt() -> None:
    pdu = decode(h(CLOUDHOPPER_RECEIPT))
    assert isinstance(pdu, DeliverSm)
    assert is_delivery_receipt(pdu.esm_class)
    assert (pdu.source_addr, pdu.destination_addr, pdu.sm_length) == ("44951361920", "40404", 110)
    assert pdu.short_message.startswith(b"id:0059113978 sub:001 dlvrd:001 submit date:1002101730")
    assert pdu.tlvs == Tlvs(
        source_network_type=1,
        dest_network_type=1,
        receipted_message_id="38601fa",
        message_state=MessageState.DELIVERED,
    )
    # Re-encoded with the TLVs in the codec's order: same length, same PDU.
    assert len(encode(pdu)) == 186 and decode(encode(pdu)) == pdu


@pytest.mark.parametrize(
    ("hex_pdu", "expected"),
    [
        # decodeBindTransceiverRespWithOptionalParams
        (
            "0000001d800000090000000000039943536d7363204757000210000134",
            BindTransceiverResp(
                sequence_number=235843, system_id="Smsc GW", tlvs=Tlvs(sc_interface_version=0x34)
            ),
        ),
        # decodeBindTransceiverRespFailedButWithSystemId: an error response with a body
        (
            "00000015800000090000000e00004db3534d534300",
            BindTransceiverResp(sequence_number=19891, command_status=0x0E, system_id="SMSC"),
        ),
        # decodeSubmitSmRespWithNoMessageId: no body even on success
        ("0000001080000004000000000a342ee1", SubmitSmResp(sequence_number=171192033)),
        (
            "0000001c80000004000000000a342ee1393432353834333135393400",
            SubmitSmResp(sequence_number=171192033, message_id="94258431594"),
        ),
        # decodeGenericNak
        (
            "00000010800000000000000100082a77",
            GenericNack(sequence_number=535159, command_status=1),
        ),
        # decodeBindTransceiver
        (
            "00000023000000090000000000039951414c4c5f545700414c4c5f5457000034010200",
            BindTransceiver(
                sequence_number=235857,
                system_id="ALL_TW",
                password="ALL_TW",
                addr_ton=1,
                addr_npi=2,
            ),
        ),
        # decodeDeliverSmWithNoPayload: a message_payload of length 0
        (
            "0000003E000000050000000000657E4E000201343439353133363139320004093430343034"
            "0000000000000000000000000E000101000600010104240000",
            DeliverSm(
                sequence_number=6651470,
                source_addr_ton=2,
                source_addr_npi=1,
                source_addr="4495136192",
                dest_addr_ton=4,
                dest_addr_npi=9,
                destination_addr="40404",
                tlvs=Tlvs(source_network_type=1, dest_network_type=1, message_payload=b""),
            ),
        ),
        ("0000001080000015000000000a342eed", EnquireLinkResp(sequence_number=171192045)),
    ],
)
def test_cloudhopper_pdus(hex_pdu: str, expected: Pdu) -> None:
    assert decode(h(hex_pdu)) == expected


def test_cloudhopper_bad_pdus() -> None:
    # decodeSubmitSmRespWithNoNullByteForMessageId
    with pytest.raises(SmppError) as err:
        decode(h("0000001180000004000000000a342ee139"))
    assert err.value.command_status == S.ESME_RINVCMDLEN
    assert (err.value.sequence_number, err.value.command_id) == (0x0A342EE1, 0x80000004)
    assert err.value.response() == GenericNack(
        sequence_number=0x0A342EE1, command_status=S.ESME_RINVCMDLEN
    )
    # decodeBadPduButSkipAllDataInBuffer: an unknown command_id costs one PDU
    reader = PduReader()
    stream = "0000001100000110000000000a342ee70F0000001000000015000000000a342ee7"
    first, second = reader.feed(h(stream))
    assert isinstance(first, SmppError) and first.command_status == S.ESME_RINVCMDID
    assert first.response() == GenericNack(
        sequence_number=0x0A342EE7, command_status=S.ESME_RINVCMDID
    )
    assert second == EnquireLink(sequence_number=171192039)
    # decodeSignedIntLength: a command_length no stream can have
    reader = PduReader()
    (fatal,) = reader.feed(h("F000001100000110000000000a342ee7"))
    assert isinstance(fatal, SmppError) and fatal.fatal
    assert fatal.command_status == S.ESME_RINVCMDLEN
    assert reader.failed is fatal and reader.feed(h("0000001000000015000000000a342ee7")) == []


# -- the error response body rule ----------------------------------------------------


@pytest.mark.parametrize(
    "cls",
    [c for c in ALL_CLASSES if c.command_id & 0x80000000],
    ids=lambda c: c.command_id.name,
)
def test_error_responses_carry_no_default_body(cls: type[Pdu]) -> None:
    pdu = cls(sequence_number=9, command_status=S.ESME_RSYSERR)
    assert encode(pdu) == octets(cls.command_id, b"", seq=9, status=S.ESME_RSYSERR)
    assert decode(encode(pdu)) == pdu
    # ... and a body that does not parse is read as absent.
    assert decode(octets(cls.command_id, b"\xff\xff\xff", 9, S.ESME_RSYSERR)) == pdu
    with_text = cls(sequence_number=9, command_status=8, tlvs=Tlvs(additional_status_info_text="x"))
    assert decode(encode(with_text)) == with_text


def test_data_sm_resp_error_with_tlvs() -> None:
    """data_sm_resp reports why delivery failed in TLVs (§4.7.2)."""
    pdu = DataSmResp(
        sequence_number=3,
        command_status=S.ESME_RDELIVERYFAILURE,
        tlvs=Tlvs(delivery_failure_reason=1, network_error_code=NetworkErrorCode(1, 27)),
    )
    wire = octets(
        CommandId.data_sm_resp,
        cstr("") + tlv(0x0425, b"\x01") + tlv(0x0423, b"\x01\x00\x1b"),
        seq=3,
        status=S.ESME_RDELIVERYFAILURE,
    )
    assert decode(wire) == pdu
    assert decode(encode(pdu)) == pdu  # TLV order is the encoder's choice


# -- cross-check with smpplib ------------------------------------------------------


def smpplib_pdu(name: str, seq: int, **fields: Any) -> Any:
    pdu = smpplib.smpp.make_pdu(name, sequence=seq, **fields)
    pdu.sequence = seq  # smpplib's default client otherwise supplies 0
    return pdu


def smpplib_parse(wire: bytes) -> Any:
    return smpplib.smpp.parse_pdu(wire, sequence=0)


def plain(value: Any) -> Any:
    """smpplib's parsed strings are bytes; ours are str."""
    return value.decode("latin-1") if isinstance(value, bytes) else value


CROSS_CASES: list[tuple[type[Pdu], dict[str, Any], dict[str, Any], int]] = [
    (
        BindTransmitter,
        {
            "system_id": "esme1",
            "password": "secret",
            "system_type": "TEST",
            "addr_ton": 1,
            "addr_npi": 1,
            "address_range": "^44",
        },
        {},
        0,
    ),
    (BindReceiver, {"system_id": "esme2", "password": "pw"}, {}, 0),
    (BindTransceiver, {"system_id": "esme3", "address_range": "447700*"}, {}, 0),
    (BindTransmitterResp, {"system_id": "smsemu"}, {"sc_interface_version": 0x34}, 0),
    (BindReceiverResp, {"system_id": "smsemu"}, {}, 0),
    (BindTransceiverResp, {}, {}, S.ESME_RINVPASWD),
    (SubmitSmResp, {"message_id": "1a2b3c"}, {}, 0),
    (SubmitSmResp, {}, {}, S.ESME_RTHROTTLED),
    (DeliverSmResp, {"message_id": ""}, {}, 0),
    (
        DataSm,
        {
            "service_type": "WAP",
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "source_addr": "447700900123",
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "destination_addr": "447700900456",
            "esm_class": 0x40,
            "registered_delivery": 1,
            "data_coding": 8,
        },
        {
            "message_payload": b"\x05\x00\x03\x01\x02\x01hello",
            "sar_msg_ref_num": 513,
            "qos_time_to_live": 86400,
            "source_port": 9200,
            "destination_port": 2948,
        },
        0,
    ),
    (DataSmResp, {"message_id": "77"}, {"additional_status_info_text": "ok", "dpf_result": 1}, 0),
    (
        QuerySm,
        {
            "message_id": "abc",
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "source_addr": "447700900123",
        },
        {},
        0,
    ),
    (
        QuerySmResp,
        {
            "message_id": "abc",
            "final_date": "240101120000000+",
            "message_state": 2,
            "error_code": 0,
        },
        {},
        0,
    ),
    (Unbind, {}, {}, 0),
    (UnbindResp, {}, {}, 0),
    (EnquireLink, {}, {}, 0),
    (EnquireLinkResp, {}, {}, 0),
    (GenericNack, {}, {}, S.ESME_RINVCMDID),
    (
        AlertNotification,
        {
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "source_addr": "447700900123",
            "esme_addr": "gw",
        },
        {"ms_availability_status": 0},
        0,
    ),
]


CROSS_IDS = [f"{c.command_id.name}-{status:#x}" for c, _, _, status in CROSS_CASES]


@pytest.mark.parametrize(("cls", "fields", "tlvs", "status"), CROSS_CASES, ids=CROSS_IDS)
def test_smpplib_generated_decodes(
    cls: type[Pdu], fields: dict[str, Any], tlvs: dict[str, Any], status: int
) -> None:
    theirs = smpplib_pdu(cls.command_id.name, 4242, status=status, **fields, **tlvs).generate()
    assert decode(theirs) == cls(
        sequence_number=4242, command_status=status, tlvs=Tlvs(**tlvs), **fields
    )


@pytest.mark.parametrize(("cls", "fields", "tlvs", "status"), CROSS_CASES, ids=CROSS_IDS)
def test_ours_parse_with_smpplib(
    cls: type[Pdu], fields: dict[str, Any], tlvs: dict[str, Any], status: int
) -> None:
    ours = cls(sequence_number=0x7FFFFFFF, command_status=status, tlvs=Tlvs(**tlvs), **fields)
    theirs = smpplib_parse(encode(ours))
    assert (theirs.command, theirs.sequence, theirs.status) == (
        cls.command_id.name,
        0x7FFFFFFF,
        status,
    )
    for name, value in {**fields, **tlvs}.items():
        got = getattr(theirs, name)
        assert got == value or plain(got) == value, name


# The TLVs smpplib reads and writes with the sizes of §5.3.2 (it gives
# source_addr_subunit 2 octets in submit_sm, and cannot write flags).
SMPPLIB_SUBMIT_TLVS = [
    "user_message_reference",
    "source_port",
    "destination_port",
    "dest_addr_subunit",
    "sar_msg_ref_num",
    "sar_total_segments",
    "sar_segment_seqnum",
    "more_messages_to_send",
    "payload_type",
    "message_payload",
    "privacy_indicator",
    "callback_num",
    "callback_num_pres_ind",
    "user_response_code",
    "display_time",
    "sms_signal",
    "ms_validity",
    "ms_msg_wait_facilities",
    "number_of_messages",
    "language_indicator",
    "its_reply_type",
    "its_session_info",
    "ussd_service_op",
]
SMPPLIB_DELIVER_TLVS = [
    "user_message_reference",
    "source_port",
    "destination_port",
    "sar_msg_ref_num",
    "sar_total_segments",
    "sar_segment_seqnum",
    "user_response_code",
    "privacy_indicator",
    "payload_type",
    "message_payload",
    "callback_num",
    "language_indicator",
    "its_session_info",
    "network_error_code",
    "message_state",
    "receipted_message_id",
    "source_network_type",
    "dest_network_type",
    "more_messages_to_send",
]


def _smpplib_tlv(name: str) -> st.SearchStrategy[Any]:
    # smpplib leaves out empty string and octet TLVs, so they are never empty here.
    if name == "receipted_message_id":
        return st.text(ascii_printable, min_size=1, max_size=64)
    if name == "message_payload":
        return st.binary(min_size=1, max_size=300)
    return _known_tlv(name)


@st.composite
def smpplib_short_message(draw: st.DrawFn, cls: type[SubmitSm] | type[DeliverSm]) -> Any:
    """A submit_sm or deliver_sm both codecs can write: ASCII strings (smpplib
    writes TLV strings as UTF-8 with a character count), TLVs from its tables,
    and short_message or message_payload, never both (it refuses that)."""
    names = SMPPLIB_SUBMIT_TLVS if cls is SubmitSm else SMPPLIB_DELIVER_TLVS
    tlvs = draw(st.fixed_dictionaries({}, optional={n: _smpplib_tlv(n) for n in names}))
    text = {n: c_octet(C_OCTET_MAX[n], ascii_printable) for n in C_OCTET_MAX if n in _SM}
    fields: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {
                **text,
                **{n: octet for n in _SM if n not in C_OCTET_MAX and n != "short_message"},
                "short_message": st.binary(max_size=254),
            }
        )
    )
    if "message_payload" in tlvs:
        fields["short_message"] = b""
    return cls(sequence_number=draw(st.integers(1, 0x7FFFFFFF)), tlvs=Tlvs(**tlvs), **fields)


def _as_smpplib(pdu: SubmitSm | DeliverSm) -> dict[str, Any]:
    values = {name: getattr(pdu, name) for name in _SM}
    for name in TLV_TAGS:
        value = getattr(pdu.tlvs, name)
        if isinstance(value, NetworkErrorCode):
            value = bytes((value.network_type,)) + value.error_code.to_bytes(2, "big")
        if value is not None and value is not False:
            values[name] = value
    return values


@settings(max_examples=400)
@given(smpplib_short_message(SubmitSm) | smpplib_short_message(DeliverSm))
def test_smpplib_both_ways(pdu: SubmitSm | DeliverSm) -> None:
    cls = type(pdu)
    expected = _as_smpplib(pdu)
    # smpplib -> ours
    theirs = smpplib_pdu(cls.command_id.name, pdu.sequence_number, **expected).generate()
    assert decode(theirs) == pdu
    # ours -> smpplib
    parsed = smpplib_parse(encode(pdu))
    assert (parsed.command, parsed.sequence) == (cls.command_id.name, pdu.sequence_number)
    assert parsed.sm_length == pdu.sm_length
    for name, value in expected.items():
        got = getattr(parsed, name)
        if name == "short_message" and not value:
            got = got or b""  # smpplib leaves an empty one as None
        assert got == value or plain(got) == value, name


# -- what each malformation earns ------------------------------------------------------

BIND_BODY = cstr("esme") + cstr("pw") + cstr("") + b"\x34\x00\x00" + cstr("")
SUBMIT_HEAD = cstr("") + b"\x01\x01" + cstr("447700900001") + b"\x01\x01" + cstr("447700900002")
SUBMIT_BODY = SUBMIT_HEAD + b"\x00\x00\x00" + cstr("") + cstr("") + b"\x01\x00\x00\x00"


@pytest.mark.parametrize(
    ("wire", "status", "offset", "answer"),
    [
        # header
        (h("00000010000000"), S.ESME_RINVCMDLEN, 7, GenericNack),
        (octets(0x04, SUBMIT_BODY + b"\x00")[:-1], S.ESME_RINVCMDLEN, 0, GenericNack),
        (octets(0x99), S.ESME_RINVCMDID, 4, GenericNack),
        (octets(0x80000099), S.ESME_RINVCMDID, 4, GenericNack),
        # mandatory parameters
        (octets(0x02, BIND_BODY[:-3]), S.ESME_RINVCMDLEN, 16 + len(BIND_BODY) - 3, GenericNack),
        (octets(0x02, b"x" * 16 + b"\0"), S.ESME_RINVSYSID, 16, BindTransmitterResp),
        (octets(0x02, cstr("esme") + b"p" * 9 + b"\0"), S.ESME_RINVPASWD, 21, BindTransmitterResp),
        (
            octets(0x09, cstr("a") + cstr("b") + b"s" * 13),
            S.ESME_RINVSYSTYP,
            20,
            BindTransceiverResp,
        ),
        (
            octets(0x04, cstr("") + b"\x01\x01" + b"4" * 21 + b"\0"),
            S.ESME_RINVSRCADR,
            19,
            SubmitSmResp,
        ),
        (
            octets(0x04, cstr("CMT") + b"\x01\x01" + cstr("1") + b"\x01\x01" + b"9" * 30),
            S.ESME_RINVDSTADR,
            26,
            SubmitSmResp,
        ),
        (octets(0x04, b"ABCDEF"), S.ESME_RINVSERTYP, 16, SubmitSmResp),
        (
            octets(0x04, SUBMIT_BODY + b"\x05abc"),
            S.ESME_RINVMSGLEN,
            16 + len(SUBMIT_BODY),
            SubmitSmResp,
        ),
        (
            octets(0x04, SUBMIT_BODY + b"\xff" + b"a" * 255),
            S.ESME_RINVMSGLEN,
            16 + len(SUBMIT_BODY),
            SubmitSmResp,
        ),
        (octets(0x04, SUBMIT_BODY), S.ESME_RINVCMDLEN, 16 + len(SUBMIT_BODY), GenericNack),
        (
            octets(0x04, SUBMIT_HEAD + b"\x00\x00\x00" + b"1" * 17),
            S.ESME_RINVSCHED,
            16 + len(SUBMIT_HEAD) + 3,
            SubmitSmResp,
        ),
        (octets(0x03, b"m" * 65), S.ESME_RINVMSGID, 16, None),  # None: the request's _resp
        (
            octets(0x21, cstr("") + b"\x01\x01" + cstr("1") + b"\xff"),
            S.ESME_RINVNUMDESTS,
            21,
            None,
        ),
        (
            octets(0x21, cstr("") + b"\x01\x01" + cstr("1") + b"\x01\x03"),
            S.ESME_RINVDESTFLAG,
            22,
            None,
        ),
        (
            octets(0x21, cstr("") + b"\x01\x01" + cstr("1") + b"\x01\x02" + b"d" * 21),
            S.ESME_RINVDLNAME,
            23,
            None,
        ),
        (octets(0x0B, cstr("smsc")), S.ESME_RINVCMDLEN, 21, GenericNack),  # outbind: no password
        (octets(0x102, b"\x01\x01" + b"a" * 65), S.ESME_RINVSRCADR, 18, GenericNack),
        # TLVs
        (
            octets(0x04, SUBMIT_BODY + b"\x00" + b"\x02\x0c\x00"),
            S.ESME_RINVOPTPARSTREAM,
            16 + len(SUBMIT_BODY) + 1,
            SubmitSmResp,
        ),
        (
            octets(0x04, SUBMIT_BODY + b"\x00" + h("020c0005 0001")),
            S.ESME_RINVOPTPARSTREAM,
            16 + len(SUBMIT_BODY) + 3,
            SubmitSmResp,
        ),
        (
            octets(0x04, SUBMIT_BODY + b"\x00" + tlv(0x020C, b"\x01")),
            S.ESME_RINVPARLEN,
            16 + len(SUBMIT_BODY) + 3,
            SubmitSmResp,
        ),
        (
            octets(0x04, SUBMIT_BODY + b"\x00" + tlv(0x0381, b"123")),
            S.ESME_RINVPARLEN,
            16 + len(SUBMIT_BODY) + 3,
            SubmitSmResp,
        ),
        (
            octets(0x04, SUBMIT_BODY + b"\x00" + tlv(0x130C, b"\x01")),
            S.ESME_RINVPARLEN,
            16 + len(SUBMIT_BODY) + 3,
            SubmitSmResp,
        ),
        (
            octets(0x05, SUBMIT_BODY + b"\x00" + tlv(0x001E, b"abc")),
            S.ESME_RINVOPTPARAMVAL,
            16 + len(SUBMIT_BODY) + 5,
            DeliverSmResp,
        ),
        (
            octets(0x05, SUBMIT_BODY + b"\x00" + tlv(0x001E, b"a\0c\0")),
            S.ESME_RINVOPTPARAMVAL,
            16 + len(SUBMIT_BODY) + 5,
            DeliverSmResp,
        ),
        (
            octets(0x05, SUBMIT_BODY + b"\x00" + tlv(0x001E, b"x" * 65 + b"\0")),
            S.ESME_RINVPARLEN,
            16 + len(SUBMIT_BODY) + 3,
            DeliverSmResp,
        ),
        (
            octets(0x04, SUBMIT_BODY + b"\x00" + tlv(0x020E, b"\x01") * 2),
            S.ESME_RINVOPTPARSTREAM,
            16 + len(SUBMIT_BODY) + 6,
            SubmitSmResp,
        ),
        (octets(0x15, b"\x00"), S.ESME_RINVOPTPARSTREAM, 16, EnquireLinkResp),
        # a response with status 0 is not excused; a bad length earns generic_nack (§4.3.1),
        # anything else goes unanswered
        (octets(0x80000004, b"abc"), S.ESME_RINVCMDLEN, 16, GenericNack),
        (octets(0x80000002, cstr("smsc") + b"\x02"), S.ESME_RINVOPTPARSTREAM, 21, None),
    ],
)
def test_malformed(wire: bytes, status: int, offset: int, answer: type[Pdu] | None) -> None:
    with pytest.raises(SmppError) as caught:
        decode(wire)
    err = caught.value
    assert (err.command_status, err.offset) == (status, offset), str(err)
    assert describe_status(status) in str(err)
    if len(wire) >= 16:
        assert err.command_id == int.from_bytes(wire[4:8], "big")
        assert err.sequence_number == int.from_bytes(wire[12:16], "big")
    response = err.response()
    command_id = err.command_id or 0
    if answer is None and not command_id & 0x80000000:
        answer = RESPONSE_CLASSES[command_id]
    if answer is None:
        assert response is None
    else:
        assert type(response) is answer
        assert response is not None
        assert response.command_status == status
        assert response.sequence_number == (err.sequence_number or 0)
        assert len(encode(response)) == 16  # an error response has no body


@pytest.mark.parametrize(
    "pdu",
    [
        BindTransmitter(sequence_number=1, system_id="x" * 16),
        BindTransmitter(sequence_number=1, password="ü" * 9),
        BindTransmitter(sequence_number=1, system_id="€"),
        BindTransmitter(sequence_number=1, system_id="a\0b"),
        BindTransmitter(sequence_number=1, addr_ton=256),
        BindTransmitter(sequence_number=-1),
        BindTransmitter(sequence_number=1 << 32),
        BindTransmitter(sequence_number=1, command_status=-5),
        SubmitSm(sequence_number=1, short_message=b"x" * 255),
        SubmitSm(sequence_number=1, tlvs=Tlvs(sar_msg_ref_num=65536)),
        SubmitSm(sequence_number=1, tlvs=Tlvs(sar_total_segments=-1)),
        SubmitSm(sequence_number=1, tlvs=Tlvs(callback_num=b"123")),
        SubmitSm(sequence_number=1, tlvs=Tlvs(receipted_message_id="x" * 65)),
        SubmitSm(sequence_number=1, tlvs=Tlvs(network_error_code=NetworkErrorCode(1, 1 << 16))),
        SubmitSm(sequence_number=1, tlvs=Tlvs(unknown=((0x020C, b"\x00\x01"),))),
        SubmitSm(sequence_number=1, tlvs=Tlvs(unknown=((0x10000, b""),))),
        SubmitSm(sequence_number=1, tlvs=Tlvs(message_payload=b"x" * 65536)),
        DataSm(
            sequence_number=1, tlvs=Tlvs(message_payload=b"x" * 65535)
        ),  # past MAX_COMMAND_LENGTH
        SubmitMulti(sequence_number=1, dest_address=(SmeAddress(1, 1, "1"),) * 255),
        SubmitMulti(sequence_number=1, dest_address=(DistributionList("d" * 21),)),
        SubmitMultiResp(sequence_number=1, unsuccess_sme=(UnsuccessSme(1, 1, "1", 1 << 32),)),
    ],
    ids=lambda p: p.name,
)
def test_encode_refuses(pdu: Pdu) -> None:
    with pytest.raises(SmppError) as err:
        encode(pdu)
    assert err.value.offset is None
    assert err.value.command_status != S.ESME_ROK


def test_encode_refuses_what_is_no_pdu() -> None:
    with pytest.raises(SmppError):
        encode("submit_sm")  # type: ignore[arg-type]


def test_response_to_pdus_without_a_response() -> None:
    err = SmppError(S.ESME_RINVSRCADR, "x", 20, 5, CommandId.alert_notification)
    assert err.response() == GenericNack(sequence_number=5, command_status=S.ESME_RINVSRCADR)
    err = SmppError(S.ESME_RINVSRCADR, "x", 20, 5, CommandId.submit_multi)
    assert err.response() == SubmitMultiResp(sequence_number=5, command_status=S.ESME_RINVSRCADR)
    assert SmppError(S.ESME_RINVCMDLEN, "x").response() == GenericNack(
        sequence_number=0, command_status=S.ESME_RINVCMDLEN
    )


# -- fuzzing -----------------------------------------------------------------------


def check_outcome(wire: bytes, outcome: Pdu | SmppError) -> None:
    """A decoded PDU re-encodes to the same PDU; an error says where and what to answer."""
    if isinstance(outcome, SmppError):
        assert isinstance(outcome.command_status, int) and outcome.command_status != 0
        assert outcome.offset is None or 0 <= outcome.offset <= len(wire)
        if len(wire) >= 16 and not outcome.fatal:
            assert outcome.sequence_number == int.from_bytes(wire[12:16], "big")
            assert outcome.command_id == int.from_bytes(wire[4:8], "big")
        answer = outcome.response()
        if answer is not None:
            assert len(encode(answer)) == 16
        str(outcome)
    else:
        # (A response that came without its body gets its default body back.)
        assert decode(encode(outcome)) == outcome


def decode_outcome(wire: bytes) -> Pdu | SmppError:
    try:
        return decode(wire)
    except SmppError as exc:
        return exc


@settings(max_examples=1500)
@given(st.binary(max_size=400))
def test_fuzz_decode_arbitrary_bytes(wire: bytes) -> None:
    check_outcome(wire, decode_outcome(wire))


@settings(max_examples=1500)
@given(
    st.sampled_from([*CommandId, 0x99, 0x80000199]), u32, st.just(0) | u32, st.binary(max_size=300)
)
def test_fuzz_decode_any_body(command_id: int, seq: int, status: int, body: bytes) -> None:
    wire = octets(command_id, body, seq, status)
    check_outcome(wire, decode_outcome(wire))


@st.composite
def mutated_pdus(draw: st.DrawFn) -> bytes:
    wire = bytearray(encode(draw(any_pdu)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(wire)))
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if op == "flip" and at < len(wire):
            wire[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and at < len(wire):
            wire[at] = draw(st.sampled_from([0x00, 0xFF, 0x01, 0x7F, 0x80]))
        elif op == "insert":
            wire[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del wire[at : at + draw(st.integers(1, 8))]
        elif op == "truncate":
            del wire[at:]
    if draw(st.booleans()) and len(wire) >= 4:
        wire[0:4] = len(wire).to_bytes(4, "big")  # keep the framing: the body is what breaks
    return bytes(wire)


@settings(max_examples=2000)
@given(mutated_pdus())
def test_fuzz_decode_mutated_pdus(wire: bytes) -> None:
    check_outcome(wire, decode_outcome(wire))


# -- the stream reader --------------------------------------------------------------


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def outcome_key(item: Pdu | SmppError) -> object:
    if isinstance(item, SmppError):
        ids = () if item.fatal else (item.sequence_number, item.command_id)
        return ("error", item.command_status, item.reason, item.offset, item.fatal, ids)
    return item


@given(st.lists(any_pdu, max_size=6), st.lists(st.integers(0, 10_000), max_size=12))
def test_reader_any_segmentation(pdus: list[Pdu], cuts: list[int]) -> None:
    stream = b"".join(encode(p) for p in pdus)
    reader = PduReader()
    got: list[Pdu | SmppError] = []
    for chunk in split(stream, cuts):
        got += reader.feed(chunk)
    assert got == pdus
    assert reader.pending == 0 and reader.failed is None


@settings(max_examples=1000)
@given(st.binary(max_size=600), st.lists(st.integers(0, 10_000), max_size=12))
def test_fuzz_reader(stream: bytes, cuts: list[int]) -> None:
    reader = PduReader()
    chunked: list[Pdu | SmppError] = []
    for chunk in split(stream, cuts):
        chunked += reader.feed(chunk)
    for i, item in enumerate(chunked):
        assert isinstance(item, (SmppError, *ALL_CLASSES))
        if isinstance(item, SmppError) and item.fatal:
            assert i == len(chunked) - 1 and reader.failed is item
            assert reader.feed(b"\x00\x00\x00\x10" * 8) == []
    whole = PduReader().feed(stream)
    assert [outcome_key(x) for x in chunked] == [outcome_key(x) for x in whole]


@settings(max_examples=500)
@given(
    st.lists(any_pdu | mutated_pdus(), min_size=1, max_size=5),
    st.lists(st.integers(0, 10_000), max_size=8),
)
def test_fuzz_reader_mutated_streams(items: list[Pdu | bytes], cuts: list[int]) -> None:
    stream = b"".join(i if isinstance(i, bytes) else encode(i) for i in items)
    reader = PduReader()
    for chunk in split(stream, cuts):
        for outcome in reader.feed(chunk):
            if isinstance(outcome, SmppError):
                assert outcome.response() is None or outcome.command_status
            else:
                assert decode(encode(outcome)) == outcome


def test_reader_limits() -> None:
    reader = PduReader(max_command_length=64)
    enquire = encode(EnquireLink(sequence_number=1))
    big = encode(SubmitSm(sequence_number=2, short_message=b"x" * 100))
    out = reader.feed(enquire + big + enquire)
    assert out[0] == EnquireLink(sequence_number=1)
    fatal = out[1]
    assert isinstance(fatal, SmppError) and fatal.fatal and len(out) == 2
    assert (fatal.sequence_number, fatal.command_id) == (2, CommandId.submit_sm)
    assert fatal.response() == GenericNack(sequence_number=2, command_status=S.ESME_RINVCMDLEN)
    # A length below the header's own, before the rest of the header arrived.
    reader = PduReader()
    (fatal,) = reader.feed(b"\x00\x00\x00\x0f")
    assert isinstance(fatal, SmppError) and fatal.fatal and fatal.sequence_number is None
    # Partial PDUs wait.
    reader = PduReader()
    assert reader.feed(enquire[:15]) == [] and reader.pending == 15
    assert reader.feed(enquire[15:]) == [EnquireLink(sequence_number=1)]
    assert MAX_COMMAND_LENGTH == 65552


def test_largest_pdu() -> None:
    payload = b"p" * (MAX_COMMAND_LENGTH - 16 - len(_data_sm_body()) - 4)
    wire = octets(CommandId.data_sm, _data_sm_body() + tlv(0x0424, payload))
    assert len(wire) == MAX_COMMAND_LENGTH
    pdu = decode(wire)
    assert encode(pdu) == wire
    assert PduReader().feed(wire) == [pdu]
    with pytest.raises(SmppError) as err:
        decode(wire + b"\0")
    assert err.value.command_status == S.ESME_RINVCMDLEN


# -- time strings (§7.1.1) -----------------------------------------------------------


def zone(quarters: int) -> timezone:
    return timezone(timedelta(minutes=15 * quarters))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("230115103000104+", datetime(2023, 1, 15, 10, 30, 0, 100_000, zone(4))),
        ("230115103000104-", datetime(2023, 1, 15, 10, 30, 0, 100_000, zone(-4))),
        ("240229235959922+", datetime(2024, 2, 29, 23, 59, 59, 900_000, zone(22))),  # +5:30
        ("240229235959923+", datetime(2024, 2, 29, 23, 59, 59, 900_000, zone(23))),  # +5:45
        ("991231000000048-", datetime(1999, 12, 31, 0, 0, 0, 0, zone(-48))),
        ("790101000000048+", datetime(2079, 1, 1, tzinfo=zone(48))),
        ("800101000000000-", datetime(1980, 1, 1, tzinfo=UTC)),  # "-00" is UTC too
        ("000002000000000R", timedelta(days=2)),
        ("000000013000000R", timedelta(hours=1, minutes=30)),
        ("000000000000000R", timedelta(0)),
        ("000000480000000R", timedelta(hours=48)),  # fields may overflow in relative times
        (
            "010203040506000R",
            timedelta(days=DAYS_PER_YEAR + 2 * DAYS_PER_MONTH + 3, hours=4, minutes=5, seconds=6),
        ),
    ],
)
def test_parse_time(text: str, expected: datetime | timedelta | None) -> None:
    value = parse_time(text)
    assert value == expected
    if isinstance(value, datetime):
        assert isinstance(expected, datetime)
        assert value.utcoffset() == expected.utcoffset()
    assert format_time(value) == text or text in ("000000480000000R", "800101000000000-")


@pytest.mark.parametrize(
    "text",
    [
        "2301151030001",  # short
        "230115103000104+1",  # long
        "230115103000104*",
        "230115103000149+",  # 49 quarter hours
        "231315103000104+",  # month 13
        "230229103000104+",  # no 29 February in 2023
        "230115243000104+",  # hour 24
        "230115103060104+",  # second 60
        "2301151030001O4+",
        "00000200000000R",
        "000002000000000r",
        "٠٠٠٠٠٢٠٠٠٠٠٠٠٠٠R",  # Arabic-Indic digits are digits, not SMPP's
    ],
)
def test_parse_time_refuses(text: str) -> None:
    with pytest.raises(SmppError) as err:
        parse_time(text)
    assert err.value.command_status == S.ESME_RINVEXPIRY
    with pytest.raises(SmppError) as err:
        parse_time(text, status=S.ESME_RINVSCHED)
    assert err.value.command_status == S.ESME_RINVSCHED


def test_format_time_corners() -> None:
    # Tenths kept, finer parts dropped.
    assert format_time(datetime(2024, 5, 6, 7, 8, 9, 987_654, zone(-20))) == "240506070809920-"
    # A zone that is not whole quarter hours, or past 12 hours: the same instant in UTC.
    chatham = datetime(2024, 1, 1, 12, 45, tzinfo=zone(51))
    assert format_time(chatham) == "240101000000000+"
    odd = datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(minutes=-20)))
    assert format_time(odd) == "240101122000000+"
    assert parse_time(format_time(chatham)) == chatham
    # Relative: normalised, sub-second dropped.
    assert format_time(timedelta(hours=48, seconds=0.5)) == "000002000000000R"
    assert format_time(timedelta(days=400)) == "010105000000000R"
    for bad in (
        datetime(2024, 1, 1),  # naive
        datetime(2080, 1, 1, tzinfo=UTC),
        datetime(1979, 12, 31, 23, tzinfo=UTC),
        timedelta(seconds=-1),
        timedelta(days=100 * DAYS_PER_YEAR),
    ):
        with pytest.raises(SmppError) as err:
            format_time(bad, status=S.ESME_RINVSCHED)
        assert err.value.command_status == S.ESME_RINVSCHED
    with pytest.raises(SmppError):
        format_time("240101000000000+")  # type: ignore[arg-type]


@given(
    st.datetimes(min_value=datetime(1980, 1, 2), max_value=datetime(2079, 12, 30)),
    st.integers(-48, 48),
    st.integers(0, 9),
)
def test_absolute_time_round_trip(when: datetime, quarters: int, tenths: int) -> None:
    aware = when.replace(microsecond=tenths * 100_000, tzinfo=zone(quarters))
    text = format_time(aware)
    assert len(text) == 16 and text[-1] in "+-"
    back = parse_time(text)
    assert back == aware
    assert isinstance(back, datetime) and back.utcoffset() == aware.utcoffset()
    assert format_time(back) == text


@given(st.integers(0, 99 * DAYS_PER_YEAR * 86400 + 364 * 86400 + 86399))
def test_relative_time_round_trip(seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    text = format_time(delta)
    assert text.endswith("000R") and len(text) == 16
    assert parse_time(text) == delta
    assert format_time(parse_time(text)) == text


@given(st.text(max_size=20) | st.text(alphabet="0123456789+-R", min_size=16, max_size=16))
def test_fuzz_parse_time(text: str) -> None:
    try:
        value = parse_time(text)
    except SmppError as err:
        assert err.command_status == S.ESME_RINVEXPIRY
    else:
        assert value is None or parse_time(format_time(value)) == value


def test_times_in_a_pdu() -> None:
    """The codec keeps the strings; the session parses them with the status to answer."""
    when = datetime(2024, 3, 1, 9, 0, tzinfo=zone(4))
    submit = SubmitSm(
        sequence_number=1,
        schedule_delivery_time=format_time(when),
        validity_period=format_time(timedelta(hours=6)),
    )
    back = decode(encode(submit))
    assert isinstance(back, SubmitSm)
    assert parse_time(back.schedule_delivery_time, status=S.ESME_RINVSCHED) == when
    assert parse_time(back.validity_period) == timedelta(hours=6)
