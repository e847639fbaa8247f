"""The codec's fast paths (lookup tables, big-integer septet packing, the
single-part splitter, the untraced decoder) against the straightforward
implementations they replaced (``tests/pdu_reference.py``) and the traced
decoder: same results, same errors, for any input."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from hypothesis import assume, example, given
from hypothesis import strategies as st

from pdu import (
    Address,
    Direction,
    InformationElement,
    PDUError,
    SmsDeliver,
    SmsSubmit,
    Tpdu,
    UserData,
    decode_sca,
    encode_sca,
    from_hex,
    gsm7,
    national,
)
from pdu.address import _bcd_encode
from pdu.concat import split
from pdu.dcs import Alphabet
from pdu.message_number import Carrier
from pdu.reader import Span
from pdu.udh import IEI_NATIONAL_LOCKING_SHIFT, IEI_NATIONAL_SINGLE_SHIFT

from . import pdu_reference as ref
from .strategies import GSM7_CHARS, addresses, octet, tpdus

# Mostly GSM 7-bit characters, with some of every other kind mixed in.
texts = st.text(
    alphabet=st.sampled_from(GSM7_CHARS) | st.characters(exclude_categories=["Cs"]),
    max_size=400,
)
languages = st.none() | st.integers(0, 14)
septets = st.binary(max_size=400).map(lambda b: bytes(x & 0x7F for x in b))


def tables(
    locking_lang: int | None, single_lang: int | None
) -> tuple[str | None, Mapping[int, str] | None]:
    locking = None if locking_lang is None else national.locking_shift(locking_lang)
    single = None if single_lang is None else national.single_shift(single_lang)
    return locking, single


def outcome(fn: Callable[[], object]) -> object:
    """The result, or the error's message: both must agree."""
    try:
        return fn()
    except PDUError as exc:
        return ("PDUError", str(exc))


@given(texts, languages, languages)
@example("€[x]", None, None)
@example("ж", None, None)
def test_encode_matches_the_per_character_encoder(
    text: str, locking_lang: int | None, single_lang: int | None
) -> None:
    locking, single = tables(locking_lang, single_lang)
    assert outcome(lambda: gsm7.encode(text, locking, single)) == outcome(
        lambda: ref.encode(text, locking, single)
    )


@given(texts)
def test_counting_matches_the_per_character_count(text: str) -> None:
    assert gsm7.is_gsm7(text) == all(ref.char_septets(c) for c in text)
    if gsm7.is_gsm7(text):
        assert gsm7.septet_count(text) == sum(ref.char_septets(c) for c in text)


@given(septets, languages, languages)
@example(b"\x1b\x1b\x1b", None, None)
@example(b"a\x1b", 1, 1)
@example(b"\x1b\x0d", 3, None)
def test_decode_matches_the_per_septet_decoder(
    data: bytes, locking_lang: int | None, single_lang: int | None
) -> None:
    locking, single = tables(locking_lang, single_lang)
    assert gsm7.decode(data, locking, single) == ref.decode(data, locking, single)


@given(septets, st.integers(0, 20))
def test_pack_matches_the_septet_at_a_time_packer(data: bytes, offset: int) -> None:
    assert gsm7.pack(data, offset) == ref.pack(data, offset)
    assert gsm7.pack(list(data), offset) == ref.pack(data, offset)


