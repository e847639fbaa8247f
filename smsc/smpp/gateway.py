"""The SMSC's SMPP door: ESME accounts and routes, what ESMEs submit, and the
deliver_sms the SMSC owes them (MO messages and delivery receipts).

``SmppGateway`` is the ``EsmeSink`` of ``smsc.core.Smsc``: the core stores and
forwards, the gateway speaks SMPP.  A submit_sm becomes SMS-DELIVERs
(``convert``) that the core commits before the submit_sm_resp goes; a
deliver_sm owed to an ESME is a row of the core's queue too (kind ``esme``),
sent to the ESME's bound receivers within their windows, and ended by its
deliver_sm_resp.  Connections reach it through ``Connection`` (the Twisted
protocol in ``smsc.smpp.server``, or a test double).
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection as DbConnection
from sqlalchemy import select
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from pdu import Address, Direction, PDUError, SmsDeliver, SmsSubmit
from pdu import decode as decode_tpdu
from pdu import status as tp_st
from pdu.address import TON_ALPHANUMERIC
from pdu.udh import find_message_number
from smpp34 import pdu as p
from smpp34.pdu import CommandStatus as S
from smpp34.session import refusal

from ..core import MESSAGE, Queued, Smsc
from ..models import MessageKind, MessageState
from .convert import (
    MAX_SHORT_MESSAGE,
    ConversionError,
    DefaultAlphabet,
    Sar,
    delivers,
    mo_fields,
    plain_text,
)
from .faults import FaultInjector, FaultRule, RateLimit
from .receipt import ReceiptFormat

log = logging.getLogger(__name__)

#: message_state of each final state of the core (SMPP 3.4 §5.2.28).
STATE = {
    MessageState.QUEUED: p.MessageState.ENROUTE,
    MessageState.DELIVERED: p.MessageState.DELIVERED,
    MessageState.EXPIRED: p.MessageState.EXPIRED,
    MessageState.DELETED: p.MessageState.DELETED,
    MessageState.FAILED: p.MessageState.UNDELIVERABLE,
}
#: deliver_sm_resp statuses after which the same deliver_sm may work later.
TEMPORARY = frozenset({S.ESME_RTHROTTLED, S.ESME_RMSGQFUL, S.ESME_RX_T_APPN, S.ESME_RSYSERR})
#: esm_class of a delivery receipt, and of a read receipt: "SME manual/user
#: acknowledgement" (SMPP 3.4 §5.2.12, message type bits 0100).
DELIVERY_RECEIPT = p.make_esm_class(message_type=p.MessageType.DELIVERY_RECEIPT)
USER_ACK = p.make_esm_class(message_type=p.MessageType.MANUAL_ACK)
#: Numbered ESME messages remembered for their read receipts.
MAX_NUMBERED = 100_000
#: Seconds an ESME has to answer a deliver_sm before it is sent again.
RESPONSE_TIMEOUT = 30.0
RETRY_BASE, RETRY_MAX = 1.0, 60.0


@dataclass(frozen=True, slots=True)
class EsmeAccount:
    """An ESME that may bind: its credentials, its submit rate (0: no limit)
    and the numbers whose MO messages it gets (exact, or a prefix ending *)."""

    system_id: str
    password: str
    system_type: str | None = None  # None: any
    rate: float = 0.0
    routes: tuple[str, ...] = ()

    def routes_to(self, number: str) -> bool:
        return any(
            number.startswith(r[:-1]) if r.endswith("*") else number == r for r in self.routes
        )


@dataclass
class SmppConfig:
    accounts: list[EsmeAccount] = field(default_factory=list)
    receipt: ReceiptFormat = field(default_factory=ReceiptFormat)
    faults: list[FaultRule] = field(default_factory=list)
    seed: int | None = None
    default_alphabet: DefaultAlphabet = DefaultAlphabet.GSM7
    window: int = 64
    system_id: str = "smsemu"  # what bind responses carry
    #: Report the IP server's read receipts to the ESME that sent the message
    #: (one it numbered with the message-number IE, SPEC §2): a deliver_sm
    #: with esm_class "SME manual/user acknowledgement" and ``stat:READ``.
    read_receipts: bool = False


class Connection(Protocol):
    """What the gateway needs of an ESME's connection."""

    @property
    def system_id(self) -> str | None: ...

    @property
    def can_receive(self) -> bool: ...

    @property
    def room(self) -> int: ...

    def request(self, make: type[p.Pdu], **fields: Any) -> int | None:
        """Send a request; its sequence number, or None if it cannot go now."""

    def forget(self, sequence_number: int) -> None:
        """Stop waiting for the response to that request."""

    def unbind(self) -> None: ...

    def reset(self) -> None:
        """Drop the connection, answering nothing."""


