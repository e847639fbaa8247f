"""cancel_sm and replace_sm of a message another node holds (docs/scaling.md
§Model): the node the ESME asks is rarely the node that delivers.

A node keeps in memory only the parts it holds, so the node an ESME sends
cancel_sm or replace_sm to first looks at the rows (``gather``, one
transaction): parts no node holds it claims itself (``FOR UPDATE SKIP
LOCKED``, as every claim) and then acts on them as on its own; parts a live
node holds it asks that node for (``Recall.ask``), on the holder's LISTEN
channel, the one the nodes already tell each other of work on.  The holder
acts on them if they still wait (the same code as for its own ESMEs), and
answers once what it did is committed, so the ESME's response, sent when the
answer comes, still follows the commit.  No answer within ``TIMEOUT`` (a
holder that just died, a lost notification) is a failure: the ESME may ask
again.

Payloads are short and keyed like the other notifications (``smsc.node``):
``c:`` and ``r:`` (a cancel, a replace) carry ``[request id, asking node,
system_id, [part ids], deadline]`` (a replace adds its new short_message in
hex), and ``a:`` carries ``[request id, done]`` back to the asking node.  The
deadline (the asker's clock, in seconds, ``MARGIN`` before its ``TIMEOUT``)
keeps a holder that hears the request late from acting on what the ESME was
told failed: past it, the holder refuses and does nothing (the nodes' clocks
are taken to agree within the margin, as the leases take them to).  A payload
that does not parse is logged in one line and ignored.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from . import claims, cluster
from .models import ESME_MESSAGE, MESSAGE, MessageKind, MessageState
from .queued import Queued
from .repository import queued_of
from .submitted import Submitted, parts_named
from .submitted_rows import submitted_for

log = logging.getLogger(__name__)

#: Seconds the asking node waits for the holder's answer before it answers
#: the ESME ESME_RCANCELFAIL / ESME_RREPLACEFAIL.
TIMEOUT = 5.0
#: Seconds before the asker's timeout past which the holder no longer acts:
#: what it does must be done, and its answer heard, before the ESME is told
#: it failed.
MARGIN = 1.0
CANCEL, REPLACE, ANSWER = "c:", "r:", "a:"
KEYS = (CANCEL, REPLACE, ANSWER)
#: What a request's key names: the SMPP command it carries.
COMMANDS = {CANCEL: "cancel_sm", REPLACE: "replace_sm"}

#: Acts on parts held here: (command, system_id, part ids, short_message) ->
#: fires True once done and committed, False if they cannot be.
Act = Callable[[str, str, tuple[int, ...], bytes], Deferred[bool]]
#: Sends ``payload`` to the node named (a NOTIFY on its channel).
Send = Callable[[str, str], object]


def is_recall(payload: str) -> bool:
    """Whether a notification is this module's (a request or an answer)."""
    return payload[:2] in KEYS


