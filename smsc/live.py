"""The admin API's pages for the live console (docs/admin-api.md, docs/console.md):

* ``GET /events``: the live stream of what happens (``txkit.sse``);
* ``GET /network``: the network now: the SMSC's listeners, the subscribers
  attached or with messages waiting, the ESMEs bound, the counters the
  console's charts derive rates from, and what the process adds (``smsemu
  up``: the IP server's devices, where the control API is mounted);
* ``GET /explain?hex=..&direction=mt|mo&sca=0|1`` (or POST the same as JSON):
  every octet of a TPDU, the rows of ``smsemu pdu explain``;
* ``GET /faults``, ``POST /faults`` (add a rule), ``POST /faults/N``
  (``{"enabled": bool}``): the SMPP door's fault rules.

Everything here reads what the reactor holds in memory: no database work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from pdu import Direction, from_hex
from pdu.errors import PDUError
from pdu.explain import explain, render
from txkit.numbers import whole
from txkit.prometheus import Registry
from txkit.sse import EventLog

from .core import Smsc
from .httpjson import arg, json_object, write_json
from .smpp.faults import FaultRule
from .smpp.gateway import SmppGateway
from .smpp.metrics import status_name

#: What a POST /faults body may say, and the JSON type of each.
FAULT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "action": str, "esme": str, "command": str, "destination": str, "content": str,
    "every": int, "probability": (int, float), "command_status": int,
    "delay": (int, float), "message_state": int, "error": int, "name": str, "enabled": bool,
}  # fmt: skip
#: The longest PDU /explain takes, in octets (a TPDU is at most 175).
MAX_PDU = 512


@dataclass
class Live:
    """What the live pages read: the SMSC, its SMPP door, and what the
    service and the process that runs it add to ``GET /network``."""

    smsc: Smsc
    events: EventLog
    gateway: SmppGateway | None = None
    #: The registries /metrics shows besides the SMSC's own.
    registries: tuple[Registry, ...] = ()
    #: Named sections of /network, each made at request time.
    sections: dict[str, Callable[[], Any]] = field(default_factory=dict)
    #: Labels every series of /metrics carries (a cluster node's ``node``).
    metric_labels: dict[str, str] = field(default_factory=dict)


def _station_json(smsc: Smsc, msisdn: str) -> dict[str, Any]:
    s = smsc.stations[msisdn]
    return {
        "msisdn": msisdn,
        "imsi": s.imsi or None,
        "attached": smsc.radio.is_attached(msisdn),
        "since": s.attached_at,
        "queued": len(s.queue),
        "in_flight": s.in_flight.id if s.in_flight is not None else None,
        "memory_full": s.memory_full,
    }


def _counted(values: Mapping[tuple[str, ...], float], esme: str, at: int = 0) -> int:
    """The sum of a counter's series whose label ``at`` is ``esme``."""
    return int(sum(v for k, v in values.items() if k[at] == esme))


def esmes_json(gateway: SmppGateway) -> list[dict[str, Any]]:
    """Each ESME connection bound now, with its account's counters."""
    m = gateway.metrics
    out = []
    for system_id, connections in sorted(gateway.sessions.connections.items()):
        errors = sum(
            v for k, v in m.responses.values.items() if k[0] == system_id and k[2] != "ESME_ROK"
        )
        for c in connections:
            session = getattr(c, "session", None)
            state = getattr(getattr(session, "state", None), "name", "")
            out.append({
                "system_id": system_id,
                "bind": {"BOUND_TX": "transmitter", "BOUND_RX": "receiver",
                         "BOUND_TRX": "transceiver"}.get(state, state.lower()),
                "peer": getattr(c, "peer", None),
                "window": gateway.config.window,
                "in_use": getattr(session, "inbound", 0),
                "outstanding": gateway.config.window - c.room if c.can_receive else 0,
                "submits": _counted(m.submits.values, system_id),
                "throttled": _counted(m.throttled.values, system_id),
                "errors": int(errors),
            })  # fmt: skip
    return out


def network_json(live: Live) -> dict[str, Any]:
    smsc = live.smsc
    shown = [
        n for n, s in smsc.stations.items() if smsc.radio.is_attached(n) or s.queue or s.in_flight
    ]
    m = smsc.metrics
    out: dict[str, Any] = {
        "at": smsc.clock.seconds(),
        "smsc": {"address": smsc.config.address, "open_attach": smsc.config.open_attach},
        "queue_depth": smsc.queue_depth(),
        "subscribers": [_station_json(smsc, n) for n in sorted(shown)],
        "esmes": esmes_json(live.gateway) if live.gateway is not None else [],
        "counters": {
            "submits_accepted": m.submits_accepted,
            "submits_rejected": m.submits_rejected,
            "delivered": m.delivered,
            "failed": m.failed,
            "expired": m.expired,
            "delivery_attempts": m.delivery_attempts,
            "reports_made": m.reports_made,
        },
    }
    for name, make in live.sections.items():
        out[name] = make()
    return out


class _Page(Resource):
    isLeaf = True

    def __init__(self, live: Live) -> None:
        super().__init__()
        self.live = live


class Network(_Page):
    def render_GET(self, request: Request) -> int:
        request.setHeader(b"cache-control", b"no-store")
        write_json(request, 200, network_json(self.live))
        return NOT_DONE_YET


