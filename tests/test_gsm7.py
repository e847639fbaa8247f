"""The GSM 7-bit alphabet and septet packing (TS 23.038 §6.1.2.1, §6.2.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pdu import DataCodingScheme, Direction, PDUError, SmsSubmit, UserData, decode, encode, gsm7
from pdu.udh import concat_ie

from .strategies import gsm7_text


def test_hellohello_packs_as_in_every_tutorial() -> None:
    assert gsm7.pack(gsm7.encode("hellohello")).hex().upper() == "E8329BFD4697D9EC37"


def test_seven_characters_fill_seven_octets_with_no_phantom_at() -> None:
    packed = gsm7.pack(gsm7.encode("1234567"))
    assert packed.hex().upper() == "31D98C56B3DD00"
    assert gsm7.decode(gsm7.unpack(packed, 7)) == "1234567"


def test_a_real_trailing_at_is_kept() -> None:
    # "1234567@" packs to the same seven octets: only TP-UDL tells them apart.
    packed = gsm7.pack(gsm7.encode("1234567@"))
    assert packed == gsm7.pack(gsm7.encode("1234567"))
    assert gsm7.decode(gsm7.unpack(packed, 8)) == "1234567@"


def test_extension_characters_cost_two_septets() -> None:
    assert gsm7.encode("€") == bytes((0x1B, 0x65))
    assert gsm7.septet_count("[a]{b}~^\\|€\f") == 22
    assert gsm7.char_septets("€") == 2
    assert gsm7.char_septets("a") == 1
    assert gsm7.char_septets("ж") == 0


def test_published_extension_table_example() -> None:
    # smspdudecoder's doctest: '2 € par mois'
    assert gsm7.pack(gsm7.encode("2 € par mois")).hex().upper() == "32D0A60C8287E5A0F63B3D07"


def test_unknown_escape_shows_the_default_character() -> None:
    # ESC followed by 'A' (0x41) has no extension character: show 'A'.
    assert gsm7.decode(bytes((0x1B, 0x41))) == "A"
    # ESC ESC is reserved: a space.
    assert gsm7.decode(bytes((0x1B, 0x1B))) == " "


def test_character_outside_the_alphabet_is_a_clear_error() -> None:
    with pytest.raises(PDUError, match=r"'ж'.*position 2"):
        gsm7.encode("abж")


@pytest.mark.parametrize(
    ("udh_octets", "fill_bits"), [(6, 1), (7, 0), (12, 2), (3, 4), (5, 2), (1, 6)]
)
def test_fill_bits_after_a_udh(udh_octets: int, fill_bits: int) -> None:
    # (7 - 8 * n % 7) % 7, from the protocol notes.
    from pdu.userdata import header_septets

    assert header_septets(udh_octets) * 7 - udh_octets * 8 == fill_bits
    assert (7 - (udh_octets * 8) % 7) % 7 == fill_bits


def test_text_after_a_six_octet_udh_starts_after_one_fill_bit() -> None:
    tpdu = SmsSubmit(
        tp_da=__import__("pdu").Address.parse("+123"),
        tp_dcs=DataCodingScheme(0),
        tp_ud=UserData("A", (concat_ie(0x42, 2, 1),)),
    )
    octets = encode(tpdu)
    # UDL = 7 header septets + 1 text septet; UD = 05 00 03 42 02 01, then 'A' << 1.
    assert octets[-8:].hex().upper() == "08050003420201" + "82"
    assert decode(octets, Direction.MO) == tpdu


@given(gsm7_text, st.integers(0, 40))
def test_pack_unpack_at_any_offset(text: str, offset: int) -> None:
    septets = gsm7.encode(text)
    packed = gsm7.pack(septets, offset)
    assert len(packed) == gsm7.packed_length(offset + len(septets))
    assert gsm7.unpack(packed, offset + len(septets), offset) == septets
    assert gsm7.decode(septets) == text
