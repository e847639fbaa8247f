"""Decode and encode throughput of ``pdu`` against smspdudecoder and
python-gsmmodem, in one run.

A fixed, varied set of PDUs (GSM 7-bit, UCS2, 8-bit, concatenated with numbers,
alphanumeric senders, status reports) is decoded from hex over and over.  Each
peer decodes the part of the corpus it reads (smspdudecoder: SMS-SUBMIT and
SMS-DELIVER; python-gsmmodem: those and SMS-STATUS-REPORT), and ``pdu`` decodes
that same part for the ratio.  Encoding is a text to its SMS-SUBMIT PDUs (split
into parts when long), for the texts python-gsmmodem can carry.

Each figure is a rate over ``--rounds`` rounds (min / median / max); within a
round every contender runs for ``--seconds`` in turn, so that the machine's
load falls on all alike, and a ratio is taken within each round.
Run: ``make bench`` or ``python bench/pdu_bench.py``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from io import StringIO

from gsmmodem.pdu import decodeSmsPdu, encodeSmsSubmitPdu
from runstats import load_average, runs, spread
from smspdudecoder.fields import SMSDeliver, SMSSubmit

from pdu import (
    Address,
    DataCodingScheme,
    Direction,
    SmsDeliver,
    SmsStatusReport,
    SmsSubmit,
    Tpdu,
    decode_sca,
    encode_sca,
    from_hex,
)
from pdu.concat import split
from pdu.message_number import Carrier

SMSC = Address.parse("+447785016005")
DESTINATION = "+4915112345678"
WHEN = datetime(2026, 11, 22, 10, 30, 5, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))
TEXTS = [
    "hellohello",
    "Meet at 7 [gate B] - bring €20 & your {ticket}",
    "Привет! Как дела? Встретимся завтра у метро.",
    "Grüße aus Köln 😀🎉 bis bald",
    "The quick brown fox jumps over the lazy dog. " * 8,
    "長いメッセージは複数の部分に分割されます。" * 6,
]


def corpus() -> list[Tpdu]:
    out: list[Tpdu] = []
    for i, text in enumerate(TEXTS):
        for carrier in Carrier:
            plan = split(text, ref=i, message_number=i * 7 % 256, carrier=carrier)
            dcs = DataCodingScheme.general(plan.alphabet)
            for mr, ud in enumerate(plan.parts):
                out.append(
                    SmsSubmit(
                        tp_da=Address.parse(DESTINATION),
                        tp_mr=mr,
                        tp_dcs=dcs,
                        tp_ud=ud,
                        tp_srr=True,
                    )
                )
                sender = Address.parse("Info" if i % 2 else "+15551234567")
                out.append(SmsDeliver(tp_oa=sender, tp_scts=WHEN, tp_dcs=dcs, tp_ud=ud))
    out.append(
        SmsDeliver(
            tp_oa=Address.parse("+1555"),
            tp_scts=WHEN,
            tp_dcs=DataCodingScheme(0x04),
            tp_ud=split(b"\x01\x02" * 40).parts[0],
        )
    )
    for st in (0x00, 0x20, 0x46):
        out.append(
            SmsStatusReport(
                tp_mr=st, tp_ra=Address.parse(DESTINATION), tp_scts=WHEN, tp_dt=WHEN, tp_st=st
            )
        )
    return out


def encode_text(text: str, ref: int) -> list[bytes]:
    """What ``encodeSmsSubmitPdu`` does, with ``pdu``: a text to its SMS-SUBMITs."""
    plan = split(text, ref=ref)
    dcs = DataCodingScheme.general(plan.alphabet)
    da = Address.parse(DESTINATION)
    return [
        encode_sca(SmsSubmit(tp_da=da, tp_mr=ref, tp_dcs=dcs, tp_ud=ud, tp_srr=True), SMSC)
        for ud in plan.parts
    ]


def rate(fn: Callable[[], object], items: int, seconds: float) -> float:
    """Items per second of ``fn`` (which handles ``items`` items) over ``seconds``."""
    loops, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        loops += 1
    return loops * items / elapsed


def columns(values: list[float], unit: str) -> str:
    return f"{spread(values, '{:>10,.0f}', ' ')} {unit}"


def ratios(values: list[float]) -> str:
    return spread(values, "{:>9.1f}x", " ")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=0.5, help="time per contender per round")
    ap.add_argument("--rounds", type=int, default=5, help="rounds (at least 3)")
    args = ap.parse_args()
    rounds = runs(args.rounds)

    tpdus = corpus()
    pdus = [(encode_sca(t, SMSC).hex().upper(), t.direction) for t in tpdus]
    smspdu_set = [
        (h, d)
        for (h, d), t in zip(pdus, tpdus, strict=True)
        if isinstance(t, SmsSubmit | SmsDeliver) and t.tp_dcs.value != 0x04
    ]
    smspdu_hex = [(h, SMSSubmit if d is Direction.MO else SMSDeliver) for h, d in smspdu_set]
    gsmmodem_set = pdus  # it decodes every one of them
    # python-gsmmodem's UCS2 encoder stops at U+FFFF: no emoji for it.
    texts = [t for t in TEXTS if all(ord(c) <= 0xFFFF for c in t)]
    same = sum(
        [bytes(p.data) for p in encodeSmsSubmitPdu(DESTINATION, t, i, smsc=str(SMSC))]
        == encode_text(t, i)
        for i, t in enumerate(texts)
    )
    parts = sum(len(encode_text(t, i)) for i, t in enumerate(texts))

    def ours(pairs: list[tuple[str, Direction]]) -> Callable[[], None]:
        def run() -> None:
            for h, d in pairs:
                decode_sca(from_hex(h), d)

        return run

    def smspdudecoder() -> None:
        for h, cls in smspdu_hex:
            cls.decode(StringIO(h))

    def gsmmodem_decode() -> None:
        for h, _ in gsmmodem_set:
            decodeSmsPdu(h)

    def ours_encode() -> None:
        for i, t in enumerate(texts):
            encode_text(t, i)

    def gsmmodem_encode() -> None:
        for i, t in enumerate(texts):
            encodeSmsSubmitPdu(DESTINATION, t, i, smsc=str(SMSC))

    def ours_encode_corpus() -> None:
        for t in tpdus:
            encode_sca(t, SMSC)

    contenders: dict[str, tuple[Callable[[], object], int]] = {
        "all": (ours(pdus), len(pdus)),
        "smspdu ours": (ours(smspdu_set), len(smspdu_set)),
        "smspdu": (smspdudecoder, len(smspdu_hex)),
        "gsmmodem ours": (ours(gsmmodem_set), len(gsmmodem_set)),
        "gsmmodem": (gsmmodem_decode, len(gsmmodem_set)),
        "encode ours": (ours_encode, parts),
        "encode gsmmodem": (gsmmodem_encode, parts),
        "encode corpus": (ours_encode_corpus, len(tpdus)),
    }
    load_before = load_average()
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, (fn, items) in contenders.items():
            results[name].append(rate(fn, items, args.seconds))
    load_after = load_average()

    def per_round(a: str, b: str) -> list[float]:
        return [x / y for x, y in zip(results[a], results[b], strict=True)]

    print(
        f"corpus: {len(pdus)} PDUs from hex; {len(smspdu_set)} SUBMIT/DELIVER for smspdudecoder, "
        f"{len(gsmmodem_set)} for python-gsmmodem; {len(texts)} texts -> {parts} SMS-SUBMITs "
        f"({same} of {len(texts)} texts byte-identical to python-gsmmodem's)"
    )
    print(f"{rounds} rounds of {args.seconds} s each; before: {load_before}; after: {load_after}")
    print(f"{'':38}{'min':>10} {'median':>10} {'max':>10}")
    rows = [
        ("pdu decode, all PDUs", "all"),
        ("pdu decode, smspdudecoder's subset", "smspdu ours"),
        ("smspdudecoder decode, same subset", "smspdu"),
        ("pdu decode, python-gsmmodem's subset", "gsmmodem ours"),
        ("python-gsmmodem decode, same subset", "gsmmodem"),
        ("pdu encode, texts to SMS-SUBMITs", "encode ours"),
        ("python-gsmmodem encode, same texts", "encode gsmmodem"),
        ("pdu encode, all corpus TPDUs", "encode corpus"),
    ]
    for label, name in rows:
        print(f"{label:38}{columns(results[name], 'PDUs/s')}")
    print(f"{'decode, pdu / smspdudecoder':38}{ratios(per_round('smspdu ours', 'smspdu'))}")
    print(f"{'decode, pdu / python-gsmmodem':38}{ratios(per_round('gsmmodem ours', 'gsmmodem'))}")
    print(
        f"{'encode, pdu / python-gsmmodem':38}{ratios(per_round('encode ours', 'encode gsmmodem'))}"
    )


if __name__ == "__main__":
    main()
