"""The SMSC's store-and-forward logic: attach, submit, deliver, retry, expire,
report.

It speaks frames with ``Link`` objects (the Twisted protocol, or anything with
``send`` and ``close``), keeps time through an ``IReactorTime`` (``task.Clock``
in tests) and persists through the ``BatchWriter``.  The rules it keeps:

* an SMS-SUBMIT is acknowledged (RP-ACK) only once its row is committed, and is
  forwarded only from then on;
* each recipient gets its messages one at a time, in the order they were
  accepted; a recipient that answers RP-ERROR 22 (memory full) gets nothing more
  until it sends RP-SMMA; other temporary errors and silence back off;
* TP-VP ends a message that could not be delivered in time (TP-ST 0x46);
* TP-SRR gets the sender an SMS-STATUS-REPORT, queued like any message.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Protocol

from sqlalchemy import Connection, Table, func, select
from twisted.internet.defer import Deferred, fail, gatherResults
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from pdu import (
    Address,
    Direction,
    EnhancedVP,
    PDUError,
    RelativeVP,
    SmsStatusReport,
    SmsSubmit,
    SmsSubmitReport,
    decode,
    encode,
)
from pdu import status as tp_st
from pdu.address import TON_ALPHANUMERIC, TON_INTERNATIONAL, encode_address
from pdu.timestamp import encode_timestamp
from pdu.tpdu import deliver_from_submit
from radiolink import frames as lk
from radiolink import rp
from txkit import backoff_policy

from .models import Message, MessageKind, MessageState, Subscriber
from .store import BatchWriter

log = logging.getLogger(__name__)
MESSAGE: Table = Message.__table__  # type: ignore[assignment]
SUBSCRIBER: Table = Subscriber.__table__  # type: ignore[assignment]

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


class Link(Protocol):
    """What the SMSC needs of a handset's connection."""

    def send(self, frame: lk.Frame) -> None: ...

    def close(self) -> None: ...


class EsmeSink(Protocol):
    """What the SMSC needs of its SMPP door (``smsc.smpp.gateway``)."""

    def route(self, number: str) -> str | None:
        """The ESME (system_id) an MO message to ``number`` goes to, or None."""

    def mo(self, item: Queued, submit: SmsSubmit) -> bytes:
        """The deliver_sm that carries an MO message to its ESME."""

    def enqueue(self, item: Queued) -> None:
        """A committed ``esme`` message (a deliver_sm) to send its ESME."""

    def finished(self, item: Queued, state: MessageState, error: int | None) -> None:
        """An SMS an ESME submitted has ended: its receipt, if asked for."""

    def sweep(self) -> None:
        """End what waited for an ESME past its validity."""


@dataclass
class SmscConfig:
    #: The SMSC's own address: RP-OA of what it sends, what handsets put in RP-DA.
    address: str = "+15550000000"
    #: "queue": keep a message for a number no handset has attached with, until
    #: one does or it expires; "reject": answer RP-ERROR 1 (unassigned number).
    unknown_recipient: str = "queue"
    default_validity: timedelta = timedelta(days=2)
    answer_timeout: float = 30.0  # seconds a handset has to answer an RP-DATA
    retry_base: float = 2.0  # first back-off, doubled at each failure
    retry_max: float = 300.0
    expiry_sweep: float = 1.0
    #: The zone of TP-SCTS and TP-DT.
    zone: tzinfo = UTC


@dataclass
class Queued:
    """A message waiting for its recipient (the in-memory twin of a row)."""

    id: int
    kind: MessageKind
    originator: str
    recipient: str
    tp_mr: int | None
    tp_srr: bool
    tpdu: bytes
    submitted_at: datetime  # aware
    expires_at: datetime  # aware
    attempts: int = 0
    reported_delay: bool = False  # a temporary-error report went out already
    #: The ESME it came from (an SMS) or goes to (an ``esme`` message).
    esme: str | None = None


@dataclass
class Station:
    """A subscriber's runtime state: its link, its queue, what is in flight."""

    msisdn: str
    imsi: str = ""
    link: Link | None = None
    memory_full: bool = False
    queue: deque[Queued] = field(default_factory=deque)
    in_flight: Queued | None = None
    in_flight_mr: int = -1
    answer_timer: IDelayedCall | None = None
    retry_timer: IDelayedCall | None = None
    retry_at: float = 0.0
    next_mr: int = 0
    tp_oa: bytes = b""  # this subscriber as the TP-OA of what it sends, encoded once

    def allocate_mr(self) -> int:
        mr = self.next_mr
        self.next_mr = (mr + 1) % 256
        return mr


