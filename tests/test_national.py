"""Decoding with the national language shift tables (TS 23.038 §6.2.1.2, Annex A).

Each vector names the table cells it checks; the cells were read off the
printed tables of Annex A.  The PDUs carry the IEs of TS 23.040 §9.2.3.24:
0x25 national language locking shift and 0x24 single shift, one octet each.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pdu import (
    Address,
    DataCodingScheme,
    Direction,
    InformationElement,
    SmsDeliver,
    SmsSubmit,
    UserData,
    decode,
    encode,
    from_hex,
    gsm7,
    national,
)
from pdu.dcs import Alphabet
from pdu.explain import explain, render
from pdu.udh import concat_ie, encode_udh
from pdu.userdata import header_septets

TURKISH, SPANISH, PORTUGUESE, HINDI, BENGALI = 1, 2, 3, 6, 4
OA = Address.parse("+4477009001")
WHEN = datetime(2026, 11, 22, 10, 30, 5, tzinfo=UTC)


def locking(language: int) -> InformationElement:
    return InformationElement(0x25, bytes((language,)))


def single(language: int) -> InformationElement:
    return InformationElement(0x24, bytes((language,)))


def deliver(septets: bytes, *ies: InformationElement) -> bytes:
    """An SMS-DELIVER whose user data is a UDH of ``ies`` and then ``septets``,
    packed by hand as TS 23.040 §9.2.3.24 lays them out (fill bits up to the
    next septet), so that any code, an escape included, can be sent."""
    udh = tuple(ies)
    header = encode_udh(udh)
    skip = header_septets(len(header))
    ud = bytes((skip + len(septets),)) + header + gsm7.pack(septets, skip)[len(header) :]
    # The fields before TP-UDL, from a message whose user data is an empty
    # header: TP-UDHI set, TP-UDL 2 (the UDHL octet and its fill take 2
    # septets), then 2 octets.
    placeholder = encode(SmsDeliver(tp_oa=OA, tp_scts=WHEN, tp_ud=UserData("", ())))
    assert placeholder[-3:] == b"\x02\x00\x00"
    return placeholder[:-3] + ud


def body(pdu: bytes) -> str | bytes:
    tpdu = decode(pdu, Direction.MT)
    assert isinstance(tpdu, SmsDeliver)
    return tpdu.tp_ud.body


def esc(*codes: int) -> bytes:
    """Each code preceded by ESC (0x1B)."""
    return b"".join(bytes((gsm7.ESCAPE, c)) for c in codes)


# --- Locking shift ---------------------------------------------------------


def test_turkish_locking_shift_hand_packed_pdu() -> None:
    # "Işık": I 0x49, ş 0x1D, ı 0x07, k 0x6B in A.3.1.  UDH 03 25 01 01 takes
    # 4 octets = 32 bits, so 3 fill bits and the text starts at septet 5;
    # TP-UDL = 5 + 4 = 9.  Packed by hand: 0x49 << 3 = 48, (0x49 >> 5) | (0x1D << 2)
    # = 76, (0x1D >> 6) | (0x07 << 1) = 0E, 0x6B = 6B.
    pdu = from_hex(
        "44"  # SMS-DELIVER, TP-UDHI, no more messages
        "0A914477000910"  # TP-OA +4477009001
        "0000"  # TP-PID, TP-DCS GSM 7-bit
        "62112201035000"  # TP-SCTS 2026-11-22 10:30:05 +00
        "09"  # TP-UDL
        "03250101"  # UDHL 3, IEI 0x25, IEDL 1, Turkish
        "48760E6B"
    )
    assert pdu == deliver(bytes((0x49, 0x1D, 0x07, 0x6B)), locking(TURKISH))
    assert body(pdu) == "Işık"
    # The same septets read with the default alphabet (what a receiver without
    # the Turkish table shows, TS 23.038 C.3): 0x1D æ, 0x07 ì.
    assert body(deliver(bytes((0x49, 0x1D, 0x07, 0x6B)))) == "Iæìk"


def test_turkish_locking_shift_replaces_exactly_the_codes_of_a31() -> None:
    # A.3.1 differs from the default alphabet (6.2.1) in these eight cells only.
    table = national.locking_shift(TURKISH)
    assert table is not None
    diff = {i: ch for i, ch in enumerate(table) if ch != gsm7.DEFAULT_ALPHABET[i]}
    assert diff == {
        0x04: "€",
        0x07: "ı",
        0x0B: "Ğ",
        0x0C: "ğ",
        0x1C: "Ş",
        0x1D: "ş",
        0x40: "İ",
        0x60: "ç",
    }
    septets = bytes(diff)
    assert body(deliver(septets, locking(TURKISH))) == "€ıĞğŞşİç"
    assert body(deliver(septets)) == "èìØøÆæ¡¿"


def test_portuguese_locking_shift_through_the_ordinary_encoder() -> None:
    # ç and ã are 0x09 and 0x7B in A.3.3, where 6.2.1 has Ç and ä: the encoder
    # writes under the table the header names.
    ud = UserData("Informação", (locking(PORTUGUESE),))
    pdu = encode(SmsDeliver(tp_oa=OA, tp_scts=WHEN, tp_ud=ud))
    assert pdu == deliver(gsm7.encode("InformaÇäo"), locking(PORTUGUESE))
    assert body(pdu) == "Informação"


def test_portuguese_locking_shift_cells() -> None:
    # A.3.3: 0x04 ê, 0x06 ú, 0x0B Ô, 0x0E Á, 0x12 ª, 0x15 ∞, 0x16 ^, 0x17 \,
    # 0x18 €, 0x1A |, 0x24 º, 0x40 Í, 0x5B Ã, 0x5D Ú, 0x60 ~, 0x7C õ, 0x7D `.
    codes = [0x04, 0x06, 0x0B, 0x0E, 0x12, 0x15, 0x16, 0x17, 0x18, 0x1A]
    codes += [0x24, 0x40, 0x5B, 0x5D, 0x60, 0x7C, 0x7D]
    assert body(deliver(bytes(codes), locking(PORTUGUESE))) == "êúÔÁª∞^\\€|ºÍÃÚ~õ`"


def test_hindi_locking_shift() -> None:
    # A.3.6: 0x2F न, 0x42 म, 0x4C स, 0x5F ् (virama), 0x27 त, 0x59 े.
    pdu = deliver(bytes((0x2F, 0x42, 0x4C, 0x5F, 0x27, 0x59)), locking(HINDI))
    assert body(pdu) == "नमस्ते"


def test_an_empty_cell_of_a_locking_table_shows_a_space() -> None:
    # A.3.4 Bengali has no character at 0x0C; 0x0B is ঌ (U+098C).
    assert body(deliver(bytes((0x0B, 0x0C, 0x0B)), locking(BENGALI))) == "ঌ ঌ"


# --- Single shift ----------------------------------------------------------


def test_spanish_single_shift() -> None:
    # A.2.2: ESC 0x69 í, ESC 0x6F ó, ESC 0x09 ç, ESC 0x41 Á, ESC 0x55 Ú, ESC 0x75 ú.
    septets = gsm7.encode("Buenos d") + esc(0x69) + gsm7.encode("as, coraz") + esc(0x6F) + b"n"
    pdu = deliver(septets, single(SPANISH))
    assert body(pdu) == "Buenos días, corazón"
    assert body(deliver(esc(0x09, 0x41, 0x55, 0x75), single(SPANISH))) == "çÁÚú"
    # Without the IE those escapes have no extension character and show the
    # default one (TS 23.038 §6.2.1.1): 0x69 i, 0x09 Ç.
    assert body(deliver(septets)) == "Buenos dias, corazon"
    assert body(deliver(esc(0x09))) == "Ç"


def test_spanish_single_shift_keeps_the_default_extension_characters() -> None:
    # A.2.2 keeps every cell of 6.2.1.1: ESC 0x65 €, ESC 0x28 {, ESC 0x40 |.
    assert body(deliver(esc(0x65, 0x28, 0x40), single(SPANISH))) == "€{|"


def test_turkish_single_shift_example_of_annex_c2() -> None:
    # TS 23.038 C.2: "Türkçe" is ESC 0x63 for ç (A.2.1); a receiver without
    # the table shows "Türkce".
    septets = gsm7.encode("Türk") + esc(0x63) + b"e"
    assert body(deliver(septets, single(TURKISH))) == "Türkçe"
    assert body(deliver(septets)) == "Türkce"


def test_turkish_single_shift_cells() -> None:
    # A.2.1: 0x47 Ğ, 0x49 İ, 0x53 Ş, 0x63 ç, 0x67 ğ, 0x69 ı, 0x73 ş.
    pdu = deliver(esc(0x47, 0x49, 0x53, 0x63, 0x67, 0x69, 0x73), single(TURKISH))
    assert body(pdu) == "ĞİŞçğış"


def test_portuguese_locking_and_single_shift_together() -> None:
    # A.2.3 brings back the Greek capitals A.3.3 gave away: ESC 0x12 Φ,
    # ESC 0x15 Ω; and ESC 0x41 À, ESC 0x7F â.  ESC 0x24 has no character in
    # A.2.3, so it shows the locking shift table's º, not the default ¤
    # (TS 23.038 §6.2.1.1).
    pdu = deliver(esc(0x12, 0x15, 0x41, 0x7F, 0x24), locking(PORTUGUESE), single(PORTUGUESE))
    assert body(pdu) == "ΦΩÀâº"


def test_locking_shift_with_the_default_extension_table() -> None:
    # ESC 0x65 is € in 6.2.1.1; ESC 0x07 has no extension character and shows
    # A.3.1's ı rather than the default ì.
    assert body(deliver(esc(0x65, 0x07), locking(TURKISH))) == "€ı"


def test_hindi_single_shift_digits() -> None:
    # A.2.6: 0x1C ० ... 0x1F ३, 0x20 ४ ... 0x25 ९, 0x19 । (danda).
    septets = esc(0x1E, 0x1C, 0x1E, 0x22, 0x19)
    assert body(deliver(septets, locking(HINDI), single(HINDI))) == "२०२६।"


def test_escape_escape_and_a_trailing_escape() -> None:
    # ESC ESC is reserved for a further table: a space; an ESC with nothing
    # after it shows nothing, with or without the national tables.
    septets = esc(0x1B) + b"\x41\x1b"
    assert body(deliver(septets, locking(TURKISH), single(TURKISH))) == " A"
    assert body(deliver(septets)) == " A"


# --- Which IE counts -------------------------------------------------------


@pytest.mark.parametrize("language", [0, 2, 14, 99, 255])
def test_a_language_without_a_locking_table_keeps_the_default_alphabet(language: int) -> None:
    # 2 is Spanish, which has no locking shift table (A.3.2 is void); 0 and
    # 14-255 are reserved (table 6.2.1.2.4.1).
    septets = bytes((0x49, 0x1D, 0x07, 0x6B))
    assert body(deliver(septets, locking(language))) == "Iæìk"


@pytest.mark.parametrize("language", [0, 14, 99, 255])
def test_an_unknown_single_shift_language_keeps_the_extension_table(language: int) -> None:
    assert body(deliver(esc(0x65, 0x63), single(language))) == "€c"


def test_the_last_ie_counts() -> None:
    septets = bytes((0x09, 0x7B))  # default Çä, A.3.1 Çä, A.3.3 çã
    assert body(deliver(septets, locking(TURKISH), locking(PORTUGUESE))) == "çã"
    assert body(deliver(septets, locking(PORTUGUESE), locking(99))) == "Çä"
    assert body(deliver(esc(0x63), single(SPANISH), single(TURKISH))) == "ç"
    assert body(deliver(esc(0x63), single(TURKISH), single(SPANISH))) == "c"


def test_an_ie_of_the_wrong_length_is_not_a_language() -> None:
    septets = bytes((0x07,))
    bad = InformationElement(0x25, b"\x01\x01")
    assert body(deliver(septets, bad)) == "ì"
    assert body(deliver(septets, locking(TURKISH), bad)) == "ı"


def test_the_ies_sit_with_others_in_the_header() -> None:
    pdu = deliver(bytes((0x07,)), concat_ie(7, 2, 1), locking(TURKISH))
    assert body(pdu) == "ı"


@pytest.mark.parametrize("alphabet", [Alphabet.UCS2, Alphabet.DATA_8BIT])
def test_other_alphabets_ignore_the_ies(alphabet: Alphabet) -> None:
    text: str | bytes = "ìØ" if alphabet is Alphabet.UCS2 else b"\x07\x0b"
    ud = UserData(text, (locking(TURKISH), single(TURKISH)))
    dcs = DataCodingScheme.general(alphabet)
    assert body(encode(SmsDeliver(tp_oa=OA, tp_scts=WHEN, tp_dcs=dcs, tp_ud=ud))) == text


# --- Nothing changes without them ------------------------------------------


def test_without_the_ies_every_code_decodes_as_before() -> None:
    plain = bytes(c for c in range(128) if c != gsm7.ESCAPE)
    assert gsm7.decode(plain) == gsm7.DEFAULT_ALPHABET.replace("\x1b", "")
    escaped = esc(*range(128))
    expected = "".join(
        gsm7.EXTENSION_TABLE.get(c, " " if c == gsm7.ESCAPE else gsm7.DEFAULT_ALPHABET[c])
        for c in range(128)
    )
    assert gsm7.decode(escaped) == expected
    assert gsm7.decode(escaped, locking=None, single=None) == expected
    # The default tables passed explicitly read the same.
    assert gsm7.decode(escaped, locking=gsm7.DEFAULT_ALPHABET) == expected
    assert gsm7.decode(escaped, single=gsm7.EXTENSION_TABLE) == expected


def test_a_message_with_other_ies_round_trips() -> None:
    text = "Grüße è ì Ø ¿ [€] {x}"
    ud = UserData(text, (concat_ie(7, 2, 1),))
    assert body(encode(SmsDeliver(tp_oa=OA, tp_scts=WHEN, tp_ud=ud))) == text
    assert body(encode(SmsDeliver(tp_oa=OA, tp_scts=WHEN, tp_ud=UserData(text)))) == text


# --- The tables ------------------------------------------------------------


def test_every_language_of_table_62124_has_its_tables() -> None:
    for language in range(1, 14):
        assert national.language_name(language)
        assert national.single_shift(language) is not None
        table = national.locking_shift(language)
        if language == SPANISH:
            assert table is None
            continue
        assert table is not None and len(table) == 128 and table[gsm7.ESCAPE] == "\x1b"
        # A locking table names each character once, or the sender could not
        # have chosen a code for it; the typo corrections keep it so.
        chars = [ch for ch in table if ch != " "]
        assert len(chars) == len(set(chars)), national.language_name(language)
    for language in (0, 14, 255):
        assert national.language_name(language) is None
        assert national.locking_shift(language) is None
        assert national.single_shift(language) is None


def test_latin_single_shift_tables_are_the_extension_table_and_more() -> None:
    # A.2.1-A.2.3 keep every cell of 6.2.1.1 and add these.
    added = {
        TURKISH: "Ğ İ Ş ç ğ ı ş",
        SPANISH: "ç Á Í Ó Ú á í ó ú",
        PORTUGUESE: "ê ç Ô ô Á á Φ Γ Ω Π Ψ Σ Θ Ê À Í Ó Ú Ã Õ Â í ó ú ã õ â",
    }
    for language, chars in added.items():
        table = national.single_shift(language)
        assert table is not None
        assert gsm7.EXTENSION_TABLE.items() <= table.items()
        extra = [ch for code, ch in sorted(table.items()) if code not in gsm7.EXTENSION_TABLE]
        assert extra == chars.split()


def test_cells_corrected_from_the_printed_specification() -> None:
    def lock(language: int, code: int) -> str:
        table = national.locking_shift(language)
        assert table is not None
        return table[code]

    def shift(language: int, code: int) -> str | None:
        table = national.single_shift(language)
        assert table is not None
        return table.get(code)

    assert lock(7, 0x24) == "\u0ca1"  # Kannada: printed 0CAA, also at 0x3D
    assert lock(7, 0x3D) == "\u0caa"
    assert lock(9, 0x47) == "\u0b33"  # Oriya: a stray U+0B3C printed before it
    assert shift(10, 0x23) == "\u0a6d"  # Punjabi: printed "OA6D"
    assert shift(11, 0x24) == "\u0bee"  # Tamil: printed 0BEF, also at 0x25
    assert shift(11, 0x25) == "\u0bef"
    assert (shift(12, 0x22), shift(12, 0x23)) == ("\u0c6c", "\u0c6d")  # Telugu: printed 06CC/06CD
    assert shift(12, 0x65) == "€"  # Telugu: empty in V18/V20


def test_explain_names_the_language() -> None:
    pdu = deliver(bytes((0x07,)), locking(TURKISH), single(SPANISH), locking(2))
    table = render(explain(pdu, Direction.MT))
    assert "Turkish (language 1" in table
    assert "Spanish (language 2" in table
    assert "language 2, Spanish has no such table" in table


@given(st.data())
def test_encode_under_shift_tables_round_trips(data: st.DataObject) -> None:
    """What the decoder reads under a shift table, the encoder writes under it."""
    language = data.draw(st.sampled_from(sorted(national.LANGUAGES)))
    locking = national.locking_shift(language)
    single = national.single_shift(language)
    base = locking or gsm7.DEFAULT_ALPHABET
    chars = [c for i, c in enumerate(base) if i != gsm7.ESCAPE and (c != " " or i == 0x20)]
    chars += list((single or gsm7.EXTENSION_TABLE).values())
    text = data.draw(st.text(alphabet=chars, max_size=60))
    udh = (
        InformationElement(0x25, bytes((language,))),
        InformationElement(0x24, bytes((language,))),
    )
    tpdu = SmsSubmit(tp_da=Address.parse("+1"), tp_ud=UserData(text, udh))
    assert decode(encode(tpdu), Direction.MO) == tpdu
