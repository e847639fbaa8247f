"""The server's partial history (docs/history-query.md §Window): copies of an account's messages
inside the retention window, pruned oldest first, and searched before a
query is relayed to the account's devices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred

from ipwire import wire

from .jobs import Part, from_millis, to_millis
from .models import HistoryCopy


@dataclass(frozen=True, slots=True)
class Retention:
    """How much of an account's history the server keeps (docs/history-query.md §Window): messages
    younger than ``max_age`` and, of those, the newest ``max_count``.  Either
    at zero keeps none at all."""

    max_age: timedelta = timedelta(days=30)
    max_count: int = 1000

    @property
    def keeps(self) -> bool:
        return self.max_age > timedelta(0) and self.max_count > 0


def _like(text: str) -> str:
    """A literal substring pattern for LIKE ... ESCAPE '\\'."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(
    s: Session, account: str, q: wire.Query, retention: Retention, now: datetime
) -> list[wire.HistoryEntry]:
    """The account's copies inside the window that ``q`` asks for, newest first."""
    if not retention.keeps:
        return []
    where = [HistoryCopy.account == account, HistoryCopy.at >= now - retention.max_age]
    if q.text is not None:
        # SQLite's LIKE ignores ASCII case already (as its lower() does).
        sqlite = s.get_bind().dialect.name == "sqlite"
        like = HistoryCopy.text.like if sqlite else HistoryCopy.text.ilike
        where.append(like(_like(q.text), escape="\\"))
    if q.peer is not None:
        where.append(HistoryCopy.peer == q.peer)
    if q.since is not None:
        where.append(HistoryCopy.at >= from_millis(q.since))
    if q.until is not None:
        where.append(HistoryCopy.at < from_millis(q.until))
    rows = s.scalars(
        select(HistoryCopy)
        .where(*where)
        .order_by(HistoryCopy.at.desc(), HistoryCopy.id.desc())
        .limit(q.limit)
    )
    return [wire.HistoryEntry(r.uid, r.peer, r.direction, r.text, to_millis(r.at)) for r in rows]


class History(Part):
    """Keeping and pruning the copies; ``search`` reads them."""

    def put_history(
        self, account: str, entries: Sequence[wire.HistoryEntry], retention: Retention
    ) -> Deferred[int]:
        """Keep copies of ``entries`` inside the retention window (one already
        held, by uid, is left as it is), then prune the account's oldest past
        ``retention.max_count``.  Fires with how many were added."""

        def work(s: Session) -> int:
            if not retention.keeps:
                return 0
            now = self.now()
            oldest = now - retention.max_age
            fresh = {e.uid: e for e in entries if from_millis(e.at) >= oldest}
            if not fresh:
                return 0
            held = set(
                s.scalars(
                    select(HistoryCopy.uid).where(
                        HistoryCopy.account == account, HistoryCopy.uid.in_(fresh)
                    )
                )
            )
            rows = [
                {"account": account, "uid": e.uid, "peer": e.peer, "direction": e.direction,
                 "text": e.text, "at": from_millis(e.at), "stored_at": now}
                for uid, e in fresh.items() if uid not in held
            ]  # fmt: skip
            if rows:
                s.execute(insert(HistoryCopy), rows)
                self._prune_count(s, account, retention.max_count)
            return len(rows)

        return self._submit(work)

    @staticmethod
    def _prune_count(s: Session, account: str, keep: int) -> None:
        """Drop the account's copies past the newest ``keep``."""
        cutoff = s.execute(
            select(HistoryCopy.at, HistoryCopy.id)
            .where(HistoryCopy.account == account)
            .order_by(HistoryCopy.at.desc(), HistoryCopy.id.desc())
            .offset(keep)
            .limit(1)
        ).first()
        if cutoff is not None:
            s.execute(
                delete(HistoryCopy).where(
                    HistoryCopy.account == account,
                    or_(
                        HistoryCopy.at < cutoff.at,
                        (HistoryCopy.at == cutoff.at) & (HistoryCopy.id <= cutoff.id),
                    ),
                )
            )

    def prune_history(self, retention: Retention) -> Deferred[int]:
        """Drop every copy older than the window (all of them when it keeps
        none); fires with how many went."""

        def work(s: Session) -> int:
            query = delete(HistoryCopy)
            if retention.keeps:
                query = query.where(HistoryCopy.at < self.now() - retention.max_age)
            return int(getattr(s.execute(query), "rowcount", 0) or 0)

        return self._submit(work)

    def history_count(self, account: str) -> Deferred[int]:
        def work(s: Session) -> int:
            query = select(func.count()).where(HistoryCopy.account == account)
            return int(s.execute(query).scalar_one())

        return self._submit(work)
