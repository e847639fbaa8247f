"""Every SMS-SUBMIT and SMS-DELIVER we encode (with the SMSC field) decodes to
the same numbers, text and concatenation fields with smspdudecoder, a decoder
written independently of ours.

smspdudecoder reads only bits 3-2 of TP-DCS, assumes 20YY for TP-SCTS, and
decodes the whole 7-bit user data as text before cutting by septet count, so an
escape pair (one character, two septets) makes it keep a spare-bit '@' or lose
a character; it does the same when the header's bits, read as septets, hold an
escape (0x1B).  The strategies stay inside what it handles correctly:
general-group DCS, years 2000-2079, numeric addresses, GSM 7-bit text without
the extension table, and the headers a handset sends whose bits hold no escape.
"""

from __future__ import annotations

from io import StringIO
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from smspdudecoder.fields import SMSDeliver, SMSSubmit

from pdu import Address, DataCodingScheme, SmsDeliver, SmsSubmit, UserData, encode_sca, gsm7, to_hex
from pdu.concat import split
from pdu.message_number import Carrier
from pdu.udh import encode_udh, find_concat
from pdu.userdata import header_septets

from .strategies import any_text, digits, timestamps

numbers = st.builds(Address, digits.filter(lambda d: d.isdigit()), st.sampled_from([0, 1, 2]))
default_alphabet_text = st.text(
    alphabet=[c for c in gsm7.DEFAULT_ALPHABET if c != "\x1b"], max_size=400
)
EXTENSION_CHARS = set(gsm7.EXTENSION_TABLE.values())
smscs = st.none() | st.builds(Address, st.text("0123456789", min_size=3, max_size=15))


@st.composite
def messages(draw: st.DrawFn) -> list[Any]:
    """The parts of one message as a handset would send or an SC deliver it."""
    text = draw(
        (default_alphabet_text | any_text | st.text(max_size=300)).filter(
            lambda t: not (gsm7.is_gsm7(t) and set(t) & EXTENSION_CHARS)
        )
    )
    plan = split(
        text,
        ref=draw(st.integers(0, 255)),
        message_number=draw(st.none() | st.integers(0, 255)),
        carrier=draw(st.sampled_from(Carrier)),
    )
    dcs = DataCodingScheme.general(plan.alphabet, draw(st.none() | st.integers(0, 3)))
    if draw(st.booleans()):
        oa = draw(numbers)
        when = draw(timestamps.filter(lambda t: t.year >= 2000))
        return [SmsDeliver(tp_oa=oa, tp_scts=when, tp_dcs=dcs, tp_ud=ud) for ud in plan.parts]
    da = draw(numbers)
    return [SmsSubmit(tp_da=da, tp_mr=i, tp_dcs=dcs, tp_ud=ud) for i, ud in enumerate(plan.parts)]


def _header_reads_as_escape(ud: UserData, dcs: DataCodingScheme) -> bool:
    if ud.udh is None or not dcs.counts_septets:
        return False
    header = encode_udh(ud.udh)
    return gsm7.ESCAPE in gsm7.unpack(header + b"\0", header_septets(len(header)))


def _number(address: dict[str, Any]) -> str:
    return str(address["number"])


@settings(max_examples=400)
@given(messages(), smscs)
def test_smspdudecoder_reads_what_we_write(parts: list[Any], smsc: Address | None) -> None:
    assume(not any(_header_reads_as_escape(t.tp_ud, t.tp_dcs) for t in parts))
    for tpdu in parts:
        hex_ = to_hex(encode_sca(tpdu, smsc))
        if isinstance(tpdu, SmsDeliver):
            theirs = SMSDeliver.decode(StringIO(hex_))
            assert _number(theirs["sender"]) == tpdu.tp_oa.number
            assert theirs["scts"] == tpdu.tp_scts
        else:
            theirs = SMSSubmit.decode(StringIO(hex_))
            assert _number(theirs["recipient"]) == tpdu.tp_da.number
            assert theirs["message-ref"] == tpdu.tp_mr
        if smsc is not None:
            assert theirs["smsc"]["number"] == smsc.number
        assert theirs["user_data"]["data"] == tpdu.tp_ud.body
        ours = find_concat(tpdu.tp_ud.udh)
        header = theirs["user_data"]["header"]
        concat = [e["data"] for e in (header or {}).get("elements", []) if e["iei"] in (0, 8)]
        if ours is None:
            assert concat == []
        else:
            assert concat == [
                {"reference": ours.ref, "parts_count": ours.total, "part_number": ours.seq}
            ]
