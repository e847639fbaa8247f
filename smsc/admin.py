"""The SMSC's HTTP admin API (documented in docs/admin-api.md).

GET / (an index of links, for the printed URL opened in a browser),
GET and POST /subscribers, GET /messages (filters: state, originator, recipient, kind,
after, limit), GET /messages/ID, GET /metrics (Prometheus text format),
GET /capture?seconds=N (a pcapng of the next N seconds, ``capture_page``),
and the live console's pages (``live``): GET /events, /network, /explain,
GET and POST /faults.
Every route but /metrics (by default) needs the API token (``txkit.bearer``,
put in front by ``SmscService``).  Database reads go through the batch
writer's thread, never the reactor's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from html import escape
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from pdu import Direction, PDUError, SmsDeliver, SmsStatusReport, decode
from radiolink.auth import keys_from_hex
from txkit.numbers import whole
from txkit.prometheus import MetricsPage, Registry
from txkit.sse import EventStream

from .capture_page import CapturePage
from .core import Smsc
from .httpjson import arg, number, write_json
from .live import Explain, Faults, Live, Network
from .models import MessageKind, MessageState
from .repository import MessageQuery
from .subscriptions import Provisioned

MAX_LIMIT = 1000


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=UTC).isoformat()


def message_json(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "kind": row.kind,
        "originator": row.originator,
        "recipient": row.recipient,
        "state": row.state,
        "attempts": row.attempts,
        "tp_mr": row.tp_mr,
        "tp_srr": row.tp_srr,
        "submitted_at": _iso(row.submitted_at),
        "expires_at": _iso(row.expires_at),
        "done_at": _iso(row.done_at),
        "error": row.error,
        "report_for": row.report_for,
        "tpdu": row.tpdu.hex().upper(),
        "text": None,
        "tp_st": None,
    }
    try:
        tpdu = decode(row.tpdu, Direction.MT)
    except PDUError:
        return out
    if isinstance(tpdu, SmsDeliver) and isinstance(tpdu.tp_ud.body, str):
        out["text"] = tpdu.tp_ud.body
    elif isinstance(tpdu, SmsStatusReport):
        out["tp_st"] = tpdu.tp_st
    return out


class _Leaf(Resource):
    isLeaf = True

    def __init__(self, smsc: Smsc) -> None:
        super().__init__()
        self.smsc = smsc


class Subscribers(_Leaf):
    """GET: every number the SMSC knows, attached or provisioned, without
    secrets.  POST: provision a SIM (``smsc.subscriptions``); the answer
    carries K and OPc, the one time they are shown."""

    def render_GET(self, request: Request) -> int:
        def done(provisioned: list[Provisioned]) -> None:
            subs = {p.msisdn: p for p in provisioned}
            stations = self.smsc.stations
            body = []
            for msisdn in sorted(subs.keys() | stations.keys()):
                s, p = stations.get(msisdn), subs.get(msisdn)
                imsi = p.imsi if p is not None else s.imsi if s is not None else None
                body.append({
                    "msisdn": msisdn,
                    "imsi": imsi,
                    "attached": self.smsc.radio.is_attached(msisdn),
                    "memory_full": s is not None and s.memory_full,
                    "queued": len(s.queue) if s is not None else 0,
                    "provisioned": p is not None,
                    "sqn": p.sqn if p is not None else None,
                })  # fmt: skip
            write_json(request, 200, body)

        d = self.smsc.store.subscriptions()
        d.addCallbacks(done, lambda f: write_json(request, 500, {"error": f.getErrorMessage()}))
        return NOT_DONE_YET

    def render_POST(self, request: Request) -> int:
        try:
            sub = _subscription(request.content.read() if request.content else b"")
        except ValueError as exc:
            write_json(request, 400, {"error": str(exc)})
            return NOT_DONE_YET

        def done(stored: Provisioned) -> None:
            write_json(request, 201, {
                "imsi": stored.imsi, "msisdn": stored.msisdn, "sqn": stored.sqn,
                "k": stored.keys.k.hex().upper(), "opc": stored.keys.opc.hex().upper(),
            })  # fmt: skip

        d = self.smsc.store.provision(sub)
        d.addCallbacks(done, lambda f: write_json(request, 500, {"error": f.getErrorMessage()}))
        return NOT_DONE_YET


def _subscription(body: bytes) -> Provisioned:
    """A POST /subscribers body: ``{"imsi", "msisdn", "k"?, "opc"? or "op"?}``,
    K and OPc in hex, generated when not given."""
    try:
        data = json.loads(body)
    except ValueError:
        raise ValueError("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    unknown = sorted(set(data) - {"imsi", "msisdn", "k", "opc", "op"})
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} (known: imsi, msisdn, k, opc, op)")
    for name in ("imsi", "msisdn"):
        if not isinstance(data.get(name), str):
            raise ValueError(f"{name}: expected a string")
    for name in ("k", "opc", "op"):
        if name in data and not isinstance(data[name], str):
            raise ValueError(f"{name}: expected a string of hex digits")
    keys = keys_from_hex(data.get("k"), data.get("opc"), data.get("op"))
    return Provisioned(data["imsi"], data["msisdn"], keys)


def _one_of(what: str, text: str | None, allowed: type[StrEnum]) -> str | None:
    if text is not None and text not in {m.value for m in allowed}:
        names = ", ".join(m.value for m in allowed)
        raise ValueError(f"{what} must be one of {names}, got {text!r}")
    return text


class Messages(_Leaf):
    def render_GET(self, request: Request) -> bytes | int:
        path = [p.decode(errors="replace") for p in (request.postpath or []) if p]
        try:
            query = MessageQuery(id=whole("message id", path[0])) if path else self._query(request)
        except ValueError as exc:
            write_json(request, 400, {"error": str(exc)})
            return NOT_DONE_YET

        def done(rows: list[Any]) -> None:
            if path and not rows:
                write_json(request, 404, {"error": f"no message {path[0]}"})
            elif path:
                write_json(request, 200, message_json(rows[0]))
            else:
                write_json(request, 200, [message_json(r) for r in rows])

        d = self.smsc.store.messages(query)
        d.addCallbacks(done, lambda f: write_json(request, 500, {"error": f.getErrorMessage()}))
        return NOT_DONE_YET

    @staticmethod
    def _query(request: Request) -> MessageQuery:
        state = _one_of("state", arg(request, "state"), MessageState)
        after = arg(request, "after")
        limit = arg(request, "limit")
        return MessageQuery(
            state=None if state is None else MessageState(state),
            originator=number(request, "originator"),
            recipient=number(request, "recipient"),
            kind=_one_of("kind", arg(request, "kind"), MessageKind),
            after=None if after is None else whole("after", after),
            limit=100 if limit is None else whole("limit", limit, 1, MAX_LIMIT),
        )


def smsc_metrics(smsc: Smsc) -> Registry:
    """The SMSC's radio side, read from its counters at each scrape."""
    m = smsc.metrics
    reg = Registry()
    for name, help_, field in (
        ("submits_accepted_total", "SMS-SUBMITs stored and acknowledged", "submits_accepted"),
        ("submits_rejected_total", "SMS-SUBMITs answered with RP-ERROR", "submits_rejected"),
        ("delivered_total", "messages acknowledged by their recipient", "delivered"),
        ("failed_total", "messages given up on", "failed"),
        ("expired_total", "messages whose TP-VP ran out", "expired"),
        ("status_reports_total", "SMS-STATUS-REPORTs made", "reports_made"),
        ("delivery_attempts_total", "RP-DATA sent to handsets", "delivery_attempts"),
        ("frames_received_total", "radio link frames received", "frames_in"),
        ("frames_sent_total", "radio link frames sent", "frames_out"),
        ("protocol_errors_total", "malformed or unexpected frames", "protocol_errors"),
    ):
        reg.counter(f"smsemu_{name}", help_, read=partial(getattr, m, field))
    reg.counter(
        "smsemu_radio_attaches_total", "attaches accepted", read=partial(getattr, m, "attaches")
    )
    reg.counter(
        "smsemu_radio_attach_refused_total",
        "attaches refused: no such subscription, or it failed authentication",
        ["reason"],
        read=lambda: {(reason,): n for reason, n in m.attach_refused.items()},
    )
    reg.gauge("smsemu_queue_depth", "messages waiting for their recipient", read=smsc.queue_depth)
    reg.gauge(
        "smsemu_attached_subscribers",
        "handsets attached now",
        read=lambda: sum(1 for _ in smsc.attached()),
    )
    reg.counter(
        "smsemu_db_batches_total",
        "database transactions committed",
        read=lambda: smsc.store.counts()[0],
    )
    reg.counter(
        "smsemu_db_operations_total",
        "database operations committed",
        read=lambda: smsc.store.counts()[1],
    )
    return reg


