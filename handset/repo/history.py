"""The history of docs/history-query.md: copies owed to the IP server, the local search,
and what a search found on the account's other devices."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import insert, select, update

from ..conversation import OutState
from ..models import Direction, Message, Via
from ..views import HistoryItem, HistoryQuery
from .base import _CHUNK, _ESCAPE, _MESSAGES, RepoBase, _chunks, _item, _like_escaped, _naive


class HistoryRepo(RepoBase):
    """The history copies and searches of one handset."""

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
        """This handset's messages that match ``query``, newest first
        (docs/history-query.md §Search, steps 2 and 5).  The text matches as
        typed, ``%`` and ``_`` included, ignoring case (of ASCII letters: the
        databases' ``lower`` goes no further under the C locale)."""
        m = _MESSAGES.c
        where = [m.owner == self.owner]
        if query.text is not None:
            escaped = _like_escaped(query.text)
            pattern = f"%{escaped}%"
            # SQLite's LIKE ignores ASCII case already, as its lower() does:
            # ilike would add a lower() per row for nothing.
            like = m.text.like if self.engine.dialect.name == "sqlite" else m.text.ilike
            # An ESCAPE clause costs SQLite a few per cent a row: only when needed.
            where.append(like(pattern, escape=_ESCAPE) if escaped != query.text else like(pattern))
        if query.peer is not None:
            where.append(m.peer == query.peer)
        if query.since is not None:
            where.append(m.created_at >= _naive(query.since))
        if query.until is not None:
            where.append(m.created_at < _naive(query.until))
        # A Core statement of the five columns an item shows: newest first
        # down ix_handset_message_at (owner, created_at, and the rowid), or
        # ix_handset_message_peer_at for a conversation, stopping at the limit.
        statement = (
            select(m.uid, m.peer, m.direction, m.text, m.created_at)
            .where(*where)
            .order_by(m.created_at.desc(), m.id.desc())
            .limit(query.limit)
        )
        with self._tx() as conn:
            return [_item(row) for row in conn.execute(statement)]

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
