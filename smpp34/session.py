"""One ESME connection as a plain state machine (SMPP 3.4 §2.2-§2.3).

``EsmeSession`` is fed what ``PduReader`` decoded and returns actions: PDUs to
send, the connection to close, a bind to check (``Authenticate``), a request
for the SMSC to serve (``Serve``: submit_sm, data_sm, query_sm, cancel_sm,
replace_sm), a response to one of our own requests (``Answered``).  It reads
no clock and does no I/O.  What it keeps:

* the bind states: OPEN until a bind succeeds; BOUND_TX may submit, BOUND_RX
  only receives, BOUND_TRX both; a PDU the state does not allow gets its
  response with ESME_RINVBNDSTS (or generic_nack when it has none);
* a second bind is ESME_RALYBND; enquire_link is answered in every state;
  unbind is answered and then the connection closes;
* the window: at most ``window`` requests of the ESME unanswered at once
  (more get ESME_RTHROTTLED), and at most ``window`` of ours (deliver_sm)
  awaiting their response (the SMSC holds the rest);
* sequence numbers of our requests count from 1 and wrap at 0x7FFFFFFF.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

from . import pdu as p
from .pdu import CommandStatus as S


class State(Enum):
    OPEN = auto()
    BINDING = auto()
    BOUND_TX = auto()
    BOUND_RX = auto()
    BOUND_TRX = auto()
    UNBINDING = auto()  # we sent unbind: responses still count, nothing new is served
    CLOSED = auto()


#: What each bind asks to be.
BIND_STATE = {
    p.BindTransmitter: State.BOUND_TX,
    p.BindReceiver: State.BOUND_RX,
    p.BindTransceiver: State.BOUND_TRX,
}
Bind = p.BindTransmitter | p.BindReceiver | p.BindTransceiver
BindResp = p.BindTransmitterResp | p.BindReceiverResp | p.BindTransceiverResp
RESP: dict[type[Bind], type[BindResp]] = {
    p.BindTransmitter: p.BindTransmitterResp,
    p.BindReceiver: p.BindReceiverResp,
    p.BindTransceiver: p.BindTransceiverResp,
}
TRANSMITS = (State.BOUND_TX, State.BOUND_TRX)
RECEIVES = (State.BOUND_RX, State.BOUND_TRX)
#: The requests an ESME makes that the SMSC serves, once bound to transmit.
SERVED = (p.SubmitSm, p.DataSm, p.QuerySm, p.CancelSm, p.ReplaceSm, p.SubmitMulti)


@dataclass(frozen=True, slots=True)
class Send:
    pdu: p.Pdu


@dataclass(frozen=True, slots=True)
class Close:
    reason: str


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Check the bind's system_id, password and system_type; answer with
    ``bind_result``."""

    bind: Bind


@dataclass(frozen=True, slots=True)
class Serve:
    """A request for the SMSC; answer it with ``respond``."""

    request: p.Pdu


@dataclass(frozen=True, slots=True)
class Answered:
    """The ESME answered our request ``request`` (a deliver_sm, say)."""

    request: p.Pdu
    response: p.Pdu


Action = Send | Close | Authenticate | Serve | Answered


def refusal(request: p.Pdu, status: int) -> p.Pdu:
    """The response refusing ``request`` with ``status`` (generic_nack for a
    request without a response PDU of its own)."""
    cls = p.RESPONSE_CLASSES.get(request.command_id)
    if cls is None:
        return p.GenericNack(sequence_number=request.sequence_number, command_status=status)
    return cls(sequence_number=request.sequence_number, command_status=status)


