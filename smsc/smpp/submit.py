"""What ESMEs submit (submit_sm, data_sm): faults and the rate limit first,
then conversion into SMS-DELIVERs the core commits before the response goes.
The response is due when the parts are committed, later (a ``delay`` fault)
or never (``drop``): it goes to the ``respond`` the connection gives, a plain
call (None: no response will go), with no Deferred on the way."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from twisted.internet.interfaces import IReactorTime

from pdu import status as tp_st
from smpp34 import pdu as p
from smpp34.pdu import CommandStatus as S
from smpp34.session import refusal

from ..esme_door import Accepted, EsmeDoor
from ..idblocks import IdsExhausted
from ..models import MessageState
from ..queued import Queued
from ..submitted import Submitted
from .convert import (
    ConversionError,
    DefaultAlphabet,
    Sar,
    delivers,
    plain_text,
    source_address,
    subscriber_number,
)
from .delivery_receipts import Receipts
from .faults import FaultInjector, FaultRule, RateLimit
from .metrics import SmppMetrics
from .sessions import Connection

log = logging.getLogger(__name__)

#: The core's final state of each message_state a ``fail_delivery`` fault names.
_FAULT_STATE = {
    p.MessageState.EXPIRED: MessageState.EXPIRED,
    p.MessageState.DELETED: MessageState.DELETED,
    p.MessageState.UNDELIVERABLE: MessageState.FAILED,
    p.MessageState.REJECTED: MessageState.FAILED,
}


#: Where a response goes once due (None: none will go).
Respond = Callable[[p.Pdu | None], None]


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class Submits:
    def __init__(
        self,
        door: EsmeDoor,
        receipts: Receipts,
        faults: FaultInjector,
        limits: dict[str, RateLimit],
        clock: IReactorTime,
        metrics: SmppMetrics,
        *,
        alphabet: DefaultAlphabet,
        read_receipts: bool,
    ) -> None:
        self.door = door
        self.receipts = receipts
        self.faults = faults
        self.limits = limits
        self.clock = clock
        self.metrics = metrics
        self.alphabet = alphabet
        self.read_receipts = read_receipts
        self._ref = 0

    def submit(
        self, connection: Connection, esme: str, request: p.SubmitSm | p.DataSm, respond: Respond
    ) -> None:
        """``respond(response)`` when it is due, ``respond(None)`` when none
        will go (a ``drop`` or ``reset`` fault)."""
        now = self.clock.seconds()
        payload = request.tlvs.message_payload
        short = getattr(request, "short_message", b"")
        if payload is not None and short:
            respond(refusal(request, S.ESME_RINVOPTPARAMVAL))
            return
        message = payload if payload is not None else short
        text = plain_text(request.data_coding, message, request.esm_class, self.alphabet)
        destination = subscriber_number(request.destination_addr, request.dest_addr_ton)
        rule = self.faults.decide(esme, request.name, destination, text)
        if rule is not None and self.door.watchers:
            self.door.watchers.emit(
                "fault",
                rule=self.faults.rules.index(rule),
                name=rule.name,
                action=rule.action,
                system_id=esme,
                command=request.name,
                recipient=destination,
            )
        if rule is not None and rule.action in ("status", "throttle", "reset"):
            if rule.action == "reset":
                connection.reset()
                respond(None)
                return
            status = rule.command_status if rule.action == "status" else S.ESME_RTHROTTLED
            respond(refusal(request, status))
            return
        limit = self.limits.get(esme)
        if limit is not None and not limit.allow(now):
            respond(refusal(request, S.ESME_RTHROTTLED))
            return
        dropped = rule is not None and rule.action == "drop"

        def settled(outcome: list[Queued] | BaseException) -> None:
            if dropped:  # stored all the same; the response never goes
                return
            try:
                if isinstance(outcome, BaseException):
                    response = self._failed(outcome, request)
                else:
                    response = self._accepted(esme, request, outcome, rule, connection)
            except Exception:
                log.exception("%s: %s", esme, request.name)
                response = refusal(request, S.ESME_RSYSERR)
            if rule is not None and rule.action == "delay":
                self.clock.callLater(rule.delay, respond, response)
            else:
                respond(response)

        try:
            self._accept(esme, request, message, text, destination, rule, settled)
        except _Refused as exc:
            log.info("%s: %s refused: %s", esme, request.name, exc.reason)
            respond(refusal(request, exc.status))
            return
        if dropped:
            respond(None)  # it leaves the window at once

    def _accept(
        self,
        esme: str,
        request: p.SubmitSm | p.DataSm,
        message: bytes,
        text: str,
        destination: str,
        rule: FaultRule | None,
        then: Accepted,
    ) -> None:
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
            now = self.door.now()
            expires = now + when if isinstance(when, timedelta) else when
        self._ref = (self._ref + 1) % 256
        try:
            source = source_address(
                request.source_addr, request.source_addr_ton, request.source_addr_npi
            )
            tpdus = delivers(
                source=source,
                data_coding=request.data_coding,
                esm_class=request.esm_class,
                protocol_id=getattr(request, "protocol_id", 0),
                payload=message,
                tp_scts=self.door.scts(),
                sar=segment,
                ports=ports,
                ref=self._ref,
                default=self.alphabet,
            )
        except (ConversionError, ValueError) as exc:
            raise _Refused(S.ESME_RSUBMITFAIL, str(exc)) from None
        receipt = bool(request.registered_delivery & p.RECEIPT_MASK)
        doomed = rule is not None and rule.action == "fail_delivery"
        # What its receipts need, committed with its parts (ids and time set then).
        sub = Submitted(
            esme,
            (),
            request.registered_delivery,
            self.door.now(),
            text,
            request.data_coding,
            source,
            getattr(request, "protocol_id", 0),
            forced=rule.message_state if doomed and rule is not None else None,
        )
        if self.read_receipts:
            self.receipts.remember_number(sub, tpdus[0])

        def committed(outcome: list[Queued] | BaseException) -> None:
            if not isinstance(outcome, BaseException):
                # Parts another node holds are awaited there (``smsc.node``).
                held = any(self.door.pending(i) is not None for i in sub.ids)
                self.receipts.note(sub, held=held)
                if doomed and rule is not None:
                    # The fault ends each part as the network would have: its receipt follows.
                    state = _FAULT_STATE[p.MessageState(rule.message_state)]
                    for item in outcome:
                        self.door.finish(item, state, tp_st.ST_PERM_CONNECTION_REJECTED, rule.error)
            then(outcome)

        self.door.submit_from_esme(
            esme,
            str(source),
            destination,
            tpdus,
            committed,
            receipt=receipt,
            expires_at=expires,
            deliver=not doomed,
            command=request.name,
            sub=sub,
            pdu=request,  # its octets only if someone looks (txkit.sse.plain)
        )

    def _accepted(
        self,
        esme: str,
        request: p.Pdu,
        items: list[Queued],
        rule: FaultRule | None,
        connection: Connection,
    ) -> p.Pdu:
        self.metrics.submits.inc(esme, request.name)
        message_id = self.receipts.format.message_id(items[0].id)
        if rule is not None and rule.action == "unbind":
            self.clock.callLater(0, connection.unbind)
        cls = p.SubmitSmResp if isinstance(request, p.SubmitSm) else p.DataSmResp
        return cls(sequence_number=request.sequence_number, message_id=message_id)

    @staticmethod
    def _failed(error: BaseException, request: p.Pdu) -> p.Pdu:
        if isinstance(error, ValueError):
            status = S.ESME_RINVDSTADR
        elif isinstance(error, IdsExhausted):  # try again shortly (SMPP 3.4 §5.1.3: 0x58)
            status = S.ESME_RTHROTTLED
        else:
            log.error("%s failed: %s", request.name, error)
            status = S.ESME_RSUBMITFAIL
        return refusal(request, status)
