"""``Submitted`` as rows of ``esme_message``: the row written with a message's
parts, and what ``load`` takes up of them at start (the messages whose
receipt is still owed, with their parts' outcomes so far, and the newest
numbered ones whose read receipt may still come)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, select, update

from pdu import Address

from .models import ESME_MESSAGE, MESSAGE, MessageKind, MessageState
from .submitted import MAX_NUMBERED, Submitted


def naive_utc(when: datetime) -> datetime:
    """How the tables keep times: naive UTC (no conversion for a time in UTC
    already, as the SMSC's own are).  ``combine`` of its date and its time
    (which has no zone), not ``replace(tzinfo=None)``: five times faster, and
    the SMSC stores five times a message."""
    if when.tzinfo is not UTC:
        when = when.astimezone(UTC)
    return datetime.combine(when.date(), when.time())


def submitted_row(sub: Submitted) -> dict[str, Any]:
    return {
        "id": sub.id,
        "esme": sub.esme,
        "parts": len(sub.ids),
        "registered_delivery": sub.registered_delivery,
        "submitted_at": naive_utc(sub.submitted_at),
        "text": sub.text,
        "data_coding": sub.data_coding,
        "source_addr": sub.source.number,
        "source_ton": sub.source.ton,
        "source_npi": sub.source.npi,
        "protocol_id": sub.protocol_id,
        "recipient": sub.recipient,
        "forced": sub.forced,
        "message_number": sub.number,
        "done_at": None,
        "read_at": None,
    }


def submitted_of(row: Any) -> Submitted:
    return Submitted(
        esme=row.esme,
        ids=tuple(range(row.id, row.id + row.parts)),
        registered_delivery=row.registered_delivery,
        submitted_at=row.submitted_at.replace(tzinfo=UTC),
        text=row.text,
        data_coding=row.data_coding,
        source=Address(row.source_addr, row.source_ton, row.source_npi),
        protocol_id=row.protocol_id,
        recipient=row.recipient,
        forced=row.forced,
        number=row.message_number,
        done=row.done_at is not None,
        read=row.read_at is not None,
    )


def load_submitted(conn: Connection) -> tuple[list[Submitted], list[Submitted]]:
    """The messages whose receipt is owed, each with the outcomes of its parts
    that ended (``done`` if its receipt's row exists: made, not yet settled),
    and the newest numbered ones settled but not read yet, oldest first."""
    em, m = ESME_MESSAGE, MESSAGE
    pending = {
        r.id: submitted_of(r) for r in conn.execute(select(em).where(em.c.done_at.is_(None)))
    }
    if pending:
        parts = and_(m.c.id >= em.c.id, m.c.id < em.c.id + em.c.parts)
        ended = conn.execute(
            select(em.c.id.label("message"), m.c.id, m.c.state, m.c.error)
            .join(m, parts)
            .where(em.c.done_at.is_(None), m.c.state != MessageState.QUEUED.value)
        )
        for row in ended:
            pending[row.message].outcomes[row.id] = (MessageState(row.state), row.error)
        receipted = conn.execute(
            select(m.c.report_for).where(
                m.c.kind == MessageKind.ESME.value,
                m.c.report_for.in_(select(em.c.id).where(em.c.done_at.is_(None))),
            )
        )
        for (message,) in receipted:
            pending[message].done = True
    numbered = conn.execute(
        select(em)
        .where(em.c.message_number.is_not(None), em.c.read_at.is_(None), em.c.done_at.is_not(None))
        .order_by(em.c.id.desc())
        .limit(MAX_NUMBERED)
    )
    return list(pending.values()), [submitted_of(r) for r in reversed(numbered.all())]


def part_outcomes(
    conn: Connection, ids: Iterable[int]
) -> dict[int, tuple[MessageState, int | None]]:
    """The outcomes of the parts among ``ids`` that ended, by part id (one
    statement for the parts of any number of messages)."""
    m = MESSAGE
    rows = conn.execute(
        select(m.c.id, m.c.state, m.c.error).where(
            m.c.id.in_(list(ids)), m.c.state != MessageState.QUEUED.value
        )
    )
    return {row.id: (MessageState(row.state), row.error) for row in rows}


def submitted_for(conn: Connection, ids: Sequence[int]) -> list[Submitted]:
    """The messages still owed a receipt that the parts ``ids`` (just claimed
    by a node: queued) belong to, with the outcomes of their other parts that
    ended (another node ended them before it died or gave them up)."""
    em = ESME_MESSAGE
    low, high = min(ids), max(ids)
    candidates = conn.execute(
        select(em).where(em.c.done_at.is_(None), em.c.id <= high, em.c.id + em.c.parts > low)
    )
    wanted = set(ids)
    subs = [s for s in map(submitted_of, candidates) if wanted.intersection(s.ids)]
    for sub in subs:  # some of its parts stay with another node, or ended there
        sub.shared = not wanted.issuperset(sub.ids)
    # The parts just claimed were queued, so only the others are looked up,
    # all in one statement.
    others = [i for sub in subs for i in sub.ids if i not in wanted]
    ended = part_outcomes(conn, others) if others else {}
    for sub in subs:
        sub.outcomes.update({i: ended[i] for i in sub.ids if i in ended})
    return subs


def settle_if_ended(
    conn: Connection, message_id: int, when: datetime
) -> dict[int, tuple[MessageState, int | None]] | None:
    """A node ended a part of ``message_id``, whose parts more than one node
    held (``Submitted.shared``): if every part has ended and no node settled
    it yet, this one does (``done_at`` set, committed before its receipt is
    made) and gets the parts' outcomes; otherwise None.  The message's row is
    locked first, so two nodes ending its last parts at once take turns, and
    the second, reading after the first committed, sees it settled: exactly
    one makes the receipt, and the last to end a part sees every end."""
    em = ESME_MESSAGE
    row = conn.execute(
        select(em.c.id, em.c.parts)
        .where(em.c.id == message_id, em.c.done_at.is_(None))
        .with_for_update()
    ).first()
    if row is None:
        return None
    ended = part_outcomes(conn, range(row.id, row.id + row.parts))
    if len(ended) < row.parts:
        return None
    conn.execute(update(em).where(em.c.id == message_id).values(done_at=when))
    return ended
