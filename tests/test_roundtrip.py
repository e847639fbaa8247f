"""decode(encode(x)) == x for every TPDU type, alphabet and UDH combination."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pdu import Address, Tpdu, decode, decode_sca, encode, encode_sca

from .strategies import addresses, tpdus


@settings(max_examples=1500)
@given(tpdus)
def test_decode_inverts_encode(tpdu: Tpdu) -> None:
    octets = encode(tpdu)
    back = decode(octets, tpdu.direction)
    assert back == tpdu
    assert type(back) is type(tpdu)
    # Byte-exact too, and the time zones themselves, not only the instants.
    assert encode(back) == octets
    for name in ("tp_scts", "tp_dt"):
        if hasattr(tpdu, name):
            assert getattr(back, name).utcoffset() == getattr(tpdu, name).utcoffset()


@given(tpdus, st.none() | addresses.filter(lambda a: a.ton != 5))
def test_with_smsc_address_field(tpdu: Tpdu, sca: Address | None) -> None:
    octets = encode_sca(tpdu, sca)
    assert decode_sca(octets, tpdu.direction) == (sca, tpdu)
