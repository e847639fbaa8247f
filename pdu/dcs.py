"""TP-DCS, the Data Coding Scheme of TS 23.038 §4.

The octet is kept as it came, and everything else is read from it: the coding
group decides the alphabet, not bits 3-2 alone (the message-waiting groups
C0-EF and the F0 group have their own rules).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .errors import PDUError


class Alphabet(StrEnum):
    GSM7 = "gsm7"
    DATA_8BIT = "8bit"
    UCS2 = "ucs2"


_GENERAL_ALPHABET = {0: Alphabet.GSM7, 1: Alphabet.DATA_8BIT, 2: Alphabet.UCS2}
_GENERAL_BITS = {v: k for k, v in _GENERAL_ALPHABET.items()}
CLASS_NAMES = {
    0: "class 0 (flash, display at once)",
    1: "class 1 (ME-specific)",
    2: "class 2 (SIM-specific)",
    3: "class 3 (TE-specific)",
}
INDICATION_TYPES = {0: "voicemail", 1: "fax", 2: "e-mail", 3: "other"}


@dataclass(frozen=True, slots=True)
class DataCodingScheme:
    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.value <= 0xFF:
            raise PDUError(f"TP-DCS {self.value} is not one octet")

    @classmethod
    def general(
        cls, alphabet: Alphabet = Alphabet.GSM7, message_class: int | None = None
    ) -> DataCodingScheme:
        """The general data coding group (00xx xxxx), the form senders use."""
        value = _GENERAL_BITS[alphabet] << 2
        if message_class is not None:
            if not 0 <= message_class <= 3:
                raise PDUError(f"message class {message_class} is not 0-3")
            value |= 0x10 | message_class
        return cls(value)

    @property
    def group(self) -> str:
        v = self.value
        if v < 0x40:
            return "general"
        if v < 0x80:
            return "automatic deletion"
        if v < 0xC0:
            return "reserved"
        if v < 0xD0:
            return "message waiting, discard message"
        if v < 0xE0:
            return "message waiting, store message"
        if v < 0xF0:
            return "message waiting, store message, UCS2"
        return "data coding/message class"

    @property
    def alphabet(self) -> Alphabet:
        """Reserved codings are read as GSM 7-bit, as TS 23.038 §4 tells a receiver."""
        return _ALPHABETS[self.value]

    @staticmethod
    def _alphabet_of(v: int) -> Alphabet:
        if v < 0x80:
            return _GENERAL_ALPHABET.get(v >> 2 & 0x3, Alphabet.GSM7)
        if 0xE0 <= v < 0xF0:
            return Alphabet.UCS2
        if v >= 0xF0 and v & 0x04:
            return Alphabet.DATA_8BIT
        return Alphabet.GSM7

    @property
    def compressed(self) -> bool:
        """Compressed text (TS 23.042): its user data is counted in octets."""
        return self.value < 0x80 and bool(self.value & 0x20)

    @property
    def counts_septets(self) -> bool:
        """Whether TP-UDL counts septets (GSM 7-bit, uncompressed) or octets."""
        return _COUNTS_SEPTETS[self.value]

    @property
    def message_class(self) -> int | None:
        v = self.value
        if (v < 0x80 and v & 0x10) or v >= 0xF0:
            return v & 0x03
        return None

    @property
    def waiting_indication(self) -> tuple[bool, str] | None:
        """(active, type) for the message-waiting groups C0-EF."""
        if 0xC0 <= self.value < 0xF0:
            return bool(self.value & 0x08), INDICATION_TYPES[self.value & 0x03]
        return None

    def describe(self) -> str:
        parts = [f"{self.group} group", self.alphabet.value]
        if self.compressed:
            parts.append("compressed")
        if self.message_class is not None:
            parts.append(CLASS_NAMES[self.message_class])
        waiting = self.waiting_indication
        if waiting is not None:
            parts.append(f"{waiting[1]} indication {'active' if waiting[0] else 'inactive'}")
        if 0x80 <= self.value < 0xC0 or (self.value < 0x80 and self.value & 0x0C == 0x0C):
            parts.append("reserved coding, read as GSM 7-bit")
        return ", ".join(parts)


_ALPHABETS = [DataCodingScheme._alphabet_of(v) for v in range(256)]
_COUNTS_SEPTETS = [
    _ALPHABETS[v] is Alphabet.GSM7 and not (v < 0x80 and v & 0x20) for v in range(256)
]

_BY_VALUE = [DataCodingScheme(v) for v in range(256)]


def dcs_of(value: int) -> DataCodingScheme:
    """The (shared, immutable) DataCodingScheme of an octet: decoders need not
    build one per PDU."""
    return _BY_VALUE[value]


GSM7 = DataCodingScheme(0x00)
DATA_8BIT = DataCodingScheme(0x04)
UCS2 = DataCodingScheme(0x08)
