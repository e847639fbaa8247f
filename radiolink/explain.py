"""Every octet of an RP message (TS 24.011 §7.3, §8.2) with its field name and
meaning, in the rows of ``pdu.explain``: the TPDU that RP-User Data carries is
explained in place, its offsets counted from the RP message's first octet.

As in ``pdu.explain`` the rows are the decoder's own reading (``decode_rp``
records its spans), so a malformed message is explained up to where it failed.
"""

from __future__ import annotations

from pdu.errors import PDUError
from pdu.explain import Explanation, Row
from pdu.explain import explain as explain_tpdu
from pdu.reader import Span
from pdu.tpdu import Tpdu

from .rp import _NAMES, RpError, RpMti, decode_rp, describe_cause

_FIELD_MEANINGS = {
    "RP-Message Reference": "RP-MR {0}: pairs this message with its RP-ACK / RP-ERROR",
    "RP-User Data length": "{0} octets of TPDU follow",
    "RP-Cause length": "{0} octet(s) of cause follow",
    "RP-OA length": "{0} octets follow",
    "RP-DA length": "{0} octets follow",
    "IEI": "information element identifier {0:#04x}",
}


def _mti_meaning(octet: int) -> str:
    try:
        return _NAMES[RpMti(octet & 0x07)] + (", spare bits set" if octet & 0xF8 else "")
    except ValueError:
        return "RP-MTI 111: reserved"


def explain_rp(data: bytes) -> Explanation:
    """The rows of one RP message; the TPDU inside explained for the RP
    message's direction (the RP-ERROR form for reports in RP-ERROR)."""
    trace: list[Span] = []
    error: Exception | None = None
    name = ""
    tpdu: Tpdu | None = None
    try:
        msg = decode_rp(data, trace=trace)
        name = msg.name
    except PDUError as exc:
        msg, error = None, exc
        if data:
            name = _mti_meaning(data[0]).split(",")[0]
    rows: list[Row] = []
    # ``_read_address`` reads the length octet, then the shared address codec
    # reads it again: keep the later (annotated) reading.
    trace = [s for i, s in enumerate(trace) if i + 1 == len(trace) or trace[i + 1].start != s.start]
    for span in trace:
        raw = data[span.start : span.end]
        meaning = span.meaning
        if span.name == "RP-MTI":
            meaning = _mti_meaning(raw[0])
        elif span.name == "RP-Cause":
            meaning = describe_cause(raw[0] & 0x7F)
        elif span.name in _FIELD_MEANINGS and not meaning:
            meaning = _FIELD_MEANINGS[span.name].format(raw[0])
        if span.name == "RP-User Data" and msg is not None:
            inner = explain_tpdu(raw, msg.direction, rp_error=isinstance(msg, RpError))
            tpdu = inner.tpdu
            rows.append(Row(span.start, b"", "RP-User Data", f"the TPDU: {inner.what or '?'}"))
            rows.extend(
                Row(r.offset + span.start if r.offset >= 0 else r.offset, r.raw, r.field,
                    r.meaning, r.bits)
                for r in inner.rows
            )  # fmt: skip
            if inner.error is not None and error is None:
                error = inner.error
            continue
        rows.append(Row(span.start, raw, span.name, meaning))
    end = trace[-1].end if trace else 0
    if error is None and end < len(data):
        rows.append(Row(end, data[end:], "(after the message)", "trailing octets, ignored"))
    return Explanation(rows, tpdu, error, name)
