"""The SMPP door's pure parts: submit_sm fields to SMS-DELIVERs and MO
SMS-SUBMITs to deliver_sm fields (checked through the PDU codec and
smspdudecoder), receipt texts and ids, fault rules and the rate limit."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pdu import (
    Address,
    Alphabet,
    DataCodingScheme,
    Direction,
    PDUError,
    SmsDeliver,
    SmsSubmit,
    decode,
    gsm7,
)
from pdu import encode as encode_tpdu
from pdu.concat import reassemble, split
from pdu.udh import find_concat, find_ports, ports_ie
from smsc.smpp import receipt
from smsc.smpp.convert import (
    UDHI,
    ConversionError,
    DefaultAlphabet,
    Sar,
    delivers,
    encode_text,
    mo_fields,
    plain_text,
    text_of,
)
from smsc.smpp.faults import FaultInjector, FaultRule, RateLimit

SCTS = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SOURCE = Address.parse("+4915112345678")


def delivered(octets: list[bytes]) -> list[SmsDeliver]:
    out = []
    for raw in octets:
        tpdu = decode(raw, Direction.MT)
        assert isinstance(tpdu, SmsDeliver)
        out.append(tpdu)
    return out


def sm(**fields: object) -> list[SmsDeliver]:
    args: dict[str, object] = {"source": SOURCE, "data_coding": 0, "esm_class": 0,
                               "protocol_id": 0, "tp_scts": SCTS}  # fmt: skip
    args.update(fields)
    return delivered(delivers(**args))  # type: ignore[arg-type]


def test_gsm_default_alphabet_unpacked_becomes_gsm_7_bit() -> None:
    (d,) = sm(payload=bytes([0x48, 0x69, 0x20, 0x00, 0x1B, 0x65]))  # "Hi @€"
    assert d.tp_ud.body == "Hi @€" and d.tp_dcs.alphabet is Alphabet.GSM7
    assert d.tp_oa == SOURCE and d.tp_scts == SCTS


def test_ucs2_stays_ucs2_and_latin1_picks_the_smallest_alphabet() -> None:
    (d,) = sm(data_coding=8, payload="Grüße 👋".encode("utf-16-be"))
    assert d.tp_ud.body == "Grüße 👋" and d.tp_dcs.alphabet is Alphabet.UCS2
    (d,) = sm(data_coding=3, payload="café".encode("latin-1"))
    assert d.tp_ud.body == "café" and d.tp_dcs.alphabet is Alphabet.GSM7


def test_a_long_payload_is_split_into_the_fewest_parts() -> None:
    text = "x" * 400
    parts = sm(payload=text.encode("ascii"), data_coding=1, ref=7)
    assert len(parts) == len(split(text).parts) == 3
    whole = reassemble(p.tp_ud for p in parts)
    assert whole.complete and whole.body == text


def test_udhi_keeps_the_esmes_header_and_sar_adds_a_16_bit_concatenation() -> None:
    header = bytes((6, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0))  # ports 2948 / 9200
    (d,) = sm(esm_class=UDHI, data_coding=4, payload=header + b"\x01\x02")
    assert d.tp_ud.body == b"\x01\x02" and find_ports(d.tp_ud.udh) is not None
    (d,) = sm(data_coding=1, payload=b"part two", sar=Sar(0x1234, 3, 2))
    concat = find_concat(d.tp_ud.udh)
    assert concat is not None and (concat.ref, concat.total, concat.seq, concat.ref_bits) == (
        0x1234, 3, 2, 16,
    )  # fmt: skip


def test_ports_become_a_port_element_and_the_reply_path_tp_rp() -> None:
    (d,) = sm(data_coding=4, payload=b"\x01\x02", ports=(2948, 9200), esm_class=0x80)
    ports = find_ports(d.tp_ud.udh)
    assert ports is not None and (ports.destination, ports.originator) == (2948, 9200)
    assert d.tp_rp and d.tp_ud.body == b"\x01\x02"


def test_a_flash_message_keeps_its_class() -> None:
    (d,) = sm(data_coding=0x10, payload=b"Flash")  # GSM 7-bit, class 0
    assert d.tp_ud.body == "Flash" and d.tp_dcs.message_class == 0
    (d,) = sm(data_coding=0x18, payload="Вспышка".encode("utf-16-be"))  # UCS2, class 0
    assert d.tp_ud.body == "Вспышка" and d.tp_dcs.alphabet is Alphabet.UCS2
    assert d.tp_dcs.message_class == 0


@pytest.mark.parametrize(
    ("data_coding", "payload", "why"),
    [
        (0, b"\x80", "septets 0-127"),
        (1, "é".encode(), "not valid"),
        (5, b"abc", "not supported"),
        (8, b"\x00", "not valid"),
    ],
)
def test_what_cannot_be_carried_says_why(data_coding: int, payload: bytes, why: str) -> None:
    with pytest.raises(ConversionError, match=why):
        sm(data_coding=data_coding, payload=payload)
    with pytest.raises(ConversionError):
        sm(esm_class=UDHI, payload=b"\x09\x00")  # a header longer than the message


@given(st.binary(max_size=300), st.integers(0, 255), st.sampled_from([0, UDHI]))
def test_any_submit_converts_or_says_why(payload: bytes, data_coding: int, esm: int) -> None:
    with contextlib.suppress(ConversionError):
        sm(payload=payload, data_coding=data_coding, esm_class=esm)


def test_mo_parts_keep_their_udh_and_read_back() -> None:
    plan = split("a long one " * 20, ref=5)
    for ud in plan.parts:
        submit = SmsSubmit(tp_da=Address.parse("12345"), tp_mr=1, tp_ud=ud)
        fields = mo_fields(decode(encode_tpdu(submit), Direction.MO))  # type: ignore[arg-type]
        assert fields.esm_class == UDHI and fields.data_coding == 0
        assert plain_text(0, fields.message, UDHI, DefaultAlphabet.GSM7) == ud.body
    ucs2 = SmsSubmit(
        tp_da=Address.parse("12345"),
        tp_mr=1,
        tp_dcs=DataCodingScheme.general(Alphabet.UCS2),
        tp_ud=split("Привет").parts[0],
    )
    fields = mo_fields(decode(encode_tpdu(ucs2), Direction.MO))  # type: ignore[arg-type]
    assert (fields.data_coding, fields.message) == (8, "Привет".encode("utf-16-be"))
    latin = mo_fields(decode(encode_tpdu(ucs2), Direction.MO), DefaultAlphabet.LATIN1)  # type: ignore[arg-type]
    assert latin.data_coding == 8  # UCS2 stays UCS2 whatever data_coding 0 means
    gsm = SmsSubmit(tp_da=Address.parse("12345"), tp_mr=1, tp_ud=split("Grüß").parts[0])
    as_latin = mo_fields(decode(encode_tpdu(gsm), Direction.MO), DefaultAlphabet.LATIN1)  # type: ignore[arg-type]
    assert as_latin.message == "Grüß".encode("latin-1")
    assert text_of(0, as_latin.message, DefaultAlphabet.LATIN1) == "Grüß"
    assert ports_ie(1, 2)  # the port element exists for the UDHI case above


# -- receipts ------------------------------------------------------------------------------


def test_the_receipt_text_of_appendix_b_and_its_id_in_every_style() -> None:
    fmt = receipt.ReceiptFormat()
    text = fmt.text(
        42,
        submitted=1,
        delivered=1,
        submit_date=datetime(2026, 12, 1, 10, 0),
        done_date=datetime(2026, 12, 1, 10, 1),
        message_state=2,
        error=0,
        text="Hello there, this is longer than twenty",
    )
    assert text == (
        "id:0000000042 sub:001 dlvrd:001 submit date:2612011000 done date:2612011001 "
        "stat:DELIVRD err:000 text:Hello there, this is"
    )
    assert receipt.parse(text)["stat"] == "DELIVRD"
    assert receipt.parse(text)["submit date"] == "2612011000"
    hex_fmt = receipt.ReceiptFormat(id_style="HEX", width=0, fields=("id", "stat", "err"))
    assert hex_fmt.message_id(255) == "FF" and hex_fmt.parse_message_id("ff") == 255
    assert fmt.parse_message_id(fmt.message_id(12345)) == 12345
    assert fmt.parse_message_id("12x") is None and fmt.parse_message_id("") is None
    with pytest.raises(ValueError):
        receipt.ReceiptFormat(id_style="octal")


# -- faults ---------------------------------------------------------------------------------


def test_fault_rules_match_by_esme_destination_content_and_sequence() -> None:
    rule = FaultRule(action="status", esme="tester", destination="+1555*", content="FAIL",
                     every=2, command_status=0x45)  # fmt: skip
    faults = FaultInjector([rule])
    assert faults.decide("other", "submit_sm", "+15550001", "FAIL") is None
    assert faults.decide("tester", "submit_sm", "+4915", "FAIL") is None
    assert faults.decide("tester", "submit_sm", "+15550001", "ok") is None
    assert faults.decide("tester", "submit_sm", "+15550001", "FAIL now") is None  # 1st match
    assert faults.decide("tester", "submit_sm", "+15550001", "FAIL now") is rule  # 2nd


def test_a_seeded_probability_repeats_exactly() -> None:
    def run() -> list[bool]:
        faults = FaultInjector([FaultRule(action="drop", probability=0.3)], seed=42)
        return [faults.decide("e", "submit_sm", "+1", "") is not None for _ in range(50)]

    first = run()
    assert first == run() and 5 < sum(first) < 25


def test_the_rate_limit_is_a_one_second_window() -> None:
    limit = RateLimit(2)
    assert [limit.allow(t) for t in (0.0, 0.1, 0.2, 1.05, 1.15)] == [True, True, False, True, True]
    assert all(RateLimit(0).allow(t) for t in range(100))


@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=200))
def test_one_part_or_many_as_the_general_splitter_lays_them_out(text: str) -> None:
    """The one-SMS shortcut gives what pdu.concat.split gives."""
    plan = split(text)
    data_coding = 8 if plan.alphabet is Alphabet.UCS2 else 0
    payload = text.encode("utf-16-be") if data_coding else None
    if payload is None:
        try:
            payload = gsm7.encode(text)
        except PDUError:
            return
    parts = sm(data_coding=data_coding, payload=payload)
    assert [p.tp_ud for p in parts] == plan.parts


@given(
    st.text(max_size=40),
    st.sampled_from(
        [(0, a) for a in DefaultAlphabet] + [(1, DefaultAlphabet.GSM7), (3, DefaultAlphabet.GSM7)]
    ),
)
def test_a_receipt_text_reads_back_in_its_data_coding(
    text: str, coding: tuple[int, DefaultAlphabet]
) -> None:
    """What a receipt writes in a data_coding, the SMSC's own reading of that
    data_coding gives back: every character, or "?" where the alphabet lacks it."""
    data_coding, default = coding
    back = text_of(data_coding, encode_text(text, data_coding, default), default)
    assert isinstance(back, str) and len(back) == len(text)
    assert all(b == c or b == "?" for b, c in zip(back, text, strict=True))
