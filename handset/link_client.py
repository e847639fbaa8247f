"""The handset's end of the radio link: attach, submit, receive, acknowledge,
detach.  Used by the tests, the demo, the benchmark and the full handset.

``LinkClient`` is the thin Twisted protocol over ``radiolink.ms.MsLink`` (the
protocol as a plain object), with a Deferred for every request.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorTCP
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

from pdu import Direction, PDUError, SmsSubmit, SmsSubmitReport, Tpdu, decode, encode
from radiolink import rp
from radiolink.auth import Keys
from radiolink.ms import (
    Acked,
    Attached,
    Challenged,
    Event,
    Incoming,
    MsLink,
    Refused,
    Rejected,
)

from .reconnect import connect_tcp

log = logging.getLogger(__name__)


class SubmitRefused(Exception):
    def __init__(self, cause: int) -> None:
        super().__init__(f"RP-ERROR cause {cause}: {rp.describe_cause(cause)}")
        self.cause = cause


class AttachRefused(Exception):
    pass


#: Decides how to answer an incoming TPDU: None acknowledges, an int is the
#: RP-Cause of an RP-ERROR (22 for "memory full").  A Deferred of either answers
#: when it fires: a handset that stores what it receives acknowledges only once
#: it is committed (a failure answers RP-ERROR 41, temporary failure).
Answer = Callable[[Tpdu], int | Deferred[int | None] | None]
#: Keeps the SQN the SIM accepted (its profile file): the answer to the
#: challenge goes once it fires, so that a replayed challenge is refused even
#: after a restart.  None: kept already.
KeepSqn = Callable[[int], Deferred[None] | None]


class LinkClient(Protocol):
    """A handset's radio link over TCP, with a Deferred for every request.
    With ``keys`` (the SIM's K and OPc) and ``sqn`` (its SQN_MS), it answers
    the network's challenge (docs/radio-link.md); ``keep_sqn`` stores the SQN
    it accepts."""

    def __init__(
        self,
        imsi: str,
        msisdn: str,
        answer: Answer | None = None,
        *,
        keys: Keys | None = None,
        sqn: int = 0,
        keep_sqn: KeepSqn | None = None,
    ) -> None:
        self.ms = MsLink(imsi, msisdn, keys, sqn)
        self.keep_sqn = keep_sqn
        self.answer: Answer = answer or (lambda tpdu: None)
        self.received: list[Tpdu] = []
        self.on_receive: list[Callable[[Tpdu], None]] = []
        self.events: list[Event] = []
        self._attaching: Deferred[str] | None = None
        self._pending: dict[int, Deferred[SmsSubmitReport | None]] = {}
        self._waiters: deque[Deferred[Tpdu]] = deque()
        self.lost: Deferred[None] = Deferred()
        self._gone = False

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._gone = True
        if self._attaching is not None:
            attaching, self._attaching = self._attaching, None
            attaching.errback(ConnectionError("radio link lost before the attach was answered"))
        for d in list(self._pending.values()):
            d.errback(ConnectionError("radio link lost"))
        self._pending.clear()
        self.lost.callback(None)

    def _write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def attach(self) -> Deferred[str]:
        self._attaching = Deferred()
        self._write(self.ms.attach())
        return self._attaching

    def detach(self) -> None:
        self._write(self.ms.detach())

    def submit(self, tpdu: SmsSubmit | bytes) -> Deferred[SmsSubmitReport | None]:
        """Fires with the SMS-SUBMIT-REPORT of the RP-ACK (or None), or fails
        with SubmitRefused carrying the RP-Cause."""
        try:
            mr, data = self.ms.submit(tpdu if isinstance(tpdu, bytes) else encode(tpdu))
        except RuntimeError as exc:
            return fail(exc)
        d: Deferred[SmsSubmitReport | None] = Deferred()
        self._pending[mr] = d
        self._write(data)
        return d

    def smma(self) -> Deferred[SmsSubmitReport | None]:
        mr, data = self.ms.smma()
        d: Deferred[SmsSubmitReport | None] = Deferred()
        self._pending[mr] = d
        self._write(data)
        return d

    def next_message(self) -> Deferred[Tpdu]:
        """Fires with the next TPDU the network delivers (and acknowledges)."""
        d: Deferred[Tpdu] = Deferred()
        self._waiters.append(d)
        return d

    def close(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:
        for event in self.ms.receive(data):
            self.events.append(event)
            self._handle(event)

    def _handle(self, event: Event) -> None:
        if isinstance(event, Attached | Rejected) and self._attaching is not None:
            d, self._attaching = self._attaching, None
            if isinstance(event, Attached):
                d.callback(event.smsc)
            else:
                d.errback(AttachRefused(f"{event.cause}: {event.reason}"))
        elif isinstance(event, Acked):
            pending = self._pending.pop(event.rp_mr, None)
            if pending is not None:
                report = None
                if event.rp_ud:
                    try:
                        decoded = decode(event.rp_ud, Direction.MT, rp_error=False)
                        report = decoded if isinstance(decoded, SmsSubmitReport) else None
                    except PDUError:
                        report = None
                pending.callback(report)
        elif isinstance(event, Refused):
            pending = self._pending.pop(event.rp_mr, None)
            if pending is not None:
                pending.errback(SubmitRefused(event.cause))
        elif isinstance(event, Incoming):
            self._incoming(event)
        elif isinstance(event, Challenged):
            self._challenged(event)

    def _challenged(self, event: Challenged) -> None:
        kept = None
        if event.sqn is not None and self.keep_sqn is not None:
            kept = self.keep_sqn(event.sqn)
        if kept is None:
            self._write(event.reply)
            return

        def failed(failure: Failure) -> None:
            log.error("%s: SQN not kept, challenge unanswered: %s",
                      self.ms.msisdn, failure.getErrorMessage())  # fmt: skip
            self.close()

        kept.addCallbacks(lambda _: None if self._gone else self._write(event.reply), failed)

    def _incoming(self, event: Incoming) -> None:
        try:
            tpdu = decode(event.tpdu, Direction.MT)
        except PDUError:
            self._write(self.ms.error(event.rp_mr, rp.RpCause.INVALID_MANDATORY_INFORMATION))
            return
        answer = self.answer(tpdu)
        if isinstance(answer, Deferred):
            answer.addErrback(self._answer_failed)
            answer.addCallback(self._answered, event.rp_mr, tpdu)
        else:
            self._answered(answer, event.rp_mr, tpdu)

    @staticmethod
    def _answer_failed(failure: Failure) -> int:
        log.error("could not take an incoming message: %s", failure.getErrorMessage())
        return rp.RpCause.TEMPORARY_FAILURE

    def _answered(self, cause: int | None, rp_mr: int, tpdu: Tpdu) -> None:
        if self._gone:
            return  # unanswered: the network sends it again on the next attach
        if cause is not None:
            self._write(self.ms.error(rp_mr, cause))
            return
        self._write(self.ms.ack(rp_mr))
        self.received.append(tpdu)
        for fn in self.on_receive:
            fn(tpdu)
        if self._waiters:
            self._waiters.popleft().callback(tpdu)


def connect(
    reactor: IReactorTCP,
    host: str,
    port: int,
    imsi: str,
    msisdn: str,
    answer: Answer | None = None,
    keys: Keys | None = None,
) -> Deferred[LinkClient]:
    """Connect and attach (answering the challenge with ``keys``); fires with
    the attached client."""
    return connect_client(reactor, host, port, LinkClient(imsi, msisdn, answer, keys=keys))


def connect_client(
    reactor: IReactorTCP, host: str, port: int, client: LinkClient
) -> Deferred[LinkClient]:
    """Connect ``client`` and attach; fires with it attached.  On failure the
    caller still holds ``client``, to close a connection the SMSC refused to
    attach."""
    d = connect_tcp(reactor, host, port, client)
    d.addCallback(lambda _: client.attach())
    d.addCallback(lambda _: client)
    return d
