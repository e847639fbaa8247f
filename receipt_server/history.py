"""The server's partial history (docs/history-query.md §Window): copies of an account's messages
inside the retention window, sealed to the account's devices, pruned oldest
first, and searched (on time and conversation) before a query is relayed to
the account's devices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, or_, select, true
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred

from ipwire import wire
from ipwire.window import seal_copy, window_entry

from .devices import bound_devices
from .jobs import Part, from_millis, to_millis
from .models import HistoryCopy, HistoryKey, HistoryWindow


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


@dataclass(frozen=True, slots=True)
class WindowAnswer:
    """What the window gives one asker for a query: its hits sealed to the
    asker, newest first, and whether they are the whole answer
    (docs/history-query.md §Window, coverage)."""

    entries: list[wire.WindowEntry]
    covered: bool


def _floor(s: Session, account: str, retention: Retention, now: datetime) -> datetime | None:
    """The time after which the window holds every copy of the account (None:
    it holds none, it never took one)."""
    window = s.get(HistoryWindow, account)
    return None if window is None else max(now - retention.max_age, window.floor_at)


def search(
    s: Session, account: str, asker: str, q: wire.Query, retention: Retention, now: datetime
) -> WindowAnswer:
    """The window's copies of ``account`` that ``q`` asks for, sealed to
    ``asker``, and whether the window covers ``q``: a time range wholly after
    its floor, or the newest ``limit`` when it holds that many.  A text search
    is never covered and gets nothing: the server cannot read the texts."""
    floor = _floor(s, account, retention, now)
    if not retention.keeps or q.text is not None or floor is None:
        return WindowAnswer([], covered=False)
    where = [HistoryCopy.account == account, HistoryCopy.at >= now - retention.max_age]
    if q.peer is not None:
        where.append(HistoryCopy.peer == q.peer)
    if q.since is not None:
        where.append(HistoryCopy.at >= from_millis(q.since))
    if q.until is not None:
        where.append(HistoryCopy.at < from_millis(q.until))
    rows = s.execute(
        select(HistoryCopy, HistoryKey.sealed)
        .outerjoin(
            HistoryKey, (HistoryKey.copy_id == HistoryCopy.id) & (HistoryKey.device_id == asker)
        )
        .where(*where)
        .order_by(HistoryCopy.at.desc(), HistoryCopy.id.desc())
        .limit(q.limit)
    ).all()
    entries = [
        window_entry(c.uid, c.peer, c.direction, to_millis(c.at), c.box, key)
        for c, key in rows if key is not None
    ]  # fmt: skip
    # A copy sealed before the asker was bound does not open for it: the
    # window then does not cover the query for this asker.
    readable = len(entries) == len(rows)
    since_inside = q.since is not None and from_millis(q.since) > floor
    newest_inside = len(rows) == q.limit and rows[-1][0].at > floor
    return WindowAnswer(entries, readable and (since_inside or newest_inside))


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
            devices = [d for d in bound_devices(s, account) if d.public_key is not None]
            if not devices:
                return 0  # nobody the copies could be sealed to: none kept
            if s.get(HistoryWindow, account) is None:
                # The window holds the account from now on: of what came
                # before, it may lack what the devices never copied.
                s.add(HistoryWindow(account=account, floor_at=now))
            new = [e for uid, e in fresh.items() if uid not in held]
            for e in new:
                box, keys = seal_copy(e, [d.public_key for d in devices if d.public_key])
                copy = HistoryCopy(account=account, uid=e.uid, peer=e.peer,
                                   direction=e.direction, box=box, at=from_millis(e.at),
                                   stored_at=now)  # fmt: skip
                s.add(copy)
                s.flush()
                s.add_all(
                    HistoryKey(copy_id=copy.id, device_id=d.device_id, sealed=k)
                    for d, k in zip(devices, keys, strict=True)
                )
            if new:
                self._prune_count(s, account, retention.max_count)
            return len(new)

        return self._submit(work)

    @staticmethod
    def _prune_count(s: Session, account: str, keep: int) -> None:
        """Drop the account's copies past the newest ``keep``; the window's
        floor moves up to the newest dropped."""
        cutoff = s.execute(
            select(HistoryCopy.at, HistoryCopy.id)
            .where(HistoryCopy.account == account)
            .order_by(HistoryCopy.at.desc(), HistoryCopy.id.desc())
            .offset(keep)
            .limit(1)
        ).first()
        if cutoff is None:
            return
        _delete_copies(
            s,
            (HistoryCopy.account == account)
            & or_(
                HistoryCopy.at < cutoff.at,
                (HistoryCopy.at == cutoff.at) & (HistoryCopy.id <= cutoff.id),
            ),
        )
        window = s.get(HistoryWindow, account)
        if window is not None and cutoff.at > window.floor_at:
            window.floor_at = cutoff.at

    def prune_history(self, retention: Retention) -> Deferred[int]:
        """Drop every copy older than the window (all of them when it keeps
        none); fires with how many went."""

        def work(s: Session) -> int:
            if not retention.keeps:
                # Keeping nothing, it vouches for nothing: should it keep again,
                # it holds each account from its next copy on.
                s.execute(delete(HistoryWindow))
                return _delete_copies(s, true())
            return _delete_copies(s, HistoryCopy.at < self.now() - retention.max_age)

        return self._submit(work)

    def history_count(self, account: str) -> Deferred[int]:
        def work(s: Session) -> int:
            query = select(func.count()).where(HistoryCopy.account == account)
            return int(s.execute(query).scalar_one())

        return self._submit(work)


def _delete_copies(s: Session, which: ColumnElement[bool]) -> int:
    """Delete the copies ``which`` selects, with their keys; how many went."""
    ids = select(HistoryCopy.id).where(which).scalar_subquery()
    s.execute(delete(HistoryKey).where(HistoryKey.copy_id.in_(ids)))
    return int(getattr(s.execute(delete(HistoryCopy).where(which)), "rowcount", 0) or 0)
