"""What the user sees and opens: messages, conversations, read responses
owed (docs/read-receipts.md §Reading, §Responses, §Conversations), and the
keys pinned for the account's devices.

Opening a message and what a response or a read sync settles are the read
receipts' hot path: Core statements built once (no ORM unit of work), in the
store's batch transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Connection, Row, bindparam, func, select, update

from ..conversation import OutState, marks
from ..models import Direction, Message, PinnedKey, Profile
from ..views import ConversationView, MessageView, NotFound, Opened, Response, Settings
from .base import _MESSAGES, _aware, _naive, _view
from .sms_store import SmsStoreRepo

_M = _MESSAGES
_OWNER: BindParameter[str] = bindparam("b_owner")
_MESSAGE = select(_M).where(_M.c.owner == _OWNER, _M.c.id == bindparam("b_id"))
_UNREAD_WITH = (
    select(_M)
    .where(
        _M.c.owner == _OWNER,
        _M.c.peer == bindparam("b_peer"),
        _M.c.direction == Direction.IN.value,
        _M.c.read.is_(False),
    )
    .order_by(_M.c.id)
)
_WITH = select(_M).where(_M.c.owner == _OWNER, _M.c.peer == bindparam("b_peer")).order_by(_M.c.id)
# Locked as every write of the profile's settings locks it (PostgreSQL).
_RECEIPTS = select(Profile.receipts).where(Profile.owner == _OWNER).with_for_update()
_OPEN = (
    update(_M)
    .where(_M.c.id == bindparam("b_id"))
    # read_sync_pending: the account's other devices are told of the read.
    .values(read=True, read_at=bindparam("b_at"), read_sync_pending=True,
            response_pending=bindparam("b_respond"))
)  # fmt: skip
_RESPONSE_DONE = (
    update(_M)
    .where(_M.c.owner == _OWNER, _M.c.id == bindparam("b_id"))
    .values(response_pending=False)
)
_READ_SYNCED = (
    update(_M)
    .where(_M.c.owner == _OWNER, _M.c.id == bindparam("b_id"))
    .values(read_sync_pending=False)
)
_READ_SYNCS = (
    select(_M.c.id, _M.c.uid)
    .where(_M.c.owner == _OWNER, _M.c.read_sync_pending.is_(True))
    .order_by(_M.c.id)
)


class ReadingRepo(SmsStoreRepo):
    """The user's view of the messages, and what reading them owes."""

    def mark_read(self, message_id: int, now: datetime) -> Opened:
        """The user opened a message.  A received one becomes read; with
        receipts on and a number to answer, a response is owed from now on
        (``response_pending``) until the IP server accepts it.  Its entries
        in the message store are REC READ (the AT port shows the read)."""
        with self._tx() as conn:
            row = conn.execute(_MESSAGE, {"b_owner": self.owner, "b_id": message_id}).first()
            if row is None:
                raise NotFound(message_id)
            return self._open(conn, row, now, None)

    def open_conversation(self, peer: str, now: datetime) -> list[Opened]:
        """The user looks at the conversation with ``peer``: each unread
        received message in it is opened as ``mark_read`` opens one, all in
        one transaction; the ones opened, oldest first."""
        with self._tx() as conn:
            rows = conn.execute(_UNREAD_WITH, {"b_owner": self.owner, "b_peer": peer}).all()
            receipts = self._receipts(conn) if rows else None
            return [self._open(conn, row, now, receipts) for row in rows]

    def _receipts(self, conn: Connection) -> bool:
        on = conn.execute(_RECEIPTS, {"b_owner": self.owner}).scalar()
        return Settings().receipts if on is None else bool(on)

    def _open(
        self, conn: Connection, row: Row[Any], now: datetime, receipts: bool | None
    ) -> Opened:
        """Open the message of ``row`` (``receipts``: the setting, None to read it)."""
        view = _view(row)
        first = view.direction is Direction.IN and not view.read
        if first:
            respond = view.response_pending
            if view.number is not None and not respond:
                respond = self._receipts(conn) if receipts is None else receipts
            conn.execute(_OPEN, {"b_id": view.id, "b_at": _naive(now), "b_respond": respond})
            self._entries_read(conn, view.id)
            view = replace(view, read=True, response_pending=respond)
        return Opened(view, respond=view.response_pending, first=first)

    def response_done(self, message_id: int) -> None:
        """The IP server took the response (or refused it for good)."""
        with self._tx() as conn:
            conn.execute(_RESPONSE_DONE, {"b_owner": self.owner, "b_id": message_id})

    def pending_responses(self) -> list[Response]:
        with self._session() as s:
            rows = s.execute(
                select(
                    Message.id,
                    Message.peer,
                    Message.message_number,
                    func.coalesce(Message.tp_scts, Message.created_at).label("sent_at"),
                )
                .where(Message.owner == self.owner, Message.response_pending)
                .order_by(Message.id)
            ).all()
            return [
                Response(r.id, r.peer, r.message_number, _aware(r.sent_at))
                for r in rows
                if r.message_number is not None
            ]

    def pending_read_syncs(self) -> list[tuple[int, str]]:
        """(id, uid) of the messages read here that the IP server has yet to
        pass on to the account's other devices, oldest first."""
        with self._tx() as conn:
            return [(r.id, r.uid) for r in conn.execute(_READ_SYNCS, {"b_owner": self.owner})]

    def read_synced(self, message_id: int) -> None:
        """The IP server took the news of this read."""
        with self._tx() as conn:
            conn.execute(_READ_SYNCED, {"b_owner": self.owner, "b_id": message_id})

    def read_elsewhere(self, uid: str, now: datetime) -> MessageView | None:
        """Another device of the account read the received message ``uid``:
        it is read here too, with no response (the reader sent it) and
        nothing to pass on.  None when this device does not hold it unread."""
        with self._session() as s, s.begin():
            message = s.scalars(
                select(Message).where(
                    Message.owner == self.owner,
                    Message.uid == uid,
                    Message.direction == Direction.IN.value,
                )
            ).one_or_none()
            if message is None or message.read:
                return None
            message.read, message.read_at = True, _naive(now)
            self._entries_read(s, message.id)
            return _view(message)

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
        with self._tx() as conn:
            rows = conn.execute(_WITH, {"b_owner": self.owner, "b_peer": peer}).all()
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
