"""Every octet of an SMPP 3.4 PDU (§3.2 header, §4 bodies, §5.3 TLVs) with its
parameter name and meaning, in the rows ``pdu.explain`` uses, so ``smsemu pdu
explain --layer smpp`` and the console's inspector show SMPP like a TPDU.

``decode`` is the judge: what it refuses is explained up to the octet its
SmppError names.  The rows walk the PDU class's own field table (``_body``) and
the TLV table, so no second list of parameters exists.  A password is shown as
its length only.
"""

from __future__ import annotations

from pdu.explain import Explanation, Row

from .codec import decode
from .constants import HEADER_LENGTH, CommandId, describe_status
from .errors import SmppError
from .fields import _C, _SM, _U8
from .pdus import PDU_CLASSES
from .tlv import _TLV_BY_TAG

_HEADER = ("command_length", "command_id", "command_status", "sequence_number")


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "big")


def _header_rows(data: bytes) -> list[Row]:
    rows = []
    for i, name in enumerate(_HEADER):
        raw = data[4 * i : 4 * i + 4]
        if len(raw) < 4:
            break
        value = _u32(data, 4 * i)
        if name == "command_length":
            meaning = f"{value} octets, the header included"
        elif name == "command_id":
            try:
                meaning = CommandId(value).name
            except ValueError:
                meaning = f"unknown command_id {value:#010x}"
        elif name == "command_status":
            meaning = describe_status(value)
        else:
            meaning = f"{value}: pairs a request with its response"
        rows.append(Row(4 * i, raw, name, meaning))
    return rows


def _body_rows(data: bytes, command_id: int) -> list[Row]:
    rows: list[Row] = []
    cls = PDU_CLASSES.get(command_id)
    if cls is None or len(data) <= HEADER_LENGTH:
        return rows
    pos = HEADER_LENGTH
    for f in cls._body:
        if pos >= len(data):
            return rows
        if f.kind == _C:
            end = data.find(b"\0", pos)
            end = len(data) - 1 if end < 0 else end
            text = data[pos:end].decode("latin-1")
            meaning = (
                f"{len(text)} characters (not shown)"
                if f.name == "password"
                else (repr(text) if text else "empty (NUL only)")
            )
            rows.append(Row(pos, data[pos : end + 1], f.name, meaning))
            pos = end + 1
        elif f.kind == _U8:
            rows.append(Row(pos, data[pos : pos + 1], f.name, f"{data[pos]} ({data[pos]:#04x})"))
            pos += 1
        elif f.kind == _SM:
            n = data[pos]
            rows.append(Row(pos, data[pos : pos + 1], "sm_length", f"{n} octets follow"))
            rows.append(Row(pos + 1, data[pos + 1 : pos + 1 + n], f.name, "the message octets"))
            pos += 1 + n
        else:
            rows.append(Row(pos, data[pos:], f.name, "address list"))
            return rows
    while pos + 4 <= len(data):
        tag, length = int.from_bytes(data[pos : pos + 2], "big"), _u32(data, pos) & 0xFFFF
        spec = _TLV_BY_TAG.get(tag)
        name = spec.name if spec is not None else f"TLV {tag:#06x}"
        rows.append(Row(pos, data[pos : pos + 2], f"{name} tag", f"optional parameter {tag:#06x}"))
        rows.append(Row(pos + 2, data[pos + 2 : pos + 4], f"{name} length", f"{length} octets"))
        value = data[pos + 4 : pos + 4 + length]
        if value:
            shown = int.from_bytes(value, "big") if len(value) <= 4 else f"{len(value)} octets"
            rows.append(Row(pos + 4, value, name, f"{shown}"))
        pos += 4 + length
    if pos < len(data):
        rows.append(Row(pos, data[pos:], "(after the TLVs)", "octets that are not a TLV"))
    return rows


def explain_smpp(data: bytes) -> Explanation:
    """The rows of one SMPP PDU (exactly one: the octets of command_length)."""
    error: SmppError | None = None
    try:
        name = decode(data).name
    except SmppError as exc:
        error = exc
        name = ""
    rows = _header_rows(data)
    if len(data) >= 8:
        if not name:
            try:
                name = CommandId(_u32(data, 4)).name
            except ValueError:
                name = ""
        rows += _body_rows(data, _u32(data, 4))
    if error is not None and error.offset is not None:
        rows = [r for r in rows if r.offset <= error.offset]
    return Explanation(rows, None, error, name)
