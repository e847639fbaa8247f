"""Concatenated short messages (TS 23.040 §9.2.3.24.1): splitting a text into the
fewest parts, and putting parts back together in whatever order they come.

The splitter packs indivisible units greedily: a character, an escape pair of the
GSM extension table (two septets), a UTF-16 surrogate pair (four octets), or the
whole inline message-number suffix, which must stay at the end of the last part.
Greedy packing of units in order gives the fewest parts.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from . import gsm7
from .dcs import Alphabet
from .errors import PDUError
from .message_number import MARKER, Carrier, inline_suffix
from .udh import (
    IEI_MESSAGE_NUMBER,
    InformationElement,
    Udh,
    concat_ie,
    encode_udh,
    find_concat,
    message_number_ie,
)
from .userdata import MAX_OCTETS, MAX_SEPTETS, UserData, header_septets

MAX_PARTS = 255


@dataclass(frozen=True, slots=True)
class Split:
    alphabet: Alphabet
    parts: list[UserData]


def _room(alphabet: Alphabet, udh: Udh) -> int:
    """Capacity of one part, in septets (GSM 7-bit) or octets, beside ``udh``."""
    if alphabet is Alphabet.GSM7:
        return MAX_SEPTETS - (header_septets(len(encode_udh(udh))) if udh else 0)
    return MAX_OCTETS - (len(encode_udh(udh)) if udh else 0)


def _stream(content: str | bytes, alphabet: Alphabet) -> bytes:
    """The content as the units TP-UDL counts: septets (one a byte), UTF-16
    octets, or the 8-bit data itself.  Its length is the cost of the content."""
    if isinstance(content, bytes):
        return content
    if alphabet is Alphabet.GSM7:
        return gsm7.encode(content)  # raises, with the position, for a character it lacks
    return content.encode("utf-16-be", "surrogatepass")


def _cuts(stream: bytes, alphabet: Alphabet, room: int, tail: int) -> list[int]:
    """Where each part after the first starts in ``stream``: greedy, each part
    as full as it can be without cutting a unit, the last ``tail`` octets
    (or septets) one unit.

    A unit is a septet, an escape pair (ESC is never the escaped code in the
    default tables, so a cut right after an ESC is the one cut to avoid), two
    UTF-16 octets, a surrogate pair (never cut after a high surrogate: two lone
    surrogates of the text that make a pair on the wire stay together too), or
    an octet of 8-bit data.
    """
    body = len(stream) - tail
    cuts: list[int] = []
    pos = 0
    while body - pos > room:
        k = pos + room
        if alphabet is Alphabet.GSM7:
            k -= stream[k - 1] == gsm7.ESCAPE
        elif alphabet is Alphabet.UCS2:
            k -= room % 2
            k -= 2 * (0xD8 <= stream[k - 2] <= 0xDB)
        cuts.append(k)
        pos = k
    if tail and body - pos + tail > room:
        cuts.append(body)
    return cuts


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
    """The user data of each part, and the alphabet they are in.

    ``alphabet`` None picks GSM 7-bit when every character has a code there and
    UCS2 otherwise (bytes always go as 8-bit data).  With ``message_number`` the
    number rides in every part's UDH (``Carrier.UDH``) or as the suffix of the
    last part (``Carrier.INLINE``), or nowhere (``Carrier.NONE``).
    """
    tail = 0
    extra: tuple[InformationElement, ...] = ()
    if message_number is not None and carrier is not Carrier.NONE:
        if carrier is Carrier.INLINE:
            if isinstance(content, bytes):
                raise PDUError("the inline message number needs text, not 8-bit data")
            suffix = inline_suffix(message_number, marker)
            content, tail = content + suffix, len(suffix)
        else:
            extra = (message_number_ie(message_number, iei),)
    if isinstance(content, bytes):
        if alphabet not in (None, Alphabet.DATA_8BIT):
            raise PDUError(f"8-bit data cannot be sent as {alphabet}")
        alphabet = Alphabet.DATA_8BIT
    elif alphabet is None:
        alphabet = Alphabet.GSM7 if gsm7.is_gsm7(content) else Alphabet.UCS2
    elif alphabet is Alphabet.DATA_8BIT:
        raise PDUError("8-bit data must be given as bytes")

    stream = _stream(content, alphabet)
    if len(stream) <= _room(alphabet, extra):
        return Split(alphabet, [UserData(content, extra or None)])

    room = _room(alphabet, (concat_ie(ref, 1, 1, ref_bits), *extra))
    if tail:
        assert isinstance(content, str)
        tail = len(_stream(content[len(content) - tail :], alphabet))
    edges = [0, *_cuts(stream, alphabet, room, tail), len(stream)]
    bounds = list(itertools.pairwise(edges))
    bodies: list[str | bytes]
    if alphabet is Alphabet.GSM7:
        # Characters before a septet position: the septets less the escapes.
        chars = [k - stream.count(gsm7.ESCAPE, 0, k) for k in edges]
        bodies = [content[a:b] for a, b in itertools.pairwise(chars)]
    elif alphabet is Alphabet.UCS2:
        bodies = [stream[a:b].decode("utf-16-be", "surrogatepass") for a, b in bounds]
    else:
        bodies = [content[a:b] for a, b in bounds]
    total = len(bounds)
    if total > MAX_PARTS:
        raise PDUError(f"the text needs {total} parts, more than {MAX_PARTS}")
    return Split(
        alphabet,
        [
            UserData(body, (concat_ie(ref, total, seq, ref_bits), *extra))
            for seq, body in enumerate(bodies, 1)
        ],
    )


def join_bodies(bodies: Iterable[str | bytes]) -> str | bytes:
    """Concatenate part bodies.  A surrogate pair that a sender split across two
    parts (against the rules, but it happens) is put back together."""
    items = list(bodies)
    if items and all(isinstance(b, bytes) for b in items):
        return b"".join(b for b in items if isinstance(b, bytes))
    text = "".join(b if isinstance(b, str) else b.decode("latin-1") for b in items)
    return text.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")


@dataclass(frozen=True, slots=True)
class Reassembled:
    body: str | bytes
    parts: list[UserData]  # in part order
    missing: list[int] = field(default_factory=list)  # part numbers not received

    @property
    def complete(self) -> bool:
        return not self.missing


def reassemble(parts: Iterable[UserData]) -> Reassembled:
    """One message from its parts, in any order; duplicates are ignored and the
    part numbers that never came are listed in ``missing``."""
    by_seq: dict[int, UserData] = {}
    total = 1
    plain: list[UserData] = []
    for ud in parts:
        c = find_concat(ud.udh)
        if c is None:
            plain.append(ud)
            continue
        total = max(total, c.total)
        by_seq.setdefault(c.seq, ud)
    if plain and not by_seq:
        return Reassembled(join_bodies(p.body for p in plain[:1]), plain[:1])
    ordered = [by_seq[s] for s in sorted(by_seq)]
    missing = [s for s in range(1, total + 1) if s not in by_seq]
    return Reassembled(join_bodies(p.body for p in ordered), ordered, missing)


@dataclass(slots=True)
class _Pending:
    total: int
    parts: dict[int, UserData]


class Reassembler:
    """Collects parts from many senders (sans-I/O: no clock of its own).

    ``feed`` returns the whole message when its last missing part arrives; a
    part that is not concatenated comes straight back.  Parts are told apart by
    (sender, reference, total), as §9.2.3.24.1 says the reference is per sender.
    A part already held is ignored.  ``pending`` lists what is still missing, so
    the caller can time out and ``drop`` incomplete messages.
    """

    def __init__(self) -> None:
        self._pending: dict[tuple[Hashable, int, int, int], _Pending] = {}

    def feed(self, sender: Hashable, ud: UserData) -> Reassembled | None:
        c = find_concat(ud.udh)
        if c is None:
            return Reassembled(ud.body, [ud])
        key = (sender, c.ref_bits, c.ref, c.total)
        entry = self._pending.setdefault(key, _Pending(c.total, {}))
        if c.seq in entry.parts:
            return None
        entry.parts[c.seq] = ud
        if len(entry.parts) < entry.total:
            return None
        del self._pending[key]
        return reassemble(entry.parts.values())

    def pending(self) -> list[tuple[Hashable, int, list[int]]]:
        """(sender, reference, missing part numbers) for each incomplete message."""
        return [
            (sender, ref, [s for s in range(1, p.total + 1) if s not in p.parts])
            for (sender, _, ref, _), p in self._pending.items()
        ]

    def drop(self, sender: Hashable, ref: int) -> Reassembled | None:
        """Give up on an incomplete message; what did arrive comes back."""
        for key in [k for k in self._pending if k[0] == sender and k[2] == ref]:
            return reassemble(self._pending.pop(key).parts.values())
        return None