@given(st.binary(max_size=200), st.integers(0, 230), st.integers(0, 20))
def test_unpack_matches_the_septet_at_a_time_unpacker(data: bytes, count: int, offset: int) -> None:
    count = min(count, len(data) * 8 // 7)
    assert gsm7.unpack(data, count, offset) == ref.unpack(data, count, offset)


split_texts = st.text(
    alphabet=st.sampled_from(GSM7_CHARS)
    | st.sampled_from("€{}[]")
    | st.characters(exclude_categories=["Cs"]),
    max_size=700,
)


@given(
    split_texts | st.binary(max_size=700),
    st.sampled_from([None, Alphabet.GSM7, Alphabet.UCS2]),
    st.sampled_from([8, 16]),
    st.none() | st.integers(0, 0xFFFF),
    st.sampled_from(Carrier),
)
@example("a" * 160, None, 8, None, Carrier.UDH)
@example("a" * 152 + "€", None, 8, None, Carrier.UDH)
@example("a" * 152 + "€" * 3, None, 8, None, Carrier.UDH)
@example("😀" * 40, None, 16, 7, Carrier.UDH)
@example("a" * 300, None, 8, 65535, Carrier.INLINE)
def test_split_matches_unit_by_unit_greedy_packing(
    content: str | bytes,
    alphabet: Alphabet | None,
    ref_bits: int,
    number: int | None,
    carrier: Carrier,
) -> None:
    if isinstance(content, bytes):
        alphabet = None
        carrier = Carrier.UDH
    kwargs = dict(alphabet=alphabet, ref=9, ref_bits=ref_bits, message_number=number)
    assert outcome(lambda: split(content, carrier=carrier, **kwargs)) == outcome(  # type: ignore[arg-type]
        lambda: ref.split(content, carrier=carrier, **kwargs)  # type: ignore[arg-type]
    )


def both_decoders(data: bytes, direction: Direction) -> tuple[object, object]:
    """The untraced (fast) decode and the traced (Reader) decode of ``data``."""

    def run(trace: list[Span] | None) -> object:
        try:
            return decode_sca(data, direction, trace=trace)
        except PDUError as exc:
            return ("PDUError", exc.offset, exc.reason)

    return run(None), run([])


mutations = st.lists(
    st.tuples(st.integers(0, 200), octet | st.sampled_from([0x24, 0x25])), max_size=3
)


@given(tpdus, st.none() | addresses, mutations, st.integers(0, 3), st.binary(max_size=3))
def test_fast_decoder_matches_the_traced_one(
    tpdu: Tpdu,
    sca: Address | None,
    changes: list[tuple[int, int]],
    cut: int,
    extra: bytes,
) -> None:
    """Valid PDUs, and the same with octets changed, cut short or added."""
    data = bytearray(encode_sca(tpdu, sca))
    fast = both_decoders(bytes(data), tpdu.direction)[0]
    assert isinstance(fast, tuple) and fast[1] == tpdu
    for at, value in changes:
        if data:
            data[at % len(data)] = value
    mutated = bytes(data[: len(data) - cut] + extra)
    for direction in Direction:
        fast, traced = both_decoders(mutated, direction)
        assert fast == traced


@given(
    st.integers(0, 14),
    st.integers(0, 14),
    st.binary(max_size=150).map(lambda b: bytes(x & 0x7F for x in b)),
    st.booleans(),
)
def test_fast_decoder_reads_national_tables_as_the_traced_one(
    locking_lang: int, single_lang: int, septets: bytes, submit: bool
) -> None:
    locking, single = tables(locking_lang, single_lang)
    text = gsm7.decode(septets, locking, single)
    udh = (
        InformationElement(IEI_NATIONAL_LOCKING_SHIFT, bytes((locking_lang,))),
        InformationElement(IEI_NATIONAL_SINGLE_SHIFT, bytes((single_lang,))),
    )
    ud = UserData(text, udh)
    tpdu: Tpdu = (
        SmsSubmit(tp_da=Address("123"), tp_ud=ud)
        if submit
        else SmsDeliver(tp_oa=Address("123"), tp_scts=datetime(2026, 1, 2, tzinfo=UTC), tp_ud=ud)
    )
    try:
        data = encode_sca(tpdu, None)
    except PDUError:
        assume(False)
    fast, traced = both_decoders(data, tpdu.direction)
    assert fast == traced
    assert isinstance(fast, tuple)
    assert fast[1].tp_ud == ud


@given(st.text(alphabet=st.sampled_from("0123456789abcdefABCDEFxg \t\n\u00a0\u2003"), max_size=40))
@example("0A 1b\t2C\n")
@example("0 A")
def test_from_hex_matches_the_character_by_character_reader(text: str) -> None:
    def run(fn: Callable[[str], bytes]) -> object:
        try:
            return fn(text)
        except PDUError as exc:
            return ("PDUError", exc.offset, exc.reason)

    assert run(from_hex) == run(ref.from_hex)


@given(st.text(alphabet=st.sampled_from("0123456789*#abcABCdefDEF+x "), max_size=24))
@example("12345")
def test_bcd_encode_matches_the_nibble_at_a_time_encoder(number: str) -> None:
    assert outcome(lambda: _bcd_encode(number)) == outcome(lambda: ref.bcd_encode(number))
