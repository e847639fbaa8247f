"""The deliver_sms the SMSC owes each ESME (MO messages and receipts): sent to
its bound receivers within their windows, ended by their deliver_sm_resp.

A temporary refusal (or generic_nack) or silence for ``RESPONSE_TIMEOUT``
puts the deliver_sm back at the head of its ESME's outbox and holds the outbox
for a back-off (``txkit.backoff_policy``); a connection that closes gives its
unanswered deliver_sms back; validity ends what waited too long, at its due
time (``smsc.deadlines``: no pass over the outboxes).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from pdu import status as tp_st
from smpp34 import pdu as p
from smpp34.pdu import CommandStatus as S
from txkit import backoff_policy

from ..deadlines import Deadlines
from ..esme_door import EsmeDoor
from ..models import MessageState
from ..queued import Queued
from .metrics import SmppMetrics, deliver_kind, status_name
from .sessions import Connection, Sessions

#: deliver_sm_resp statuses after which the same deliver_sm may work later.
TEMPORARY = frozenset({S.ESME_RTHROTTLED, S.ESME_RMSGQFUL, S.ESME_RX_T_APPN, S.ESME_RSYSERR})
#: Seconds an ESME has to answer a deliver_sm before it is sent again.
RESPONSE_TIMEOUT = 30.0
RETRY_BASE, RETRY_MAX = 1.0, 60.0


@dataclass(slots=True)
class _InFlight:
    item: Queued
    connection: Connection


class Outbox:
    def __init__(
        self, door: EsmeDoor, sessions: Sessions, clock: IReactorTime, metrics: SmppMetrics
    ) -> None:
        self.door = door
        self.sessions = sessions
        self.clock = clock
        self.metrics = metrics
        self.queues: dict[str, deque[Queued]] = {}
        self.in_flight: dict[tuple[int, int], _InFlight] = {}  # (id(connection), seq)
        self._retry: dict[str, IDelayedCall] = {}
        self._attempts: dict[int, int] = {}
        self._backoff = backoff_policy(RETRY_BASE, RETRY_MAX)
        #: When each deliver_sm waiting in an outbox expires (not in flight).
        self.expiries: Deadlines[Queued] = Deadlines(clock, self._expired)
        #: When the response to each deliver_sm in flight is due (keyed by message id).
        self.answers: Deadlines[tuple[Connection, int]] = Deadlines(clock, self._unanswered)

    def add(self, item: Queued) -> None:
        assert item.esme is not None
        self.queues.setdefault(item.esme, deque()).append(item)
        self._waits(item)
        self.pump(item.esme)

    def withdraw(self, esme: str) -> list[Queued]:
        """Take back what waits for ``esme``, oldest first (not what is in
        flight): a cluster node gives it up when the ESME's last receiving
        bind there ends (``smsc.node``)."""
        waiting = list(self.queues.pop(esme, ()))
        for item in waiting:
            self.expiries.discard(item.id)
            self._attempts.pop(item.id, None)
        _cancel(self._retry.pop(esme, None))
        return waiting

    def _waits(self, item: Queued) -> None:
        self.expiries.add(item.expires_at.timestamp(), item.id, item)

    def holds(self, esme: str, originator: str, recipient: str, tp_mr: int) -> bool:
        """Whether an MO message from ``originator`` to ``recipient`` with this
        TP-MR still waits for ``esme`` (queued or unanswered)."""
        waiting = [*self.queues.get(esme, ()), *(f.item for f in self.in_flight.values())]
        return any(
            i.esme == esme and i.tp_mr == tp_mr and i.originator == originator
            and i.recipient == recipient
            for i in waiting
        )  # fmt: skip

    def _end(self, item: Queued, state: MessageState, st: int) -> None:
        self._attempts.pop(item.id, None)
        self.door.finish(item, state, st)

    def pump(self, esme: str) -> None:
        """Send what ``esme`` is owed to its receivers, within their windows."""
        queue = self.queues.get(esme)
        if not queue or esme in self._retry:
            return
        receivers = self.sessions.receivers(esme)
        now = self.door.now()
        while queue and receivers:
            receivers.sort(key=lambda c: -c.room)
            connection = receivers[0]
            if connection.room <= 0:
                return
            item = queue[0]
            if item.expires_at <= now:
                queue.popleft()
                self.expiries.discard(item.id)
                self._end(item, MessageState.EXPIRED, tp_st.ST_PERM_VALIDITY_EXPIRED)
                continue
            stored = p.decode(item.tpdu)
            assert isinstance(stored, p.DeliverSm)
            # As stored, but for the sequence number the session gives it.
            fields = {
                f.name: getattr(stored, f.name)
                for f in dataclass_fields(stored)
                if f.name != "sequence_number"
            }
            seq = connection.request(p.DeliverSm, **fields)
            if seq is None:
                receivers.remove(connection)
                continue
            queue.popleft()
            self.expiries.discard(item.id)
            kind = deliver_kind(stored.esm_class)
            self.metrics.delivers.inc(esme, kind)
            if self.door.watchers:
                self.door.watchers.emit(
                    "deliver_sm",
                    id=item.id,
                    system_id=esme,
                    sender=item.originator,
                    recipient=item.recipient,
                    carries=kind,
                    # The octets that went, for the console's inspector: as
                    # stored, with the session's sequence number (octets 12-15).
                    pdu=item.tpdu[:12] + seq.to_bytes(4, "big") + item.tpdu[16:],
                )
            self.answers.add(self.clock.seconds() + RESPONSE_TIMEOUT, item.id, (connection, seq))
            self.in_flight[(id(connection), seq)] = _InFlight(item, connection)

    def answered(self, connection: Connection, request: p.Pdu, response: p.Pdu) -> None:
        flight = self.in_flight.pop((id(connection), request.sequence_number), None)
        if flight is None:
            return
        self.answers.discard(flight.item.id)
        item, esme = flight.item, flight.item.esme
        assert esme is not None
        status = response.command_status
        self.metrics.answered.inc(esme, status_name(status))
        if status == S.ESME_ROK:
            self._end(item, MessageState.DELIVERED, tp_st.ST_RECEIVED)
        elif status in TEMPORARY or isinstance(response, p.GenericNack):
            self._again(esme, item)
        else:
            self._end(item, MessageState.FAILED, tp_st.ST_PERM_CONNECTION_REJECTED)
        self.pump(esme)

    def gone(self, connection: Connection, esme: str, unanswered: list[p.Pdu]) -> None:
        """A connection closed: what it had in flight goes again elsewhere."""
        back = []
        for request in unanswered:
            flight = self.in_flight.pop((id(connection), request.sequence_number), None)
            if flight is not None:
                self.answers.discard(flight.item.id)
                back.append(flight.item)
                self._waits(flight.item)
        self.queues.setdefault(esme, deque()).extendleft(reversed(back))
        self.pump(esme)

    def _unanswered(self, due: list[tuple[Connection, int]]) -> None:
        for connection, seq in due:
            self._timed_out(connection, seq)

    def _timed_out(self, connection: Connection, seq: int) -> None:
        flight = self.in_flight.pop((id(connection), seq), None)
        if flight is None:
            return
        connection.forget(seq)
        assert flight.item.esme is not None
        self.metrics.timeouts.inc(flight.item.esme)
        self._again(flight.item.esme, flight.item)

    def _again(self, esme: str, item: Queued) -> None:
        """Back to the head of the outbox, after a back-off."""
        attempts = self._attempts[item.id] = self._attempts.get(item.id, 0) + 1
        self.queues.setdefault(esme, deque()).appendleft(item)
        self._waits(item)
        if esme not in self._retry:
            self._retry[esme] = self.clock.callLater(self._backoff(attempts), self._retried, esme)

    def _retried(self, esme: str) -> None:
        self._retry.pop(esme, None)
        self.pump(esme)

    def _expired(self, items: list[Queued]) -> None:
        for item in items:
            assert item.esme is not None
            self.queues[item.esme].remove(item)  # by identity; the oldest are nearest the head
            self._end(item, MessageState.EXPIRED, tp_st.ST_PERM_VALIDITY_EXPIRED)

    def in_flight_by_esme(self) -> dict[str, int]:
        """How many deliver_sms each ESME has awaiting their response."""
        return dict(Counter(f.item.esme or "" for f in self.in_flight.values()))

    def stop(self) -> None:
        self.expiries.cancel()
        self.answers.cancel()
        for call in self._retry.values():
            _cancel(call)


def _cancel(call: IDelayedCall | None) -> None:
    if call is not None and call.active():
        call.cancel()
