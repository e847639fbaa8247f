"""The RP layer codec (TS 24.011 §7.3, §8.2): round trips, hand-checked octets,
a published RP-DATA, the RP-Cause each malformation earns, and fuzzing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pdu import (
    Address,
    Direction,
    PDUError,
    SmsDeliver,
    SmsDeliverReport,
    SmsSubmit,
    SmsSubmitReport,
    Tpdu,
    decode,
    encode,
    from_hex,
)
from pdu.address import TON_ALPHANUMERIC, TON_INTERNATIONAL, TON_UNKNOWN
from pdu.status import RP_CAUSE_NAMES
from radiolink.rp import (
    IEI_RP_USER_DATA,
    MAX_TPDU,
    RpAck,
    RpCause,
    RpData,
    RPError,
    RpError,
    RpMessage,
    RpMti,
    RpSmma,
    decode_rp,
    decode_tpdu,
    describe_cause,
    encode_rp,
)

from .strategies import (
    numeric_address,
    sms_command,
    sms_deliver,
    sms_deliver_report,
    sms_status_report,
    sms_submit,
    sms_submit_report,
)

SMSC = Address("447785016005")  # +44 7785 016005: 07 91 4477580610 50
SMSC_OCTETS = "07 91 44 77 58 10 06 50"
# dreamfabric.com's SMS-SUBMIT tutorial PDU without its SMSC field: TP-MR 0,
# to +46708251358, TP-VP relative AA, "hellohello" (tests/data/published_vectors.json).
SUBMIT = "11 00 0B 91 6407281553F8 00 00 AA 0A E8329BFD4697D9EC37"
# An SMS-DELIVER from +27838890001 (the DELIVER of test_errors without its SMSC).
DELIVER = "04 0B C8 7238880900F1 00 00 99309251619580 0A E8329BFD4697D9EC37"

mr = st.integers(0, 255)
tpdu_octets = st.binary(min_size=1, max_size=MAX_TPDU)
optional_ud = st.none() | st.binary(max_size=MAX_TPDU)

rp_data = st.builds(RpData.mo, mr, numeric_address, tpdu_octets) | st.builds(
    RpData.mt, mr, numeric_address, tpdu_octets
)
rp_ack = st.builds(
    RpAck, mr, optional_ud, mti=st.sampled_from([RpMti.ACK_MS_TO_N, RpMti.ACK_N_TO_MS])
)
rp_error = st.builds(
    RpError,
    mr,
    st.integers(0, 127),
    st.binary(max_size=4),
    optional_ud,
    mti=st.sampled_from([RpMti.ERROR_MS_TO_N, RpMti.ERROR_N_TO_MS]),
)
rp_messages = st.one_of(rp_data, rp_ack, rp_error, st.builds(RpSmma, mr))


def _rp_fails(data: bytes | str, direction: Direction | None = None) -> RPError:
    octets = from_hex(data) if isinstance(data, str) else data
    with pytest.raises(RPError) as info:
        decode_rp(octets, direction=direction)
    return info.value


# --- round trips ------------------------------------------------------------


@given(rp_messages)
def test_round_trip_every_message_type(msg: RpMessage) -> None:
    assert decode_rp(encode_rp(msg)) == msg
    assert decode_rp(encode_rp(msg), direction=msg.direction) == msg


@st.composite
def rp_with_tpdu(draw: st.DrawFn) -> tuple[RpMessage, Tpdu]:
    """An RP message around a real TPDU of a type it may carry."""
    rp_mr, smsc = draw(mr), draw(numeric_address)
    kind = draw(st.sampled_from(["mo", "mt", "ack-ms", "ack-n", "error-ms", "error-n"]))
    if kind == "mo":
        tpdu: Tpdu = draw(sms_submit() | sms_command)
        return RpData.mo(rp_mr, smsc, encode(tpdu)), tpdu
    if kind == "mt":
        tpdu = draw(sms_deliver() | sms_status_report())
        return RpData.mt(rp_mr, smsc, encode(tpdu)), tpdu
    error = kind.startswith("error")
    from_ms = kind.endswith("ms")
    report: SmsDeliverReport | SmsSubmitReport = (
        draw(sms_deliver_report()) if from_ms else draw(sms_submit_report())
    )
    # Only the RP-ERROR form of a report has TP-FCS (TS 23.040 §9.2.2.1a, 9.2.2.2a).
    fcs = draw(st.integers(0x80, 0xFF)) if error else None
    report = dataclasses.replace(report, tp_fcs=fcs)
    mti = {
        "ack-ms": RpMti.ACK_MS_TO_N,
        "ack-n": RpMti.ACK_N_TO_MS,
        "error-ms": RpMti.ERROR_MS_TO_N,
        "error-n": RpMti.ERROR_N_TO_MS,
    }[kind]
    if error:
        return RpError(rp_mr, RpCause.TEMPORARY_FAILURE, b"", encode(report), mti=mti), report
    return RpAck(rp_mr, encode(report), mti=mti), report


@given(rp_with_tpdu())
def test_round_trip_with_the_tpdu_inside(case: tuple[RpMessage, Tpdu]) -> None:
    msg, tpdu = case
    decoded = decode_rp(encode_rp(msg))
    assert decoded == msg
    assert decode_tpdu(decoded) == tpdu
    assert tpdu.direction == decoded.direction


# --- hand-checked octets ------------------------------------------------------


def test_rp_data_ms_to_network_field_by_field() -> None:
    tpdu = from_hex(SUBMIT)
    assert len(tpdu) == 23
    octets = encode_rp(RpData.mo(0x2A, SMSC, tpdu))
    assert octets == from_hex("00 2A 00" + SMSC_OCTETS + "17" + SUBMIT)
    assert octets[0] == 0x00  # RP-MTI 000: RP-DATA MS -> network, spare bits 0
    assert octets[1] == 0x2A  # RP-Message Reference
    assert octets[2] == 0x00  # RP-OA: length 0, the MS sends no originator
    assert octets[3] == 7  # RP-DA length: type-of-address + 6 BCD octets
    assert octets[4] == 0x91  # no extension, international, ISDN/E.164
    assert octets[5:11] == bytes.fromhex("447758100650")  # swapped digits
    assert octets[11] == 23  # RP-User Data length, no IEI (LV)
    assert octets[12:] == tpdu
    msg = decode_rp(octets, direction=Direction.MO)
    assert isinstance(msg, RpData)
    assert msg.smsc == SMSC and msg.rp_oa is None and msg.is_ms_to_network
    submit = decode_tpdu(msg)
    assert submit == decode(tpdu, Direction.MO)
    assert isinstance(submit, SmsSubmit) and str(submit.tp_da) == "+46708251358"


def test_rp_data_network_to_ms() -> None:
    tpdu = from_hex(DELIVER)
    octets = encode_rp(RpData.mt(5, SMSC, tpdu))
    # RP-MTI 001, reference 5, RP-OA = SMSC, RP-DA empty, RP-User Data.
    assert octets == from_hex("01 05" + SMSC_OCTETS + "00" + f"{len(tpdu):02X}" + DELIVER)
    msg = decode_rp(octets, direction=Direction.MT)
    assert isinstance(msg, RpData)
    assert msg.rp_oa == SMSC and msg.rp_da is None and msg.direction is Direction.MT
    deliver = decode_tpdu(msg)
    assert isinstance(deliver, SmsDeliver) and str(deliver.tp_oa) == "27838890001"


def test_rp_error_with_cause_22_and_a_diagnostic() -> None:
    # The MS refuses an SMS-DELIVER: memory capacity exceeded (22), one diagnostic
    # octet, and the RP-ERROR form of SMS-DELIVER-REPORT with TP-FCS D3 (SIM SMS
    # storage full) and TP-PI 00.
    report = SmsDeliverReport(tp_fcs=0xD3)
    assert encode(report) == bytes.fromhex("00D300")
    msg = RpError(
        7, RpCause.MEMORY_CAPACITY_EXCEEDED, b"\x01", encode(report), mti=RpMti.ERROR_MS_TO_N
    )
    octets = encode_rp(msg)
    assert octets == from_hex("04 07 02 16 01 41 03 00D300")
    # 04: RP-ERROR MS -> network; 07: reference; 02: RP-Cause length (LV, no
    # IEI); 16: ext bit 0, cause 22; 01: diagnostic; 41 03: RP-User Data TLV.
    decoded = decode_rp(octets, direction=Direction.MO)
    assert decoded == msg
    assert isinstance(decoded, RpError)
    assert decoded.cause_text == "22 (memory capacity exceeded)"
    assert decode_tpdu(decoded) == report


def test_rp_error_from_the_network_without_user_data() -> None:
    msg = decode_rp(from_hex("05 2A 01 2A"), direction=Direction.MT)
    assert msg == RpError(0x2A, RpCause.CONGESTION, mti=RpMti.ERROR_N_TO_MS)
    assert decode_tpdu(msg) is None


def test_rp_ack_with_a_submit_report() -> None:
    report = from_hex("01 00 99309251619580")  # SMS-SUBMIT-REPORT, TP-PI 00, TP-SCTS
    msg = RpAck(0x2A, report, mti=RpMti.ACK_N_TO_MS)
    octets = encode_rp(msg)
    assert octets == from_hex("03 2A 41 09 01 00 99309251619580")
    decoded = decode_rp(octets, direction=Direction.MT)
    assert decoded == msg
    tpdu = decode_tpdu(decoded)
    assert isinstance(tpdu, SmsSubmitReport)
    assert tpdu.tp_fcs is None  # the RP-ACK form has no TP-FCS
    assert tpdu == decode(report, Direction.MT, rp_error=False)


def test_bare_rp_ack_and_rp_smma() -> None:
    assert encode_rp(RpAck(9, mti=RpMti.ACK_MS_TO_N)) == b"\x02\x09"
    assert decode_rp(b"\x02\x09") == RpAck(9, None, mti=RpMti.ACK_MS_TO_N)
    assert encode_rp(RpSmma(200)) == b"\x06\xc8"
    smma = decode_rp(b"\x06\xc8", direction=Direction.MO)
    assert smma == RpSmma(200) and smma.mti is RpMti.SMMA and smma.is_ms_to_network


def test_published_rp_data() -> None:
    """RP-DATA MS -> network copied from Wireshark, with the poster's reading of
    the RP part ("00 RP-DATA ms->sc, 1b reference, 00 RP-OA, 07 91 527617010002
    RP-DA +256771100020, 11 RP-UD length 17"): https://pastebin.com/Lyu7085K.
    The poster then misread the TPDU as if it began with an SMSC field; it is an
    SMS-SUBMIT with TP-MR 1B, TP-VP FF and "Salut".  (Its title names 1234562,
    the octets 81 214365F3 say 1234563.)"""
    msg = decode_rp(from_hex("001b00079152761701000211111b0781214365f30000ff05d330bb4e07"))
    assert isinstance(msg, RpData)
    assert (msg.mti, msg.rp_mr, msg.rp_oa) == (RpMti.DATA_MS_TO_N, 0x1B, None)
    assert str(msg.smsc) == "+256771100020"
    assert len(msg.rp_ud) == 17
    submit = decode_tpdu(msg)
    assert isinstance(submit, SmsSubmit)
    assert (submit.tp_mr, submit.tp_ud.body) == (0x1B, "Salut")
    assert submit.tp_da == Address("1234563", TON_UNKNOWN)


# --- the RP-Cause each malformation earns ---------------------------------------


def test_rp_error_is_a_pdu_error_with_cause_and_reference() -> None:
    err = _rp_fails("07 05")
    assert isinstance(err, PDUError)
    assert err.rp_cause == RpCause.MESSAGE_TYPE_NON_EXISTENT_OR_NOT_IMPLEMENTED
    assert err.rp_cause == 97
    assert err.rp_mr == 5 and err.offset == 0
    assert "RP-Cause 97" in str(err) and "at octet 0" in str(err)


def test_too_short_to_answer() -> None:
    for data in (b"", b"\x00", b"\x07"):
        err = _rp_fails(data)
        assert err.rp_mr is None  # TS 24.008 §8.2: ignore, there is no reference
        assert err.offset == len(data)


def test_spare_bits_of_the_mti_octet_are_ignored() -> None:
    assert decode_rp(b"\xfe\x01") == RpSmma(1)
    assert encode_rp(decode_rp(b"\xfe\x01")) == b"\x06\x01"


def test_message_of_the_wrong_direction_is_cause_97() -> None:
    octets = encode_rp(RpData.mt(3, SMSC, from_hex(DELIVER)))
    err = _rp_fails(octets, Direction.MO)
    assert err.rp_cause == 97 and err.rp_mr == 3 and err.offset == 0
    assert decode_rp(octets, direction=Direction.MT).direction is Direction.MT
    assert _rp_fails(b"\x06\x00", Direction.MT).rp_cause == 97


@pytest.mark.parametrize(
    ("hex_", "offset", "words"),
    [
        ("00 01", 2, "RP-OA length"),  # truncated before RP-OA
        ("00 01 00", 3, "RP-DA length"),
        ("00 01 00 07 91 44 77", 5, "RP-DA Address-Value"),
        ("00 01 00" + SMSC_OCTETS, 11, "RP-User Data length"),
        ("00 01 00" + SMSC_OCTETS + "05 0102", 12, "RP-User Data"),  # length lies
        ("00 01 03 91 2143 " + SMSC_OCTETS + "01 00", 2, "RP-OA must be empty"),
        ("00 01 00 00 01 00", 3, "RP-DA length 0"),
        ("00 01 00 01 91 01 00", 3, "RP-DA length 1"),
        ("00 01 00 0C 91 " + "11" * 11 + "01 00", 3, "more than 11"),
        ("00 01 00 02 D1 21 01 00", 4, "type of number 101"),
        ("00 01 00 02 91 FF 01 00", 3, "no digits"),
        ("00 01 00" + SMSC_OCTETS + "00", 11, "empty"),
        ("00 01 00" + SMSC_OCTETS + "E9" + "00" * 233, 11, "more than 232"),
        ("01 01 00 00 01 00", 2, "RP-OA length 0"),
        ("01 01" + SMSC_OCTETS + "03 91 2143 01 00", 10, "RP-DA must be empty"),
        ("04 01", 2, "RP-Cause length"),
        ("04 01 00", 2, "cause value is missing"),
        ("04 01 02 16", 3, "RP-Cause needs 2 octets"),
        ("04 01 00 41 00", 2, "cause value is missing"),
    ],
)
def test_mandatory_field_errors_are_cause_96(hex_: str, offset: int, words: str) -> None:
    err = _rp_fails(hex_)
    assert err.rp_cause == RpCause.INVALID_MANDATORY_INFORMATION
    assert err.rp_mr == 1
    assert err.offset == offset
    assert words in err.reason


@pytest.mark.parametrize(
    ("hex_", "offset", "words"),
    [
        ("03 01 41", 3, "RP-User Data length"),
        ("03 01 41 05 0102", 4, "RP-User Data"),
        ("05 01 01 29 41 03 01", 6, "RP-User Data"),
        ("03 01 41 E9" + "00" * 233, 3, "more than 232"),
        ("02 01 55", 3, "IE 0x55 length"),
        ("06 01 55 02 00", 4, "IE 0x55"),
    ],
)
def test_errors_in_the_optional_part_are_cause_111(hex_: str, offset: int, words: str) -> None:
    err = _rp_fails(hex_)
    assert err.rp_cause == RpCause.PROTOCOL_ERROR_UNSPECIFIED
    assert err.rp_mr == 1
    assert err.offset == offset
    assert words in err.reason


def test_unknown_optional_elements() -> None:
    """TS 24.007 §11.2.4 / TS 24.008 §8.6: an unknown IEI with bit 8 set is one
    octet, any other is TLV, and both are skipped; bits 8-5 = 0000 means
    comprehension required, refused with cause 96.  A second RP-User Data is
    ignored (TS 24.008 §8.6.3)."""
    assert decode_rp(from_hex("02 01 A5 55 02 AAAA 41 01 00")) == RpAck(
        1, b"\x00", mti=RpMti.ACK_MS_TO_N
    )
    assert decode_rp(from_hex("03 01 41 01 00 41 02 0102")) == RpAck(
        1, b"\x00", mti=RpMti.ACK_N_TO_MS
    )
    err = _rp_fails("02 01 0F 01 00")
    assert (err.rp_cause, err.offset, err.rp_mr) == (96, 2, 1)
    # RP-DATA and RP-SMMA define no optional element: RP-User Data is unknown there.
    data = encode_rp(RpData.mo(1, SMSC, b"\x01"))
    assert decode_rp(data + from_hex("41 01 00 99")) == decode_rp(data)
    assert decode_rp(from_hex("06 01 41 00")) == RpSmma(1)


# --- values the dataclasses refuse -----------------------------------------------


def test_invalid_values_are_refused_when_built() -> None:
    tpdu = from_hex(SUBMIT)
    cases: list[Callable[[], object]] = [
        lambda: RpData.mo(256, SMSC, tpdu),
        lambda: RpData.mo(1, Address("VODAFONE", TON_ALPHANUMERIC, 0), tpdu),
        lambda: RpData.mo(1, Address("1" * 21), tpdu),
        lambda: RpData.mo(1, Address("12x4"), tpdu),
        lambda: RpData.mo(1, Address(""), tpdu),
        lambda: RpData.mo(1, SMSC, b""),
        lambda: RpData.mo(1, SMSC, bytes(MAX_TPDU + 1)),
        lambda: RpData(1, SMSC, SMSC, tpdu, mti=RpMti.DATA_MS_TO_N),
        lambda: RpData(1, None, SMSC, tpdu, mti=RpMti.DATA_N_TO_MS),
        lambda: RpData(1, None, SMSC, tpdu, mti=RpMti.ACK_MS_TO_N),
        lambda: RpAck(1, mti=RpMti.DATA_MS_TO_N),
        lambda: RpAck(1, bytes(MAX_TPDU + 1), mti=RpMti.ACK_MS_TO_N),
        lambda: RpError(1, 128, mti=RpMti.ERROR_N_TO_MS),
        lambda: RpError(1, -1, mti=RpMti.ERROR_N_TO_MS),
        lambda: RpError(1, 41, bytes(255), mti=RpMti.ERROR_N_TO_MS),
        lambda: RpError(1, 41, mti=RpMti.SMMA),
        lambda: RpSmma(-1),
    ]
    for build in cases:
        with pytest.raises(RPError) as info:
            build()
        assert info.value.offset is None


def test_largest_values_fit() -> None:
    big = RpData.mo(255, Address("1" * 20), bytes(MAX_TPDU))
    octets = encode_rp(big)
    assert octets[3] == 11 and octets[15] == MAX_TPDU
    assert decode_rp(octets) == big


def test_tpdu_of_the_wrong_type_is_cause_95() -> None:
    # TP-MTI 00 from the MS is an SMS-DELIVER-REPORT, which RP-DATA cannot carry.
    msg = RpData.mo(4, SMSC, b"\x00\x00")
    with pytest.raises(RPError) as info:
        decode_tpdu(msg)
    assert info.value.rp_cause == RpCause.SEMANTICALLY_INCORRECT_MESSAGE
    assert info.value.rp_mr == 4
    # A malformed TPDU is the transfer layer's error, reported as such.
    with pytest.raises(PDUError) as bad:
        decode_tpdu(RpData.mo(4, SMSC, b"\x01"))
    assert not isinstance(bad.value, RPError)


# --- causes ------------------------------------------------------------------------


def test_cause_table() -> None:
    assert {c.value for c in RpCause} <= set(RP_CAUSE_NAMES)
    assert sorted(RpCause) == [
        1, 8, 10, 21, 22, 27, 28, 29, 30, 38, 41, 42, 47, 50, 69, 81,
        95, 96, 97, 98, 99, 111, 127,
    ]  # fmt: skip
    assert describe_cause(22) == "22 (memory capacity exceeded)"
    assert describe_cause(RpCause.PROTOCOL_ERROR_UNSPECIFIED) == "111 (protocol error, unspecified)"
    assert describe_cause(200) == "200 (not in TS 24.011 Table 8.4)"


def test_directions() -> None:
    assert [m.is_ms_to_network for m in RpMti] == [True, False, True, False, True, False, True]
    assert RpMti.ERROR_N_TO_MS.direction is Direction.MT
    assert RpMti.SMMA.direction is Direction.MO
    assert RpAck(1, mti=RpMti.ACK_N_TO_MS).name == "RP-ACK (network to MS)"
    assert RpData.mo(1, Address("1", TON_INTERNATIONAL), b"\x01").direction is Direction.MO


# --- fuzzing ------------------------------------------------------------------------


def _decodes_or_rp_error(data: bytes, direction: Direction | None = None) -> RpMessage | None:
    """Decoding either succeeds or raises RPError, never anything else; the
    reference is there whenever two octets were."""
    try:
        msg = decode_rp(data, direction=direction)
    except RPError as e:
        assert e.offset is not None and 0 <= e.offset <= len(data)
        assert e.rp_mr == (data[1] if len(data) >= 2 else None)
        assert e.rp_cause in RP_CAUSE_NAMES
        return None
    assert msg.rp_mr == data[1]
    # What decodes re-encodes canonically, and that decodes to the same message.
    assert decode_rp(encode_rp(msg)) == msg
    return msg


@given(st.binary(max_size=300), st.none() | st.sampled_from(Direction))
def test_random_octets_raise_only_rp_error(data: bytes, direction: Direction | None) -> None:
    _decodes_or_rp_error(data, direction)


@given(st.integers(0, 7), mr, st.binary(max_size=40))
def test_random_bodies_after_each_mti(mti: int, rp_mr: int, body: bytes) -> None:
    _decodes_or_rp_error(bytes((mti, rp_mr)) + body)


@given(rp_messages)
def test_every_truncation_raises_rp_error_or_is_a_shorter_message(msg: RpMessage) -> None:
    octets = encode_rp(msg)
    for end in range(len(octets)):
        cut = _decodes_or_rp_error(octets[:end])
        if cut is not None:
            # Only dropping a whole optional RP-User Data leaves a valid message.
            assert isinstance(msg, RpAck | RpError) and msg.rp_ud is not None
            assert encode_rp(cut) == octets[:end]


@given(rp_messages, st.data())
def test_corrupted_octets_raise_only_rp_error(msg: RpMessage, data: st.DataObject) -> None:
    octets = bytearray(encode_rp(msg))
    i = data.draw(st.integers(0, len(octets) - 1))
    octets[i] = data.draw(st.integers(0, 255))
    _decodes_or_rp_error(bytes(octets))


def test_user_data_iei_constant() -> None:
    assert IEI_RP_USER_DATA == 0x41
