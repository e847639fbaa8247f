"""Hex text in and out, with the codec's error for bad hex."""

from __future__ import annotations

import string

from .errors import PDUError

_HEX = frozenset(string.hexdigits)


def from_hex(text: str) -> bytes:
    """Octets from hex; white space is ignored.  Odd length or a non-hex
    character raises PDUError at the octet where it stands."""
    try:
        return bytes.fromhex(text)  # hex pairs, ASCII white space between them
    except ValueError:
        pass  # anything else: look closer, and say where it goes wrong
    compact = "".join(text.split())
    for i, ch in enumerate(compact):
        if ch not in _HEX:
            raise PDUError(f"{ch!r} is not a hex digit", i // 2)
    if len(compact) % 2:
        raise PDUError("odd number of hex digits: the last octet is half there", len(compact) // 2)
    return bytes.fromhex(compact)


def to_hex(data: bytes) -> str:
    return data.hex().upper()
