"""The handset's store: engine and migrations, the repository, and the one
thread that runs it.

``Repository`` is plain synchronous code, one short transaction per method,
returning frozen views (never live ORM objects).  ``HandsetStore`` runs those
methods on a single database thread of its own, so the reactor never waits on
SQL and every write of the handset happens in the order it was asked for: a
commit is done when its Deferred fires, which is when the phone may acknowledge
what it stored.  ``threaded=False`` runs them at once on the caller's thread,
for tests driven by ``task.Clock``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorCore, IReactorFromThreads
from twisted.internet.threads import deferToThread, deferToThreadPool
from twisted.python.threadpool import ThreadPool

from pdu.message_number import MARKER, Carrier, next_number
from pdu.udh import IEI_MESSAGE_NUMBER, IEI_NAMES
from storage import SqliteSettings
from storage import migrate as migrate_component
from storage import open_engine as open_storage

from .conversation import Mark, OutState, advance, combine, marks
from .models import (
    Base,
    ConsumedPart,
    Conversation,
    Direction,
    Fragment,
    Message,
    Part,
    PinnedKey,
    Profile,
    Via,
)

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


#: Every commit is in the log before the handset acknowledges what it stored,
#: so a message survives ``kill -9`` of the handset; only a power cut of the
#: host could lose its last commits, as a phone's flash might (NORMAL: no fsync
#: per commit, which matters with many handsets in one process).
SQLITE = SqliteSettings(synchronous="NORMAL", foreign_keys=True)


def open_engine(url: str) -> Engine:
    """An engine on ``url``, its schema migrated to the newest revision."""
    engine = open_storage(url, SQLITE)
    migrate(engine)
    return engine


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest revision."""
    migrate_component(engine, MIGRATIONS)


# -- what the repository takes and returns -------------------------------------------


class IpPath(StrEnum):
    """Whether the handset sends over the IP path when both ends are online
    on the IP server (SPEC §2.3)."""

    NEVER = "never"
    WHEN_POSSIBLE = "when_possible"


@dataclass(frozen=True, slots=True)
class Settings:
    """What the user of a handset chooses (SPEC §2.2, §2.3, §2.5)."""

    carrier: Carrier = Carrier.UDH  # how the message number travels
    receipts: bool = True  # send a response when a message is read
    iei: int = IEI_MESSAGE_NUMBER  # the IEI of the message-number element
    marker: str = MARKER  # what precedes the three digits inline
    ip_path: IpPath = IpPath.NEVER

    def __post_init__(self) -> None:
        object.__setattr__(self, "carrier", Carrier(self.carrier))
        object.__setattr__(self, "ip_path", IpPath(self.ip_path))
        if not 0 <= self.iei <= 0xFF or self.iei in IEI_NAMES:
            raise ValueError(
                f"IEI {self.iei:#04x} is taken or out of range: use the SME-to-SME range 0x80-0x9F"
            )
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
    uid: str  # the same on every device of the account (SPEC §3.6)
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


@dataclass(frozen=True, slots=True)
class Opened:
    message: MessageView
    respond: bool  # a response is owed to the IP server for it


@dataclass(frozen=True, slots=True)
class Response:
    message_id: int
    sender: str  # the peer: who sent the message that was read
    number: int


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
    """What a user searches the history for (SPEC §3.1): every given criterion
    must hold."""

    text: str | None = None  # case-insensitive substring of the text
    peer: str | None = None  # exact peer number (the caller normalises it)
    since: datetime | None = None  # aware; at >= since
    until: datetime | None = None  # aware; at < until
    limit: int = 50

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"a history query's limit must be positive, not {self.limit}")


def part_digest(tpdu: bytes) -> str:
    """What tells a received part from any other: SHA-256 of its SMS-DELIVER
    (which holds the sender, TP-SCTS and the user data), in hex."""
    return hashlib.sha256(tpdu).hexdigest()


def received_uid(owner: str, peer: str, tp_scts: datetime, number: int | None, text: str) -> str:
    """The uid of a received SMS: derived from what a resend repeats, so the
    SMSC delivering it again maps to the same message.  ``owner``'s MSISDN
    part makes it the same on every device of the account."""
    msisdn = owner.rpartition("@")[2]
    when = _naive(tp_scts).isoformat()
    key = "|".join([msisdn, peer, Direction.IN.value, when, str(number), text])
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


_ESCAPE = "/"  # of LIKE patterns: a backslash is special in some string literals


