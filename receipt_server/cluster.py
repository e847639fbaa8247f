"""IP-server nodes on one PostgreSQL (issue 22): what one node commits for a
device connected to another reaches it live, by ``LISTEN/NOTIFY``.

Every durable thing (feedback outbox, IP-path deliveries, read states,
queries and their sealed answers) is already in the shared tables, and a
device gets what waits for it at login; what a node lacks is the live push
to devices connected elsewhere.  Each node so tells the others, on one
channel, after the commit of:

* a feedback (``feedback``): every node pushes it to its phones of the MSISDN;
* an IP-path message or a read state for a device (``push``);
* an opened history query (``open``): every node mirrors it in its own
  ``QueryRelay`` (forwarding it to, or indicating it on, its devices of the
  account) and keeps its own deadline timer, so that a node killed mid-query
  leaves the others to close it with what arrived (a partial answer);
* an answer kept (``answered``): every mirror counts it, the last one
  finishes the query; finishing locks the query's row, so only one node
  closes it and tells the asker;
* finished results (``ready``): the asker's node tells it.

Delivery is at least once, as on one node: a notification lost in a gap of
the listener leaves the rows, which the device gets at its next login; open
queries overdue are closed by any node's sweep.  Payloads are JSON with the
sending node's name: a node skips its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from ipwire import wire
from storage.pgnotify import Listener, notify

from .jobs import Part
from .queries import FinishedQuery

if TYPE_CHECKING:
    from .factory import ReceiptServerFactory

log = logging.getLogger(__name__)

#: The one channel the IP-server nodes share.
CHANNEL = "smsemu_ip_server"


def _message(obj: Any) -> wire.Message:
    m = wire.decode_payload(json.dumps(obj).encode(), wire.SERVER_MESSAGES)
    if isinstance(m, wire.WireError):
        raise ValueError(m.reason)
    return m


class Notices(Part):
    """A notification to the other nodes, sent at the commit of its own
    transaction (submitted after the work it tells of has committed)."""

    def tell(self, payload: str) -> Deferred[None]:
        def work(s: Session) -> None:
            notify(s.connection(), CHANNEL, payload)

        return self._submit(work)


class Cluster:
    """One node's half of the cluster: tells the others, hears them."""

    def __init__(
        self, node: str, url: str, factory: ReceiptServerFactory, tell: Callable[[str], Any]
    ) -> None:
        self.node = node
        self.factory = factory
        self._tell = tell
        self.listener = Listener(url, [CHANNEL], self._heard, self._listening)
        #: Fires at the first LISTEN: from then on the node hears the others.
        self.started: Deferred[None] = Deferred()

    # -- telling --------------------------------------------------------------------

    def _send(self, kind: str, **fields: Any) -> None:
        payload = json.dumps({"k": kind, "node": self.node, **fields}, separators=(",", ":"))
        d = self._tell(payload)
        if isinstance(d, Deferred):
            d.addErrback(
                lambda f: log.warning("cluster: %s not told: %s", kind, f.getErrorMessage())
            )

    def feedback(self, msisdn: str, feedback: wire.Feedback) -> None:
        self._send("feedback", msisdn=msisdn, m=feedback.to_json())

    def push(self, out: list[tuple[str, wire.Message]]) -> None:
        for device, message in out:
            self._send("push", device=device, m=message.to_json())

    def opened(self, account: str, asker: str, request: wire.QueryRequest,
               devices: list[str], timeout: float) -> None:  # fmt: skip
        self._send("open", account=account, asker=asker, m=request.to_json(),
                   devices=devices, timeout=timeout)  # fmt: skip

    def answered(self, query_id: str, device: str) -> None:
        self._send("answered", query_id=query_id, device=device)

    def ready(self, finished: FinishedQuery) -> None:
        self._send("ready", asker=finished.asker, m=finished.ready().to_json())

    # -- hearing --------------------------------------------------------------------

    def _heard(self, batch: list[tuple[str, str]]) -> None:
        for _channel, payload in batch:
            try:
                note = json.loads(payload)
                if note.get("node") != self.node:
                    self._apply(note)
            except Exception as exc:  # a peer's bad note costs one line, not the node
                log.warning("cluster: bad notification %.80r: %s", payload, exc)

    def _apply(self, note: dict[str, Any]) -> None:
        sessions, relay = self.factory.sessions, self.factory.relay
        kind = note["k"]
        if kind == "feedback":
            m = _message(note["m"])
            assert isinstance(m, wire.Feedback)
            self.factory.deliver(note["msisdn"], m, local=True)
        elif kind == "push":
            target = sessions.by_device.get(note["device"])
            if target is not None:
                target.reply(_message(note["m"]))
        elif kind == "open":
            request = _message(note["m"])
            assert isinstance(request, wire.QueryRequest)
            relay.mirror(note["account"], note["asker"], request, note["devices"],
                         float(note["timeout"]))  # fmt: skip
        elif kind == "answered":
            relay.answered_elsewhere(note["query_id"], note["device"])
        elif kind == "ready":
            protocol = sessions.by_device.get(note["asker"])
            if protocol is not None:
                protocol.reply(_message(note["m"]))
        else:
            raise ValueError(f"unknown kind {kind!r}")

    def _listening(self) -> None:
        """After each LISTEN: what a gap missed waits in the tables; overdue
        queries are closed now rather than at the next sweep."""
        relay = self.factory.relay
        relay.finish_overdue().addCallback(lambda _: relay.rescan()).addBoth(self._rescanned)

    def _rescanned(self, result: object) -> None:
        if isinstance(result, Failure):
            log.warning("cluster: rescan: %s", result.getErrorMessage())
        if not self.started.called:
            self.started.callback(None)
