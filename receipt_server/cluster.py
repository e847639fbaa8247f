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
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from ipwire import wire
from storage.pgnotify import Listener, notify

from .jobs import Part
from .models import Node, Presence
from .queries import FinishedQuery

if TYPE_CHECKING:
    from .factory import ReceiptServerFactory

log = logging.getLogger(__name__)

#: The one channel the IP-server nodes share.
CHANNEL = "smsemu_ip_server"
#: Seconds between a node's renewals of its lease, and how long one lasts.
HEARTBEAT = 1.0
LEASE = 5.0


def _message(obj: Any) -> wire.Message:
    m = wire.decode_payload(json.dumps(obj).encode(), wire.SERVER_MESSAGES)
    if isinstance(m, wire.WireError):
        raise ValueError(m.reason)
    return m


class Roster(Part):
    """The nodes' leases and the devices logged in on each (PostgreSQL only:
    a cluster is on PostgreSQL, and its upserts are ``ON CONFLICT``)."""

    def heartbeat(self, node: str, lease: timedelta) -> Deferred[None]:
        def work(s: Session) -> None:
            until = self.now() + lease
            s.execute(
                pg_insert(Node)
                .values(node=node, lease_until=until)
                .on_conflict_do_update(index_elements=[Node.node], set_={"lease_until": until})
            )

        return self._submit(work, lazy=True)

    def clear(self, node: str) -> Deferred[None]:
        """A node (re)starting: the devices it had are gone."""

        def work(s: Session) -> None:
            s.execute(delete(Presence).where(Presence.node == node))

        return self._submit(work)

    def arrived(self, node: str, device: str, msisdn: str) -> Deferred[None]:
        def work(s: Session) -> None:
            s.execute(
                pg_insert(Presence)
                .values(device_id=device, msisdn=msisdn, node=node)
                .on_conflict_do_update(
                    index_elements=[Presence.device_id], set_={"msisdn": msisdn, "node": node}
                )
            )

        return self._submit(work)

    def left(self, node: str, device: str) -> Deferred[None]:
        def work(s: Session) -> None:
            s.execute(delete(Presence).where(Presence.device_id == device, Presence.node == node))

        return self._submit(work, lazy=True)

    def online(self, msisdn: str) -> Deferred[bool]:
        """Whether a device of ``msisdn`` is logged in on a node alive."""

        def work(s: Session) -> bool:
            alive = select(Node.node).where(Node.lease_until > self.now())
            found = s.scalar(
                select(Presence.device_id)
                .where(Presence.msisdn == msisdn, Presence.node.in_(alive))
                .limit(1)
            )
            return found is not None

        return self._submit(work)


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
        self,
        node: str,
        url: str,
        factory: ReceiptServerFactory,
        tell: Callable[[str], Any],
        roster: Roster,
        *,
        heartbeat: float = HEARTBEAT,
        lease: float = LEASE,
    ) -> None:
        self.node = node
        self.factory = factory
        self._tell = tell
        self.roster = roster
        self.lease = timedelta(seconds=lease)
        self.beat = LoopingCall(self._beat)
        self.beat.clock = factory.clock
        self.heartbeat = heartbeat
        self.listener = Listener(url, [CHANNEL], self._heard, self._listening)
        #: Fires at the first LISTEN: from then on the node hears the others.
        self.started: Deferred[None] = Deferred()

    def start(self) -> None:
        """Renew the lease every heartbeat, forget the devices a previous
        run of this node had, and LISTEN."""
        self.roster.clear(self.node).addErrback(self._failed, "clear")
        self.beat.start(self.heartbeat, now=True)
        self.listener.startService()

    def stop(self) -> Deferred[None] | None:
        if self.beat.running:
            self.beat.stop()
        return self.listener.stopService() if self.listener.running else None

    def _beat(self) -> None:
        self.roster.heartbeat(self.node, self.lease).addErrback(self._failed, "heartbeat")

    @staticmethod
    def _failed(failure: Failure, what: str) -> None:
        log.warning("cluster: %s: %s", what, failure.getErrorMessage())

    def arrived(self, device: str, msisdn: str) -> None:
        self.roster.arrived(self.node, device, msisdn).addErrback(self._failed, "presence")

    def left(self, device: str) -> None:
        self.roster.left(self.node, device).addErrback(self._failed, "presence")

    def online(self, msisdn: str) -> Deferred[bool]:
        """Whether a device of ``msisdn`` is logged in on any node alive."""
        return self.roster.online(msisdn)

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
