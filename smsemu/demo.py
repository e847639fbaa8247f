"""``smsemu demo``: the main job of the README's first command.

Until the network exists it walks through the codec: a long message is split
into concatenated SMS-SUBMITs carrying a read-receipt message number, the first
part is explained octet by octet, and the parts are decoded and put back
together in reverse order.
"""

from __future__ import annotations

import argparse
from typing import Any

from pdu import Address, DataCodingScheme, Direction, SmsSubmit, decode_sca, encode_sca, to_hex
from pdu.concat import reassemble, split
from pdu.explain import explain, render
from pdu.message_number import Carrier, read_number
from pdu.udh import find_concat

SENDER_SMSC = Address.parse("+447785016005")
RECIPIENT = Address.parse("+4915112345678")
TEXT = (
    "Hello from smsemu! This message is longer than one SMS, so the handset splits it "
    "into concatenated parts, each with a User Data Header that says which part it is. "
    "Characters from the extension table like [brackets] and the € sign cost two septets. "
    "The read-receipt message number rides in every part's header."
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="a guided walk through smsemu")
    p.set_defaults(run=run)


def _heading(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 70 - len(title)))


def run(args: argparse.Namespace) -> int:
    _heading("1. Split a long text (message number 42, carried in the UDH)")
    plan = split(TEXT, ref=0x5A, message_number=42, carrier=Carrier.UDH)
    print(f"{len(TEXT)} characters -> {len(plan.parts)} parts in {plan.alphabet.value}")
    pdus = []
    for mr, ud in enumerate(plan.parts):
        tpdu = SmsSubmit(
            tp_da=RECIPIENT,
            tp_mr=mr,
            tp_dcs=DataCodingScheme.general(plan.alphabet),
            tp_ud=ud,
            tp_srr=True,
        )
        pdus.append(encode_sca(tpdu, SENDER_SMSC))
        # +CMGS counts the TPDU's octets, not the SMSC address field (TS 27.005 §3.5.1).
        tpdu_octets = len(pdus[-1]) - (pdus[-1][0] + 1)
        print(f"part {mr + 1}: AT+CMGS={tpdu_octets}\n  {to_hex(pdus[-1])}")

    _heading("2. Explain part 1, octet by octet")
    print(render(explain(pdus[0], Direction.MO, sca=True)))

    _heading("3. Decode the parts, arriving in reverse order, and reassemble")
    received = []
    for raw in reversed(pdus):
        _, submit = decode_sca(raw, Direction.MO)
        assert isinstance(submit, SmsSubmit)
        concat = find_concat(submit.tp_ud.udh)
        print(f"got part {concat.seq if concat else '?'} of {concat.total if concat else '?'}")
        received.append(submit.tp_ud)
    whole = reassemble(received)
    assert isinstance(whole.body, str)
    numbered = read_number(whole.body, whole.parts[-1].udh)
    print(f"complete: {whole.complete}, message number: {numbered.number}")
    print(f"text: {numbered.text}")
    print("round trip:", "identical" if numbered.text == TEXT else "DIFFERENT")

    _heading("4. The explicit carrier: the same number as a trailing □042")
    inline = split(TEXT, message_number=42, carrier=Carrier.INLINE)
    print(
        f"the marker is not GSM 7-bit, so the text goes as {inline.alphabet.value}: "
        f"{len(inline.parts)} parts instead of {len(plan.parts)}; the last part ends "
        f"{inline.parts[-1].body[-8:]!r}"
    )
    return 0 if numbered.text == TEXT else 1
