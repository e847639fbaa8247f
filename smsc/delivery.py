"""Delivery to handsets: each subscriber's queue, one RP-DATA in flight at a
time, the answers, the back-off, and expiry.

The rules it keeps:

* each recipient gets its messages one at a time, in the order they were
  accepted, and only while attached; TP-MMS says whether more are waiting;
* RP-ACK delivers; RP-ERROR 22 (memory full) holds the queue until RP-SMMA or
  the next attach; another temporary cause, or no answer within
  ``answer_timeout``, backs off (``txkit.backoff_policy``); a permanent cause
  fails the message;
* a failed attempt is stored, and tells a sender who asked for reports once;
* TP-VP ends a message that could not be delivered in time (TP-ST 0x46), at
  its due time (``smsc.deadlines``: no pass over the queue); one in flight
  then is looked at again when its answer is due.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from twisted.internet.interfaces import IDelayedCall

from pdu import status as tp_st
from radiolink import rp
from txkit import backoff_policy

from .deadlines import Deadlines
from .models import MessageKind, MessageState
from .queued import Queued

if TYPE_CHECKING:
    from .core import Smsc


C = rp.RpCause
#: RP-Causes after which trying again later may work (TS 24.011 Table 8.4).
TEMPORARY_CAUSES = frozenset(
    {
        C.MEMORY_CAPACITY_EXCEEDED,
        C.DESTINATION_OUT_OF_ORDER,
        C.NETWORK_OUT_OF_ORDER,
        C.TEMPORARY_FAILURE,
        C.CONGESTION,
        C.RESOURCES_UNAVAILABLE_UNSPECIFIED,
        C.MESSAGE_NOT_COMPATIBLE_WITH_SHORT_MESSAGE_PROTOCOL_STATE,
        C.PROTOCOL_ERROR_UNSPECIFIED,
    }
)


@dataclass(slots=True)
class Station:
    """A subscriber's delivery state: its queue and what is in flight."""

    msisdn: str
    imsi: str = ""  # known once it attached, in this run or an earlier one
    memory_full: bool = False
    #: When it attached (the clock's seconds); None while detached.
    attached_at: float | None = None
    queue: deque[Queued] = field(default_factory=deque)
    in_flight: Queued | None = None
    in_flight_mr: int = -1
    retry_timer: IDelayedCall | None = None
    retry_at: float = 0.0
    next_mr: int = 0
    tp_oa: bytes = b""  # this subscriber as the TP-OA of what it sends, encoded once

    def allocate_mr(self) -> int:
        mr = self.next_mr
        self.next_mr = (mr + 1) % 256
        return mr


