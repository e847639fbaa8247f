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
system_id, [part ids]]`` (a replace adds its new short_message in hex), and
``a:`` carries ``[request id, done]`` back to the asking node.  A payload
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
from .submitted import Submitted
from .submitted_rows import submitted_for

log = logging.getLogger(__name__)

#: Seconds the asking node waits for the holder's answer before it answers
#: the ESME ESME_RCANCELFAIL / ESME_RREPLACEFAIL.
TIMEOUT = 5.0
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
        body: list[Any] = [rid, self.name, esme, list(ids)]
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
            rid, asker, esme, ids, *rest = body
            short = bytes.fromhex(rest[0]) if payload.startswith(REPLACE) else b""
            if not (
                isinstance(rid, str)
                and isinstance(asker, str)
                and isinstance(esme, str)
                and isinstance(ids, list)
                and ids
                and all(isinstance(i, int) for i in ids)
            ):
                raise ValueError
        except (ValueError, TypeError, IndexError):
            log.warning("node %s: ignored a bad recall payload %.80r", self.name, payload)
            return
        command = COMMANDS[payload[:2]]
        d = maybeDeferred(self.act, command, esme, tuple(ids), short)

        def answer(done: object) -> None:
            log.info("node %s: %s of %s's message %d for node %s: %s", self.name, command,
                     esme, ids[0], asker, "done" if done is True else "refused")  # fmt: skip
            self.send(asker, ANSWER + json.dumps([rid, done is True], separators=(",", ":")))

        def failed(failure: Any) -> None:
            log.error("node %s: %s for node %s: %s", self.name, command, asker,
                      failure.getErrorMessage())  # fmt: skip
            answer(False)

        d.addCallbacks(answer, failed)

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
    with its unclaimed queued parts claimed by ``node``; None if it is not an
    SMS ``esme`` submitted.  A part held by a node whose lease ran out (now:
    naive UTC) counts as held by none: nobody would answer for it."""
    row = conn.execute(
        select(ESME_MESSAGE.c.esme, ESME_MESSAGE.c.parts).where(ESME_MESSAGE.c.id == number)
    ).first()
    if row is not None and row.esme != esme:
        return None
    ids = tuple(range(number, number + (row.parts if row is not None else 1)))
    claimed = [queued_of(r) for r in claims.parts(conn, node, ids)]
    m = MESSAGE
    rows = conn.execute(
        select(m.c.id, m.c.kind, m.c.esme, m.c.state, m.c.node, m.c.recipient).where(
            m.c.id.in_(ids)
        )
    ).all()
    if len(rows) != len(ids) or any(
        r.esme != esme or r.kind != MessageKind.SMS.value for r in rows
    ):
        return None
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
