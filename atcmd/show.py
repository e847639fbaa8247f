"""How a stored or arriving message is shown: the response lines of +CMGR and
+CMGL (TS 27.005 §3.4.2-§3.4.3) and the unsolicited +CMT and +CDS
(§3.4.1), in PDU mode and in text mode.

In PDU mode <pdu> starts with the SMSC address field, as clients expect,
and <length> counts the TPDU octets alone (§3.1).
"""

from __future__ import annotations

from pdu import Direction, PDUError, Tpdu, decode_sca

from . import textmode
from .requests import STAT_NAMES, StoredMessage
from .state import Settings


def tpdu_length(pdu: bytes) -> int:
    """<length>: the octets after the SMSC address field."""
    return max(0, len(pdu) - 1 - pdu[0]) if pdu else 0


def _decode(pdu: bytes, direction: Direction) -> tuple[Tpdu, int] | None:
    """The TPDU and its first octet, or None when the stored octets are no
    PDU (text mode then has nothing to show)."""
    try:
        _sca, tpdu = decode_sca(pdu, direction)
    except PDUError:
        return None
    return tpdu, pdu[1 + pdu[0]]


def _direction(stat: int) -> Direction:
    return Direction.MT if stat in (0, 1) else Direction.MO


def _stat(stat: int, settings: Settings) -> str:
    return f'"{STAT_NAMES[stat]}"' if settings.cmgf else str(stat)


def _text_entry(
    head: str, pdu: bytes, stat: int, settings: Settings, listing: bool = False
) -> list[str]:
    decoded = _decode(pdu, _direction(stat))
    if decoded is None:
        return []
    tpdu, fo = decoded
    params = textmode.header(tpdu, fo, settings.cscs, listing)
    if params is None:
        return []
    body = textmode.body(tpdu, settings.cscs)
    return [f"{head}{params}"] + ([body] if body is not None else [])


def listed(msg: StoredMessage, settings: Settings) -> list[str]:
    """One entry of +CMGL: ``+CMGL: <index>,<stat>,...`` and its PDU or text."""
    head = f"+CMGL: {msg.index},{_stat(msg.stat, settings)},"
    if settings.cmgf:
        return _text_entry(head, msg.pdu, msg.stat, settings, listing=True)
    return [f"{head},{tpdu_length(msg.pdu)}", msg.pdu.hex().upper()]


def read(msg: StoredMessage, settings: Settings) -> list[str]:
    """The response of +CMGR: ``+CMGR: <stat>,...`` and its PDU or text."""
    head = f"+CMGR: {_stat(msg.stat, settings)},"
    if settings.cmgf:
        return _text_entry(head, msg.pdu, msg.stat, settings)
    return [f"{head},{tpdu_length(msg.pdu)}", msg.pdu.hex().upper()]


def cmt(pdu: bytes, settings: Settings) -> list[str]:
    """+CMT: a message routed straight to the TE (AT+CNMI <mt> 2 and 3)."""
    if settings.cmgf:
        return _text_entry("+CMT: ", pdu, 0, settings)
    return [f"+CMT: ,{tpdu_length(pdu)}", pdu.hex().upper()]


def cds(pdu: bytes, settings: Settings) -> list[str]:
    """+CDS: a status report routed straight to the TE (AT+CNMI <ds> 1)."""
    if settings.cmgf:
        return _text_entry("+CDS: ", pdu, 0, settings)
    return [f"+CDS: {tpdu_length(pdu)}", pdu.hex().upper()]