@dataclass
class Metrics:
    submits_accepted: int = 0
    submits_rejected: int = 0
    delivered: int = 0
    failed: int = 0
    expired: int = 0
    deleted: int = 0
    reports_made: int = 0
    delivery_attempts: int = 0
    frames_in: int = 0
    frames_out: int = 0
    protocol_errors: int = 0


def msisdn_of(address: Address) -> str | None:
    """The subscriber number an address names, or None (alphanumeric)."""
    if address.ton == TON_ALPHANUMERIC or not address.number:
        return None
    if address.ton == TON_INTERNATIONAL:
        return "+" + address.number
    return address.number


class Smsc:
    def __init__(self, writer: BatchWriter, clock: IReactorTime, config: SmscConfig) -> None:
        self.writer = writer
        self.clock = clock
        self.config = config
        self.metrics = Metrics()
        self.stations: dict[str, Station] = {}
        self.links: dict[Link, Station | None] = {}
        self._next_id = 1
        self._sweeper: IDelayedCall | None = None
        self._smsc_address = Address.parse(config.address)
        self._rp = rp.NetworkEncoder(self._smsc_address)
        # TP-SCTS and the SMS-SUBMIT-REPORT change once a second: (second, octets).
        self._stamp: tuple[int, bytes, bytes] = (-1, b"", b"")
        self._watchers: list[Callable[[str, dict[str, Any]], None]] = []
        #: The SMPP door, if there is one (set before ``load``).
        self.esme: EsmeSink | None = None
        #: What ESMEs submitted and is not final yet: query_sm, cancel_sm,
        #: replace_sm look here.
        self.from_esmes: dict[int, Queued] = {}

    # -- life cycle ----------------------------------------------------------

    def load(self) -> None:
        """Take up what a previous run left queued (call before serving)."""

        def read(conn: Connection) -> tuple[int, list[Any], list[Any]]:
            top = conn.execute(select(func.max(MESSAGE.c.id))).scalar() or 0
            subs = conn.execute(select(SUBSCRIBER.c.msisdn, SUBSCRIBER.c.imsi)).all()
            rows = conn.execute(
                select(MESSAGE).where(MESSAGE.c.state == MessageState.QUEUED).order_by(MESSAGE.c.id)
            ).all()
            return top, list(subs), list(rows)

        with self.writer.engine.connect() as conn:
            top, subs, rows = read(conn)
        self._next_id = top + 1
        for msisdn, imsi in subs:
            self._station(msisdn).imsi = imsi
        for row in rows:
            item = Queued(
                id=row.id,
                kind=MessageKind(row.kind),
                originator=row.originator,
                recipient=row.recipient,
                tp_mr=row.tp_mr,
                tp_srr=row.tp_srr,
                tpdu=row.tpdu,
                submitted_at=row.submitted_at.replace(tzinfo=UTC),
                expires_at=row.expires_at.replace(tzinfo=UTC),
                attempts=row.attempts,
                # attempts is stored only for a failed attempt (_delayed), which
                # made the one temporary report already.
                reported_delay=row.attempts > 0,
                esme=row.esme,
            )
            if item.kind is MessageKind.ESME:
                if self.esme is not None:
                    self.esme.enqueue(item)
                continue
            if item.esme is not None:
                self.from_esmes[item.id] = item
            self._station(item.recipient).queue.append(item)
        log.info("loaded %d queued messages", len(rows))

    def start(self) -> None:
        self._sweeper = self.clock.callLater(self.config.expiry_sweep, self._sweep)

    def stop(self) -> None:
        for call in [self._sweeper] + [
            t for s in self.stations.values() for t in (s.answer_timer, s.retry_timer)
        ]:
            if call is not None and call.active():
                call.cancel()

    def watch(self, fn: Callable[[str, dict[str, Any]], None]) -> None:
        """Call ``fn(event, details)`` on each state change (for the demo, tests, logs)."""
        self._watchers.append(fn)

    def _emit(self, event: str, **details: Any) -> None:
        for fn in self._watchers:
            fn(event, details)

    # -- helpers ---------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    def local(self, when: datetime) -> datetime:
        """``when`` as TP-SCTS and receipts show it: the SMSC's zone, whole seconds."""
        return when.astimezone(self.config.zone).replace(microsecond=0)

    def _station(self, msisdn: str) -> Station:
        station = self.stations.get(msisdn)
        if station is None:
            station = self.stations[msisdn] = Station(msisdn)
        return station

    def _send(self, link: Link, frame: lk.Frame) -> None:
        self.metrics.frames_out += 1
        link.send(frame)

    def _send_rp(self, link: Link, octets: bytes) -> None:
        self._send(link, lk.Rp(octets))

    def _rp_error(self, link: Link, mr: int, cause: int) -> None:
        self._send_rp(link, self._rp.error(mr, cause))

    def _stamps(self, now: datetime) -> tuple[bytes, bytes]:
        """TP-SCTS for ``now`` and the SMS-SUBMIT-REPORT that carries it, both
        encoded once a second."""
        second = int(now.timestamp())
        if self._stamp[0] != second:
            local = self.local(now)
            self._stamp = (
                second,
                encode_timestamp(local),
                encode(SmsSubmitReport(tp_scts=local)),
            )
        return self._stamp[1], self._stamp[2]

    def _new_id(self) -> int:
        i = self._next_id
        self._next_id += 1
        return i

    @staticmethod
    def _row(item: Queued, state: MessageState, report_for: int | None = None) -> dict[str, Any]:
        return {
            "id": item.id,
            "kind": item.kind.value,
            "originator": item.originator,
            "recipient": item.recipient,
            "tp_mr": item.tp_mr,
            "tp_srr": item.tp_srr,
            "tpdu": item.tpdu,
            "state": state.value,
            "attempts": item.attempts,
            "submitted_at": _naive_utc(item.submitted_at),
            "expires_at": _naive_utc(item.expires_at),
            "done_at": None,
            "error": None,
            "report_for": report_for,
            "esme": item.esme,
        }

    def queue_depth(self) -> int:
        return sum(len(s.queue) for s in self.stations.values())

    def attached(self) -> Iterable[Station]:
        return (s for s in self.stations.values() if s.link is not None)

    # -- links -------------------------------------------------------------------

    def link_opened(self, link: Link) -> None:
        self.links[link] = None

    def link_lost(self, link: Link) -> None:
        station = self.links.pop(link, None)
        if station is not None and station.link is link:
            self._detach(station)

    def frame_received(self, link: Link, frame: lk.Frame | lk.MalformedFrame) -> None:
        self.metrics.frames_in += 1
        station = self.links.get(link)
        if isinstance(frame, lk.MalformedFrame):
            self.metrics.protocol_errors += 1
            self._send(link, lk.Error(frame.code, frame.reason))
        elif isinstance(frame, lk.Attach):
            self._on_attach(link, station, frame)
        elif station is None:
            self.metrics.protocol_errors += 1
            self._send(link, lk.Error(lk.ErrorCode.NOT_ATTACHED, "attach first"))
        elif isinstance(frame, lk.Detach):
            self._detach(station)
            self.links[link] = None
        elif isinstance(frame, lk.Rp):
            self._on_rp(link, station, frame.message)
        else:
            self.metrics.protocol_errors += 1
            self._send(
                link,
                lk.Error(lk.ErrorCode.UNEXPECTED_FRAME, f"{type(frame).__name__} is for handsets"),
            )

    def _on_attach(self, link: Link, current: Station | None, frame: lk.Attach) -> None:
        if frame.version != lk.VERSION:
            self._send(
                link,
                lk.AttachReject(lk.RejectCause.UNSUPPORTED_VERSION, f"version {frame.version}"),
            )
            return
        if current is not None:
            self._send(link, lk.Error(lk.ErrorCode.ALREADY_ATTACHED, current.msisdn))
            return
        if not (frame.msisdn.startswith("+") and frame.msisdn[1:].isdigit() and frame.imsi):
            self._send(link, lk.AttachReject(lk.RejectCause.MALFORMED, "MSISDN must be +digits"))
            return
        station = self._station(frame.msisdn)
        if station.link is not None and station.link is not link:
            # The same subscriber attaching again: the newest link wins.
            old = station.link
            self._detach(station)
            self.links[old] = None
            self._send(old, lk.Detach())
            old.close()
        station.link, station.imsi = link, frame.imsi
        station.memory_full = False
        self.links[link] = station
        now = self.now().replace(tzinfo=None)
        self.writer.call(lambda conn: _upsert_subscriber(conn, frame.msisdn, frame.imsi, now))
        self._send(link, lk.AttachAccept(self.config.address))
        self._emit("attached", msisdn=station.msisdn, imsi=station.imsi, queued=len(station.queue))
        self._kick(station)

    def _detach(self, station: Station) -> None:
        if station.answer_timer is not None and station.answer_timer.active():
            station.answer_timer.cancel()
        station.answer_timer = None
        station.in_flight = None  # stays at the head of the queue
        station.link = None
        self._emit("detached", msisdn=station.msisdn)

    # -- RP messages from a handset ------------------------------------------------

    def _on_rp(self, link: Link, station: Station, octets: bytes) -> None:
        try:
            # A network-to-MS RP-MTI from a handset is refused here too (cause 97).
            message = rp.decode_rp(octets, direction=Direction.MO)
        except rp.RPError as exc:
            self.metrics.protocol_errors += 1
            log.info("%s: bad RP message: %s", station.msisdn, exc)
            if exc.rp_mr is not None:
                self._rp_error(link, exc.rp_mr, exc.rp_cause)
            else:
                self._send(link, lk.Error(lk.ErrorCode.MALFORMED_FRAME, str(exc)))
            return
        if isinstance(message, rp.RpData):
            self._on_submit(link, station, message)
        elif isinstance(message, rp.RpAck):
            self._on_ack(station, message.rp_mr)
        elif isinstance(message, rp.RpError):
            self._on_error(station, message.rp_mr, message.rp_cause)
        else:
            station.memory_full = False
            self._send_rp(link, self._rp.ack(message.rp_mr))
            self._emit("memory available", msisdn=station.msisdn)
            self._kick(station)

    def _on_submit(self, link: Link, station: Station, message: rp.RpData) -> None:
        mr = message.rp_mr
        try:
            tpdu = decode(message.rp_ud, Direction.MO)
        except PDUError as exc:
            self._reject(link, mr, C.INVALID_MANDATORY_INFORMATION, station, str(exc))
            return
        if not isinstance(tpdu, SmsSubmit):
            # SMS-COMMAND is not offered by this SMSC; a DELIVER-REPORT has no place here.
            self._reject(
                link, mr, C.REQUESTED_FACILITY_NOT_IMPLEMENTED, station, f"{tpdu.name} unsupported"
            )
            return
        recipient = msisdn_of(tpdu.tp_da)
        if recipient is None and self.esme is not None and tpdu.tp_da.number:
            recipient = tpdu.tp_da.number  # a short code, perhaps an ESME's
        esme = self.esme.route(recipient) if self.esme is not None and recipient else None
        known = recipient is not None and (esme is not None or bool(self._station(recipient).imsi))
        if recipient is None or (not known and self.config.unknown_recipient == "reject"):
            self._reject(link, mr, C.UNASSIGNED_NUMBER, station, f"no subscriber {recipient}")
            return
        now = self.now()
        tp_scts, submit_report = self._stamps(now)
        if not station.tp_oa:
            station.tp_oa = encode_address(Address.parse(station.msisdn))
        item = Queued(
            id=self._new_id(),
            kind=MessageKind.SMS,
            originator=station.msisdn,
            recipient=recipient,
            tp_mr=tpdu.tp_mr,
            tp_srr=tpdu.tp_srr,
            # TP-OA the sender, TP-SCTS now; TP-PID, TP-DCS, TP-UD as submitted.
            tpdu=deliver_from_submit(message.rp_ud, station.tp_oa, tp_scts),
            submitted_at=now,
            expires_at=self._expiry(now, tpdu),
        )
        if esme is not None and self.esme is not None:
            # MO to an ESME: what it gets is a deliver_sm, not an SMS-DELIVER.
            item.kind, item.esme = MessageKind.ESME, esme
            try:
                item.tpdu = self.esme.mo(item, tpdu)
            except ValueError as exc:
                self._reject(link, mr, C.INVALID_MANDATORY_INFORMATION, station, str(exc))
                return
        d = self.writer.insert(MESSAGE, self._row(item, MessageState.QUEUED))

        def committed(_: object) -> None:
            self.metrics.submits_accepted += 1
            if station.link is link:
                self._send_rp(link, self._rp.ack(mr, submit_report))
            if self._watchers:
                self._emit(
                    "accepted",
                    id=item.id,
                    sender=item.originator,
                    recipient=recipient,
                    tp_mr=tpdu.tp_mr,
                )
            self._enqueue(item)

        def failed(reason: Any) -> None:
            log.error("could not store a submit: %s", reason.getErrorMessage())
            self._reject(link, mr, C.TEMPORARY_FAILURE, station, "storage failed")

        d.addCallbacks(committed, failed)

    def _reject(self, link: Link, mr: int, cause: int, station: Station, why: str) -> None:
        self.metrics.submits_rejected += 1
        log.info("%s: RP-ERROR %d for RP-MR %d: %s", station.msisdn, cause, mr, why)
        self._emit("rejected", sender=station.msisdn, cause=cause, reason=why)
        if station.link is link:
            self._rp_error(link, mr, cause)

    def _expiry(self, now: datetime, tpdu: SmsSubmit) -> datetime:
        vp = tpdu.tp_vp
        if isinstance(vp, RelativeVP):
            return now + vp.duration
        if isinstance(vp, datetime):
            return vp
        if isinstance(vp, EnhancedVP) and vp.duration is not None:
            return now + vp.duration
        return now + self.config.default_validity

    # -- delivery ------------------------------------------------------------------

    def _enqueue(self, item: Queued) -> None:
        if item.kind is MessageKind.ESME:
            assert self.esme is not None
            self.esme.enqueue(item)
            return
        station = self._station(item.recipient)
        station.queue.append(item)
        self._kick(station)

    # -- what ESMEs submit (the SMPP door) -------------------------------------------

    def submit_from_esme(
        self,
        esme: str,
        originator: str,
        recipient: str,
        tpdus: list[bytes],
        *,
        receipt: bool,
        expires_at: datetime | None = None,
        deliver: bool = True,
    ) -> Deferred[list[Queued]]:
        """Store and forward SMS-DELIVERs an ESME submitted (a message's parts)
        to ``recipient``; fires once all are committed, which is when
        submit_sm_resp may go.  ValueError for a recipient the SMSC refuses.
        ``deliver`` False keeps them from their recipient: a fault is about to
        end them (``finish``)."""
        if not recipient.startswith("+") or not recipient[1:].isdigit():
            return fail(ValueError(f"{recipient!r} is not a subscriber number"))
        known = bool(self._station(recipient).imsi)
        if not known and self.config.unknown_recipient == "reject":
            return fail(ValueError(f"no subscriber {recipient}"))
        now = self.now()
        items = [
            Queued(
                id=self._new_id(),
                kind=MessageKind.SMS,
                originator=originator[:32],
                recipient=recipient,
                tp_mr=None,
                tp_srr=receipt,
                tpdu=tpdu,
                submitted_at=now,
                expires_at=expires_at or now + self.config.default_validity,
                esme=esme,
            )
            for tpdu in tpdus
        ]
        writes = [self.writer.insert(MESSAGE, self._row(i, MessageState.QUEUED)) for i in items]

        def committed(_: object) -> list[Queued]:
            self.metrics.submits_accepted += len(items)
            for item in items:
                self.from_esmes[item.id] = item
                if deliver:
                    self._enqueue(item)
            return items

        return gatherResults(writes, consumeErrors=True).addCallback(committed)

    def queue_for_esme(self, item: Queued) -> Deferred[None]:
        """Store a deliver_sm owed to an ESME (``item.kind`` esme: a receipt),
        then hand it to the SMPP door."""
        d = self.writer.insert(MESSAGE, self._row(item, MessageState.QUEUED))
        return d.addCallback(lambda _: self._enqueue(item))

    def new_id(self) -> int:
        return self._new_id()

    def scts(self) -> datetime:
        """Now, as TP-SCTS shows it (the SMSC's zone, whole seconds)."""
        return self.local(self.now())

    def waiting(self, message_id: int) -> bool:
        """Whether a message an ESME submitted is queued and not being delivered."""
        item = self.from_esmes.get(message_id)
        return item is not None and self._station(item.recipient).in_flight is not item

    def end(
        self,
        message_id: int,
        state: MessageState = MessageState.DELETED,
        st: int = tp_st.ST_PERM_DELETED_BY_ORIGINATOR,
        cause: int | None = None,
    ) -> bool:
        """End a message an ESME submitted that is still waiting: cancel_sm
        (deleted), or a fault that fails its delivery.  False if it is final
        already or being delivered right now."""
        item = self.from_esmes.get(message_id)
        if item is None:
            return False
        station = self._station(item.recipient)
        if station.in_flight is item:
            return False
        station.queue.remove(item)
        self.finish(item, state, st, cause)
        return True

    def replace(self, message_id: int, tpdu: bytes) -> bool:
        """Give a waiting message an ESME submitted a new SMS-DELIVER
        (replace_sm); False if it is final already or being delivered."""
        item = self.from_esmes.get(message_id)
        if item is None or self._station(item.recipient).in_flight is item:
            return False
        item.tpdu = tpdu
        self.writer.update(MESSAGE, item.id, {"tpdu": tpdu})
        return True

    def _kick(self, station: Station) -> None:
        """Send the next message to ``station`` if nothing stands in the way."""
        while (
            station.link is not None
            and station.queue
            and station.in_flight is None
            and not station.memory_full
        ):
            if self.clock.seconds() < station.retry_at:
                self._schedule_retry(station)
                return
            item = station.queue[0]
            if item.expires_at <= self.now():
                station.queue.popleft()
                self.finish(item, MessageState.EXPIRED, tp_st.ST_PERM_VALIDITY_EXPIRED)
                continue
            tpdu = item.tpdu
            if len(station.queue) > 1:
                tpdu = bytes((tpdu[0] & ~0x04,)) + tpdu[1:]  # TP-MMS 0: more are waiting
            mr = station.allocate_mr()
            station.in_flight, station.in_flight_mr = item, mr
            item.attempts += 1
            self.metrics.delivery_attempts += 1
            self._send_rp(station.link, self._rp.data(mr, tpdu))
            station.answer_timer = self.clock.callLater(
                self.config.answer_timeout, self._no_answer, station, mr
            )
            if self._watchers:
                self._emit(
                    "delivering", id=item.id, recipient=station.msisdn, attempt=item.attempts
                )

    def _take_in_flight(self, station: Station, mr: int) -> Queued | None:
        item = station.in_flight
        if item is None or mr != station.in_flight_mr:
            return None
        if station.answer_timer is not None and station.answer_timer.active():
            station.answer_timer.cancel()
        station.answer_timer = None
        station.in_flight = None
        return item

    def _on_ack(self, station: Station, mr: int) -> None:
        item = self._take_in_flight(station, mr)
        if item is None:
            log.info("%s: RP-ACK for RP-MR %d, which is not in flight", station.msisdn, mr)
            return
        station.queue.popleft()
        station.retry_at = 0.0
        self.finish(item, MessageState.DELIVERED, tp_st.ST_RECEIVED)
        self._kick(station)

    def _on_error(self, station: Station, mr: int, cause: int) -> None:
        item = self._take_in_flight(station, mr)
        if item is None:
            return
        self._emit("refused", id=item.id, recipient=station.msisdn, cause=cause)
        if cause == C.MEMORY_CAPACITY_EXCEEDED:
            station.memory_full = True
            self._delayed(item, tp_st.ST_TEMP_SME_BUSY, cause)
        elif cause in TEMPORARY_CAUSES:
            self._back_off(station, item, tp_st.ST_TEMP_ERROR_IN_SME, cause)
        else:
            station.queue.popleft()
            self.finish(item, MessageState.FAILED, tp_st.ST_PERM_CONNECTION_REJECTED, cause)
        self._kick(station)

    def _no_answer(self, station: Station, mr: int) -> None:
        station.answer_timer = None
        item = self._take_in_flight(station, mr)
        if item is not None:
            self._emit("no answer", id=item.id, recipient=station.msisdn)
            self._back_off(station, item, tp_st.ST_TEMP_NO_RESPONSE, None)
            self._kick(station)

    def _back_off(self, station: Station, item: Queued, st: int, cause: int | None) -> None:
        delay = backoff_policy(self.config.retry_base, self.config.retry_max)(item.attempts - 1)
        station.retry_at = self.clock.seconds() + delay
        self._delayed(item, st, cause)

    def _delayed(self, item: Queued, st: int, cause: int | None) -> None:
        """Record a failed attempt; tell the sender once, if it asked for reports."""
        self.writer.update(MESSAGE, item.id, {"attempts": item.attempts, "error": cause})
        from_handset = item.kind is not MessageKind.REPORT and item.esme is None
        if from_handset and item.tp_srr and not item.reported_delay:
            item.reported_delay = True
            self._report(item, st)

    def _schedule_retry(self, station: Station) -> None:
        if station.retry_timer is not None and station.retry_timer.active():
            return
        wait = max(0.0, station.retry_at - self.clock.seconds())
        station.retry_timer = self.clock.callLater(wait, self._retry, station)

    def _retry(self, station: Station) -> None:
        station.retry_timer = None
        self._kick(station)

    def finish(self, item: Queued, state: MessageState, st: int, cause: int | None = None) -> None:
        """End ``item`` in a final ``state`` (the SMPP door ends the deliver_sms it sends)."""
        done = self.now()
        self.writer.update(
            MESSAGE,
            item.id,
            {
                "state": state.value,
                "attempts": item.attempts,
                "done_at": done.replace(tzinfo=None),
                "error": cause if cause is not None else (st if st else None),
            },
        )
        counter = state.value  # the Metrics field of each final state
        setattr(self.metrics, counter, getattr(self.metrics, counter) + 1)
        if self._watchers:
            self._emit(state.value, id=item.id, kind=item.kind.value, recipient=item.recipient)
        if item.kind is MessageKind.SMS and item.esme is not None:
            # From an ESME: its receipt (if it asked) is a deliver_sm, not an SMS.
            self.from_esmes.pop(item.id, None)
            if self.esme is not None:
                self.esme.finished(item, state, cause if cause is not None else st)
        elif item.kind is not MessageKind.REPORT and item.tp_srr:
            # An SMS from a handset, to a handset or an ESME: SMS-STATUS-REPORT.
            self._report(item, st)

    def _report(self, item: Queued, st: int) -> None:
        """Queue an SMS-STATUS-REPORT about ``item`` for its sender."""
        now = self.now()
        report = SmsStatusReport(
            tp_mr=item.tp_mr or 0,
            tp_ra=Address.parse(item.recipient)
            if item.recipient.startswith("+")
            else Address(item.recipient, 0, 1),
            tp_scts=self.local(item.submitted_at),
            tp_dt=self.local(now),
            tp_st=st,
        )
        out = Queued(
            id=self._new_id(),
            kind=MessageKind.REPORT,
            originator=self.config.address,
            recipient=item.originator,
            tp_mr=item.tp_mr,
            tp_srr=False,
            tpdu=encode(report),
            submitted_at=now,
            expires_at=now + self.config.default_validity,
        )
        self.metrics.reports_made += 1
        d = self.writer.insert(MESSAGE, self._row(out, MessageState.QUEUED, report_for=item.id))
        d.addCallback(lambda _: self._enqueue(out))
        d.addErrback(lambda f: log.error("could not store a report: %s", f.getErrorMessage()))

    def _sweep(self) -> None:
        """End the queued messages whose validity has run out."""
        now = self.now()
        for station in self.stations.values():
            if not station.queue:
                continue
            keep: deque[Queued] = deque()
            for item in station.queue:
                if item is not station.in_flight and item.expires_at <= now:
                    self.finish(item, MessageState.EXPIRED, tp_st.ST_PERM_VALIDITY_EXPIRED)
                else:
                    keep.append(item)
            station.queue = keep
        if self.esme is not None:
            self.esme.sweep()
        self._sweeper = self.clock.callLater(self.config.expiry_sweep, self._sweep)


def _naive_utc(when: datetime) -> datetime:
    """How the tables keep times: naive UTC."""
    if when.tzinfo is not UTC:
        when = when.astimezone(UTC)
    return when.replace(tzinfo=None)


def _upsert_subscriber(conn: Connection, msisdn: str, imsi: str, now: datetime) -> None:
    updated = conn.execute(
        SUBSCRIBER.update().where(SUBSCRIBER.c.msisdn == msisdn).values(imsi=imsi, last_attach=now)
    ).rowcount
    if not updated:
        conn.execute(
            SUBSCRIBER.insert().values(msisdn=msisdn, imsi=imsi, first_attach=now, last_attach=now)
        )


def zone_of_now() -> timezone:
    """This machine's zone as a fixed offset, or UTC if not in quarter hours."""
    offset = datetime.now().astimezone().utcoffset() or timedelta()
    return timezone(offset) if not offset % timedelta(minutes=15) else UTC