class Recall:
    """The asking and answering between nodes; ``act`` does the work here."""

    def __init__(
        self, name: str, clock: IReactorTime, send: Send, act: Act, *, timeout: float = TIMEOUT
    ) -> None:
        self.name = name
        self.clock = clock
        self.send = send
        self.act = act
        self.timeout = timeout
        #: Requests asked and not answered yet: their Deferred and timer.
        self._waiting: dict[str, tuple[Deferred[bool], IDelayedCall]] = {}

    def ask(
        self,
        holder: str,
        command: str,
        esme: str,
        ids: Sequence[int],
        short_message: bytes = b"",
    ) -> Deferred[bool]:
        """Ask ``holder`` to cancel (``cancel_sm``) or replace (``replace_sm``)
        the parts ``ids`` of ``esme``'s message; fires with its answer, or
        False after ``timeout`` seconds."""
        rid = secrets.token_hex(6)
        key = CANCEL if command == "cancel_sm" else REPLACE
        deadline = self.clock.seconds() + max(self.timeout - MARGIN, 0.0)
        body: list[Any] = [rid, self.name, esme, list(ids), deadline]
        if key == REPLACE:
            body.append(short_message.hex())
        done: Deferred[bool] = Deferred()
        timer = self.clock.callLater(self.timeout, self._timed_out, rid, holder, command)
        self._waiting[rid] = (done, timer)
        self.send(holder, key + json.dumps(body, separators=(",", ":")))
        return done

    def _timed_out(self, rid: str, holder: str, command: str) -> None:
        waiting = self._waiting.pop(rid, None)
        if waiting is not None:
            log.warning(
                "node %s: no answer from node %s to %s within %g s: failed",
                self.name,
                holder,
                command,
                self.timeout,
            )
            waiting[0].callback(False)

    def heard(self, payload: str) -> None:
        """A notification of this module's: a request to act on, or an answer."""
        try:
            body = json.loads(payload[2:])
            if not isinstance(body, list):
                raise ValueError
            if payload.startswith(ANSWER):
                rid, done = body
                if not isinstance(rid, str) or not isinstance(done, bool):
                    raise ValueError
                self._answered(rid, done)
                return
            rid, asker, esme, ids, deadline, *rest = body
            short = bytes.fromhex(rest[0]) if payload.startswith(REPLACE) else b""
            if not (
                isinstance(rid, str)
                and isinstance(asker, str)
                and isinstance(esme, str)
                and isinstance(ids, list)
                and ids
                and all(isinstance(i, int) for i in ids)
                and isinstance(deadline, int | float)
                and not isinstance(deadline, bool)
            ):
                raise ValueError
        except (ValueError, TypeError, IndexError):
            log.warning("node %s: ignored a bad recall payload %.80r", self.name, payload)
            return
        command = COMMANDS[payload[:2]]
        if self.clock.seconds() > deadline:  # the ESME is told it failed, or soon will be
            log.warning("node %s: %s of %s's message %d for node %s heard past its deadline: "
                        "refused", self.name, command, esme, ids[0], asker)  # fmt: skip
            self._answer(asker, rid, False)
            return
        d = maybeDeferred(self.act, command, esme, tuple(ids), short)

        def answer(done: object) -> None:
            log.info("node %s: %s of %s's message %d for node %s: %s", self.name, command,
                     esme, ids[0], asker, "done" if done is True else "refused")  # fmt: skip
            self._answer(asker, rid, done is True)

        def failed(failure: Any) -> None:
            log.error("node %s: %s for node %s: %s", self.name, command, asker,
                      failure.getErrorMessage())  # fmt: skip
            answer(False)

        d.addCallbacks(answer, failed)

    def _answer(self, asker: str, rid: str, done: bool) -> None:
        self.send(asker, ANSWER + json.dumps([rid, done], separators=(",", ":")))

    def _answered(self, rid: str, done: bool) -> None:
        waiting = self._waiting.pop(rid, None)
        if waiting is None:  # after its timeout, or not ours: nobody waits
            if done:  # the ESME was told it failed: say it was carried out after all
                log.warning("node %s: recall %s carried out after its timeout, "
                            "no one waits for its answer", self.name, rid)  # fmt: skip
            else:
                log.info("node %s: an answer to a recall no one waits for (%s)", self.name, rid)
            return
        d, timer = waiting
        if timer.active():
            timer.cancel()
        d.callback(done)

    def stop(self) -> None:
        """Fail what still waits (the node is stopping)."""
        waiting, self._waiting = self._waiting, {}
        for d, timer in waiting.values():
            if timer.active():
                timer.cancel()
            d.callback(False)


@dataclass
class Parts:
    """A message's parts as the rows say, once the unclaimed ones are claimed:
    who holds each queued part (``holders``), and whether one has ended."""

    ids: tuple[int, ...]
    recipient: str
    ended: bool = False
    holders: dict[int, str | None] = field(default_factory=dict)
    claimed: list[Queued] = field(default_factory=list)
    subs: list[Submitted] = field(default_factory=list)


def gather(node: str, esme: str, number: int, now: datetime, conn: Connection) -> Parts | None:
    """On the storage thread: message ``number`` of ``esme`` (its parts from
    its ``esme_message`` row, or the one part of a message older than those),
    with its unclaimed queued parts claimed by ``node``; None, with nothing
    claimed, if it is not an SMS ``esme`` submitted or ``number`` names a
    later part of one.  A part held by a node whose lease ran out (now:
    naive UTC) counts as held by none: nobody would answer for it."""
    e = ESME_MESSAGE
    row = conn.execute(  # the message whose ids cover ``number``, if any
        select(e.c.id, e.c.esme, e.c.parts).where(e.c.id <= number).order_by(e.c.id.desc()).limit(1)
    ).first()
    covering = row if row is not None and row.id + row.parts > number else None
    if covering is not None and covering.esme != esme:
        return None
    ids = parts_named(number, None if covering is None else (covering.id, covering.parts))
    if ids is None:
        return None
    m = MESSAGE
    rows_of = select(m.c.id, m.c.kind, m.c.esme, m.c.state, m.c.node, m.c.recipient).where(
        m.c.id.in_(ids)
    )
    rows = conn.execute(rows_of.order_by(m.c.id)).all()
    if len(rows) != len(ids) or any(
        r.esme != esme or r.kind != MessageKind.SMS.value for r in rows
    ):
        return None  # before any claim: nothing of anyone else's is touched
    claimed = [queued_of(r) for r in claims.parts(conn, node, esme, ids)]
    rows = conn.execute(rows_of.order_by(m.c.id)).all()  # as the claim left them
    parts = Parts(ids, rows[0].recipient, claimed=claimed)
    parts.ended = any(r.state != MessageState.QUEUED.value for r in rows)
    parts.holders = {r.id: r.node for r in rows}
    others = {h for h in parts.holders.values() if h is not None and h != node}
    if others:
        alive = set(cluster.live(conn, now))
        parts.holders = {
            i: h if h in alive or h == node else None for i, h in parts.holders.items()
        }
    if claimed:
        parts.subs = submitted_for(conn, [i.id for i in claimed])
    return parts


def never(*_: object) -> Deferred[bool]:
    """``Act`` of a node with no SMPP door: nothing of an ESME's is held there."""
    return succeed(False)
