"""The read-receipt message number and its two carriers (docs/read-receipts.md §Carriers).

*implicit*: a UDH element, IEI 0x80 by default (SME-to-SME specific use, which a
receiver that does not know it skips), IEDL 2, the number big-endian.
*explicit*: the text ends with a marker and three digits, ``□001``.  U+25A1 is
not in the GSM 7-bit alphabet, so this carrier forces UCS2 (70 characters in a
single part, 67 per concatenated part, instead of 160 / 153).
*none*: a legacy phone's message carries no number.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .errors import PDUError
from .udh import IEI_MESSAGE_NUMBER, Udh, find_message_number

MARKER = "\u25a1"  # □ WHITE SQUARE
#: Numbers run 0..255 per conversation, then wrap.
MODULUS = 256


class Carrier(StrEnum):
    UDH = "udh"  # implicit
    INLINE = "inline"  # explicit
    #: No number at all: a phone without the read-receipt feature.  Its
    #: receiver has nothing to answer, so no "Read" ever shows for it.
    NONE = "none"


def next_number(current: int) -> int:
    return (current + 1) % MODULUS


def inline_suffix(number: int, marker: str = MARKER) -> str:
    if not 0 <= number < MODULUS:
        raise PDUError(f"message number {number} is not 0-{MODULUS - 1}")
    if not marker:
        raise PDUError("the inline marker cannot be empty")
    return f"{marker}{number:03d}"


def parse_inline(text: str, marker: str = MARKER) -> tuple[str, int | None]:
    """(text without the suffix, number) when ``text`` ends with a valid one,
    else (text, None)."""
    cut = len(text) - len(marker) - 3
    if cut >= 0 and text.startswith(marker, cut):
        digits = text[-3:]
        if digits.isascii() and digits.isdigit() and int(digits) < MODULUS:
            return text[:cut], int(digits)
    return text, None


@dataclass(frozen=True, slots=True)
class Numbered:
    """A received message's display text and the sender's number for it."""

    text: str
    number: int | None
    carrier: Carrier | None


def read_number(
    text: str, udh: Udh | None, iei: int = IEI_MESSAGE_NUMBER, marker: str = MARKER
) -> Numbered:
    """Find the number in either carrier; the UDH wins when both are there.

    The inline suffix is stripped from the display text whichever way.
    """
    clean, inline = parse_inline(text, marker)
    implicit = find_message_number(udh, iei)
    if implicit is not None:
        return Numbered(clean, implicit, Carrier.UDH)
    if inline is not None:
        return Numbered(clean, inline, Carrier.INLINE)
    return Numbered(text, None, None)
