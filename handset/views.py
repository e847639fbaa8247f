"""What the handset's repository takes and returns: frozen views, never live
ORM objects, so that they can cross from the database thread to the reactor."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pdu import PDUError
from pdu.message_number import MARKER, Carrier
from pdu.udh import IEI_MESSAGE_NUMBER, check_message_number_iei

from .conversation import Mark, OutState
from .models import Direction


class IpPath(StrEnum):
    """Whether the handset sends over the IP path when both ends are online
    on the IP server (docs/read-receipts.md §Routing)."""

    NEVER = "never"
    WHEN_POSSIBLE = "when_possible"


@dataclass(frozen=True, slots=True)
class Settings:
    """What the user of a handset chooses (docs/read-receipts.md §Carriers,
    §Routing, §Responses)."""

    carrier: Carrier = Carrier.UDH  # how the message number travels
    receipts: bool = True  # send a response when a message is read
    iei: int = IEI_MESSAGE_NUMBER  # the IEI of the message-number element
    marker: str = MARKER  # what precedes the three digits inline
    ip_path: IpPath = IpPath.NEVER
    read_on_view: bool = True  # viewing a conversation opens what it shows

    def __post_init__(self) -> None:
        object.__setattr__(self, "carrier", Carrier(self.carrier))
        object.__setattr__(self, "ip_path", IpPath(self.ip_path))
        try:
            check_message_number_iei(self.iei)
        except PDUError as exc:
            raise ValueError(str(exc)) from None
        if not self.marker or self.marker[-1:].isdigit():
            raise ValueError("the inline marker must be non-empty and not end with a digit")


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message as the user sees it."""

    id: int
    peer: str
    direction: Direction
    text: str
    number: int | None
    carrier: Carrier | None
    state: OutState | None  # sent messages
    read: bool  # received: opened by the user; sent: reported read
    response_pending: bool
    parts: int
    created_at: datetime  # aware, UTC
    tp_scts: datetime | None  # aware, UTC
    uid: str  # the same on every device of the account (docs/history-query.md §Accounts)
    via: str  # Via: how it travelled, or is travelling
    mark: Mark | None = None  # "Read" / "Sent", in a conversation's list only

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types: enums as their values, times in ISO 8601."""
        return {
            "id": self.id,
            "peer": self.peer,
            "direction": self.direction.value,
            "text": self.text,
            "number": self.number,
            "carrier": self.carrier.value if self.carrier else None,
            "state": self.state.value if self.state else None,
            "read": self.read,
            "response_pending": self.response_pending,
            "parts": self.parts,
            "created_at": self.created_at.isoformat(),
            "tp_scts": self.tp_scts.isoformat() if self.tp_scts else None,
            "uid": self.uid,
            "via": self.via,
            "mark": self.mark.value if self.mark else None,
        }


@dataclass(frozen=True, slots=True)
class ConversationView:
    peer: str
    last: MessageView
    messages: int
    unread: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "peer": self.peer,
            "last": self.last.as_dict(),
            "messages": self.messages,
            "unread": self.unread,
        }


@dataclass(frozen=True, slots=True)
class PendingPart:
    """A part to submit: the id of its row, the message it belongs to, its TPDU."""

    id: int
    message_id: int
    tpdu: bytes


@dataclass(frozen=True, slots=True)
class Outgoing:
    message: MessageView
    parts: list[PendingPart]


@dataclass(frozen=True, slots=True)
class StateChange:
    """A sent message's state moved."""

    message_id: int
    peer: str
    number: int | None
    old: OutState
    new: OutState


@dataclass(frozen=True, slots=True)
class Received:
    message: MessageView
    duplicate: bool  # the same message was stored already (a resend after a lost RP-ACK)
    slot: int | None = None  # its entry in the message store (the part that completed it)


@dataclass(frozen=True, slots=True)
class StoredSms:
    """An entry of the message store the AT port shows (``models.SmsEntry``):
    its <index>, its <stat> before this read, the SMSC address field and TPDU,
    and the message it belongs to, if any."""

    slot: int
    stat: int
    pdu: bytes
    message_id: int | None = None


class StoreFull(Exception):
    """The message store has no free entry (TS 27.005 +CMS ERROR 322; on the
    radio side RP-ERROR 22, memory capacity exceeded)."""

    def __str__(self) -> str:
        return "the message store is full"


@dataclass(frozen=True, slots=True)
class Opened:
    message: MessageView
    respond: bool  # a response is owed to the IP server for it
    first: bool = False  # read now, not before: the account's other devices are owed the news


@dataclass(frozen=True, slots=True)
class Response:
    message_id: int
    sender: str  # the peer: who sent the message that was read
    number: int
    #: When it was sent, as this receiver saw it (TP-SCTS, or the IP path's
    #: time): tells the sender which of its messages numbered ``number``.
    sent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FragmentKey:
    """Tells a concatenated message's parts apart (TS 23.040 §9.2.3.24.1)."""

    sender: str
    ref_bits: int
    ref: int
    total: int


@dataclass(frozen=True, slots=True)
class HeldFragment:
    """A kept part of a message still incomplete."""

    key: FragmentKey
    seq: int
    tpdu: bytes  # the SMS-DELIVER
    received_at: datetime  # aware, UTC


_UID = re.compile(r"[0-9a-f]{32}")


def check_uid(uid: str) -> str:
    """``uid`` if it is a message uid (32 lowercase hex digits), else ValueError:
    one that came from elsewhere must fit its column and the merge."""
    if not _UID.fullmatch(uid):
        raise ValueError(f"not a message uid: {uid!r}")
    return uid


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """A message as the history query carries it between devices."""

    uid: str
    peer: str
    direction: Direction
    text: str
    at: datetime  # aware UTC: when it was sent or received (Message.created_at)

    def __post_init__(self) -> None:
        check_uid(self.uid)
        object.__setattr__(self, "direction", Direction(self.direction))
        if self.at.tzinfo is None:
            raise ValueError("a history item's time must be aware")
        object.__setattr__(self, "at", self.at.astimezone(UTC))


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """What a user searches the history for (docs/history-query.md §Search,
    step 1): every given criterion must hold."""

    text: str | None = None  # case-insensitive substring of the text
    peer: str | None = None  # exact peer number (the caller normalises it)
    since: datetime | None = None  # aware; at >= since
    until: datetime | None = None  # aware; at < until
    limit: int = 50

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"a history query's limit must be positive, not {self.limit}")


class NotFound(KeyError):
    def __str__(self) -> str:
        return f"no message {self.args[0]}"


#: Makes the SMS-SUBMITs of a message, given its number, its concatenation
#: reference and the TP-MR of its first part: (TP-MR, TPDU) of each part.
Build = Callable[[int | None, int, int], list[tuple[int, bytes]]]
