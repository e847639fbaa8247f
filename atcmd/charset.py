"""The TE character sets of AT+CSCS (TS 27.007 §5.5) and the hex form of
TS 27.005 text mode.

The line arrives as bytes; the interpreter holds it as ``latin-1`` text, one
character per byte, so a set is a mapping between that and real text:
"IRA" (T.50, i.e. ASCII), "8859-1", "GSM" (one byte per GSM 7-bit default
alphabet code point, TS 23.038 §6.2.1) and "UCS2" (four hex digits per UTF-16
code unit).  Characters a set cannot show come out as "?".
"""

from __future__ import annotations

from pdu import gsm7

from .results import CME_INVALID_CHARACTERS, CmeError

CHARSETS = ("GSM", "IRA", "UCS2", "8859-1")

_GSM_INDEX = {ch: i for i, ch in enumerate(gsm7.DEFAULT_ALPHABET) if i != gsm7.ESCAPE}
_GSM_EXTENSION = {ch: code for code, ch in gsm7.EXTENSION_TABLE.items()}


def from_hex(text: str) -> bytes:
    """Octets from their hex form (TS 27.005 §3.1: two IRA characters each)."""
    try:
        if len(text) % 2 or not text.isascii():
            raise ValueError
        return bytes.fromhex(text)
    except ValueError:
        raise CmeError(CME_INVALID_CHARACTERS) from None


def decode(text: str, charset: str) -> str:
    """What the TE typed in ``charset`` as text; CmeError 25 when it is not."""
    if charset == "UCS2":
        octets = from_hex(text)
        if len(octets) % 2:
            raise CmeError(CME_INVALID_CHARACTERS)
        return octets.decode("utf-16-be", "surrogatepass")
    if charset == "GSM":
        if any(ord(ch) >= 0x80 or ord(ch) == gsm7.ESCAPE for ch in text):
            raise CmeError(CME_INVALID_CHARACTERS)
        return "".join(gsm7.DEFAULT_ALPHABET[ord(ch)] for ch in text)
    if charset == "IRA" and not text.isascii():
        raise CmeError(CME_INVALID_CHARACTERS)
    return text  # IRA and 8859-1 are the bytes themselves


def encode(text: str, charset: str) -> str:
    """``text`` in ``charset``, as latin-1 characters ready to go out."""
    if charset == "UCS2":
        return text.encode("utf-16-be", "surrogatepass").hex().upper()
    if charset == "GSM":
        out = []
        for ch in text:
            if ch in _GSM_INDEX:
                out.append(chr(_GSM_INDEX[ch]))
            elif ch in _GSM_EXTENSION:
                out.append(chr(gsm7.ESCAPE) + chr(_GSM_EXTENSION[ch]))
            else:
                out.append("?")
        return "".join(out)
    limit = 0x80 if charset == "IRA" else 0x100
    return "".join(ch if ord(ch) < limit else "?" for ch in text)


def decode_number(text: str, charset: str) -> str:
    """An address parameter (<da>, <sca>): in UCS2 the TE may send it in hex
    (TS 27.007 §5.5) or as plain digits, as clients do; both are taken."""
    if charset == "UCS2" and text and len(text) % 4 == 0 and all(c in _HEX for c in text):
        number = decode(text, charset)
        if number and all(c in _DIALLED for c in number):
            return number
    return text


_HEX = frozenset("0123456789ABCDEFabcdef")
_DIALLED = frozenset("+0123456789*#")
