"""Addresses, timestamps, validity periods and the data coding scheme."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pdu import Address, Alphabet, DataCodingScheme, EnhancedVP, PDUError, RelativeVP
from pdu.address import (
    TON_ALPHANUMERIC,
    TON_UNKNOWN,
    decode_address,
    decode_sc_address,
    encode_address,
    encode_sc_address,
)
from pdu.reader import Reader
from pdu.timestamp import decode_timestamp, encode_timestamp
from pdu.validity import relative_duration


def _address(hex_: str) -> Address:
    return decode_address(Reader(bytes.fromhex(hex_)), "TP-OA")


def test_international_number() -> None:
    a = _address("0B915155214365F7")
    assert (str(a), a.ton, a.npi) == ("+15551234567", 1, 1)
    assert encode_address(a).hex().upper() == "0B915155214365F7"


def test_alphanumeric_length_counts_semi_octets_of_the_septets() -> None:
    fonic = encode_address(Address("FONIC", TON_ALPHANUMERIC, 0))
    assert fonic[0] == 0x09  # 5 septets = 35 bits = 9 semi-octets
    assert fonic[1] == 0xD0
    assert _address(fonic.hex()) == Address("FONIC", TON_ALPHANUMERIC, 0)


@pytest.mark.parametrize(
    ("hex_", "text"),
    [("0BD0CDE6DB5DCE03", "MMoney"), ("14D0C4F23C7D760390EF7619", "Design@Home")],
)
def test_alphanumeric_published(hex_: str, text: str) -> None:
    # smspdudecoder's Address doctests.
    assert _address(hex_).number == text
    assert encode_address(Address(text, TON_ALPHANUMERIC, 0)).hex().upper() == hex_


def test_bcd_digits_star_hash_abc() -> None:
    a = Address("*#abc12", TON_UNKNOWN, 1)
    octets = encode_address(a)
    assert octets.hex().upper() == "0781BADC1EF2"
    assert _address(octets.hex()) == a


def test_sloppy_filler_is_skipped() -> None:
    # Length says 12 digits, but the last nibble is the F filler.
    assert _address("0C915155214365F7").number == "15551234567"


def test_smsc_address_length_counts_octets() -> None:
    sca = Address.parse("+27381000015")
    assert encode_sc_address(sca).hex().upper() == "07917283010010F5"
    assert encode_sc_address(None) == b"\x00"
    assert decode_sc_address(Reader(bytes.fromhex("07917283010010F5")), "SCA") == sca


def test_parse() -> None:
    assert Address.parse("+4915") == Address("4915", 1, 1)
    assert Address.parse("0151") == Address("0151", 0, 1)
    assert Address.parse("Info") == Address("Info", 5, 0)
    with pytest.raises(PDUError):
        Address.parse("")


def _ts(hex_: str) -> datetime:
    return decode_timestamp(Reader(bytes.fromhex(hex_)), "TP-SCTS")


@pytest.mark.parametrize(
    ("zone", "offset"),
    [
        ("8A", -timedelta(hours=7)),
        ("2B", -timedelta(hours=8)),
        ("49", -timedelta(hours=3, minutes=30)),
        ("08", timedelta(0)),
        ("80", timedelta(hours=2)),
        ("00", timedelta(0)),
        ("23", timedelta(hours=8)),
    ],
)
def test_time_zone_sign_bit(zone: str, offset: timedelta) -> None:
    assert _ts("99309251619580"[:12] + zone).utcoffset() == offset


def test_two_digit_years_pick_the_sensible_century() -> None:
    assert _ts("99309251619580").year == 1999
    assert _ts("70402132522400").year == 2007
    assert _ts("62110151224080").year == 2026


def test_timestamp_round_trip_keeps_the_zone() -> None:
    when = datetime(2026, 11, 22, 3, 26, 18, tzinfo=timezone(-timedelta(hours=3, minutes=30)))
    octets = encode_timestamp(when)
    assert octets[-1] == 0x49
    assert _ts(octets.hex()) == when


@pytest.mark.parametrize("bad", ["99139251619580", "99309251619A80", "9930925161958A"[:12] + "A0"])
def test_bad_timestamps_are_pdu_errors(bad: str) -> None:
    with pytest.raises(PDUError):
        _ts(bad)


def test_timestamp_needs_a_zone_and_a_quarter_hour_offset() -> None:
    with pytest.raises(PDUError):
        encode_timestamp(datetime(2026, 1, 1))
    with pytest.raises(PDUError):
        encode_timestamp(datetime(2026, 1, 1, tzinfo=timezone(timedelta(minutes=10))))


@pytest.mark.parametrize(
    ("value", "period"),
    [
        (0, timedelta(minutes=5)),
        (11, timedelta(hours=1)),
        (143, timedelta(hours=12)),
        (144, timedelta(hours=12, minutes=30)),
        (167, timedelta(days=1)),
        (168, timedelta(days=2)),
        (196, timedelta(days=30)),
        (197, timedelta(weeks=5)),
        (255, timedelta(weeks=63)),
    ],
)
def test_relative_vp_ranges(value: int, period: timedelta) -> None:
    assert relative_duration(value) == period
    assert RelativeVP.at_least(period) == RelativeVP(value)


def test_relative_vp_rounds_up() -> None:
    assert RelativeVP.at_least(timedelta(minutes=3)).value == 0
    assert RelativeVP.at_least(timedelta(hours=25)).value == 168
    with pytest.raises(PDUError):
        RelativeVP.at_least(timedelta(weeks=64))


def test_enhanced_vp() -> None:
    assert EnhancedVP.of(timedelta(seconds=30)).raw.hex() == "021e0000000000"
    evp = EnhancedVP.of(timedelta(hours=1, minutes=2, seconds=3), single_shot=True)
    assert evp.raw.hex() == "43102030000000"
    assert evp.duration == timedelta(hours=1, minutes=2, seconds=3)
    assert evp.single_shot


@pytest.mark.parametrize(
    ("value", "alphabet", "klass"),
    [
        (0x00, "gsm7", None),
        (0x04, "8bit", None),
        (0x08, "ucs2", None),
        (0x10, "gsm7", 0),
        (0x18, "ucs2", 0),
        (0x16, "8bit", 2),
        (0x0C, "gsm7", None),  # reserved alphabet: read as GSM 7-bit
        (0x48, "ucs2", None),  # automatic deletion group
        (0x80, "gsm7", None),  # reserved group
        (0xC8, "gsm7", None),  # message waiting, discard, voicemail active
        (0xD3, "gsm7", None),  # message waiting, store, other, inactive
        (0xE8, "ucs2", None),  # message waiting, store, UCS2
        (0xF0, "gsm7", 0),
        (0xF4, "8bit", 0),
        (0xF6, "8bit", 2),
        (0xF1, "gsm7", 1),
    ],
)
def test_dcs_groups(value: int, alphabet: str, klass: int | None) -> None:
    dcs = DataCodingScheme(value)
    assert (dcs.alphabet, dcs.message_class) == (alphabet, klass)


def test_dcs_waiting_and_compression() -> None:
    assert DataCodingScheme(0xC8).waiting_indication == (True, "voicemail")
    assert DataCodingScheme(0xD1).waiting_indication == (False, "fax")
    assert DataCodingScheme(0x00).waiting_indication is None
    compressed = DataCodingScheme(0x20)
    assert compressed.compressed and not compressed.counts_septets
    assert DataCodingScheme.general(Alphabet.UCS2, 1).value == 0x19


def test_a_name_of_bcd_letters_is_alphanumeric() -> None:
    # "ABC" and "Cab" are names; only digits, '*' and '#' make a number.
    for name in ("ABC", "Cab", "abba", "Bob"):
        assert Address.parse(name).ton == TON_ALPHANUMERIC
    assert Address.parse("*100#") == Address("*100#", TON_UNKNOWN, 1)


def test_enhanced_vp_extension_octets_and_reserved_values() -> None:
    # §9.2.3.12.3: bit 7 of the indicator says another indicator octet follows.
    # Format 001 (relative), one extension octet 01, then TP-VP 02: (2 + 1) * 5 min.
    assert EnhancedVP(bytes.fromhex("81010200000000")).duration == timedelta(minutes=15)
    # hh:mm:ss semi-octets that are not decimal, and 0 seconds, are no period.
    assert EnhancedVP(bytes.fromhex("038A313C000000")).duration is None
    assert EnhancedVP(bytes.fromhex("02000000000000")).duration is None
    with pytest.raises(PDUError, match="reserved"):
        EnhancedVP.of(timedelta(0))


def test_tp_pi_extension_octet_is_skipped() -> None:
    # §9.2.3.27: TP-PI 0x83 (PID, DCS, extension), then a second TP-PI octet.
    from pdu import Direction, SmsStatusReport, decode

    report = decode(
        bytes.fromhex("062A0B915121551532F49930925161958099309251619580008300AB08"),
        Direction.MT,
    )
    assert isinstance(report, SmsStatusReport)
    assert (report.tp_pid, report.tp_dcs) == (0xAB, DataCodingScheme(0x08))
