"""Addresses: TP-OA / TP-DA / TP-RA of TS 23.040 §9.1.2.5 (length in useful
semi-octets) and the SMSC / RP address of TS 24.011 §8.2.5 (length in octets).

Both share the type-of-address octet and the swapped BCD digits; they differ only
in what the length octet counts, which is where decoders most often slip.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import gsm7
from .errors import PDUError
from .reader import Reader

# Type of number (TS 23.040 §9.1.2.5, bits 6-4 of the type-of-address octet).
TON_UNKNOWN = 0
TON_INTERNATIONAL = 1
TON_NATIONAL = 2
TON_NETWORK_SPECIFIC = 3
TON_SUBSCRIBER = 4
TON_ALPHANUMERIC = 5
TON_ABBREVIATED = 6

# Numbering plan identification (bits 3-0).
NPI_UNKNOWN = 0
NPI_ISDN = 1
NPI_DATA = 3
NPI_TELEX = 4
NPI_NATIONAL = 8
NPI_PRIVATE = 9
NPI_ERMES = 10

TON_NAMES = {
    0: "unknown",
    1: "international",
    2: "national",
    3: "network specific",
    4: "subscriber",
    5: "alphanumeric",
    6: "abbreviated",
    7: "reserved",
}
NPI_NAMES = {
    0: "unknown",
    1: "ISDN/telephone (E.164/E.163)",
    3: "data (X.121)",
    4: "telex",
    5: "SC specific 1",
    6: "SC specific 2",
    8: "national",
    9: "private",
    10: "ERMES",
}

#: BCD digits: 0-9, then A-E stand for '*', '#', 'a', 'b', 'c'; F is the filler.
_BCD_DIGITS = "0123456789*#abc"
_DIGIT_VALUE = {ch: i for i, ch in enumerate(_BCD_DIGITS)}
_DIGIT_VALUE.update({"A": 12, "B": 13, "C": 14})
_FILLER = 0xF
_BCD_CHARS = frozenset(_DIGIT_VALUE)
_AS_HEX = str.maketrans({ch: f"{v:X}" for ch, v in _DIGIT_VALUE.items()})
_SWAP_NIBBLES = bytes((o & 0xF) << 4 | o >> 4 for o in range(256))
_DIALLED = frozenset("0123456789*#")
# Each octet as its (up to two) digits, low nibble first, fillers dropped.
_BCD_OCTET = [
    "".join(_BCD_DIGITS[n] for n in (o & 0xF, o >> 4) if n != _FILLER) for o in range(256)
]
#: Address-Value is at most 10 octets (TS 23.040 §9.1.2.5): 20 digits, 11 septets.
MAX_DIGITS = 20


@dataclass(frozen=True, slots=True)
class Address:
    """A number with its type of number and numbering plan.

    ``number`` holds the digits (``0-9*#abc``) without a '+', or the text of an
    alphanumeric address.  ``str()`` shows a leading '+' for international.
    """

    number: str
    ton: int = TON_INTERNATIONAL
    npi: int = NPI_ISDN

    @classmethod
    def parse(cls, text: str) -> Address:
        """'+4915...' is international E.164, '0151...' or '*100#' unknown E.164,
        anything with a letter alphanumeric ('ABC' is a name, not BCD digits:
        build ``Address('abc', ...)`` for those)."""
        if text.startswith("+") and text[1:] and _DIALLED.issuperset(text[1:]):
            return cls(text[1:], TON_INTERNATIONAL, NPI_ISDN)
        if text and _DIALLED.issuperset(text):
            return cls(text, TON_UNKNOWN, NPI_ISDN)
        if text:
            return cls(text, TON_ALPHANUMERIC, NPI_UNKNOWN)
        raise PDUError("empty address")

    @property
    def type_of_address(self) -> int:
        return 0x80 | (self.ton & 0x7) << 4 | (self.npi & 0xF)

    def __str__(self) -> str:
        return "+" + self.number if self.ton == TON_INTERNATIONAL else self.number


def describe_type_of_address(toa: int) -> str:
    ton, npi = toa >> 4 & 0x7, toa & 0xF
    return f"type of number {TON_NAMES[ton]}, numbering plan {NPI_NAMES.get(npi, 'reserved')}"


def _bcd_encode(number: str) -> bytes:
    """Digits to swapped BCD: read as hex (``*#abc`` as A-E, an F to fill an
    odd count), then each octet's nibbles swapped."""
    if not _BCD_CHARS.issuperset(number):
        bad = next(ch for ch in number if ch not in _DIGIT_VALUE)
        raise PDUError(f"{bad!r} is not a BCD address digit (0-9 * # a b c)")
    hexdigits = number.translate(_AS_HEX)
    if len(hexdigits) % 2:
        hexdigits += "F"
    return bytes.fromhex(hexdigits).translate(_SWAP_NIBBLES)


def _bcd_decode(value: bytes, digits: int) -> str:
    """Swapped BCD to digits, at most ``digits`` of them.  Filler nibbles are
    skipped wherever they stand: real PDUs carry sloppy ones, and an F is never a
    digit, so skipping it is unambiguous."""
    number = "".join(map(_BCD_OCTET.__getitem__, value))
    return number if len(number) <= digits else number[:digits]


def _value(address: Address) -> tuple[int, bytes]:
    """(semi-octets, Address-Value octets) for ``address``."""
    if address.ton == TON_ALPHANUMERIC:
        septets = gsm7.encode(address.number)
        if len(septets) > 11:
            raise PDUError(
                f"alphanumeric address {address.number!r} takes {len(septets)} septets, "
                "more than the 11 that fit in 10 octets"
            )
        value = gsm7.pack(septets)
        return (len(septets) * 7 + 3) // 4, value
    if not address.number:
        return 0, b""
    if len(address.number) > MAX_DIGITS:
        raise PDUError(f"address {address.number!r} has more than {MAX_DIGITS} digits")
    return len(address.number), _bcd_encode(address.number)


#: Addresses encoded before, as TP addresses and as SC addresses: a sender
#: writes to the same few numbers through the same SMSC.
_TP_ENCODED: dict[Address, bytes] = {}
_SC_ENCODED: dict[Address, bytes] = {}


def _remember(cache: dict[Address, bytes], address: Address, octets: bytes) -> bytes:
    if len(cache) >= _SEEN_MAX:
        cache.clear()
    cache[address] = octets
    return octets


def encode_address(address: Address) -> bytes:
    """TP-OA / TP-DA / TP-RA: length in useful semi-octets, type, value."""
    octets = _TP_ENCODED.get(address)
    if octets is not None:
        return octets
    semi_octets, value = _value(address)
    return _remember(_TP_ENCODED, address, bytes((semi_octets, address.type_of_address)) + value)


def _decode_value(ton: int, value: bytes, digits: int, septets: int) -> str:
    if ton == TON_ALPHANUMERIC:
        return gsm7.decode(gsm7.unpack(value, septets))
    return _bcd_decode(value, digits)


#: Addresses decoded before, by their octets (length octet included), TP
#: addresses and SC addresses apart: a network sees the same few numbers over
#: and over, and an Address is immutable.  Never used while tracing (explain).
_TP_SEEN: dict[bytes, Address] = {}
_SC_SEEN: dict[bytes, Address | None] = {}
_SEEN_MAX = 4096


def read_address(r: Reader, name: str) -> Address:
    """``decode_address``, cached."""
    buf, pos = r.buf, r.pos
    if r.trace is not None or pos >= len(buf):
        return decode_address(r, name)
    end = pos + 2 + (buf[pos] + 1) // 2
    key = buf[pos:end]  # cut short when the PDU is: then it matches no entry
    address = _TP_SEEN.get(key)
    if address is None:
        address = decode_address(r, name)
        if len(_TP_SEEN) >= _SEEN_MAX:
            _TP_SEEN.clear()
        _TP_SEEN[key] = address
    else:
        r.pos = end
    return address


def read_sc_address(r: Reader, name: str) -> Address | None:
    """``decode_sc_address``, cached."""
    buf, pos = r.buf, r.pos
    if r.trace is not None or pos >= len(buf):
        return decode_sc_address(r, name)
    end = pos + 1 + buf[pos]
    key = buf[pos:end]
    if key in _SC_SEEN:
        r.pos = end
        return _SC_SEEN[key]
    address = decode_sc_address(r, name)
    if len(_SC_SEEN) >= _SEEN_MAX:
        _SC_SEEN.clear()
    _SC_SEEN[key] = address
    return address


def decode_address(r: Reader, name: str) -> Address:
    """Read a TP address; ``name`` ('TP-OA' ...) labels the octets for explain."""
    length = r.octet(f"{name} Address-Length")
    if r.trace is not None:
        r.note(f"{length} useful semi-octets")
    toa = r.octet(f"{name} Type-of-Address")
    ton, npi = toa >> 4 & 0x7, toa & 0xF
    if r.trace is not None:
        r.note(describe_type_of_address(toa))
    value = r.take((length + 1) // 2, f"{name} Address-Value")
    number = _decode_value(ton, value, length, length * 4 // 7)
    if r.trace is not None:
        r.note(repr(str(Address(number, ton, npi))))
    return Address(number, ton, npi)


def encode_sc_address(address: Address | None) -> bytes:
    """The SMSC address field of AT PDU mode (TS 27.005 <sca>) and the RP-OA /
    RP-DA of TS 24.011: the length counts octets, type-of-address included; an
    absent address is the single octet 00."""
    if address is None:
        return b"\x00"
    octets = _SC_ENCODED.get(address)
    if octets is not None:
        return octets
    _, value = _value(address)
    return _remember(_SC_ENCODED, address, bytes((len(value) + 1, address.type_of_address)) + value)


def decode_sc_address(r: Reader, name: str) -> Address | None:
    length = r.octet(f"{name} length")
    if r.trace is not None:
        r.note(f"{length} octets follow" if length else "no address (use the default)")
    if length == 0:
        return None
    toa = r.octet(f"{name} Type-of-Address")
    ton, npi = toa >> 4 & 0x7, toa & 0xF
    if r.trace is not None:
        r.note(describe_type_of_address(toa))
    value = r.take(length - 1, f"{name} Address-Value")
    number = _decode_value(ton, value, 2 * len(value), len(value) * 8 // 7)
    if r.trace is not None:
        r.note(repr(str(Address(number, ton, npi))))
    return Address(number, ton, npi)