def _like_escaped(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern escaped with ``_ESCAPE``."""
    for special in (_ESCAPE, "%", "_"):
        text = text.replace(special, _ESCAPE + special)
    return text


def _of_key(model: type[Fragment] | type[ConsumedPart], key: FragmentKey) -> list[Any]:
    return [
        model.sender == key.sender,
        model.ref_bits == key.ref_bits,
        model.ref == key.ref,
        model.total == key.total,
    ]


class NotFound(KeyError):
    def __str__(self) -> str:
        return f"no message {self.args[0]}"


#: Makes the SMS-SUBMITs of a message, given its number, its concatenation
#: reference and the TP-MR of its first part: (TP-MR, TPDU) of each part.
Build = Callable[[int, int, int], list[tuple[int, bytes]]]


def _naive(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when


def _aware(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC)


def _view(row: Message, mark: Mark | None = None) -> MessageView:
    state = OutState(row.state) if row.state is not None else None
    return MessageView(
        id=row.id,
        peer=row.peer,
        direction=Direction(row.direction),
        text=row.text,
        number=row.message_number,
        carrier=Carrier(row.carrier) if row.carrier is not None else None,
        state=state,
        read=row.read if row.direction == Direction.IN else state is OutState.READ,
        response_pending=row.response_pending,
        parts=row.part_count,
        created_at=_aware(row.created_at),
        tp_scts=_aware(row.tp_scts) if row.tp_scts is not None else None,
        uid=row.uid,
        via=row.via,
        mark=mark,
    )


def _item(row: Message) -> HistoryItem:
    return HistoryItem(
        row.uid, row.peer, Direction(row.direction), row.text, _aware(row.created_at)
    )


class Repository:
    """One handset's rows in ``engine``: every method is one short transaction."""

    def __init__(self, engine: Engine, owner: str) -> None:
        self.engine = engine
        self.owner = owner

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- settings and counters ---------------------------------------------------

    def _profile(self, s: Session, defaults: Settings | None = None) -> Profile:
        row = s.scalars(
            select(Profile).where(Profile.owner == self.owner).with_for_update()
        ).one_or_none()
        if row is None:
            d = defaults or Settings()
            row = Profile(
                owner=self.owner,
                carrier=d.carrier.value,
                receipts=d.receipts,
                iei=d.iei,
                marker=d.marker,
                next_tp_mr=0,
                next_ref=0,
                ip_path=d.ip_path.value,
            )
            s.add(row)
            s.flush()
        return row

    @staticmethod
    def _settings(row: Profile) -> Settings:
        return Settings(
            Carrier(row.carrier), row.receipts, row.iei, row.marker, IpPath(row.ip_path)
        )

    def load_settings(self, defaults: Settings | None = None) -> Settings:
        """The stored settings; ``defaults`` (stored) when there are none yet."""
        with self._session() as s, s.begin():
            return self._settings(self._profile(s, defaults))

    def save_settings(self, settings: Settings) -> Settings:
        """Store the user's choice.  Turning receipts off also drops the
        responses not yet sent: from then on nothing goes out."""
        with self._session() as s, s.begin():
            row = self._profile(s, settings)
            row.carrier, row.receipts = settings.carrier.value, settings.receipts
            row.iei, row.marker = settings.iei, settings.marker
            row.ip_path = settings.ip_path.value
            if not settings.receipts:
                s.execute(
                    update(Message)
                    .where(Message.owner == self.owner, Message.response_pending)
                    .values(response_pending=False)
                )
            return self._settings(row)

    def _conversation(self, s: Session, peer: str) -> Conversation:
        row = s.scalars(
            select(Conversation)
            .where(Conversation.owner == self.owner, Conversation.peer == peer)
            .with_for_update()
        ).one_or_none()
        if row is None:
            row = Conversation(owner=self.owner, peer=peer, next_number=0)
            s.add(row)
            s.flush()
        return row

    def next_number(self, peer: str) -> int:
        """The number the next message to ``peer`` will carry."""
        with self._session() as s:
            found = s.scalars(
                select(Conversation.next_number).where(
                    Conversation.owner == self.owner, Conversation.peer == peer
                )
            ).one_or_none()
            return found or 0

    # -- sending -------------------------------------------------------------------

    def create_outgoing(
        self,
        peer: str,
        text: str,
        carrier: Carrier,
        now: datetime,
        build: Build,
        *,
        via: str = Via.SMS,
        uid: str | None = None,
    ) -> Outgoing:
        """Number a new message, make its parts and store it, all in one
        transaction: the counters move only with a stored message.

        A message via the IP path gets its number but no parts (``build`` only
        counts them): they are made if it falls back to SMS (``ip_fallback``),
        with the concatenation reference and TP-MRs of that moment."""
        how = Via(via)
        uid = check_uid(uid) if uid is not None else secrets.token_hex(16)
        with self._session() as s, s.begin():
            profile = self._profile(s)
            conversation = self._conversation(s, peer)
            number, ref = conversation.next_number, profile.next_ref
            parts = build(number, ref, profile.next_tp_mr)
            conversation.next_number = next_number(number)
            if how is Via.SMS:
                self._advance_counters(profile, parts)
            message = Message(
                owner=self.owner,
                peer=peer,
                direction=Direction.OUT.value,
                text=text,
                message_number=number,
                carrier=carrier.value,
                state=OutState.SENDING.value,
                read=False,
                response_pending=False,
                part_count=len(parts),
                concat_ref=ref if how is Via.SMS and len(parts) > 1 else None,
                created_at=_naive(now),
                tp_scts=None,
                read_at=None,
                uid=uid,
                via=how.value,
                history_pending=True,
            )
            s.add(message)
            s.flush()
            pending = self._add_parts(s, message.id, parts) if how is Via.SMS else []
            return Outgoing(_view(message), pending)

    @staticmethod
    def _advance_counters(profile: Profile, parts: list[tuple[int, bytes]]) -> None:
        profile.next_ref = (profile.next_ref + 1) % 256
        profile.next_tp_mr = (parts[-1][0] + 1) % 256

    @staticmethod
    def _add_parts(
        s: Session, message_id: int, parts: list[tuple[int, bytes]]
    ) -> list[PendingPart]:
        rows = [
            Part(
                message_id=message_id,
                seq=seq,
                tp_mr=mr,
                tpdu=tpdu,
                state=OutState.SENDING.value,
                rp_cause=None,
                tp_st=None,
            )
            for seq, (mr, tpdu) in enumerate(parts, 1)
        ]
        s.add_all(rows)
        s.flush()
        return [PendingPart(p.id, message_id, p.tpdu) for p in rows]

    def _ip_message(self, s: Session, message_id: int) -> Message | None:
        """The sent message ``message_id``, locked, if it is via the IP path."""
        return s.scalars(
            select(Message)
            .where(
                Message.owner == self.owner,
                Message.id == message_id,
                Message.direction == Direction.OUT.value,
                Message.via == Via.IP.value,
            )
            .with_for_update()
        ).one_or_none()

    def ip_fallback(self, message_id: int, build: Build) -> Outgoing:
        """The IP server would not take a message: it goes by SMS, its parts
        made now, under the number it has.  One that went already (by SMS, or
        the IP server took it) is returned without parts, unchanged."""
        with self._session() as s, s.begin():
            profile = self._profile(s)  # locked before the message, as save_settings does
            message = self._ip_message(s, message_id)
            if message is None or message.state != OutState.SENDING.value:
                return Outgoing(_view(message or self._get(s, message_id)), [])
            assert message.message_number is not None
            ref = profile.next_ref
            parts = build(message.message_number, ref, profile.next_tp_mr)
            self._advance_counters(profile, parts)
            message.via = Via.SMS.value
            message.part_count = len(parts)
            message.concat_ref = ref if len(parts) > 1 else None
            return Outgoing(_view(message), self._add_parts(s, message.id, parts))

    def ip_accepted(self, message_id: int) -> StateChange | None:
        """The IP server committed a message sent over the IP path: it is sent."""
        with self._session() as s, s.begin():
            message = self._ip_message(s, message_id)
            if message is None:
                return None
            old = OutState(message.state or OutState.SENDING)
            new = advance(old, OutState.SENT)
            if new is old:
                return None
            message.state = new.value
            return StateChange(message.id, message.peer, message.message_number, old, new)

    def ip_pending(self) -> list[int]:
        """Messages over the IP path the IP server has not committed yet, oldest
        first: offered again once the link is back."""
        with self._session() as s:
            return list(
                s.scalars(
                    select(Message.id)
                    .where(
                        Message.owner == self.owner,
                        Message.direction == Direction.OUT.value,
                        Message.via == Via.IP.value,
                        Message.state == OutState.SENDING.value,
                    )
                    .order_by(Message.id)
                )
            )

    def pending_parts(self) -> list[PendingPart]:
        """Parts the SMSC has not accepted yet, of messages that have not ended,
        in the order they were sent."""
        with self._session() as s:
            rows = s.execute(
                select(Part.id, Part.message_id, Part.tpdu)
                .join(Message, Message.id == Part.message_id)
                .where(
                    Message.owner == self.owner,
                    Message.state == OutState.SENDING.value,
                    Part.state == OutState.SENDING.value,
                )
                .order_by(Part.id)
            ).all()
            return [PendingPart(r.id, r.message_id, r.tpdu) for r in rows]

    def _settle(self, s: Session, message: Message) -> StateChange | None:
        """Move ``message`` forward to what its parts say."""
        parts = s.scalars(select(Part.state).where(Part.message_id == message.id)).all()
        old = OutState(message.state or OutState.SENDING)
        new = advance(old, combine(OutState(p) for p in parts))
        if new is old:
            return None
        message.state = new.value
        return StateChange(message.id, message.peer, message.message_number, old, new)

    def _update_part(
        self, part_id: int, state: OutState | None, **values: int | None
    ) -> StateChange | None:
        with self._session() as s, s.begin():
            part = s.get(Part, part_id)
            if part is None:
                return None
            if state is not None:
                part.state = advance(OutState(part.state), state).value
            for name, value in values.items():
                setattr(part, name, value)
            message = s.get(Message, part.message_id)
            assert message is not None
            return self._settle(s, message)

    def part_accepted(self, part_id: int) -> StateChange | None:
        """The SMSC acknowledged the part (RP-ACK)."""
        return self._update_part(part_id, OutState.SENT)

    def part_refused(self, part_id: int, rp_cause: int) -> StateChange | None:
        """The SMSC refused the part for good (RP-ERROR, a permanent cause)."""
        return self._update_part(part_id, OutState.FAILED, rp_cause=rp_cause)

    def apply_report(
        self, peer: str, tp_mr: int, tp_st: int, state: OutState | None
    ) -> StateChange | None:
        """An SMS-STATUS-REPORT: the newest part sent to ``peer`` with that TP-MR
        takes ``state`` (None: the SMSC is still trying, only TP-ST is kept)."""
        with self._session() as s, s.begin():
            part = s.scalars(
                select(Part)
                .join(Message, Message.id == Part.message_id)
                .where(
                    Message.owner == self.owner,
                    Message.peer == peer,
                    Message.direction == Direction.OUT.value,
                    Part.tp_mr == tp_mr,
                )
                .order_by(Part.id.desc())
                .limit(1)
            ).one_or_none()
            if part is None:
                return None
            part.tp_st = tp_st
            if state is not None:
                part.state = advance(OutState(part.state), state).value
            message = s.get(Message, part.message_id)
            assert message is not None
            return self._settle(s, message)

    def apply_feedback(
        self, receiver: str, number: int, status: int, now: datetime
    ) -> StateChange | None:
        """A feedback from the IP server (SPEC §2.6): status 1 marks the most
        recent message numbered ``number`` sent to ``receiver`` read.  Status 0,
        a number never used, a repeat: nothing changes."""
        if status != 1:
            return None
        with self._session() as s, s.begin():
            message = s.scalars(
                select(Message)
                .where(
                    Message.owner == self.owner,
                    Message.peer == receiver,
                    Message.direction == Direction.OUT.value,
                    Message.message_number == number,
                )
                .order_by(Message.id.desc())
                .limit(1)
                .with_for_update()
            ).one_or_none()
            if message is None:
                return None
            old = OutState(message.state or OutState.SENDING)
            new = advance(old, OutState.READ)
            if new is old:
                return None
            message.state, message.read_at = new.value, _naive(now)
            return StateChange(message.id, message.peer, number, old, new)

    # -- receiving ---------------------------------------------------------------

    def save_fragment(self, key: FragmentKey, seq: int, tpdu: bytes, now: datetime) -> None:
        """Keep one part of a message still incomplete (a repeat is ignored)."""
        with self._session() as s, s.begin():
            exists = s.scalars(
                select(Fragment.id).where(
                    Fragment.owner == self.owner, *_of_key(Fragment, key), Fragment.seq == seq
                )
            ).first()
            if exists is None:
                s.add(
                    Fragment(
                        owner=self.owner,
                        sender=key.sender,
                        ref_bits=key.ref_bits,
                        ref=key.ref,
                        total=key.total,
                        seq=seq,
                        tpdu=tpdu,
                        received_at=_naive(now),
                    )
                )

    def fragments(self) -> list[HeldFragment]:
        """Every part kept of the messages still incomplete, oldest first."""
        with self._session() as s:
            rows = s.scalars(
                select(Fragment).where(Fragment.owner == self.owner).order_by(Fragment.id)
            )
            return [
                HeldFragment(
                    FragmentKey(r.sender, r.ref_bits, r.ref, r.total),
                    r.seq,
                    r.tpdu,
                    _aware(r.received_at),
                )
                for r in rows
            ]

    def expire_fragments(self, before: datetime) -> list[FragmentKey]:
        """Give up on the incomplete messages whose first part came before
        ``before``: their parts are dropped, and their keys returned."""
        with self._session() as s, s.begin():
            rows = s.execute(
                select(Fragment.sender, Fragment.ref_bits, Fragment.ref, Fragment.total)
                .where(Fragment.owner == self.owner)
                .group_by(Fragment.sender, Fragment.ref_bits, Fragment.ref, Fragment.total)
                .having(func.min(Fragment.received_at) < _naive(before))
            ).all()
            keys = [FragmentKey(r.sender, r.ref_bits, r.ref, r.total) for r in rows]
            for key in keys:
                s.execute(
                    delete(Fragment).where(Fragment.owner == self.owner, *_of_key(Fragment, key))
                )
            return keys

    def part_consumed(self, key: FragmentKey, seq: int, tpdu: bytes) -> bool:
        """Whether this very part went into a message stored already (the
        SMSC delivers it again when it did not see the RP-ACK)."""
        with self._session() as s:
            found = s.scalars(
                select(ConsumedPart.id).where(
                    ConsumedPart.owner == self.owner,
                    ConsumedPart.digest == part_digest(tpdu),
                    *_of_key(ConsumedPart, key),
                    ConsumedPart.seq == seq,
                )
            ).first()
            return found is not None

    def prune_consumed(self, before: datetime) -> int:
        """Forget the parts consumed before ``before``; how many went."""
        with self._session() as s, s.begin():
            gone = s.execute(
                delete(ConsumedPart).where(
                    ConsumedPart.owner == self.owner, ConsumedPart.consumed_at < _naive(before)
                )
            )
            return int(getattr(gone, "rowcount", 0) or 0)

    def store_incoming(
        self,
        peer: str,
        text: str,
        number: int | None,
        carrier: Carrier | None,
        tp_scts: datetime,
        parts: int,
        fragments: FragmentKey | None,
        now: datetime,
        last: tuple[int, bytes] | None = None,
        *,
        uid: str | None = None,
        via: str = Via.SMS,
    ) -> Received:
        """Store a whole received message, unread.

        A concatenated message's kept parts (``fragments``) and the one that
        completed it (``last``: its part number and SMS-DELIVER) are recorded
        as consumed, so that a resend of any of them is recognised
        (``part_consumed``).  The same message again (same peer, SMSC time
        stamp, text and number, or no number: the SMSC resends what it did not
        see acknowledged) is not stored twice.  Two messages from a phone that
        numbers nothing, with the same text in the same second, are taken for
        one: TP-SCTS has no finer grain.  Its ``uid``, unless given, is derived
        from the same (``received_uid``); a message of that uid (one imported
        from another device) is the same message too.
        """
        how = Via(via)
        scts = _naive(tp_scts)
        if uid is None:
            uid = received_uid(self.owner, peer, scts, number, text)
        check_uid(uid)
        with self._session() as s, s.begin():
            consumed: dict[int, bytes] = {}
            if fragments is not None:
                where = (Fragment.owner == self.owner, *_of_key(Fragment, fragments))
                for seq, tpdu in s.execute(select(Fragment.seq, Fragment.tpdu).where(*where)):
                    consumed.setdefault(seq, tpdu)
                s.execute(delete(Fragment).where(*where))
                if last is not None:
                    consumed.setdefault(*last)
            message = s.scalars(
                select(Message).where(
                    Message.owner == self.owner,
                    or_(
                        Message.uid == uid,
                        # Stored before uids were derived (revision 0003).
                        (Message.peer == peer)
                        & (Message.direction == Direction.IN.value)
                        & (Message.tp_scts == scts)
                        & Message.message_number.is_not_distinct_from(number)
                        & (Message.text == text),
                    ),
                )
            ).first()
            duplicate = message is not None
            if message is None:
                message = Message(
                    owner=self.owner,
                    peer=peer,
                    direction=Direction.IN.value,
                    text=text,
                    message_number=number,
                    carrier=carrier.value if carrier is not None else None,
                    state=None,
                    read=False,
                    response_pending=False,
                    part_count=parts,
                    concat_ref=fragments.ref if fragments is not None else None,
                    created_at=_naive(now),
                    tp_scts=scts,
                    read_at=None,
                    uid=uid,
                    via=how.value,
                    history_pending=True,
                )
                s.add(message)
                s.flush()
            if fragments is not None:
                s.add_all(self._consumed(fragments, consumed.items(), message.id, now))
            return Received(_view(message), duplicate=duplicate)

    def store_ip_incoming(
        self, peer: str, uid: str, text: str, number: int | None, sent_at: datetime, now: datetime
    ) -> Received:
        """Store, unread, a message that came over the IP path (SPEC §2.3),
        under the sender's ``uid`` and time: a redelivery of that uid is not
        stored twice."""
        check_uid(uid)
        with self._session() as s, s.begin():
            message = s.scalars(
                select(Message).where(Message.owner == self.owner, Message.uid == uid)
            ).one_or_none()
            if message is not None:
                return Received(_view(message), duplicate=True)
            message = Message(
                owner=self.owner,
                peer=peer,
                direction=Direction.IN.value,
                text=text,
                message_number=number,
                carrier=None,
                state=None,
                read=False,
                response_pending=False,
                part_count=1,
                concat_ref=None,
                created_at=_naive(sent_at),
                tp_scts=None,
                read_at=None,
                uid=uid,
                via=Via.IP.value,
                history_pending=True,
            )
            s.add(message)
            s.flush()
            return Received(_view(message), duplicate=False)

    def _consumed(
        self, key: FragmentKey, parts: Iterable[tuple[int, bytes]], message_id: int, now: datetime
    ) -> list[ConsumedPart]:
        return [
            ConsumedPart(
                owner=self.owner,
                sender=key.sender,
                ref_bits=key.ref_bits,
                ref=key.ref,
                total=key.total,
                seq=seq,
                digest=part_digest(tpdu),
                message_id=message_id,
                consumed_at=_naive(now),
            )
            for seq, tpdu in parts
        ]

    # -- reading -----------------------------------------------------------------------

    def _get(self, s: Session, message_id: int) -> Message:
        message = s.get(Message, message_id)
        if message is None or message.owner != self.owner:
            raise NotFound(message_id)
        return message

    def mark_read(self, message_id: int, now: datetime) -> Opened:
        """The user opened a message.  A received one becomes read; with
        receipts on and a number to answer, a response is owed from now on
        (``response_pending``) until the IP server accepts it."""
        with self._session() as s, s.begin():
            message = self._get(s, message_id)
            if message.direction == Direction.IN.value and not message.read:
                message.read, message.read_at = True, _naive(now)
                if message.message_number is not None and self._profile(s).receipts:
                    message.response_pending = True
            return Opened(_view(message), respond=message.response_pending)

    def response_done(self, message_id: int) -> None:
        """The IP server took the response (or refused it for good)."""
        with self._session() as s, s.begin():
            s.execute(
                update(Message)
                .where(Message.owner == self.owner, Message.id == message_id)
                .values(response_pending=False)
            )

    def pending_responses(self) -> list[Response]:
        with self._session() as s:
            rows = s.execute(
                select(Message.id, Message.peer, Message.message_number)
                .where(Message.owner == self.owner, Message.response_pending)
                .order_by(Message.id)
            ).all()
            return [
                Response(r.id, r.peer, r.message_number)
                for r in rows
                if r.message_number is not None
            ]

    # -- queries -------------------------------------------------------------------

    def message(self, message_id: int) -> MessageView:
        with self._session() as s:
            return _view(self._get(s, message_id))

    def inbox(self, limit: int | None = None) -> list[MessageView]:
        """Received messages, newest first."""
        with self._session() as s:
            query = (
                select(Message)
                .where(Message.owner == self.owner, Message.direction == Direction.IN.value)
                .order_by(Message.id.desc())
                .limit(limit)
            )
            return [_view(m) for m in s.scalars(query)]

    def conversation(self, peer: str) -> list[MessageView]:
        """The messages exchanged with ``peer``, oldest first, with the marks."""
        with self._session() as s:
            rows = list(
                s.scalars(
                    select(Message)
                    .where(Message.owner == self.owner, Message.peer == peer)
                    .order_by(Message.id)
                )
            )
            states = [
                OutState(m.state) if m.direction == Direction.OUT.value and m.state else None
                for m in rows
            ]
            return [_view(m, mark) for m, mark in zip(rows, marks(states), strict=True)]

    def conversations(self) -> list[ConversationView]:
        """Every conversation, the most recently active first."""
        with self._session() as s:
            stats = (
                select(
                    Message.peer,
                    func.max(Message.id).label("last_id"),
                    func.count(Message.id).label("total"),
                    func.count(Message.id)
                    .filter(Message.direction == Direction.IN.value, Message.read.is_(False))
                    .label("unread"),
                )
                .where(Message.owner == self.owner)
                .group_by(Message.peer)
                .subquery()
            )
            rows = s.execute(
                select(Message, stats.c.total, stats.c.unread)
                .join(stats, Message.id == stats.c.last_id)
                .order_by(Message.id.desc())
            ).all()
            return [ConversationView(m.peer, _view(m), total, unread) for m, total, unread in rows]

    def pin_key(self, device_id: str, public_key: bytes, now: datetime) -> bool:
        """Whether ``public_key`` is the key pinned for the account's device
        ``device_id``; the first key seen for it is pinned (``PinnedKey``)."""
        with self._session() as s, s.begin():
            pinned = s.scalar(
                select(PinnedKey.public_key).where(
                    PinnedKey.owner == self.owner, PinnedKey.device_id == device_id
                )
            )
            if pinned is None:
                s.add(PinnedKey(owner=self.owner, device_id=device_id, public_key=public_key,
                                first_seen=_naive(now)))  # fmt: skip
                return True
            return bytes(pinned) == public_key

    def message_by_uid(self, uid: str) -> MessageView:
        with self._session() as s:
            message = s.scalars(
                select(Message).where(Message.owner == self.owner, Message.uid == uid)
            ).one_or_none()
            if message is None:
                raise NotFound(uid)
            return _view(message)

    # -- history (SPEC §3) ----------------------------------------------------------

    def history_pending(self, limit: int = 100) -> list[HistoryItem]:
        """Messages a copy of which is owed to the IP server's partial history,
        oldest first."""
        with self._session() as s:
            rows = s.scalars(
                select(Message)
                .where(Message.owner == self.owner, Message.history_pending)
                .order_by(Message.id)
                .limit(limit)
            )
            return [_item(m) for m in rows]

    def history_done(self, uids: Sequence[str]) -> None:
        """The IP server holds these messages now."""
        with self._session() as s, s.begin():
            for chunk in _chunks(uids, _CHUNK):
                s.execute(
                    update(Message)
                    .where(Message.owner == self.owner, Message.uid.in_(chunk))
                    .values(history_pending=False)
                )

    def search(self, query: HistoryQuery) -> list[HistoryItem]:
        """This handset's messages that match ``query``, newest first (SPEC §3.2,
        §3.5).  The text matches as typed, ``%`` and ``_`` included, ignoring
        case (of ASCII letters: the databases' ``lower`` goes no further under
        the C locale)."""
        where = [Message.owner == self.owner]
        if query.text is not None:
            pattern = f"%{_like_escaped(query.text)}%"
            # SQLite's LIKE ignores ASCII case already, as its lower() does:
            # ilike would add a lower() per row for nothing.
            like = Message.text.like if self.engine.dialect.name == "sqlite" else Message.text.ilike
            where.append(like(pattern, escape=_ESCAPE))
        if query.peer is not None:
            where.append(Message.peer == query.peer)
        if query.since is not None:
            where.append(Message.created_at >= _naive(query.since))
        if query.until is not None:
            where.append(Message.created_at < _naive(query.until))
        with self._session() as s:
            rows = s.scalars(
                select(Message)
                .where(*where)
                .order_by(Message.created_at.desc(), Message.id.desc())
                .limit(query.limit)
            )
            return [_item(m) for m in rows]

    def import_history(self, items: Iterable[HistoryItem]) -> int:
        """Store what a history query found on other devices, all in one
        transaction, but no uid this handset has already (nor one twice);
        how many were new.  They count as read and delivered, arrived by SMS,
        and owe nothing to the IP server."""
        inserted = 0
        seen: set[str] = set()
        with self._session() as s, s.begin():
            for chunk in _chunks(items, _CHUNK):
                fresh: dict[str, HistoryItem] = {}
                for item in chunk:
                    if item.uid not in seen:
                        fresh.setdefault(item.uid, item)  # the first of a uid given twice
                seen.update(fresh)
                held = s.scalars(
                    select(Message.uid).where(
                        Message.owner == self.owner, Message.uid.in_(list(fresh))
                    )
                )
                for uid in held:
                    del fresh[uid]
                if not fresh:
                    continue
                rows = [self._imported(item) for item in fresh.values()]
                s.connection().execute(insert(_MESSAGES), rows)  # Core: no ORM work per row
                inserted += len(fresh)
        return inserted

    def _imported(self, item: HistoryItem) -> dict[str, Any]:
        sent = item.direction is Direction.OUT
        return {
            "owner": self.owner,
            "peer": item.peer,
            "direction": item.direction.value,
            "text": item.text,
            "message_number": None,
            "carrier": None,
            "state": OutState.DELIVERED.value if sent else None,
            "read": not sent,
            "response_pending": False,
            "part_count": 1,
            "concat_ref": None,
            "created_at": _naive(item.at),
            "tp_scts": None,
            "read_at": None,
            "uid": item.uid,
            "via": Via.SMS.value,
            "history_pending": False,
        }


_MESSAGES = Base.metadata.tables[Message.__tablename__]

#: Rows per statement of a bulk operation: well within the bound parameters
#: SQLite and PostgreSQL take in one statement.
_CHUNK = 1000


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class HandsetStore:
    """A ``Repository`` behind one database thread (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        owner: str,
        reactor: IReactorFromThreads | None = None,
        *,
        threaded: bool = True,
        pool: ThreadPool | None = None,
    ) -> None:
        self.engine = engine
        self.repo = Repository(engine, owner)
        self.threaded = threaded
        self._reactor = reactor
        self._pool: ThreadPool | None = None
        self._owns_pool = pool is None
        self._trigger: Any = None
        self._closed = False
        if threaded:
            if self._reactor is None:
                from twisted.internet import reactor as default_reactor

                self._reactor = default_reactor  # type: ignore[assignment]
            if pool is not None:
                # One database thread for many handsets in one process: their
                # work runs in turn instead of fighting over the GIL.
                self._pool = pool
                return
            self._pool = ThreadPool(1, 1, name=f"handset-db {owner}")
            self._pool.start()
            if IReactorCore.providedBy(self._reactor):
                # A store nobody closed must not keep the process from exiting.
                self._trigger = IReactorCore(self._reactor).addSystemEventTrigger(
                    "during", "shutdown", self._pool.stop
                )

    @classmethod
    def open(
        cls,
        url: str,
        owner: str,
        reactor: IReactorFromThreads | None = None,
        *,
        threaded: bool = True,
        pool: ThreadPool | None = None,
    ) -> HandsetStore:
        """Open (and migrate) the database at ``url`` for the handset ``owner``;
        ``pool``, a started single-thread pool, is shared with other stores."""
        return cls(open_engine(url), owner, reactor, threaded=threaded, pool=pool)

    @property
    def owner(self) -> str:
        return self.repo.owner

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        """Run ``fn`` on the database thread; fires with its result once done."""
        if self._closed:
            return fail(RuntimeError(f"the store of {self.owner} is closed"))
        if self._pool is None:
            try:
                return succeed(fn(*args, **kwargs))
            except Exception:
                return fail()
        assert self._reactor is not None
        return deferToThreadPool(self._reactor, self._pool, fn, *args, **kwargs)

    def close(self) -> Deferred[None]:
        """Let queued work finish, end the thread, release the engine."""
        self._closed = True
        pool, self._pool = self._pool, None
        if self._trigger is not None:
            IReactorCore(self._reactor).removeSystemEventTrigger(self._trigger)
            self._trigger = None

        def finish() -> None:
            if pool is not None and self._owns_pool:
                pool.stop()
            self.engine.dispose()

        if pool is None:
            finish()
            return succeed(None)
        if not self._owns_pool:
            assert self._reactor is not None
            # Behind this store's queued work on the shared thread.
            return deferToThreadPool(self._reactor, pool, self.engine.dispose)
        return deferToThread(finish)
