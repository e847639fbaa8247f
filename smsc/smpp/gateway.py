"""The SMSC's SMPP door: ESME accounts and routes, what ESMEs submit, and the
deliver_sms the SMSC owes them (MO messages and delivery receipts).

``SmppGateway`` is the ``EsmeSink`` of ``smsc.core.Smsc``: the core stores and
forwards, the gateway speaks SMPP, over parts with one idea each:
``sessions`` (who is bound), ``submit`` (submit_sm and data_sm become
SMS-DELIVERs the core commits before the response goes), ``outbox`` (the
deliver_sms owed to each ESME, within its receivers' windows),
``delivery_receipts`` and ``queries`` (query_sm, cancel_sm, replace_sm).
Connections reach it through ``Connection`` (the Twisted protocol in
``smsc.smpp.server``, or a test double).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from pdu import SmsSubmit
from smpp34 import pdu as p
from smpp34.pdu import CommandStatus as S
from smpp34.session import refusal
from txkit.lockout import Lockout

from ..esme_door import EsmeDoor
from ..models import MessageState
from ..queued import Queued
from ..submitted import Submitted
from .convert import MAX_SHORT_MESSAGE, DefaultAlphabet, mo_fields
from .delivery_receipts import Receipts
from .faults import FaultInjector, FaultRule, RateLimit
from .metrics import SmppMetrics, status_name
from .outbox import RESPONSE_TIMEOUT, Outbox
from .queries import Queries
from .receipt import ReceiptFormat
from .sessions import Connection, Sessions
from .submit import Respond, Submits

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EsmeAccount:
    """An ESME that may bind: its credentials, its submit rate (0: no limit)
    and the numbers whose MO messages it gets (exact, or a prefix ending *)."""

    system_id: str
    password: str
    system_type: str | None = None  # None: any
    rate: float = 0.0
    routes: tuple[str, ...] = ()
    #: Source addresses it may bind from (addresses or networks); empty: any.
    allow: tuple[str, ...] = ()

    def allows(self, address: str) -> bool:
        if not self.allow:
            return True
        try:
            host = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(host in ipaddress.ip_network(a, strict=False) for a in self.allow)

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
    #: (one it numbered with the message-number IE, docs/read-receipts.md): a deliver_sm
    #: with esm_class "SME manual/user acknowledgement" and ``stat:READ``.
    read_receipts: bool = False
    #: Seconds a connection may stay unbound; then it is closed (§2.2: an
    #: SMSC need not keep a connection nobody binds on).
    bind_timeout: float = 10.0


__all__ = ["RESPONSE_TIMEOUT", "Connection", "EsmeAccount", "SmppConfig", "SmppGateway"]


class SmppGateway:
    def __init__(self, door: EsmeDoor, config: SmppConfig, clock: IReactorTime) -> None:
        self.door = door
        self.config = config
        self.clock = clock
        self.metrics = SmppMetrics()
        self.sessions = Sessions(config.accounts)
        self.lockout = Lockout()
        self.outbox = Outbox(door, self.sessions, clock, self.metrics)
        self.metrics.watch(
            self.sessions, self.outbox, config.window, lambda: self.lockout.locked(clock.seconds())
        )
        self.receipts = Receipts(door, config.receipt, config.default_alphabet)
        self.submits = Submits(
            door,
            self.receipts,
            FaultInjector(config.faults, config.seed),
            {a.system_id: RateLimit(a.rate) for a in config.accounts},
            clock,
            self.metrics,
            alphabet=config.default_alphabet,
            read_receipts=config.read_receipts,
        )
        self.queries = Queries(door, self.receipts, config.default_alphabet)

    # -- binds -----------------------------------------------------------------------------

    def authenticate(
        self, bind: p.BindTransmitter | p.BindReceiver | p.BindTransceiver, address: str
    ) -> tuple[int, float]:
        """The bind's command_status, and how long to wait before answering it
        (txkit.lockout)."""
        now = self.clock.seconds()
        verdict = self.lockout.check(bind.system_id, address, now)
        if verdict.locked:
            self.metrics.bind_failures.inc("locked")
            return S.ESME_RBINDFAIL, verdict.delay
        status = self.sessions.authenticate(bind, address)
        if status == S.ESME_ROK:
            self.lockout.succeeded(bind.system_id, address)
            return status, 0.0
        self.metrics.bind_failures.inc(status_name(status))
        account = bind.system_id if bind.system_id in self.sessions.accounts else None
        return status, self.lockout.failed(account, address, now)

    def bound(self, connection: Connection) -> None:
        self.outbox.pump(self.sessions.add(connection))

    def gone(self, connection: Connection, unanswered: list[p.Pdu]) -> None:
        """A connection closed: what it had in flight goes again elsewhere."""
        esme = connection.system_id
        if esme is None:
            return
        self.sessions.remove(connection)
        self.outbox.gone(connection, esme, unanswered)

    def answered(self, connection: Connection, request: p.Pdu, response: p.Pdu) -> None:
        self.outbox.answered(connection, request, response)

    def stop(self) -> None:
        self.outbox.stop()

    # -- the core's side (EsmeSink) ----------------------------------------------------------

    def route(self, number: str) -> str | None:
        return self.sessions.route(number)

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
        self.outbox.add(item)

    def withdraw(self, esme: str) -> list[Queued]:
        return self.outbox.withdraw(esme)

    def holds(self, esme: str, originator: str, recipient: str, tp_mr: int) -> bool:
        return self.outbox.holds(esme, originator, recipient, tp_mr)

    def finished(self, item: Queued, state: MessageState, error: int | None) -> None:
        self.receipts.finished(item, state, error)

    def take_up(self, pending: list[Submitted], numbered: list[Submitted]) -> None:
        self.receipts.take_up(pending, numbered)

    def released(self, ids: list[int]) -> None:
        self.receipts.released(ids)

    def recalled(
        self, command: str, esme: str, ids: tuple[int, ...], short_message: bytes
    ) -> Deferred[bool]:
        return self.queries.here(command, esme, ids, short_message)

    # -- the IP server's side ----------------------------------------------------------------

    def read(self, sender: str, receiver: str, number: int, status: int) -> None:
        """The IP server has a feedback for ``sender``: if it is a message an
        ESME sent (and numbered), and ``receiver`` read it, the ESME is told."""
        if status == 1 and self.config.read_receipts:
            self.receipts.read(sender, receiver, number)

    # -- requests of the ESMEs -------------------------------------------------------------------

    def serve(self, connection: Connection, request: p.Pdu, respond: Respond) -> None:
        """``respond(response)`` when the response to ``request`` is due;
        ``respond(None)`` if none will go (as a ``drop`` fault asks)."""
        esme = connection.system_id or ""
        if isinstance(request, p.SubmitSm | p.DataSm):
            self.submits.submit(connection, esme, request, respond)
        elif isinstance(request, p.QuerySm):

            def failed(failure: Failure) -> None:
                log.error("%s: query_sm failed: %s", esme, failure.getErrorMessage())
                respond(refusal(request, S.ESME_RSYSERR))

            self.queries.query(esme, request).addCallbacks(respond, failed)
        elif isinstance(request, p.CancelSm | p.ReplaceSm):
            failed_status = (
                S.ESME_RCANCELFAIL if isinstance(request, p.CancelSm) else S.ESME_RREPLACEFAIL
            )

            def not_done(failure: Failure) -> None:
                log.error("%s: %s failed: %s", esme, request.name, failure.getErrorMessage())
                respond(refusal(request, failed_status))

            if isinstance(request, p.CancelSm):
                answer = self.queries.cancel(esme, request)
            else:
                answer = self.queries.replace(esme, request)
            answer.addCallbacks(respond, not_done)
        else:  # submit_multi: not offered by this SMSC.
            respond(refusal(request, S.ESME_RINVCMDID))