class EsmeSession:
    def __init__(self, window: int = 64, system_id: str = "smsemu") -> None:
        self.window = window
        self.smsc_system_id = system_id  # what bind responses carry
        self.state = State.OPEN
        self.system_id: str | None = None  # the ESME's, once bound
        self._asked: State | None = None
        self._binding: Bind | None = None
        self._next_seq = 1
        self.inbound = 0  # the ESME's requests not answered yet
        self.outstanding: dict[int, p.Pdu] = {}  # our requests awaiting their response

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def can_receive(self) -> bool:
        """Bound to receive (deliver_sm may go to it)."""
        return self.state in RECEIVES

    @property
    def room(self) -> int:
        """How many more of our requests the window takes now."""
        return max(0, self.window - len(self.outstanding)) if self.can_receive else 0

    # -- from the ESME --------------------------------------------------------------------

    def receive(self, item: p.Pdu | p.SmppError) -> list[Action]:
        if self.state is State.CLOSED:
            return []
        if isinstance(item, p.SmppError):
            answer = item.response()
            actions: list[Action] = [Send(answer)] if answer is not None else []
            if item.fatal:
                self.state = State.CLOSED
                actions.append(Close(item.reason))
            return actions
        if item.is_response:
            return self._response(item)
        if isinstance(item, p.EnquireLink):
            return [Send(p.EnquireLinkResp(sequence_number=item.sequence_number))]
        if isinstance(item, p.Unbind):
            self.state = State.CLOSED
            return [Send(p.UnbindResp(sequence_number=item.sequence_number)), Close("unbound")]
        if isinstance(item, p.BindTransmitter | p.BindReceiver | p.BindTransceiver):
            if self.state is not State.OPEN:
                return [Send(refusal(item, S.ESME_RALYBND))]
            self.state, self._asked, self._binding = State.BINDING, BIND_STATE[type(item)], item
            return [Authenticate(item)]
        if self.state is State.UNBINDING:
            return [Send(refusal(item, S.ESME_RINVBNDSTS))]
        if isinstance(item, SERVED):
            if self.state not in TRANSMITS:
                return [Send(refusal(item, S.ESME_RINVBNDSTS))]
            if self.inbound >= self.window:
                return [Send(refusal(item, S.ESME_RTHROTTLED))]
            self.inbound += 1
            return [Serve(item)]
        # outbind and alert_notification go from an SMSC to an ESME, not back.
        return [
            Send(
                p.GenericNack(sequence_number=item.sequence_number, command_status=S.ESME_RINVCMDID)
            )
        ]

    def _response(self, response: p.Pdu) -> list[Action]:
        request = self.outstanding.pop(response.sequence_number, None)
        if request is None:
            return []  # not ours, or late: nothing waits for it
        actions: list[Action] = [Answered(request, response)]
        if isinstance(request, p.Unbind):
            self.state = State.CLOSED
            actions.append(Close("unbound"))
        return actions

    # -- the SMSC's side ------------------------------------------------------------------

    def bind_result(self, status: int) -> list[Action]:
        """The outcome of ``Authenticate``: ESME_ROK binds, anything else refuses
        (the connection stays open for another try)."""
        bind, self._binding = self._binding, None
        if self.state is not State.BINDING or bind is None:
            return []
        resp = RESP[type(bind)]
        if status != S.ESME_ROK:
            self.state = State.OPEN
            return [Send(resp(sequence_number=bind.sequence_number, command_status=status))]
        assert self._asked is not None
        self.state = self._asked
        self.system_id = bind.system_id
        # sc_interface_version says this SMSC speaks 3.4 (with TLVs), §5.3.2.25.
        answer = resp(
            sequence_number=bind.sequence_number,
            system_id=self.smsc_system_id,
            tlvs=p.Tlvs(sc_interface_version=p.INTERFACE_VERSION),
        )
        return [Send(answer)]

    def respond(self, response: p.Pdu | None) -> list[Action]:
        """The answer to a ``Serve`` (its sequence number copied from the
        request); None when no answer will ever go (a fault drops it): the
        request leaves the window all the same."""
        self.inbound = max(0, self.inbound - 1)
        if response is None or self.state is State.CLOSED:
            return []
        return [Send(response)]

    def request(self, make: type[p.Pdu], **fields: Any) -> tuple[p.Pdu, list[Action]] | None:
        """One of our requests (deliver_sm, enquire_link, unbind) with the next
        sequence number; None when the window is full or the ESME cannot
        take it."""
        if self.state is State.CLOSED:
            return None
        if make is p.DeliverSm and self.room <= 0:
            return None
        seq = self._next_seq
        self._next_seq = seq + 1 if seq < 0x7FFFFFFF else 1
        pdu = make(sequence_number=seq, **fields)
        if make is not p.UnbindResp:
            self.outstanding[seq] = pdu
        if make is p.Unbind:
            # Its unbind_resp (or the timer of the transport) closes the connection;
            # the responses to what is in flight still count meanwhile.
            self.state = State.UNBINDING
        return pdu, [Send(pdu)]

    def close(self) -> list[p.Pdu]:
        """The connection is gone: our requests still unanswered, for the SMSC
        to send again elsewhere."""
        self.state = State.CLOSED
        lost, self.outstanding = list(self.outstanding.values()), {}
        return lost
