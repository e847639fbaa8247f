"""What the SMPP door tells Prometheus (``smsemu_smpp_*``, on the admin API's
/metrics): binds, submits, every response by command_status, the deliver_sms
owed and sent.  Labelled by ``system_id``, which only configured accounts
bind with, so the series stay few; a response to a connection not bound yet
has ``system_id=""``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from smpp34 import pdu as p
from smpp34.pdu import CommandStatus as S
from txkit.prometheus import Registry

if TYPE_CHECKING:
    from .outbox import Outbox
    from .sessions import Sessions

#: The bind label of each bind PDU.
BIND_KIND = {
    p.BindTransmitter: "transmitter",
    p.BindReceiver: "receiver",
    p.BindTransceiver: "transceiver",
}


_STATUS_NAMES = {s.value: s.name for s in S}


def status_name(status: int) -> str:
    """``ESME_RTHROTTLED``, or the hex of a code the table lacks."""
    return _STATUS_NAMES.get(status) or f"{status:#010x}"


def deliver_kind(esm_class: int) -> str:
    """What a deliver_sm carries: a delivery receipt, a read receipt or an MO message."""
    kind = p.message_type(esm_class)
    if kind == p.MessageType.DELIVERY_RECEIPT:
        return "delivery_receipt"
    if kind == p.MessageType.MANUAL_ACK:
        return "read_receipt"
    return "mo"


class SmppMetrics:
    def __init__(self) -> None:
        self.registry = reg = Registry()
        self.binds = reg.counter("smsemu_smpp_binds_total", "binds accepted", ("system_id", "bind"))
        self.unbinds = reg.counter(
            "smsemu_smpp_unbinds_total",
            "unbinds, by who asked: the ESME or the SMSC (an unbind fault)",
            ("system_id", "by"),
        )
        self.submits = reg.counter(
            "smsemu_smpp_submits_total",
            "submit_sm and data_sm accepted (committed)",
            ("system_id", "command"),
        )
        self.responses = reg.counter(
            "smsemu_smpp_responses_total",
            "responses the SMSC sent, by command and command_status",
            ("system_id", "command", "command_status"),
        )
        self.throttled = reg.counter(
            "smsemu_smpp_throttled_total",
            "requests answered ESME_RTHROTTLED (window full, rate limit or fault)",
            ("system_id",),
        )
        self.delivers = reg.counter(
            "smsemu_smpp_deliver_sm_sent_total",
            "deliver_sm sent, resends included, by what they carry",
            ("system_id", "kind"),
        )
        self.answered = reg.counter(
            "smsemu_smpp_deliver_sm_answered_total",
            "responses of ESMEs to deliver_sm, by command_status",
            ("system_id", "command_status"),
        )
        self.timeouts = reg.counter(
            "smsemu_smpp_deliver_sm_timeouts_total",
            "deliver_sm not answered in time (sent again later)",
            ("system_id",),
        )
        # Not labelled by system_id: a stranger chooses it.
        self.bind_failures = reg.counter(
            "smsemu_smpp_bind_failures_total",
            "binds refused, by reason: a command_status, or 'locked' for a bind refused "
            "unchecked while its system_id or address was locked out",
            ("reason",),
        )

    def watch(
        self, sessions: Sessions, outbox: Outbox, window: int, locked: Callable[[], int]
    ) -> None:
        """The gauges, read from the gateway's state at each scrape."""
        reg = self.registry
        reg.gauge(
            "smsemu_smpp_bind_lockouts",
            "system_ids and source addresses locked out now after failed binds",
            read=locked,
        )
        reg.gauge(
            "smsemu_smpp_bound_sessions",
            "connections bound now",
            ("system_id",),
            read=lambda: {(e,): len(c) for e, c in sessions.connections.items()},
        )
        reg.gauge(
            "smsemu_smpp_window_size",
            "deliver_sm a connection may have awaiting their response",
            read=lambda: window,
        )
        reg.gauge(
            "smsemu_smpp_window_outstanding",
            "deliver_sm sent and awaiting their response",
            ("system_id",),
            read=lambda: _per_esme(sessions, outbox.in_flight_by_esme()),
        )
        reg.gauge(
            "smsemu_smpp_outbox_depth",
            "deliver_sm waiting for room in a receiver's window",
            ("system_id",),
            read=lambda: {(e,): len(q) for e, q in outbox.queues.items()},
        )

    def responded(self, system_id: str | None, response: p.Pdu) -> None:
        esme = system_id or ""
        status = response.command_status
        self.responses.inc(esme, response.name, status_name(status))
        if status == S.ESME_RTHROTTLED:
            self.throttled.inc(esme)


def _per_esme(sessions: Sessions, counts: dict[str, int]) -> dict[tuple[str, ...], float]:
    """``counts`` for every ESME that has bound (0 for those without any)."""
    return {(e,): counts.get(e, 0) for e in sessions.connections.keys() | counts.keys()}
