"""Which node holds a queued message (``message.node``), taken with
``FOR UPDATE SKIP LOCKED`` so that two nodes never both hold one.

A message goes to the node its recipient is attached on (an SMS, a status
report) or to a node holding a receiver bind of its ESME (an ``esme``
message).  A node claims: what is inserted for a recipient attached on it (in
the insert itself: ``message.node`` is set), what a NOTIFY named once the
sender's transaction committed, what waited for a subscriber as it attaches
or for an ESME as its receiver binds, and what a dead node held once it is
reaped (``smsc.cluster``).  Claims return the rows, for the node's memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, select, update

from .models import MESSAGE, MessageKind, MessageState


def _claim(conn: Connection, node: str, where: ColumnElement[bool]) -> list[Any]:
    queued = (
        select(MESSAGE.c.id)
        .where(MESSAGE.c.state == MessageState.QUEUED.value, MESSAGE.c.node.is_(None), where)
        .order_by(MESSAGE.c.id)
        .with_for_update(skip_locked=True)
    )
    rows = conn.execute(
        update(MESSAGE)
        .where(MESSAGE.c.id.in_(queued.scalar_subquery()))
        .values(node=node)
        .returning(*MESSAGE.c)
    ).all()
    return sorted(rows, key=lambda row: row.id)


def for_subscribers(conn: Connection, node: str, msisdns: Sequence[str]) -> list[Any]:
    """Claim the unclaimed messages (SMS, status reports) for ``msisdns``."""
    return _claim(
        conn,
        node,
        (MESSAGE.c.recipient.in_(list(msisdns))) & (MESSAGE.c.kind != MessageKind.ESME.value),
    )


def for_esmes(conn: Connection, node: str, system_ids: Sequence[str]) -> list[Any]:
    """Claim the unclaimed deliver_sm (MO messages, receipts) owed to ``system_ids``."""
    return _claim(
        conn,
        node,
        (MESSAGE.c.esme.in_(list(system_ids))) & (MESSAGE.c.kind == MessageKind.ESME.value),
    )


def parts(conn: Connection, node: str, esme: str, ids: Sequence[int]) -> list[Any]:
    """Claim the unclaimed queued parts among ``ids`` of a message ``esme``
    submitted, to cancel or replace it (``smsc.recall``): never a row of
    anyone else's, whatever ids an ESME names."""
    return _claim(
        conn,
        node,
        MESSAGE.c.id.in_(list(ids))
        & (MESSAGE.c.esme == esme)
        & (MESSAGE.c.kind == MessageKind.SMS.value),
    )


def release(conn: Connection, node: str, ids: Sequence[int]) -> int:
    """Give back messages ``node`` holds (its subscriber left for another node)."""
    return conn.execute(
        update(MESSAGE)
        .where(
            MESSAGE.c.id.in_(list(ids)),
            MESSAGE.c.node == node,
            MESSAGE.c.state == MessageState.QUEUED.value,
        )
        .values(node=None)
    ).rowcount


def held_elsewhere(conn: Connection, node: str, msisdns: Sequence[str]) -> list[tuple[str, str]]:
    """(node, msisdn): the other nodes holding queued messages for ``msisdns``
    (the subscriber attached there before it came here)."""
    if not msisdns:
        return []
    m = MESSAGE
    rows = conn.execute(
        select(m.c.node, m.c.recipient)
        .distinct()
        .where(
            m.c.state == MessageState.QUEUED.value,
            m.c.recipient.in_(list(msisdns)),
            m.c.node.is_not(None),
            m.c.node != node,
        )
    )
    return [(row.node, row.recipient) for row in rows]