@dataclass(frozen=True)
class Route:
    """A page of the API: its path, an example to link to, what it shows, and
    how it is made (from what ``Live`` holds: the SMSC, its door, the event
    log, the extra registries of /metrics).  The root serves these and
    nothing else, so the index and the tests that every page needs the token
    see each new one."""

    path: str
    example: str
    what: str
    page: Callable[[Live], Resource]


ROUTES = (
    Route("subscribers", "subscribers", "every number the SMSC knows",
          lambda live: Subscribers(live.smsc)),
    Route("messages", "messages?limit=20",
          "the queue and its history (state, originator, recipient, kind, after, limit)",
          lambda live: Messages(live.smsc)),
    Route("metrics", "metrics", "Prometheus metrics",
          lambda live: MetricsPage(smsc_metrics(live.smsc), *live.registries,
                                   labels=live.metric_labels)),
    Route("capture", "capture?seconds=30", "a pcapng of the next 30 seconds of every leg",
          lambda live: CapturePage(live.smsc)),
    Route("events", "events", "the live stream of events (Server-Sent Events)",
          lambda live: EventStream(live.events)),
    Route("network", "network", "the network now: subscribers, ESMEs, devices, counters",
          Network),
    Route("explain", "explain?hex=040B915155001000F100006221502100000005E8329BFD06",
          "every octet of a PDU, as smsemu pdu explain shows it (hex, direction, sca)",
          Explain),
    Route("faults", "faults", "the SMPP door's fault rules; POST to add one or switch it",
          Faults),
)  # fmt: skip


#: The routes that stream on instead of answering once.
STREAMING = frozenset({"capture", "events"})


def index_html() -> str:
    """The list of the routes, as links (the index, and the console's footer)."""
    return "".join(
        f'<li><a href="{escape(r.example)}">/{escape(r.example)}</a>: {escape(r.what)}</li>'
        for r in ROUTES
    )


class Index(Resource):
    """``GET /``: what a browser shows of the printed URL, links to the routes
    (``smsemu`` puts its console here instead)."""

    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return (
            "<!doctype html><title>smsemu admin API</title><h1>smsemu admin API</h1>"
            f'<ul id="routes">{index_html()}</ul><p>docs/admin-api.md</p>'
        ).encode()


def admin_root(live: Live) -> Resource:
    """The API; ``/metrics`` shows the SMSC's metrics and ``live.registries``
    (the SMPP door's, and in ``smsemu up`` the IP server's)."""
    root = Resource()
    root.putChild(b"", Index())
    for route in ROUTES:
        root.putChild(route.path.encode(), route.page(live))
    return root