class Delivery:
    """The per-subscriber queues of an ``Smsc`` and their delivery."""

    def __init__(self, smsc: Smsc) -> None:
        self.smsc = smsc
        self.stations: dict[str, Station] = {}
        self._backoff = backoff_policy(smsc.config.retry_base, smsc.config.retry_max)
        #: When each queued message expires (TP-VP).
        self.expiries: Deadlines[Queued] = Deadlines(smsc.clock, self._expired)
        #: When the answer to each RP-DATA in flight is due (keyed by message id).
        self.answers: Deadlines[tuple[Station, int]] = Deadlines(smsc.clock, self._unanswered)

    def station(self, msisdn: str) -> Station:
        station = self.stations.get(msisdn)
        if station is None:
            station = self.stations[msisdn] = Station(msisdn)
        return station

    def depth(self) -> int:
        return sum(len(s.queue) for s in self.stations.values())

    def stop(self) -> None:
        """Disarm every timer (the SMSC stops)."""
        self.expiries.cancel()
        self.answers.cancel()
        for s in self.stations.values():
            _cancel(s.retry_timer)

    # -- what happens to a subscriber ------------------------------------------------

    def add(self, item: Queued) -> None:
        station = self.queue(item)
        self.kick(station)

    def queue(self, item: Queued) -> Station:
        """``item`` to the end of its recipient's queue, without sending."""
        station = self.station(item.recipient)
        station.queue.append(item)
        self.expiries.add(item.expires_at.timestamp(), item.id, item)
        return station

    def _dequeue(self, station: Station) -> Queued:
        item = station.queue.popleft()
        self.expiries.discard(item.id)
        return item

    def attached(self, msisdn: str, imsi: str) -> Station:
        station = self.station(msisdn)
        station.imsi = imsi
        station.memory_full = False
        station.attached_at = self.smsc.clock.seconds()
        return station

    def detached(self, msisdn: str) -> None:
        station = self.station(msisdn)
        if station.in_flight is not None:
            self.answers.discard(station.in_flight.id)
        station.attached_at = None
        station.in_flight = None  # stays at the head of the queue

    def memory_available(self, msisdn: str) -> Station:
        station = self.station(msisdn)
        station.memory_full = False
        return station

    # -- sending -----------------------------------------------------------------------

    def kick(self, station: Station) -> None:
        """Send the next message to ``station`` if nothing stands in the way."""
        smsc = self.smsc
        while (
            station.queue
            and station.in_flight is None
            and not station.memory_full
            and smsc.radio.is_attached(station.msisdn)
        ):
            if smsc.clock.seconds() < station.retry_at:
                self._schedule_retry(station)
                return
            item = station.queue[0]
            if item.expires_at <= smsc.now():
                self._dequeue(station)
                smsc.finish(item, MessageState.EXPIRED, tp_st.ST_PERM_VALIDITY_EXPIRED)
                continue
            tpdu = item.tpdu
            if len(station.queue) > 1:
                tpdu = bytes((tpdu[0] & ~0x04,)) + tpdu[1:]  # TP-MMS 0: more are waiting
            mr = station.allocate_mr()
            station.in_flight, station.in_flight_mr = item, mr
            item.attempts += 1
            smsc.metrics.delivery_attempts += 1
            smsc.radio.deliver(station.msisdn, mr, tpdu)
            due = smsc.clock.seconds() + smsc.config.answer_timeout
            self.answers.add(due, item.id, (station, mr))
            if smsc.watchers:
                smsc.watchers.emit(
                    "delivering", id=item.id, recipient=station.msisdn, attempt=item.attempts
                )

    # -- answers -------------------------------------------------------------------------

    def _take_in_flight(self, station: Station, mr: int) -> Queued | None:
        item = station.in_flight
        if item is None or mr != station.in_flight_mr:
            return None
        self.answers.discard(item.id)
        station.in_flight = None
        return item

    def acked(self, msisdn: str, mr: int) -> None:
        station = self.station(msisdn)
        item = self._take_in_flight(station, mr)
        if item is None:
            self.smsc.radio.peer_log.info(f"stray RP-ACKs from {station.msisdn}",
                                          "%s: RP-ACK for RP-MR %d, which is not in flight",
                                          station.msisdn, mr)  # fmt: skip
            return
        self._dequeue(station)
        station.retry_at = 0.0
        self.smsc.finish(item, MessageState.DELIVERED, tp_st.ST_RECEIVED)
        self.kick(station)

    def refused(self, msisdn: str, mr: int, cause: int) -> None:
        station = self.station(msisdn)
        item = self._take_in_flight(station, mr)
        if item is None:
            return
        self.smsc.watchers.emit("refused", id=item.id, recipient=station.msisdn, cause=cause)
        if cause == C.MEMORY_CAPACITY_EXCEEDED:
            station.memory_full = True
            self._delayed(item, tp_st.ST_TEMP_SME_BUSY, cause)
        elif cause in TEMPORARY_CAUSES:
            self._back_off(station, item, tp_st.ST_TEMP_ERROR_IN_SME, cause)
        else:
            self._dequeue(station)
            self.smsc.finish(item, MessageState.FAILED, tp_st.ST_PERM_CONNECTION_REJECTED, cause)
        self.kick(station)

    def _unanswered(self, due: list[tuple[Station, int]]) -> None:
        for station, mr in due:
            self._no_answer(station, mr)

    def _no_answer(self, station: Station, mr: int) -> None:
        item = self._take_in_flight(station, mr)
        if item is not None:
            self.smsc.watchers.emit("no answer", id=item.id, recipient=station.msisdn)
            self._back_off(station, item, tp_st.ST_TEMP_NO_RESPONSE, None)
            self.kick(station)

    def _back_off(self, station: Station, item: Queued, st: int, cause: int | None) -> None:
        station.retry_at = self.smsc.clock.seconds() + self._backoff(item.attempts)
        self._delayed(item, st, cause)

    def _delayed(self, item: Queued, st: int, cause: int | None) -> None:
        """Record a failed attempt; tell the sender once, if it asked for reports."""
        self.smsc.store.record_attempt(item, cause)
        from_handset = item.kind is not MessageKind.REPORT and item.esme is None
        if from_handset and item.tp_srr and not item.reported_delay:
            item.reported_delay = True
            self.smsc.reports.report(item, st)

    def _schedule_retry(self, station: Station) -> None:
        if station.retry_timer is not None and station.retry_timer.active():
            return
        wait = max(0.0, station.retry_at - self.smsc.clock.seconds())
        station.retry_timer = self.smsc.clock.callLater(wait, self._retry, station)

    def _retry(self, station: Station) -> None:
        station.retry_timer = None
        self.kick(station)

    # -- what waits ----------------------------------------------------------------------

    def holds(self, originator: str, recipient: str, tp_mr: int) -> bool:
        """Whether an SMS from ``originator`` to ``recipient`` with this TP-MR
        is still held for its recipient (TP-RD's test, TS 23.040 §9.2.3.25)."""
        station = self.stations.get(recipient)
        return station is not None and any(
            i.tp_mr == tp_mr and i.originator == originator and i.kind is MessageKind.SMS
            for i in station.queue
        )

    def waiting(self, item: Queued) -> bool:
        """Whether ``item`` is queued and not being delivered right now."""
        return self.station(item.recipient).in_flight is not item

    def withdraw(self, item: Queued) -> bool:
        """Take a waiting ``item`` out of its queue; False if it is in flight."""
        station = self.station(item.recipient)
        if station.in_flight is item:
            return False
        station.queue.remove(item)
        self.expiries.discard(item.id)
        return True

    def _expired(self, items: list[Queued]) -> None:
        """End the queued messages whose validity has run out (TP-ST 0x46);
        one in flight is looked at again once its answer is due."""
        smsc = self.smsc
        for item in items:
            station = self.station(item.recipient)
            if item is station.in_flight:
                later = smsc.clock.seconds() + smsc.config.answer_timeout
                self.expiries.add(later, item.id, item)
                continue
            station.queue.remove(item)  # by identity; the oldest are nearest the head
            smsc.finish(item, MessageState.EXPIRED, tp_st.ST_PERM_VALIDITY_EXPIRED)


def _cancel(call: IDelayedCall | None) -> None:
    if call is not None and call.active():
        call.cancel()