def explain_json(hex_text: str, direction: str, sca: bool) -> dict[str, Any]:
    """The rows of ``smsemu pdu explain``, and its text; ValueError for input
    that is not a PDU in hex (a PDU that fails to decode is explained up to
    the octet where it failed, with the error)."""
    if direction not in ("mt", "mo"):
        raise ValueError(f"direction {direction!r}: expected mt (SC to MS) or mo (MS to SC)")
    try:
        data = from_hex(hex_text)
    except PDUError as exc:
        raise ValueError(f"hex: {exc}") from None
    if not data:
        raise ValueError("hex: no octets given")
    if len(data) > MAX_PDU:
        raise ValueError(f"hex: {len(data)} octets, more than a PDU ({MAX_PDU} at most)")
    expl = explain(data, Direction.MT if direction == "mt" else Direction.MO, sca=sca)
    return {
        "hex": data.hex().upper(),
        "direction": direction,
        "tpdu": type(expl.tpdu).__name__ if expl.tpdu is not None else None,
        "rows": [
            {
                "offset": r.offset,
                "hex": r.raw.hex().upper(),
                "field": r.field,
                "meaning": r.meaning,
                "bits": r.bits,
            }
            for r in expl.rows
        ],
        "error": str(expl.error) if expl.error is not None else None,
        "text": render(expl),
    }


class Explain(_Page):
    def render_GET(self, request: Request) -> int:
        hex_text = arg(request, "hex")
        sca = arg(request, "sca") or "0"
        if hex_text is None:
            write_json(request, 400, {"error": "hex: the PDU in hex is needed (?hex=...)"})
        elif sca not in ("0", "1"):
            write_json(request, 400, {"error": f"sca {sca!r}: expected 0 or 1"})
        else:
            self._answer(request, hex_text, arg(request, "direction") or "mt", sca == "1")
        return NOT_DONE_YET

    def render_POST(self, request: Request) -> int:
        try:
            body = json_object(request)
            hex_text, direction = body.get("hex"), body.get("direction", "mt")
            sca = body.get("sca", False)
            if not isinstance(hex_text, str) or not isinstance(direction, str):
                raise ValueError("'hex' and 'direction' are strings")
            if not isinstance(sca, bool):
                raise ValueError("'sca' is true or false")
        except ValueError as exc:
            write_json(request, 400, {"error": str(exc)})
            return NOT_DONE_YET
        self._answer(request, hex_text, direction, sca)
        return NOT_DONE_YET

    @staticmethod
    def _answer(request: Request, hex_text: str, direction: str, sca: bool) -> None:
        try:
            write_json(request, 200, explain_json(hex_text, direction, sca))
        except ValueError as exc:
            write_json(request, 400, {"error": str(exc)})


def fault_json(index: int, rule: FaultRule) -> dict[str, Any]:
    return {
        "index": index,
        "name": rule.name,
        "enabled": rule.enabled,
        "action": rule.action,
        "esme": rule.esme,
        "command": rule.command,
        "destination": rule.destination,
        "content": rule.content,
        "every": rule.every,
        "probability": rule.probability,
        "command_status": rule.command_status,
        "command_status_name": status_name(rule.command_status),
        "delay": rule.delay,
        "message_state": rule.message_state,
        "error": rule.error,
        "matched": rule.matched,
    }


def fault_rule(body: dict[str, Any]) -> FaultRule:
    """A rule from a POST /faults body; ValueError says what will not do."""
    unknown = sorted(set(body) - set(FAULT_FIELDS))
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} (known: {', '.join(FAULT_FIELDS)})")
    for name, value in body.items():
        kind = FAULT_FIELDS[name]
        if kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{name!r} is true or false")
        elif value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise ValueError(f"{name!r} has the wrong type")
    if not isinstance(body.get("action"), str):
        raise ValueError("'action' is needed")
    return FaultRule(**{k: v for k, v in body.items() if v is not None})


class Faults(_Page):
    def _rules(self, request: Request) -> list[FaultRule] | None:
        if self.live.gateway is None:
            write_json(request, 404, {"error": "this SMSC has no SMPP door (--smpp)"})
            return None
        return self.live.gateway.submits.faults.rules

    def render_GET(self, request: Request) -> int:
        rules = self._rules(request)
        if rules is not None:
            write_json(request, 200, [fault_json(i, r) for i, r in enumerate(rules)])
        return NOT_DONE_YET

    def render_POST(self, request: Request) -> int:
        rules = self._rules(request)
        if rules is None:
            return NOT_DONE_YET
        path = [p.decode(errors="replace") for p in (request.postpath or []) if p]
        try:
            body = json_object(request)
            if not path:
                rule = fault_rule(body)
                rules.append(rule)
                write_json(request, 201, fault_json(len(rules) - 1, rule))
                return NOT_DONE_YET
            index = whole("fault index", path[0])
            if index >= len(rules):
                write_json(request, 404, {"error": f"no fault rule {path[0]}"})
                return NOT_DONE_YET
            if set(body) != {"enabled"} or not isinstance(body["enabled"], bool):
                raise ValueError('the body is {"enabled": true} or {"enabled": false}')
            rules[index].enabled = body["enabled"]
            write_json(request, 200, fault_json(index, rules[index]))
        except ValueError as exc:
            write_json(request, 400, {"error": str(exc)})
        return NOT_DONE_YET
