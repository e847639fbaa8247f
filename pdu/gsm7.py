"""The GSM 7-bit default alphabet of TS 23.038 §6.2.1, its extension table, and
septet packing (TS 23.038 §6.1.2.1.1).

Septets are kept as ``bytes`` (one septet value per byte) between the alphabet
and the packer: the alphabet knows characters, the packer knows bits, and the
fill bits after a User Data Header are just a septet offset to the packer.
"""

from __future__ import annotations

import codecs
import functools
import re
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
_DEFAULT_CHARS = frozenset(DEFAULT_ALPHABET) - {"\x1b"}
_GSM7_CHARS = frozenset(_ENCODE)

# How the work is done at C speed: ``str.translate`` turns text into one
# character per septet (code point = septet value), and Latin-1 makes that the
# septet bytes; a character with no code becomes U+0080, which no septet is, so
# one ``isascii`` check finds it.  Decoding is ``codecs.charmap_decode`` with
# the alphabet as its table; an escape pair is first folded into one byte,
# 0x80 | code, and read in the second half of a 256-character table.
_BAD = "\x80"


def _translation(table: Mapping[str, bytes]) -> dict[int, str]:
    out = {i: _BAD for i in range(256)}
    out.update({ord(ch): septets.decode("latin-1") for ch, septets in table.items()})
    return out


_TRANSLATE = _translation(_ENCODE)


def char_septets(ch: str) -> int:
    """How many septets ``ch`` costs (1 or 2), or 0 when GSM 7-bit cannot carry it."""
    enc = _ENCODE.get(ch)
    return len(enc) if enc is not None else 0


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the default or extension table."""
    return _GSM7_CHARS.issuperset(text)


def septet_count(text: str) -> int:
    """Septets ``text`` takes, an escape pair counting two."""
    if _DEFAULT_CHARS.issuperset(text):
        return len(text)
    return len(encode(text))


@functools.lru_cache(maxsize=64)
def _encoder(locking: str | None, single: tuple[tuple[int, str], ...] | None) -> dict[int, str]:
    """The translation table under national shift tables: the table's own
    character wins over an escape pair, and an empty cell (shown as a space)
    is never chosen for the space."""
    table: dict[str, bytes] = {}
    for i, ch in enumerate(locking or DEFAULT_ALPHABET):
        if i != ESCAPE and (ch != " " or i == 0x20):
            table.setdefault(ch, bytes((i,)))
    for code, ch in single if single is not None else EXTENSION_TABLE.items():
        table.setdefault(ch, bytes((ESCAPE, code)))
    return _translation(table)


def encode(text: str, locking: str | None = None, single: Mapping[int, str] | None = None) -> bytes:
    """Text to septet values (one per byte), in the default tables or in the
    national ones ``decode`` takes.  Raises PDUError for a character that has no
    code there."""
    table = (
        _TRANSLATE
        if locking is None and single is None
        else _encoder(locking, None if single is None else tuple(sorted(single.items())))
    )
    try:
        septets = text.translate(table).encode("latin-1")
    except UnicodeEncodeError:
        septets = _BAD.encode("latin-1")
    if septets.isascii():
        return septets
    bad = next(i for i, ch in enumerate(text) if table.get(ord(ch), _BAD) == _BAD)
    raise PDUError(
        f"character {text[bad]!r} (U+{ord(text[bad]):04X}) at position {bad} "
        "is not in the GSM 7-bit alphabet"
    )


#: An escape and the septet it escapes (ESC ESC included).
_ESCAPE_PAIR = re.compile(b"\x1b([\x00-\x7f])")


def _fold(pair: re.Match[bytes]) -> bytes:
    return _FOLDED[pair[1][0]]


_FOLDED = [bytes((0x80 | code,)) for code in range(128)]


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
        return codecs.charmap_decode(septets, "strict", locking or DEFAULT_ALPHABET)[0]
    folded = _ESCAPE_PAIR.sub(_fold, septets)
    if folded[-1:] == b"\x1b":
        folded = folded[:-1]  # the lone escape at the very end
    if locking is None and single is None:
        table = _DEFAULT_WITH_EXTENSION
    else:
        table = _escaped(
            locking or DEFAULT_ALPHABET, None if single is None else tuple(single.items())
        )
    return codecs.charmap_decode(folded, "strict", table)[0]


@functools.lru_cache(maxsize=64)
def _escaped(alphabet: str, single: tuple[tuple[int, str], ...] | None) -> str:
    """The alphabet, then what each code shows after ESC: the single shift
    table's character, else the alphabet's."""
    ext = list(alphabet)
    for code, ch in EXTENSION_TABLE.items() if single is None else single:
        ext[code] = ch
    ext[ESCAPE] = " "
    return alphabet + "".join(ext)


_DEFAULT_WITH_EXTENSION = _escaped(DEFAULT_ALPHABET, None)


def _spread(levels: int) -> tuple[tuple[int, int, int], ...]:
    """Masks to move 2**levels septets between 7-bit packing and one per octet.

    Top down, each step moves the upper half of every group of ``g`` septets up
    by ``g // 2`` bits (``unpack``); bottom up, the same halves move back down
    (``pack``).  Each step is a few big-integer operations over the whole
    message, so a 160-septet message takes eight steps, not 160 shifts.
    Returns (mask while packed 7-bit, mask while spread 8-bit, shift) per step.
    """
    k = 1 << levels
    steps = []
    g = k
    while g >= 2:
        half = g // 2
        field = (1 << 7 * half) - 1
        packed = spread = 0
        for base in range(0, 8 * k, 8 * g):
            packed |= field << base + 7 * half
            spread |= field << base + 8 * half
        steps.append((packed, spread, half))
        g = half
    return tuple(steps)


#: The steps for up to 2**9 septets, more than a TPDU carries; longer input
#: (a caller's own) computes its own.
_STEPS = [_spread(levels) for levels in range(10)]


def pack(septets: Iterable[int], offset: int = 0) -> bytes:
    """Pack septets LSB first, the first one starting at septet ``offset``.

    The octets before ``offset`` come out zero; a caller that puts a UDH there
    ORs it in.  The result is exactly ceil((offset + n) * 7 / 8) octets long.
    """
    if not isinstance(septets, bytes | bytearray):
        septets = bytes(septets)
    n = len(septets)
    acc = int.from_bytes(septets, "little")
    levels = (n - 1).bit_length()
    steps = _STEPS[levels] if levels < len(_STEPS) else _spread(levels)
    for _, spread, shift in reversed(steps):
        moved = acc & spread
        acc = acc ^ moved | moved >> shift
    return (acc << 7 * offset).to_bytes(((offset + n) * 7 + 7) // 8, "little")


def unpack(data: bytes, count: int, offset: int = 0) -> bytes:
    """Septets ``offset`` .. ``count - 1`` of packed ``data``.

    Reading by count is what keeps the spare bits of the last octet from turning
    into a phantom '@'; the caller checks that ``data`` is long enough.
    """
    n = count - offset
    if n <= 0:
        return b""
    acc = int.from_bytes(data, "little") >> 7 * offset & (1 << 7 * n) - 1
    levels = (n - 1).bit_length()
    for packed, _, shift in _STEPS[levels] if levels < len(_STEPS) else _spread(levels):
        moved = acc & packed
        acc = acc ^ moved | moved << shift
    return acc.to_bytes(1 << levels, "little")[:n]


def packed_length(septets: int) -> int:
    """Octets that ``septets`` packed septets occupy."""
    return (septets * 7 + 7) // 8
