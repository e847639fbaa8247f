"""What every part of the repository shares: the session, the rows every
transaction locks first (the profile), and the mapping of rows to views."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from pdu.message_number import Carrier

from ..conversation import Mark, OutState
from ..models import Base, ConsumedPart, Conversation, Direction, Fragment, Message, Profile
from ..views import FragmentKey, HistoryItem, IpPath, MessageView, NotFound, Settings

T = TypeVar("T")


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


def _naive(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when


def _aware(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC)


def _view(row: Any, mark: Mark | None = None) -> MessageView:
    """The view of a message, from its ORM object or a Core row of its table."""
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


def _item(row: Any) -> HistoryItem:
    """The history item of a message: an ORM object or a Core row with its columns."""
    return HistoryItem(
        row.uid, row.peer, Direction(row.direction), row.text, _aware(row.created_at)
    )


_MESSAGES = Base.metadata.tables[Message.__tablename__]

#: Rows per statement of a bulk operation: well within the bound parameters
#: SQLite and PostgreSQL take in one statement.
_CHUNK = 1000


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class RepoBase:
    """One handset's rows in ``engine``: every public method of the parts
    composed into ``Repository`` is one short transaction."""

    def __init__(self, engine: Engine, owner: str) -> None:
        self.engine = engine
        self.owner = owner
        self._local = threading.local()

    @contextmanager
    def bound(self, conn: Connection) -> Iterator[None]:
        """On this thread, sessions join ``conn``'s transaction (the store's
        batch) instead of each committing on its own."""
        self._local.conn = conn
        try:
            yield
        finally:
            self._local.conn = None

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """A connection in a transaction, for the hot paths' Core statements
        (no ORM unit of work): the store's batch when bound, else one of its own."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
        else:
            with self.engine.begin() as own:
                yield own

    def _session(self) -> Session:
        bind: Connection | Engine = getattr(self._local, "conn", None) or self.engine
        return Session(bind, expire_on_commit=False)

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
                read_on_view=d.read_on_view,
                memory_exceeded=False,
            )
            s.add(row)
            s.flush()
        return row

    @staticmethod
    def _settings(row: Profile) -> Settings:
        return Settings(
            Carrier(row.carrier),
            row.receipts,
            row.iei,
            row.marker,
            IpPath(row.ip_path),
            row.read_on_view,
        )

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

    def _get(self, s: Session, message_id: int) -> Message:
        message = s.get(Message, message_id)
        if message is None or message.owner != self.owner:
            raise NotFound(message_id)
        return message
