"""The GSM 7-bit default alphabet of TS 23.038 §6.2.1, its extension table, and
septet packing (TS 23.038 §6.1.2.1.1).

Septets are kept as ``bytes`` (one septet value per byte) between the alphabet
and the packer: the alphabet knows characters, the packer knows bits, and the
fill bits after a User Data Header are just a septet offset to the packer.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

from .errors import PDUError

ESCAPE = 0x1B

#: TS 23.038 §6.2.1, code point = index.  0x1B is the escape to the extension
#: table; it is shown here as a space only so the table stays 128 long.
DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)

#: TS 23.038 §6.2.1.1, the characters reached through ESC (0x1B).
EXTENSION_TABLE = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

assert len(DEFAULT_ALPHABET) == 128

_ENCODE: dict[str, bytes] = {ch: bytes((i,)) for i, ch in enumerate(DEFAULT_ALPHABET)}
del _ENCODE["\x1b"]
_ENCODE.update({ch: bytes((ESCAPE, code)) for code, ch in EXTENSION_TABLE.items()})
_DECODE_EXT = [DEFAULT_ALPHABET[i] for i in range(128)]
for _code, _ch in EXTENSION_TABLE.items():
    _DECODE_EXT[_code] = _ch
# ESC ESC is reserved for a further extension table: TS 23.038 says show a space.
_DECODE_EXT[ESCAPE] = " "
_DEFAULT_CHARS = set(DEFAULT_ALPHABET) - {"\x1b"}


def char_septets(ch: str) -> int:
    """How many septets ``ch`` costs (1 or 2), or 0 when GSM 7-bit cannot carry it."""
    enc = _ENCODE.get(ch)
    return len(enc) if enc is not None else 0


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the default or extension table."""
    return all(ch in _ENCODE for ch in text)


def septet_count(text: str) -> int:
    """Septets ``text`` takes, an escape pair counting two."""
    if _DEFAULT_CHARS.issuperset(text):
        return len(text)
    return len(encode(text))


@functools.lru_cache(maxsize=64)
def _encoder(locking: str | None, single: tuple[tuple[int, str], ...] | None) -> dict[str, bytes]:
    """Character to septets under national shift tables; the table's own
    character wins over an escape pair, and an empty cell (shown as a space)
    is never chosen for the space."""
    table: dict[str, bytes] = {}
    for i, ch in enumerate(locking or DEFAULT_ALPHABET):
        if i != ESCAPE and (ch != " " or i == 0x20):
            table.setdefault(ch, bytes((i,)))
    for code, ch in single if single is not None else EXTENSION_TABLE.items():
        table.setdefault(ch, bytes((ESCAPE, code)))
    return table


def encode(text: str, locking: str | None = None, single: Mapping[int, str] | None = None) -> bytes:
    """Text to septet values (one per byte), in the default tables or in the
    national ones ``decode`` takes.  Raises PDUError for a character that has no
    code there."""
    table = (
        _ENCODE
        if locking is None and single is None
        else _encoder(locking, None if single is None else tuple(sorted(single.items())))
    )
    try:
        return b"".join(map(table.__getitem__, text))
    except KeyError:
        bad = next(i for i, ch in enumerate(text) if ch not in table)
        raise PDUError(
            f"character {text[bad]!r} (U+{ord(text[bad]):04X}) at position {bad} "
            "is not in the GSM 7-bit alphabet"
        ) from None


def decode(
    septets: bytes, locking: str | None = None, single: Mapping[int, str] | None = None
) -> str:
    """Septet values to text.

    ``locking`` replaces the default alphabet and ``single`` the extension
    table, as the national language shift IEs ask (TS 23.038 §6.2.1.2; the
    tables are in ``national``).  An escape followed by a code with no extension
    character shows the character for that code in the alphabet in use, as
    TS 23.038 §6.2.1.1 asks of a receiver; ESC ESC shows a space; a lone escape
    at the very end shows nothing.  (Not keyword-only: that slows every call.)
    """
    if ESCAPE not in septets:
        if locking is None:
            return "".join(map(DEFAULT_ALPHABET.__getitem__, septets))
        return "".join(map(locking.__getitem__, septets))
    alphabet = DEFAULT_ALPHABET if locking is None else locking
    ext = _DECODE_EXT if locking is None and single is None else _escaped(alphabet, single)
    out: list[str] = []
    escaped = False
    for s in septets:
        if escaped:
            out.append(ext[s])
            escaped = False
        elif s == ESCAPE:
            escaped = True
        else:
            out.append(alphabet[s])
    return "".join(out)


def _escaped(alphabet: str, single: Mapping[int, str] | None) -> list[str]:
    """What each code shows after ESC: the single shift table's character, else
    the alphabet's."""
    ext = list(alphabet)
    for code, ch in (EXTENSION_TABLE if single is None else single).items():
        ext[code] = ch
    ext[ESCAPE] = " "
    return ext


def pack(septets: Iterable[int], offset: int = 0) -> bytes:
    """Pack septets LSB first, the first one starting at septet ``offset``.

    The octets before ``offset`` come out zero; a caller that puts a UDH there
    ORs it in.  The result is exactly ceil((offset + n) * 7 / 8) octets long.
    """
    acc = 0
    shift = 7 * offset
    for s in septets:
        acc |= s << shift
        shift += 7
    return acc.to_bytes((shift + 7) // 8, "little")


def unpack(data: bytes, count: int, offset: int = 0) -> bytes:
    """Septets ``offset`` .. ``count - 1`` of packed ``data``.

    Reading by count is what keeps the spare bits of the last octet from turning
    into a phantom '@'; the caller checks that ``data`` is long enough.  Seven
    octets hold eight septets, so the work goes seven octets at a time.
    """
    n = count - offset
    if n <= 0:
        return b""
    if offset:
        acc = int.from_bytes(data, "little") >> (7 * offset)
        data = acc.to_bytes(len(data), "little")
    out = bytearray()
    for i in range(0, (n + 7) // 8 * 7, 7):
        v = int.from_bytes(data[i : i + 7], "little")
        out += bytes(
            (
                v & 0x7F,
                v >> 7 & 0x7F,
                v >> 14 & 0x7F,
                v >> 21 & 0x7F,
                v >> 28 & 0x7F,
                v >> 35 & 0x7F,
                v >> 42 & 0x7F,
                v >> 49 & 0x7F,
            )
        )
    return bytes(out[:n])


def packed_length(septets: int) -> int:
    """Octets that ``septets`` packed septets occupy."""
    return (septets * 7 + 7) // 8
