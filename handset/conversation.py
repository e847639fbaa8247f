"""The states of a sent message and the conversation list's display rule
(docs/read-receipts.md §Conversations), as pure functions: no I/O, no clock, no database.

A sent message moves forward only::

    sending -> sent -> delivered -> read
         \\        \\
          failed / expired   (it never arrived)

``read`` beats everything, ``failed`` and ``expired`` included: a read
feedback comes from the receiver's own device, so the message did arrive (over
the IP path of §2.3, or the SMSC's report was wrong); "Read" is the truth the
user wants to see.  A message that was ``delivered`` cannot later fail, so a
failure report after delivery changes nothing.

The marks follow docs/read-receipts.md §Conversations: "Read" under the newest read
message, "Sent" under the newest message the network accepted (sent or
delivered) that is not read, wherever it stands.  After B reads 2 of 3, "Read"
is under 2 and "Sent" under 3; once B reads 3, "Read" moves to 3 and "Sent" to
1, the newest message B has still not read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

from pdu.status import ST_PERM_VALIDITY_EXPIRED, is_final


class OutState(StrEnum):
    SENDING = "sending"  # stored, not yet accepted by the SMSC (or the SMSC is offline)
    SENT = "sent"  # the SMSC acknowledged every part (RP-ACK)
    DELIVERED = "delivered"  # a status report TP-ST 0x00-0x1F for every part
    READ = "read"  # a feedback with status 1
    FAILED = "failed"  # refused, or a permanent error in a status report
    EXPIRED = "expired"  # TP-ST 0x46: the SMSC gave up when TP-VP ran out


#: The states that end a message that never arrived.
ENDED = frozenset({OutState.FAILED, OutState.EXPIRED})
_PROGRESS = {OutState.SENDING: 0, OutState.SENT: 1, OutState.DELIVERED: 2, OutState.READ: 3}


def advance(current: OutState, new: OutState) -> OutState:
    """The state after ``new`` is learnt about a message in ``current``: never
    backwards (see the module's docstring for read versus failed)."""
    if OutState.READ in (current, new):
        return OutState.READ
    if current in ENDED:
        return current
    if new in ENDED:
        return current if current is OutState.DELIVERED else new
    return new if _PROGRESS[new] > _PROGRESS[current] else current


def combine(parts: Iterable[OutState]) -> OutState:
    """A multi-part message's state from its parts': it ended if one part did,
    otherwise it is as far as its slowest part."""
    states = list(parts)
    for state in states:
        if state in ENDED:
            return state
    if not states:
        return OutState.SENDING
    return min(states, key=_PROGRESS.__getitem__)


def report_state(tp_st: int) -> OutState | None:
    """What an SMS-STATUS-REPORT says of a part: None while the SMSC is still
    trying (TP-ST 0x20-0x3F), else delivered, expired or failed."""
    if not is_final(tp_st):
        return None
    if (tp_st & 0x7F) >> 5 == 0:
        return OutState.DELIVERED
    return OutState.EXPIRED if tp_st & 0x7F == ST_PERM_VALIDITY_EXPIRED else OutState.FAILED


class Mark(StrEnum):
    READ = "Read"
    SENT = "Sent"


#: States that earn the "Sent" mark: accepted by the network, not known read.
_SENT_LIKE = frozenset({OutState.SENT, OutState.DELIVERED})


def marks(states: Sequence[OutState | None]) -> list[Mark | None]:
    """The marks of a conversation's messages, given in the order they were
    sent or received (``None`` for a received message, which gets no mark).

    "Read" goes under the newest read message; "Sent" under the newest message
    the SMSC accepted that is not read.
    """
    out: list[Mark | None] = [None] * len(states)
    for mark, wanted in ((Mark.READ, {OutState.READ}), (Mark.SENT, _SENT_LIKE)):
        for i in range(len(states) - 1, -1, -1):
            if states[i] in wanted:
                out[i] = mark
                break
    return out
