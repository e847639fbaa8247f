"""Bad input raises PDUError, with the octet offset, and nothing else."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdu import Direction, PDUError, Tpdu, decode, decode_sca, encode, encode_sca, from_hex
from pdu.explain import explain

from .strategies import tpdus

DELIVER = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"


def _fails_at(hex_: str, direction: Direction = Direction.MT, sca: bool = False) -> PDUError:
    data = from_hex(hex_)
    with pytest.raises(PDUError) as info:
        decode_sca(data, direction) if sca else decode(data, direction)
    return info.value


def test_odd_hex() -> None:
    with pytest.raises(PDUError) as info:
        from_hex("0011223")
    assert info.value.offset == 3
    assert "odd" in info.value.reason


def test_non_hex_character() -> None:
    with pytest.raises(PDUError) as info:
        from_hex("00 11 2G")
    assert info.value.offset == 2


def test_truncated_pdu_names_the_field() -> None:
    err = _fails_at(DELIVER[:40], sca=True)
    assert err.offset == 19
    assert "TP-SCTS" in err.reason


def test_udl_that_lies() -> None:
    # TP-UDL says 0x20 septets, only 9 octets follow.
    err = _fails_at(DELIVER.replace("800AE832", "8020E832"), sca=True)
    assert err.offset == 27
    assert "TP-UDL" in err.reason


def test_udhl_that_lies() -> None:
    # UDHI set, UDL 8 octets (8-bit data), UDHL 0x0A runs past them.
    err = _fails_at("44039121F300049930925161958008" + "0A00030102010000")
    assert "UDHL" in err.reason
    assert err.offset == 15


def test_ie_length_that_lies() -> None:
    err = _fails_at("44039121F300049930925161958008" + "0500090102010000")
    assert "runs past the header" in err.reason


def test_reserved_mti() -> None:
    err = _fails_at("03")
    assert err.offset == 0
    assert "reserved" in err.reason
    assert _fails_at("0003", Direction.MO, sca=True).offset == 1


def test_ucs2_with_an_odd_octet_count() -> None:
    err = _fails_at("04039121F300089930925161958003" + "004100")
    assert "UCS2" in err.reason


def test_message_has_offset_and_reason() -> None:
    err = _fails_at("0400")
    assert str(err) == f"at octet {err.offset}: {err.reason}"


@settings(max_examples=2000)
@given(st.binary(max_size=200), st.sampled_from(Direction), st.booleans())
def test_random_bytes_raise_only_pdu_error(data: bytes, direction: Direction, sca: bool) -> None:
    try:
        decode_sca(data, direction) if sca else decode(data, direction)
    except PDUError as exc:
        assert exc.offset is not None and 0 <= exc.offset <= len(data)
    explain(data, direction, sca=sca)  # never raises: the error is part of the explanation


@settings(max_examples=500)
@given(tpdus, st.data())
def test_every_truncation_raises_pdu_error(tpdu: Tpdu, data: st.DataObject) -> None:
    octets = encode_sca(tpdu, None)
    cut = data.draw(st.integers(0, len(octets) - 1))
    try:
        decode_sca(octets[:cut], tpdu.direction)
    except PDUError as exc:
        assert exc.offset is not None and exc.offset <= cut
    else:
        # Only the optional tail of a report may be cut off cleanly.
        assert tpdu.name in ("SMS-STATUS-REPORT",)


@settings(max_examples=500)
@given(tpdus, st.data())
def test_flipped_octets_raise_only_pdu_error(tpdu: Tpdu, data: st.DataObject) -> None:
    octets = bytearray(encode(tpdu))
    i = data.draw(st.integers(0, len(octets) - 1))
    octets[i] = data.draw(st.integers(0, 255))
    for direction in Direction:
        with contextlib.suppress(PDUError):
            decode(bytes(octets), direction)
