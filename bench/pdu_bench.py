"""Decode and encode throughput of ``pdu`` against smspdudecoder, in one run.

A fixed, varied set of PDUs (GSM 7-bit, UCS2, 8-bit, concatenated with numbers,
alphanumeric senders, status reports) is decoded over and over; smspdudecoder
decodes the SMS-SUBMIT / SMS-DELIVER subset (all it reads), and the ratio is
taken on that same subset.  Run: ``make bench`` or ``python bench/pdu_bench.py``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from io import StringIO

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
)
from pdu.concat import split
from pdu.message_number import Carrier

SMSC = Address.parse("+447785016005")
WHEN = datetime(2026, 11, 22, 10, 30, 5, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))


def corpus() -> list[Tpdu]:
    texts = [
        "hellohello",
        "Meet at 7 [gate B] - bring €20 & your {ticket}",
        "Привет! Как дела? Встретимся завтра у метро.",
        "Grüße aus Köln 😀🎉 bis bald",
        "The quick brown fox jumps over the lazy dog. " * 8,
        "長いメッセージは複数の部分に分割されます。" * 6,
    ]
    out: list[Tpdu] = []
    for i, text in enumerate(texts):
        for carrier in Carrier:
            plan = split(text, ref=i, message_number=i * 7 % 256, carrier=carrier)
            dcs = DataCodingScheme.general(plan.alphabet)
            for mr, ud in enumerate(plan.parts):
                out.append(
                    SmsSubmit(
                        tp_da=Address.parse("+4915112345678"),
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
                tp_mr=st, tp_ra=Address.parse("+4915112345678"), tp_scts=WHEN, tp_dt=WHEN, tp_st=st
            )
        )
    return out


def rate(fn: Callable[[], object], items: int, seconds: float) -> float:
    """Items per second of ``fn`` (which handles ``items`` items), best of 3 rounds."""
    best = 0.0
    for _ in range(3):
        loops, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3:
            fn()
            loops += 1
        best = max(best, loops * items / elapsed)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = ap.parse_args()

    tpdus = corpus()
    pdus = [(encode_sca(t, SMSC), t.direction) for t in tpdus]
    subset = [
        (p, d)
        for (p, d), t in zip(pdus, tpdus, strict=True)
        if isinstance(t, SmsSubmit | SmsDeliver) and t.tp_dcs.value != 0x04
    ]
    subset_hex = [
        (p.hex().upper(), SMSSubmit if d is Direction.MO else SMSDeliver) for p, d in subset
    ]

    def ours_all() -> None:
        for p, d in pdus:
            decode_sca(p, d)

    def ours_subset() -> None:
        for p, d in subset:
            decode_sca(p, d)

    def theirs_subset() -> None:
        for h, cls in subset_hex:
            cls.decode(StringIO(h))

    def ours_encode() -> None:
        for t in tpdus:
            encode_sca(t, SMSC)

    ours = rate(ours_all, len(pdus), args.seconds)
    ours_s = rate(ours_subset, len(subset), args.seconds)
    theirs = rate(theirs_subset, len(subset_hex), args.seconds)
    enc = rate(ours_encode, len(tpdus), args.seconds)
    print(f"corpus: {len(pdus)} PDUs, {len(subset)} SMS-SUBMIT/SMS-DELIVER for smspdudecoder")
    print(f"pdu decode, all PDUs:                {ours:12,.0f} decodes/s")
    print(f"pdu decode, SUBMIT/DELIVER subset:   {ours_s:12,.0f} decodes/s")
    print(f"smspdudecoder, same subset:          {theirs:12,.0f} decodes/s")
    print(f"ratio (pdu / smspdudecoder):         {ours_s / theirs:12.1f}x")
    print(f"pdu encode, all PDUs:                {enc:12,.0f} encodes/s")


if __name__ == "__main__":
    main()
