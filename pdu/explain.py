"""Every octet of a PDU with its TS 23.040 field name, raw value and meaning.

The decoder records what it reads (``Reader`` spans), so the explanation is the
decoder's own reading, never a second parser that could disagree with it.  A PDU
that fails to decode is explained up to the octet where it failed.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from .errors import PDUError
from .reader import Span
from .tpdu import FIRST_OCTET_FIELDS, Direction, Tpdu, decode, decode_sca

#: What ``smsemu pdu explain --layer`` and the admin API's /explain read octets
#: as: a TPDU here, an RP message (``radiolink.explain``), an SMPP PDU
#: (``smpp34.explain``); ``smsc.pdu_layers`` chooses among them.
LAYERS = ("auto", "tpdu", "rp", "smpp")

OCTETS_PER_ROW = 8
MEANING_WIDTH = 60
#: The column where ``render``'s meanings start (octet, hex and field before it).
MEANING_AT = 7 + 2 + 24 + 1 + 26 + 1


@dataclass(frozen=True, slots=True)
class Row:
    offset: int  # first octet of the field
    raw: bytes
    field: str
    meaning: str
    bits: str = ""  # for a bit field of the first octet: its bit pattern


@dataclass(frozen=True, slots=True)
class Explanation:
    """The rows of one PDU; ``name`` says what it is when it is not a TPDU
    (``radiolink.explain``, ``smpp34.explain`` use the same rows)."""

    rows: list[Row]
    tpdu: Tpdu | None
    error: Exception | None  # PDUError; an SMPP PDU's SmppError
    name: str = ""

    @property
    def what(self) -> str:
        return self.name or (self.tpdu.name if self.tpdu is not None else "")


def _first_octet_rows(octet: int, tpdu_name: str) -> list[Row]:
    rows = []
    for name, mask, meanings in FIRST_OCTET_FIELDS.get(tpdu_name, []):
        shift = (mask & -mask).bit_length() - 1
        value = (octet & mask) >> shift
        pattern = "".join(
            (str(octet >> (7 - i) & 1) if mask >> (7 - i) & 1 else ".") for i in range(8)
        )
        rows.append(Row(-1, b"", name, meanings.get(value, f"{value}"), pattern))
    return rows


def explain(
    data: bytes, direction: Direction, *, sca: bool = False, rp_error: bool | None = None
) -> Explanation:
    """``rp_error``: a report as RP-ERROR carries it (TS 23.040 §9.2.2.1a)."""
    trace: list[Span] = []
    tpdu: Tpdu | None = None
    error: PDUError | None = None
    try:
        tpdu = (
            decode_sca(data, direction, trace=trace)[1]
            if sca
            else decode(data, direction, trace=trace, rp_error=rp_error)
        )
    except PDUError as exc:
        error = exc
    rows: list[Row] = []
    for span in trace:
        rows.append(Row(span.start, data[span.start : span.end], span.name, span.meaning))
        if span.name == "first octet":
            rows.extend(_first_octet_rows(data[span.start], span.meaning))
    end = trace[-1].end if trace else 0
    if error is None and end < len(data):
        rows.append(Row(end, data[end:], "(after TP-UD)", "trailing octets, ignored"))
    return Explanation(rows, tpdu, error)


def render(expl: Explanation, meaning_width: int = MEANING_WIDTH) -> str:
    """The explanation as a plain-text table, the meanings wrapped at ``meaning_width``."""
    lines = [f"{'octet':>7}  {'hex':<24} {'field':<26} meaning"]
    for row in expl.rows:
        if row.bits:
            lines.append(f"{'':>7}  {'  ' + row.bits:<24} {'  ' + row.field:<26} {row.meaning}")
            continue
        chunks = [row.raw[i : i + OCTETS_PER_ROW] for i in range(0, len(row.raw), OCTETS_PER_ROW)]
        meaning = textwrap.wrap(row.meaning, meaning_width, drop_whitespace=False) or [""]
        for n in range(max(len(chunks), len(meaning))):
            chunk = chunks[n] if n < len(chunks) else b""
            start = row.offset + n * OCTETS_PER_ROW
            end = start + len(chunk) - 1
            where = "" if not chunk else str(start) if end <= start else f"{start}-{end}"
            hexed = " ".join(f"{b:02X}" for b in chunk)
            name = row.field if n == 0 else ""
            text = meaning[n] if n < len(meaning) else ""
            lines.append(f"{where:>7}  {hexed:<24} {name:<26} {text}".rstrip())
    if expl.error is not None:
        lines.append(f"error: {expl.error}")
    return "\n".join(lines)
