"""The straightforward, per-character implementations the codec's fast paths
replaced, kept as the oracle the equivalence tests check them against.

They are what ``pdu.gsm7`` and ``pdu.concat.split`` were before the lookup-table
and big-integer tricks: easy to read against TS 23.038 and TS 23.040, slow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pdu import gsm7
from pdu.concat import Split, _room
from pdu.dcs import Alphabet
from pdu.errors import PDUError
from pdu.message_number import MARKER, Carrier, inline_suffix
from pdu.udh import IEI_MESSAGE_NUMBER, InformationElement, concat_ie, message_number_ie
from pdu.userdata import UserData

ESCAPE = gsm7.ESCAPE


def encoder(locking: str | None, single: Mapping[int, str] | None) -> dict[str, bytes]:
    """Character to septets: the table's own character wins over an escape pair,
    and an empty cell (shown as a space) is never chosen for the space."""
    table: dict[str, bytes] = {}
    for i, ch in enumerate(locking or gsm7.DEFAULT_ALPHABET):
        if i != ESCAPE and (ch != " " or i == 0x20):
            table.setdefault(ch, bytes((i,)))
    for code, ch in (gsm7.EXTENSION_TABLE if single is None else single).items():
        table.setdefault(ch, bytes((ESCAPE, code)))
    return table


def encode(text: str, locking: str | None = None, single: Mapping[int, str] | None = None) -> bytes:
    table = encoder(locking, single)
    for i, ch in enumerate(text):
        if ch not in table:
            raise PDUError(
                f"character {ch!r} (U+{ord(ch):04X}) at position {i} "
                "is not in the GSM 7-bit alphabet"
            )
    return b"".join(table[ch] for ch in text)


def char_septets(ch: str) -> int:
    return len(encoder(None, None).get(ch, b""))


def decode(
    septets: bytes, locking: str | None = None, single: Mapping[int, str] | None = None
) -> str:
    alphabet = gsm7.DEFAULT_ALPHABET if locking is None else locking
    ext = list(alphabet)
    for code, ch in (gsm7.EXTENSION_TABLE if single is None else single).items():
        ext[code] = ch
    ext[ESCAPE] = " "
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


def pack(septets: Iterable[int], offset: int = 0) -> bytes:
    acc = 0
    shift = 7 * offset
    for s in septets:
        acc |= s << shift
        shift += 7
    return acc.to_bytes((shift + 7) // 8, "little")


def unpack(data: bytes, count: int, offset: int = 0) -> bytes:
    bits = int.from_bytes(data, "little")
    return bytes(bits >> 7 * i & 0x7F for i in range(offset, count))


def split(
    content: str | bytes,
    *,
    alphabet: Alphabet | None = None,
    ref: int = 0,
    ref_bits: int = 8,
    message_number: int | None = None,
    carrier: Carrier = Carrier.UDH,
    iei: int = IEI_MESSAGE_NUMBER,
    marker: str = MARKER,
) -> Split:
    """Greedy packing of indivisible units, one unit at a time."""
    tail = 0
    extra: tuple[InformationElement, ...] = ()
    if message_number is not None and carrier is not Carrier.NONE:
        if carrier is Carrier.INLINE:
            assert isinstance(content, str)
            suffix = inline_suffix(message_number, marker)
            content, tail = content + suffix, len(suffix)
        else:
            extra = (message_number_ie(message_number, iei),)
    if isinstance(content, bytes):
        alphabet = Alphabet.DATA_8BIT
        units = [(1, 1)] * len(content)
    else:
        if alphabet is None:
            alphabet = Alphabet.GSM7 if all(char_septets(c) for c in content) else Alphabet.UCS2
        body = content[: len(content) - tail]
        if alphabet is Alphabet.GSM7:
            encode(content)
            units = [(char_septets(ch), 1) for ch in body]
            tail_cost = len(encode(content[len(body) :]))
        else:
            units = [(4 if ord(ch) > 0xFFFF else 2, 1) for ch in body]
            tail_cost = len(content[len(body) :].encode("utf-16-be", "surrogatepass"))
        if tail:
            units.append((tail_cost, tail))
    if sum(cost for cost, _ in units) <= _room(alphabet, extra):
        return Split(alphabet, [UserData(content, extra or None)])
    room = _room(alphabet, (concat_ie(ref, 1, 1, ref_bits), *extra))
    bounds: list[tuple[int, int]] = []
    start = pos = used = 0
    for cost, length in units:
        if used + cost > room:
            bounds.append((start, pos))
            start, used = pos, 0
        pos += length
        used += cost
    bounds.append((start, pos))
    total = len(bounds)
    if total > 255:
        raise PDUError(f"the text needs {total} parts, more than 255")
    return Split(
        alphabet,
        [
            UserData(content[a:b], (concat_ie(ref, total, seq, ref_bits), *extra))
            for seq, (a, b) in enumerate(bounds, 1)
        ],
    )


def from_hex(text: str) -> bytes:
    """Every character looked at: white space dropped, the rest must be hex."""
    compact = "".join(text.split())
    for i, ch in enumerate(compact):
        if ch not in "0123456789abcdefABCDEF":
            raise PDUError(f"{ch!r} is not a hex digit", i // 2)
    if len(compact) % 2:
        raise PDUError("odd number of hex digits: the last octet is half there", len(compact) // 2)
    return bytes.fromhex(compact)


def bcd_encode(number: str) -> bytes:
    """Digits to swapped BCD, a nibble at a time (F fills an odd count)."""
    value = {ch: i for i, ch in enumerate("0123456789*#abc")} | {"A": 12, "B": 13, "C": 14}
    if any(ch not in value for ch in number):
        bad = next(ch for ch in number if ch not in value)
        raise PDUError(f"{bad!r} is not a BCD address digit (0-9 * # a b c)")
    nibbles = [value[ch] for ch in number] + [0xF] * (len(number) % 2)
    return bytes(nibbles[i] | nibbles[i + 1] << 4 for i in range(0, len(nibbles), 2))
