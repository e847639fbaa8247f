"""What the SMSC keeps of a message an ESME submitted, for the receipts it is
owed: the message's parts (its id is its first part's, the others follow it:
a message's part ids are allocated together), what registered_delivery
asked, and what the receipt says of it.  A row of ``esme_message`` is its
twin, committed with the parts before submit_sm_resp goes, so that a restart
neither splits a long message into per-part receipts nor forgets the id that
cancel_sm and replace_sm name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pdu import Address

from .models import MessageState


@dataclass(slots=True)
class Submitted:
    """A message an ESME submitted, until its receipts are made: its parts'
    outcomes and what the receipt says of it."""

    esme: str
    ids: tuple[int, ...]  # a tuple of ints: nothing the collector tracks
    registered_delivery: int
    submitted_at: datetime  # aware
    text: str
    data_coding: int
    source: Address
    protocol_id: int
    recipient: str = ""
    outcomes: dict[int, tuple[MessageState, int | None]] = field(default_factory=dict)
    #: The message_state a fault ends it in (its receipt says so).
    forced: int | None = None
    #: The message number it carries (docs/read-receipts.md), for its read receipt.
    number: int | None = None
    #: Its fate is settled: the delivery receipt is made (or none was asked for).
    done: bool = False
    #: Its read receipt went (or cannot go any more).
    read: bool = False
    #: Some of its parts are, or were, held by another node of a cluster
    #: (its subscriber moved with a part in flight): which node makes its
    #: receipt is decided by the rows (``Receipts.finished``), not by the
    #: outcomes one node saw.
    shared: bool = False

    @property
    def id(self) -> int:
        """The message's id: its first part's."""
        return self.ids[0]


#: Numbered ESME messages remembered for their read receipts (the newest).
MAX_NUMBERED = 100_000


def parts_named(number: int, covering: tuple[int, int] | None) -> tuple[int, ...] | None:
    """The parts a cancel_sm or replace_sm of message ``number`` acts on,
    given the message (its first id, its number of parts) whose ids cover
    ``number``, if any: all of them when ``number`` is its id; None when
    ``number`` is a later part's (a message goes whole or not at all); the
    one part ``number`` when no message covers it (submitted before
    ``esme_message`` kept messages whole)."""
    if covering is None:
        return (number,)
    first, parts = covering
    return tuple(range(first, first + parts)) if first == number else None


def fate(
    outcomes: Iterable[tuple[MessageState, int | None]],
) -> tuple[MessageState, int | None]:
    """A message's state and error from its parts' (every one ended): its
    worst part's, the first not delivered (what its receipt says)."""
    ended = list(outcomes)
    final = next((s for s, _ in ended if s is not MessageState.DELIVERED), ended[0][0])
    return final, next((e for s, e in ended if s is final), None)
