"""The SMPP door's Twisted side: a protocol that moves PDUs between a TCP
connection, its ``EsmeSession`` and the ``SmppGateway``, and its factory.

Its writes go through the factory's ``txkit.cork.Cork``: the responses to what
one ``dataReceived`` brought, and those a committed batch of submits makes
(the SMSC runs the writer's callbacks in the same cork), go out as one write
per connection."""

from __future__ import annotations

import logging
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from smpp34 import pdu as p
from smpp34.session import (
    Action,
    Answered,
    Authenticate,
    Bind,
    Close,
    EsmeSession,
    Send,
    Serve,
    State,
)
from txkit import nodelay
from txkit.cork import Cork
from txkit.throttle import Throttle

from .gateway import SmppGateway
from .metrics import BIND_KIND

log = logging.getLogger(__name__)

DEFAULT_PORT = 2775  # the port SMPP is registered for (IANA)
#: Seconds without a PDU from the ESME before the SMSC asks enquire_link, and
#: then how long the answer may take before the connection is given up: a peer
#: gone without closing (a NAT that forgot it) is noticed and its deliver_sms
#: go elsewhere.
ENQUIRE_AFTER = 30.0
ENQUIRE_TIMEOUT = 30.0


class SmppProtocol(Protocol):
    def __init__(self, factory: SmppFactory) -> None:
        self.factory = factory
        self.gateway = factory.gateway
        self.session = EsmeSession(factory.gateway.config.window, factory.gateway.config.system_id)
        self.reader = p.PduReader()
        self.metrics = factory.gateway.metrics
        self.peer = self.host = "?"
        self._answering: IDelayedCall | None = None  # a bind answer held back
        self.clock = factory.clock
        self._idle: IDelayedCall | None = None
        self._enquiring = False
        #: When the bound ESME last sent something: the idle timer, when it
        #: fires, waits on from there (no timer reset per ``dataReceived``).
        self._heard: float | None = None
        self.ends = (("", 0), ("", 0))  # (ESME, SMSC) host and port, for capture

    # -- Connection (what the gateway needs) -----------------------------------------------

    @property
    def system_id(self) -> str | None:
        return self.session.system_id

    @property
    def can_receive(self) -> bool:
        return self.session.can_receive

    @property
    def room(self) -> int:
        return self.session.room

    def request(self, make: type[p.Pdu], **fields: Any) -> int | None:
        made = self.session.request(make, **fields)
        if made is None:
            return None
        pdu, actions = made
        self._apply(actions)
        return pdu.sequence_number

    def forget(self, sequence_number: int) -> None:
        self.session.outstanding.pop(sequence_number, None)

    def unbind(self) -> None:
        if self.request(p.Unbind) is not None:
            self.metrics.unbinds.inc(self.system_id or "", "smsc")
            self._arm(ENQUIRE_TIMEOUT)  # no unbind_resp in time: the connection goes

    def reset(self) -> None:
        if self.transport is not None:
            self.transport.abortConnection()  # type: ignore[attr-defined]

    # -- Twisted ------------------------------------------------------------------------------

    def connectionMade(self) -> None:
        assert self.transport is not None
        nodelay(self.transport)
        address = self.transport.getPeer()
        self.host = str(getattr(address, "host", "?"))
        self.peer = f"{self.host}:{getattr(address, 'port', '?')}"
        host = self.transport.getHost()
        self.ends = (
            (str(getattr(address, "host", "")), int(getattr(address, "port", 0))),
            (str(getattr(host, "host", "")), int(getattr(host, "port", 0))),
        )
        self._arm(self.gateway.config.bind_timeout)

    def _arm(self, seconds: float) -> None:
        if self._idle is not None and self._idle.active():
            self._idle.cancel()
        self._idle = self.clock.callLater(seconds, self._quiet)

    def _quiet(self) -> None:
        """Nothing heard for a while: unbound, or no answer to enquire_link or
        unbind: close; bound and quiet: ask enquire_link."""
        self._idle = None
        if self._answering is not None:  # a bind answer held back by the lockout: wait for it
            self._arm(self.gateway.config.bind_timeout)
            return
        ending = self.session.state in (State.UNBINDING, State.CLOSED)
        if self._heard is not None and self.session.system_id is not None and not ending:
            left = self._heard + ENQUIRE_AFTER - self.clock.seconds()
            if left > 0:  # heard from since the timer was set
                self._arm(left)
                return
        if self.session.system_id is None or self._enquiring or ending:
            what = "unbound" if self.session.system_id is None else "silent"
            self.factory.peer_log.info(
                f"{what} SMPP connections from {self.host} closed",
                "%s: %s: closing",
                self.peer,
                what,
            )
            if self.transport is not None:
                self.transport.loseConnection()
            return
        self._enquiring = True
        self.request(p.EnquireLink)
        self._arm(ENQUIRE_TIMEOUT)

    def dataReceived(self, data: bytes) -> None:
        capture = self.gateway.door.smsc.capture
        if capture is not None:
            capture.smpp(self, data, True, self.ends)
        if self.session.system_id is not None and self.session.state is not State.UNBINDING:
            self._enquiring = False
            self._heard = self.clock.seconds()
        with self.factory.cork:
            for item in self.reader.feed(data):
                if self.session.closed:
                    break
                if isinstance(item, p.SmppError):
                    self.factory.peer_log.info(
                        f"bad SMPP PDUs from {self.host}", "%s: %s", self.peer, item
                    )
                self._apply(self.session.receive(item))

    def connectionLost(self, reason: Failure | None = None) -> None:
        for call in (self._idle, self._answering):
            if call is not None and call.active():
                call.cancel()
        self.factory.protocols.discard(self)
        capture = self.gateway.door.smsc.capture
        if capture is not None:
            capture.smpp_closed(self)
        esme = self.session.system_id
        unanswered = self.session.close()
        if esme is not None:
            self._tell("unbound", system_id=esme)
            self.gateway.gone(self, unanswered)

    def _tell(self, event: str, **details: Any) -> None:
        """An ESME's session event, with its peer, to the SMSC's watchers."""
        watchers = self.gateway.door.watchers
        if watchers:
            watchers.emit(event, peer=self.peer, **details)

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                if action.pdu.is_response:
                    self._responded(action.pdu)
                if self.transport is not None:
                    data = p.encode(action.pdu)
                    capture = self.gateway.door.smsc.capture
                    if capture is not None:
                        capture.smpp(self, data, False, self.ends)
                    self.factory.cork.write(self.transport, data)
            elif isinstance(action, Close):
                if self.transport is not None:
                    self.factory.cork.flush(self.transport)
                    self.transport.loseConnection()
            elif isinstance(action, Authenticate):
                status, delay = self.gateway.authenticate(action.bind, self.host)
                if delay > 0:  # a failure past the free ones: the answer waits
                    self._answering = self.clock.callLater(delay, self._bind, action.bind, status)
                else:
                    self._bind(action.bind, status)
            elif isinstance(action, Serve):
                self._serve(action.request)
            elif isinstance(action, Answered) and isinstance(action.request, p.DeliverSm):
                self.gateway.answered(self, action.request, action.response)

    def _bind(self, bind: Bind, status: int) -> None:
        self._answering = None
        outcome = p.describe_status(status)
        log.debug("%s: %s as %r: %s", self.peer, bind.name, bind.system_id, outcome)
        self._apply(self.session.bind_result(status))
        kind = BIND_KIND[type(bind)]
        ok = status == p.CommandStatus.ESME_ROK
        self._tell(
            "bound" if ok else "bind refused", system_id=bind.system_id, bind=kind, status=outcome
        )
        if ok:
            self.metrics.binds.inc(bind.system_id, kind)
            self._arm(ENQUIRE_AFTER)
            self.gateway.bound(self)

    def _responded(self, response: p.Pdu) -> None:
        self.metrics.responded(self.system_id, response)
        if isinstance(response, p.UnbindResp) and self.system_id is not None:
            self.metrics.unbinds.inc(self.system_id, "esme")

    def _serve(self, request: p.Pdu) -> None:
        self.gateway.serve(self, request, self._respond)

    def _respond(self, response: p.Pdu | None) -> None:
        """The response to a request, when due (None: a fault drops it)."""
        self._apply(self.session.respond(response))


class SmppFactory(Factory):
    def __init__(self, gateway: SmppGateway, cork: Cork | None = None) -> None:
        self.gateway = gateway
        #: What its connections write goes through (``SmscService`` shares it
        #: with the database writer's callbacks).
        self.cork = cork or Cork()
        self.clock = gateway.clock
        self.protocols: set[SmppProtocol] = set()
        #: What a peer's junk makes the door log: a line per kind and source,
        #: then a count each 10 s.
        self.peer_log = Throttle(log, clock=gateway.clock)

    def buildProtocol(self, addr: object) -> SmppProtocol:
        protocol = SmppProtocol(self)
        self.protocols.add(protocol)
        return protocol

    def close_all(self) -> Deferred[None] | None:
        for protocol in list(self.protocols):
            if protocol.transport is not None:
                protocol.transport.loseConnection()
        return None
