"""The states of a sent message and the conversation list's display rule
(SPEC §2.7), as pure functions: no I/O, no clock, no database.

A sent message moves forward only::

    sending -> sent -> delivered -> read
         \\        \\
          failed / expired   (it never arrived)

Two decisions go beyond the letter of the spec, both taken the way a messenger
user reads the list:

* ``read`` beats everything, ``failed`` and ``expired`` included.  A read
  feedback comes from the receiver's own device, so the message did arrive
  (over the IP path of §2.3, or the SMSC's report was wrong); "Read" is the
  truth the user wants to see.  A message that was ``delivered`` cannot later
  fail, so a failure report after delivery changes nothing.
* "Sent" is shown only under a message *newer* than the one marked "Read".
  Reading message 3 of a conversation means the receiver has seen the
  conversation up to 3; a "Sent" under an older, never-acknowledged message 1
  above it would read as "still not seen".  So after B reads 2 of 3 the list
  shows "Read" under 2 and "Sent" under 3; once B reads 3, "Read" moves to 3
  and "Sent" is gone.
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
    the SMSC accepted that is not read, provided it is newer than the "Read".
    """
    out: list[Mark | None] = [None] * len(states)
    read_at = -1
    for i, state in enumerate(states):
        if state is OutState.READ:
            read_at = i
    if read_at >= 0:
        out[read_at] = Mark.READ
    for i in range(len(states) - 1, read_at, -1):
        if states[i] in _SENT_LIKE:
            out[i] = Mark.SENT
            break
    return out