@dataclass
class _Submitted:
    """A message an ESME submitted, until its receipt is made: its parts'
    outcomes and what the receipt says of it."""

    esme: str
    ids: list[int]
    registered_delivery: int
    submitted_at: datetime
    text: str
    data_coding: int
    source: Address
    protocol_id: int
    outcomes: dict[int, tuple[MessageState, int | None]] = field(default_factory=dict)
    #: The message_state a fault ends it in (its receipt says so).
    forced: int | None = None


@dataclass
class _InFlight:
    item: Queued
    connection: Connection
    timer: IDelayedCall | None = None


def _number(addr: str, ton: int) -> str:
    """An SMPP address as the core keys subscribers: ``+digits`` for an
    international number (and for bare digits, which ESMEs often send)."""
    digits = addr.lstrip("+")
    if digits.isdigit() and (ton in (0, 1) or addr.startswith("+")):
        return "+" + digits
    return addr


def _source(addr: str, ton: int, npi: int) -> Address:
    if ton == TON_ALPHANUMERIC:
        return Address(addr[:11], TON_ALPHANUMERIC, 0)
    if ton == 1 or addr.startswith("+"):
        return Address(addr.lstrip("+"), 1, npi or 1)
    return Address(addr, ton, npi)


class SmppGateway:
    def __init__(self, smsc: Smsc, config: SmppConfig, clock: IReactorTime) -> None:
        self.smsc = smsc
        self.config = config
        self.clock = clock
        self.accounts = {a.system_id: a for a in config.accounts}
        self.faults = FaultInjector(config.faults, config.seed)
        self.limits = {a.system_id: RateLimit(a.rate) for a in config.accounts}
        self.connections: dict[str, list[Connection]] = {}
        self.outbox: dict[str, deque[Queued]] = {}
        self.in_flight: dict[tuple[int, int], _InFlight] = {}  # (id(connection), seq)
        self._retry: dict[str, IDelayedCall] = {}
        self._attempts: dict[int, int] = {}
        self.submitted: dict[int, _Submitted] = {}  # by the id of each part
        self._ref = 0
        #: Numbered messages from ESMEs, for their read receipts: (sender,
        #: recipient, message number) -> (ESME, message id, what it was).
        self.numbered: OrderedDict[tuple[str, str, int], tuple[str, int, _Submitted]] = (
            OrderedDict()
        )

    # -- binds -----------------------------------------------------------------------------

    def authenticate(self, bind: p.BindTransmitter | p.BindReceiver | p.BindTransceiver) -> int:
        account = self.accounts.get(bind.system_id)
        if account is None:
            return S.ESME_RINVSYSID
        if bind.password != account.password:
            return S.ESME_RINVPASWD
        if account.system_type is not None and bind.system_type != account.system_type:
            return S.ESME_RINVSYSTYP
        return S.ESME_ROK

    def bound(self, connection: Connection) -> None:
        assert connection.system_id is not None
        self.connections.setdefault(connection.system_id, []).append(connection)
        self.pump(connection.system_id)

    def gone(self, connection: Connection, unanswered: list[p.Pdu]) -> None:
        """A connection closed: what it had in flight goes again elsewhere."""
        esme = connection.system_id
        if esme is None:
            return
        live = self.connections.get(esme, [])
        if connection in live:
            live.remove(connection)
        back = []
        for request in unanswered:
            flight = self.in_flight.pop((id(connection), request.sequence_number), None)
            if flight is not None:
                if flight.timer is not None and flight.timer.active():
                    flight.timer.cancel()
                back.append(flight.item)
        self.outbox.setdefault(esme, deque()).extendleft(reversed(back))
        self.pump(esme)

    # -- the core's side (EsmeSink) ----------------------------------------------------------

    def route(self, number: str) -> str | None:
        for account in self.accounts.values():
            if account.routes_to(number):
                return account.system_id
        return None

    def mo(self, item: Queued, submit: SmsSubmit) -> bytes:
        fields = mo_fields(submit, self.config.default_alphabet)
        short, tlvs = fields.message, p.NO_TLVS
        if len(short) > MAX_SHORT_MESSAGE:
            short, tlvs = b"", p.Tlvs(message_payload=fields.message)
        international = item.recipient.startswith("+")
        deliver = p.DeliverSm(
            sequence_number=1,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr=item.originator.lstrip("+"),
            dest_addr_ton=1 if international else 0,
            dest_addr_npi=1,
            destination_addr=item.recipient.lstrip("+"),
            esm_class=fields.esm_class,
            protocol_id=fields.protocol_id,
            data_coding=fields.data_coding,
            short_message=short,
            tlvs=tlvs,
        )
        return p.encode(deliver)

    def enqueue(self, item: Queued) -> None:
        assert item.esme is not None
        self.outbox.setdefault(item.esme, deque()).append(item)
        self.pump(item.esme)

    def finished(self, item: Queued, state: MessageState, error: int | None) -> None:
        """A part of a message an ESME submitted ended; once all have, its
        receipt goes if it asked for one."""
        sub = self.submitted.get(item.id)
        if sub is None:  # submitted before a restart: a receipt for this part
            if item.tp_srr and item.esme is not None:
                self._receipt_of_part(item, state, error)
            return
        sub.outcomes[item.id] = (state, error)
        if len(sub.outcomes) < len(sub.ids):
            return
        for i in sub.ids:
            self.submitted.pop(i, None)
        states = [s for s, _ in sub.outcomes.values()]
        # The message's fate is its worst part's.
        final = next((s for s in states if s is not MessageState.DELIVERED), states[0])
        err = next((e for s, e in sub.outcomes.values() if s is final), None)
        delivered = final is MessageState.DELIVERED
        if p.wants_receipt(sub.registered_delivery, delivered):
            self._receipt(
                sub.esme,
                sub.ids[0],
                sub.source,
                item.recipient,
                sub.submitted_at,
                final,
                err,
                sub.text,
                len(sub.ids),
                message_state=sub.forced,
            )

    def _receipt_of_part(self, item: Queued, state: MessageState, error: int | None) -> None:
        assert item.esme is not None
        source = _source(item.originator, 1 if item.originator.startswith("+") else 0, 1)
        text = ""
        with contextlib.suppress(PDUError):
            tpdu = decode_tpdu(item.tpdu, Direction.MT)
            if isinstance(tpdu, SmsDeliver) and isinstance(tpdu.tp_ud.body, str):
                text = tpdu.tp_ud.body
        self._receipt(
            item.esme, item.id, source, item.recipient, item.submitted_at, state, error, text, 1
        )

    def _receipt(
        self,
        esme: str,
        message_id: int,
        source: Address,
        recipient: str,
        submitted_at: datetime,
        state: MessageState,
        error: int | None,
        text: str,
        parts: int,
        *,
        esm_class: int = DELIVERY_RECEIPT,
        stat: str | None = None,
        message_state: int | None = None,
    ) -> None:
        fmt = self.config.receipt
        done = self.smsc.now()
        message_state = message_state or STATE[state]
        body = fmt.text(
            message_id,
            submitted=parts,
            delivered=parts if state is MessageState.DELIVERED else 0,
            submit_date=self.smsc.local(submitted_at),
            done_date=self.smsc.local(done),
            message_state=message_state,
            error=error or 0,
            text=text,
            stat=stat,
        )
        deliver = p.DeliverSm(
            sequence_number=1,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr=recipient.lstrip("+"),
            dest_addr_ton=source.ton,
            dest_addr_npi=source.npi,
            destination_addr=source.number,
            esm_class=esm_class,
            data_coding=0,
            short_message=body.encode("ascii", "replace"),
            tlvs=p.Tlvs(
                receipted_message_id=fmt.message_id(message_id), message_state=message_state
            ),
        )
        item = Queued(
            id=self.smsc.new_id(),
            kind=MessageKind.ESME,
            originator=recipient,
            recipient=str(source)[:32],
            tp_mr=None,
            tp_srr=False,
            tpdu=p.encode(deliver),
            submitted_at=done,
            expires_at=done + self.smsc.config.default_validity,
            esme=esme,
        )
        d = self.smsc.queue_for_esme(item)
        d.addErrback(lambda f: log.error("could not store a receipt: %s", f.getErrorMessage()))

    # -- deliver_sm to the ESMEs ---------------------------------------------------------------

    def pump(self, esme: str) -> None:
        """Send what ``esme`` is owed to its receivers, within their windows."""
        queue = self.outbox.get(esme)
        if not queue or esme in self._retry:
            return
        receivers = [c for c in self.connections.get(esme, []) if c.can_receive]
        now = self.smsc.now()
        while queue and receivers:
            receivers.sort(key=lambda c: -c.room)
            connection = receivers[0]
            if connection.room <= 0:
                return
            item = queue[0]
            if item.expires_at <= now:
                queue.popleft()
                self._attempts.pop(item.id, None)
                self.smsc.finish(item, MessageState.EXPIRED, tp_st.ST_PERM_VALIDITY_EXPIRED)
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
            flight = _InFlight(item, connection)
            flight.timer = self.clock.callLater(RESPONSE_TIMEOUT, self._timed_out, connection, seq)
            self.in_flight[(id(connection), seq)] = flight

    def answered(self, connection: Connection, request: p.Pdu, response: p.Pdu) -> None:
        flight = self.in_flight.pop((id(connection), request.sequence_number), None)
        if flight is None:
            return
        if flight.timer is not None and flight.timer.active():
            flight.timer.cancel()
        item, esme = flight.item, flight.item.esme
        assert esme is not None
        status = response.command_status
        if status == S.ESME_ROK:
            self._attempts.pop(item.id, None)
            self.smsc.finish(item, MessageState.DELIVERED, tp_st.ST_RECEIVED)
        elif status in TEMPORARY or isinstance(response, p.GenericNack):
            self._again(esme, item)
        else:
            self._attempts.pop(item.id, None)
            self.smsc.finish(item, MessageState.FAILED, tp_st.ST_PERM_CONNECTION_REJECTED)
        self.pump(esme)

    def _timed_out(self, connection: Connection, seq: int) -> None:
        flight = self.in_flight.pop((id(connection), seq), None)
        if flight is None:
            return
        connection.forget(seq)
        assert flight.item.esme is not None
        self._again(flight.item.esme, flight.item)

    def _again(self, esme: str, item: Queued) -> None:
        """Back to the head of the outbox, after a back-off."""
        attempts = self._attempts[item.id] = self._attempts.get(item.id, 0) + 1
        self.outbox.setdefault(esme, deque()).appendleft(item)
        if esme not in self._retry:
            delay = min(RETRY_MAX, RETRY_BASE * 2 ** (attempts - 1))
            self._retry[esme] = self.clock.callLater(delay, self._retried, esme)

    def _retried(self, esme: str) -> None:
        self._retry.pop(esme, None)
        self.pump(esme)

    def sweep(self) -> None:
        now = self.smsc.now()
        for queue in self.outbox.values():
            expired = [item for item in queue if item.expires_at <= now]
            for item in expired:
                queue.remove(item)
                self._attempts.pop(item.id, None)
                self.smsc.finish(item, MessageState.EXPIRED, tp_st.ST_PERM_VALIDITY_EXPIRED)

    def stop(self) -> None:
        for call in [*self._retry.values(), *(f.timer for f in self.in_flight.values())]:
            if call is not None and call.active():
                call.cancel()

    # -- requests of the ESMEs -------------------------------------------------------------------

    def serve(self, connection: Connection, request: p.Pdu) -> Deferred[p.Pdu] | None:
        """The response to ``request``, when it is due (None: none is sent,
        as a ``drop`` fault asks)."""
        esme = connection.system_id or ""
        if isinstance(request, p.SubmitSm | p.DataSm):
            return self._submit(connection, esme, request)
        if isinstance(request, p.QuerySm):
            return self._query(esme, request)
        if isinstance(request, p.CancelSm):
            return succeed(self._cancel(esme, request))
        if isinstance(request, p.ReplaceSm):
            return succeed(self._replace(esme, request))
        # submit_multi: not offered by this SMSC.
        return succeed(refusal(request, S.ESME_RINVCMDID))

    def _submit(
        self, connection: Connection, esme: str, request: p.SubmitSm | p.DataSm
    ) -> Deferred[p.Pdu] | None:
        now = self.clock.seconds()
        payload = request.tlvs.message_payload
        short = getattr(request, "short_message", b"")
        if payload is not None and short:
            return succeed(refusal(request, S.ESME_RINVOPTPARAMVAL))
        message = payload if payload is not None else short
        text = plain_text(
            request.data_coding, message, request.esm_class, self.config.default_alphabet
        )
        destination = _number(request.destination_addr, request.dest_addr_ton)
        rule = self.faults.decide(esme, request.name, destination, text)
        if rule is not None and rule.action in ("status", "throttle", "reset"):
            if rule.action == "reset":
                connection.reset()
                return None
            status = rule.command_status if rule.action == "status" else S.ESME_RTHROTTLED
            return succeed(refusal(request, status))
        if not self.limits.get(esme, RateLimit(0)).allow(now):
            return succeed(refusal(request, S.ESME_RTHROTTLED))
        try:
            accepted = self._accept(esme, request, message, text, destination, rule)
        except _Refused as exc:
            log.info("%s: %s refused: %s", esme, request.name, exc.reason)
            return succeed(refusal(request, exc.status))
        d = accepted.addCallback(lambda items: self._accepted(request, items, rule, connection))
        d.addErrback(self._failed, request)
        if rule is not None and rule.action == "drop":
            return None
        if rule is not None and rule.action == "delay":
            late: Deferred[p.Pdu] = Deferred()
            d.addCallback(lambda r: self.clock.callLater(rule.delay, late.callback, r))
            return late
        return d

    def _accept(
        self,
        esme: str,
        request: p.SubmitSm | p.DataSm,
        message: bytes,
        text: str,
        destination: str,
        rule: FaultRule | None,
    ) -> Deferred[list[Queued]]:
        sar = request.tlvs
        parts = (sar.sar_msg_ref_num, sar.sar_total_segments, sar.sar_segment_seqnum)
        if any(v is not None for v in parts) and None in parts:
            raise _Refused(S.ESME_RMISSINGOPTPARAM, "sar_* TLVs come three together")
        segment = Sar(*parts) if None not in parts else None  # type: ignore[arg-type]
        tlvs = request.tlvs
        ports = None
        if tlvs.destination_port is not None:
            ports = (tlvs.destination_port, tlvs.source_port or 0)
        if getattr(request, "schedule_delivery_time", ""):
            # Better refused than delivered at once against the ESME's wish.
            raise _Refused(S.ESME_RINVSCHED, "scheduled delivery is not offered by this SMSC")
        expires: datetime | None = None
        validity = getattr(request, "validity_period", "")
        if validity:
            try:
                when = p.parse_time(validity)
            except p.SmppError as exc:
                raise _Refused(exc.command_status, exc.reason) from None
            now = self.smsc.now()
            expires = now + when if isinstance(when, timedelta) else when
        self._ref = (self._ref + 1) % 256
        try:
            source = _source(request.source_addr, request.source_addr_ton, request.source_addr_npi)
            tpdus = delivers(
                source=source,
                data_coding=request.data_coding,
                esm_class=request.esm_class,
                protocol_id=getattr(request, "protocol_id", 0),
                payload=message,
                tp_scts=self.smsc.scts(),
                sar=segment,
                ports=ports,
                ref=self._ref,
                default=self.config.default_alphabet,
            )
        except (ConversionError, ValueError) as exc:
            raise _Refused(S.ESME_RSUBMITFAIL, str(exc)) from None
        receipt = bool(request.registered_delivery & p.RECEIPT_MASK)
        doomed = rule is not None and rule.action == "fail_delivery"
        d = self.smsc.submit_from_esme(
            esme,
            str(source),
            destination,
            tpdus,
            receipt=receipt,
            expires_at=expires,
            deliver=not doomed,
        )

        def note(items: list[Queued]) -> list[Queued]:
            sub = _Submitted(
                esme,
                [i.id for i in items],
                request.registered_delivery,
                items[0].submitted_at,
                text,
                request.data_coding,
                source,
                getattr(request, "protocol_id", 0),
            )
            for item in items:
                self.submitted[item.id] = sub
            if self.config.read_receipts:
                self._remember_number(esme, str(source), destination, items[0], sub)
            if doomed and rule is not None:
                # The fault ends each part as the network would have: its receipt follows.
                sub.forced = rule.message_state
                state = _FAULT_STATE[p.MessageState(rule.message_state)]
                for item in items:
                    self.smsc.finish(item, state, tp_st.ST_PERM_CONNECTION_REJECTED, rule.error)
            return items

        return d.addCallback(note)

    def _remember_number(
        self, esme: str, source: str, destination: str, first: Queued, sub: _Submitted
    ) -> None:
        with contextlib.suppress(PDUError):
            tpdu = decode_tpdu(first.tpdu, Direction.MT)
            number = find_message_number(tpdu.tp_ud.udh) if isinstance(tpdu, SmsDeliver) else None
            if number is not None:
                self.numbered[(source, destination, number)] = (esme, first.id, sub)
                self.numbered.move_to_end((source, destination, number))
                while len(self.numbered) > MAX_NUMBERED:
                    self.numbered.popitem(last=False)

    def read(self, sender: str, receiver: str, number: int, status: int) -> None:
        """The IP server has a feedback for ``sender``: if it is a message an
        ESME sent (and numbered), and ``receiver`` read it, the ESME is told."""
        if status != 1 or not self.config.read_receipts:
            return
        found = self.numbered.pop((sender, receiver, number), None)
        if found is None:
            return
        esme, message_id, sub = found
        self._receipt(
            esme,
            message_id,
            sub.source,
            receiver,
            sub.submitted_at,
            MessageState.DELIVERED,
            None,
            sub.text,
            len(sub.ids),
            esm_class=USER_ACK,
            stat="READ",
        )

    def _accepted(
        self, request: p.Pdu, items: list[Queued], rule: FaultRule | None, connection: Connection
    ) -> p.Pdu:
        message_id = self.config.receipt.message_id(items[0].id)
        if rule is not None and rule.action == "unbind":
            self.clock.callLater(0, connection.unbind)
        cls = p.SubmitSmResp if isinstance(request, p.SubmitSm) else p.DataSmResp
        return cls(sequence_number=request.sequence_number, message_id=message_id)

    @staticmethod
    def _failed(failure: Any, request: p.Pdu) -> p.Pdu:
        if isinstance(failure.value, ValueError):
            status = S.ESME_RINVDSTADR
        else:
            log.error("%s failed: %s", request.name, failure.getErrorMessage())
            status = S.ESME_RSUBMITFAIL
        return refusal(request, status)

    def _query(self, esme: str, request: p.QuerySm) -> Deferred[p.Pdu]:
        number = self.config.receipt.parse_message_id(request.message_id)
        if number is None:
            return succeed(refusal(request, S.ESME_RINVMSGID))
        pending = self.smsc.from_esmes.get(number)
        if pending is not None:
            if pending.esme != esme:
                return succeed(refusal(request, S.ESME_RQUERYFAIL))
            return succeed(
                p.QuerySmResp(
                    sequence_number=request.sequence_number,
                    message_id=request.message_id,
                    message_state=p.MessageState.ENROUTE,
                )
            )

        def read(conn: DbConnection) -> Any:
            return conn.execute(
                select(
                    MESSAGE.c.state,
                    MESSAGE.c.done_at,
                    MESSAGE.c.error,
                    MESSAGE.c.esme,
                    MESSAGE.c.kind,
                ).where(MESSAGE.c.id == number)
            ).first()

        def answer(row: Any) -> p.Pdu:
            if row is None or row.esme != esme or row.kind != MessageKind.SMS.value:
                return refusal(request, S.ESME_RQUERYFAIL)
            state = MessageState(row.state)
            final = ""
            if row.done_at is not None:
                final = p.format_time(self.smsc.local(row.done_at.replace(tzinfo=UTC)))
            return p.QuerySmResp(
                sequence_number=request.sequence_number,
                message_id=request.message_id,
                final_date=final,
                message_state=STATE[state],
                error_code=min(row.error or 0, 255),
            )

        return self.smsc.writer.call(read).addCallback(answer)

    def _parts(self, esme: str, message_id: str) -> list[int] | None:
        number = self.config.receipt.parse_message_id(message_id)
        if number is None:
            return None
        sub = self.submitted.get(number)
        ids = sub.ids if sub is not None and sub.ids[0] == number else [number]
        if any(
            self.smsc.from_esmes.get(i) is None or self.smsc.from_esmes[i].esme != esme for i in ids
        ):
            return None
        return ids

    def _cancel(self, esme: str, request: p.CancelSm) -> p.Pdu:
        ids = self._parts(esme, request.message_id)
        # All parts or none: a part being delivered right now cannot be recalled.
        if not ids or not all(self.smsc.waiting(i) for i in ids):
            return refusal(request, S.ESME_RCANCELFAIL)
        for i in ids:
            self.smsc.end(i)
        return p.CancelSmResp(sequence_number=request.sequence_number)

    def _replace(self, esme: str, request: p.ReplaceSm) -> p.Pdu:
        ids = self._parts(esme, request.message_id)
        sub = self.submitted.get(ids[0]) if ids else None
        if not ids or sub is None or len(ids) != 1:
            return refusal(request, S.ESME_RREPLACEFAIL)
        try:
            (tpdu,) = delivers(
                source=sub.source,
                data_coding=sub.data_coding,
                esm_class=0,
                protocol_id=sub.protocol_id,
                payload=request.short_message,
                tp_scts=self.smsc.scts(),
                default=self.config.default_alphabet,
            )
        except (ConversionError, ValueError):
            return refusal(request, S.ESME_RREPLACEFAIL)
        if not self.smsc.replace(ids[0], tpdu):
            return refusal(request, S.ESME_RREPLACEFAIL)
        sub.text = plain_text(
            sub.data_coding, request.short_message, 0, self.config.default_alphabet
        )
        return p.ReplaceSmResp(sequence_number=request.sequence_number)


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


_FAULT_STATE = {
    p.MessageState.EXPIRED: MessageState.EXPIRED,
    p.MessageState.DELETED: MessageState.DELETED,
    p.MessageState.UNDELIVERABLE: MessageState.FAILED,
    p.MessageState.REJECTED: MessageState.FAILED,
}
