"""The core's side of a cluster (docs/scaling.md §Model): what this node
holds, told to the others, and what it claims from them.

The core calls it at five points only: ``place`` as a message's row is made
(this node's name if its recipient is attached here, or its ESME has a
receiving bind here, or the node ends it at once, ``keep``: the row is
inserted claimed, the single node's fast path), ``holds`` once the row is
committed (False: the row went unclaimed, and the node its recipient is on
is told by NOTIFY), ``new_id``, ``keep``, and ``known`` for a recipient it
has not seen when unknown numbers are refused
(one may have attached on another node since this one started).  The
rest it hears as the core's watchers do: an attach or a receiving bind
records where the subscriber or ESME is, then (in a later transaction, so
that a sender either sees the location or its row is seen by the claim)
claims what waited for it.  A NOTIFY naming a subscriber or an ESME, and
every (re)LISTEN and reaping (``rescan``), claim the same way.  The end of
an ESME's last receiving bind here releases the deliver_sms waiting for it,
for a node where it is bound (a subscriber's detach keeps its queue: it
comes back, here or elsewhere, and a move is seen as it attaches).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from storage.pgnotify import MAX_PAYLOAD, Listener, notify

from . import claims, cluster
from .httpjson import write_json
from .idblocks import IdBlocks
from .lease import NodeLease
from .models import MessageKind
from .node_recall import NodeRecall
from .queued import Queued
from .repository import queued_of
from .store import BatchWriter
from .submitted import Submitted
from .submitted_rows import submitted_for

if TYPE_CHECKING:
    from .core import Smsc

log = logging.getLogger(__name__)

NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
#: What a notification names: work for a subscriber or an ESME here, or a
#: subscriber that attached elsewhere, whose queue this node is to give up.
_SUBSCRIBER, _ESME, _MOVED = "s:", "e:", "m:"


def check_name(name: str) -> str:
    if not NODE_NAME.fullmatch(name):
        raise ValueError(
            f"node name {name!r}: expected 1 to 40 letters, digits, '_' or '-' "
            "(a letter or digit first)"
        )
    return name


class ClusterNode:
    """Node ``name`` of the cluster on ``url`` (PostgreSQL), for ``smsc``."""

    def __init__(
        self,
        smsc: Smsc,
        writer: BatchWriter,
        name: str,
        url: str,
        reactor: Any,
        *,
        lease_seconds: float = 5.0,
        interval: float = 1.0,
        admin_url: str | None = None,
        lost: Callable[[], None] = lambda: None,
    ) -> None:
        self.smsc = smsc
        self.writer = writer
        self.name = check_name(name)
        self.clock: IReactorTime = reactor
        self.ids = IdBlocks(lambda: writer.call(cluster.id_block))
        self.lease = NodeLease(
            writer,
            name,
            reactor,
            seconds=lease_seconds,
            interval=interval,
            admin_url=admin_url,
            lost=lost,
            reaped=lambda _: self.rescan(),
        )
        self.listener = Listener(
            url,
            [cluster.CHANNEL, cluster.channel(name)],
            self._notified,
            self.rescan,
            reactor=reactor if IReactorFromThreads.providedBy(reactor) else None,
        )
        #: Rows inserted unclaimed, until committed (``holds``).
        self._unclaimed: set[int] = set()
        #: Rows about to be inserted that this node ends itself (``keep``).
        self._kept: set[int] = set()
        #: Keys to tell the other nodes of, gathered until the storage thread
        #: runs the ``tell`` call that takes them (one call per commit batch).
        self._to_tell: dict[str, None] | None = None
        self._to_tell_lock = threading.Lock()
        #: Subscribers whose link here is closed as they attached elsewhere.
        self._leaving: set[str] = set()
        #: ESMEs with a receiving bind here, and how many.
        self._receivers: dict[str, int] = {}
        self.claimed = 0  # messages this node took from the cluster
        #: Subscribers being looked up (``known``), and who waits for each.
        self._looking: dict[str, list[Deferred[bool]]] = {}
        #: cancel_sm and replace_sm of messages another node holds.
        self.recall = NodeRecall(self)
        smsc.watch(self._event)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC).replace(tzinfo=None)

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Join, take the first id block, keep the lease and listen; fires
        once the node may serve (``NodeNameTaken`` if the name is alive)."""
        d = self.lease.join()
        d.addCallback(lambda _: self.ids.start())

        def serve(_: object) -> None:
            self.lease.startService()
            self.listener.startService()

        return d.addCallback(serve)

    def stop(self) -> Deferred[Any]:
        """Stop listening and leave: what the node held is released at once."""
        self.recall.stop()
        listening = self.listener.stopService() if self.listener.running else None
        leaving = self.lease.stopService() if self.lease.running else None
        return DeferredList([d for d in (listening, leaving) if d is not None])

    # -- the core's calls ----------------------------------------------------------

    def keep(self, ids: Iterable[int]) -> None:
        """The rows ``ids``, about to be inserted, are this node's whoever
        their recipient is: it ends them itself at once (a ``fail_delivery``
        fault of the SMPP door), so no other node may claim them before
        their end is committed.  Taken back by ``place`` as they are made."""
        self._kept.update(ids)

    def place(self, item: Queued) -> str | None:
        """The node to insert ``item`` claimed by: this one, or None."""
        if self._kept and item.id in self._kept:
            self._kept.discard(item.id)
            return self.name
        if item.kind is MessageKind.ESME:
            here = item.esme is not None and item.esme in self._receivers
        else:
            here = self.smsc.radio.is_attached(item.recipient)
        if here:
            return self.name
        self._unclaimed.add(item.id)
        return None

    def holds(self, item: Queued) -> bool:
        """``item`` is committed: True if it is this node's to deliver; if not,
        the node its recipient or ESME is on is told."""
        if item.id not in self._unclaimed:
            if item.kind is MessageKind.ESME and item.esme not in self._receivers:
                self._give_back([item])  # its ESME's receiving binds here ended meanwhile
                return False
            return True
        self._unclaimed.discard(item.id)
        key = (
            _ESME + (item.esme or "")
            if item.kind is MessageKind.ESME
            else _SUBSCRIBER + item.recipient
        )
        with self._to_tell_lock:
            pending = self._to_tell
            first = pending is None
            if pending is None:
                pending = self._to_tell = {}
            pending[key] = None
        if first:  # outside the lock: a writer without a thread runs it at once
            self.writer.call(partial(self._tell_pending, self.now()))
        return False

    def _tell_pending(self, now: datetime, conn: Connection) -> None:
        """On the storage thread: tell what ``holds`` gathered until now; what
        it gathers from here on goes in the next call (and transaction)."""
        with self._to_tell_lock:
            keys, self._to_tell = self._to_tell or {}, None
        tell(conn, list(keys), now)

    def known(self, msisdn: str) -> Deferred[bool]:
        """Whether ``msisdn`` attached on any node, in this run or an earlier
        one (its ``subscriber`` row, which each node writes as it attaches):
        read on the storage thread, the reactor never waits; found, it is
        remembered here as the rows read at start are.  For a submit to a
        number this node has not seen, before ``unknown_recipient = "reject"``
        refuses it.  Submits to one number looked up at once share one read."""
        waiting: Deferred[bool] = Deferred()
        looking = self._looking.get(msisdn)
        if looking is not None:
            looking.append(waiting)
            return waiting
        self._looking[msisdn] = [waiting]
        d = self.writer.call(partial(cluster.seen, msisdn=msisdn))
        d.addBoth(self._seen, msisdn)
        return waiting

    def _seen(self, imsi: str | Failure | None, msisdn: str) -> None:
        waiting = self._looking.pop(msisdn, [])
        if isinstance(imsi, Failure):
            for d in waiting:
                d.errback(imsi)
            return
        if imsi is not None:
            station = self.smsc.delivery.station(msisdn)
            station.imsi = station.imsi or imsi
        for d in waiting:
            d.callback(imsi is not None)

    # -- what the watchers hear ----------------------------------------------------

    def _event(self, event: str, details: dict[str, Any]) -> None:
        if event == "attached":
            msisdn = details["msisdn"]
            d = self.writer.call(partial(_locate, msisdn, self.name, self.now()))
            d.addCallback(lambda _: self.claim([msisdn], []))
        elif event == "detached":
            msisdn = details["msisdn"]
            self.writer.call(partial(_detach, msisdn, self.name), lazy=True)
            if msisdn in self._leaving:  # closed for attaching elsewhere: the rest goes
                self._leaving.discard(msisdn)
                self._moved_away({msisdn: ""})
        elif event in ("bound", "unbound") and details.get("system_id"):
            # Told as the door takes or drops the session: count once it has.
            self.clock.callLater(0, self._rebind, details["system_id"])

    def _rebind(self, system_id: str) -> None:
        esme = self.smsc.esme
        receivers = getattr(esme, "sessions", None)
        count = len(receivers.receivers(system_id)) if receivers is not None else 0
        before = self._receivers.get(system_id, 0)
        if count == before:
            return
        if count:
            self._receivers[system_id] = count
        else:
            self._receivers.pop(system_id, None)
        d = self.writer.call(partial(_bound, system_id, self.name, count))
        if count and not before:
            d.addCallback(lambda _: self.claim([], [system_id]))
        elif not count and self.smsc.esme is not None:
            # Its last receiving bind here ended, the node lives on: what
            # waits for it goes to a node where it holds one (or to the first
            # that gets one; this node too, if it binds here again).
            self._give_back(self.smsc.esme.withdraw(system_id))

    def _give_back(self, items: list[Queued]) -> None:
        """Release deliver_sms this node holds for ESMEs with no receiving
        bind here, in a later transaction than the bind's row went (a
        rebind's claim is later still), and tell the nodes they are bound on."""
        if not items:
            return
        ids = [item.id for item in items]
        keys = list(dict.fromkeys(_ESME + (item.esme or "") for item in items))
        now = self.now()

        def release(conn: Connection) -> None:
            claims.release(conn, self.name, ids)
            tell(conn, keys, now)

        self.writer.call(release)
        log.info(
            "node %s: released %d queued deliver_sm of ESMEs no longer bound here",
            self.name,
            len(ids),
        )

    # -- claims --------------------------------------------------------------------

    def _notified(self, batch: list[tuple[str, str]]) -> None:
        batch = self.recall.heard(batch)
        if any(channel == cluster.CHANNEL for channel, _ in batch):
            self.rescan()
            return
        keys = {key for _, payload in batch for key in _keys(payload)}
        msisdns = [k[len(_SUBSCRIBER) :] for k in keys if k.startswith(_SUBSCRIBER)]
        esmes = [k[len(_ESME) :] for k in keys if k.startswith(_ESME)]
        moved = [k[len(_MOVED) :] for k in keys if k.startswith(_MOVED)]
        if moved:
            self._give_up(moved)
        self.claim(msisdns, esmes)

    def _give_up(self, msisdns: list[str]) -> None:
        """Subscribers said to have attached on another node: once the
        location confirms it (it may have come back here since), give up
        their queues here."""
        now = self.now()
        d = self.writer.call(lambda conn: {m: cluster.where(conn, m, now) for m in msisdns})
        d.addCallback(self._moved_away)

    def _moved_away(self, located: dict[str, str | None]) -> None:
        """Release what waits here for subscribers located elsewhere (not what
        is in flight: a link still open here is closed, the last attach wins,
        and its detach gives up the rest), and tell the node they are on."""
        smsc = self.smsc
        gone = [m for m, node in located.items() if node is not None and node != self.name]
        ids: list[int] = []
        for msisdn in gone:
            link = smsc.radio.network.link_of(msisdn)
            if link is not None:
                self._leaving.add(msisdn)
                link.close()
            station = smsc.delivery.stations.get(msisdn)
            waiting = list(station.queue) if station is not None else []
            for item in [i for i in waiting if smsc.delivery.withdraw(i)]:
                smsc.esme_door.from_esmes.pop(item.id, None)
                ids.append(item.id)
        if not ids:
            return
        if smsc.esme is not None:  # their receipts are the new holder's to make
            smsc.esme.released(ids)
        now = self.now()

        def release(conn: Connection) -> None:
            claims.release(conn, self.name, ids)
            tell(conn, [_SUBSCRIBER + msisdn for msisdn in gone], now)

        self.writer.call(release)
        log.info(
            "node %s: released %d queued messages of subscribers that moved", self.name, len(ids)
        )

    def rescan(self) -> None:
        """Claim what waits for every subscriber and ESME here (a NOTIFY may
        have been missed: after each LISTEN, and after a reaping)."""
        self.claim(list(self.smsc.attached()), list(self._receivers))

    def claim(self, msisdns: Iterable[str], esmes: Iterable[str]) -> Deferred[int]:
        """Claim what waits for ``msisdns`` attached here and ``esmes`` bound
        here, and take it into the core; fires with how many."""
        radio = self.smsc.radio
        here = [m for m in msisdns if radio.is_attached(m)]
        bound = [e for e in esmes if e in self._receivers]
        if not here and not bound:
            return succeed(0)
        d = self.writer.call(partial(_claim, self.name, here, bound))
        return d.addCallback(self._take)

    def _take(self, taken: tuple[list[Queued], list[Submitted]]) -> int:
        items, subs = taken
        smsc = self.smsc
        away: list[Queued] = []
        for item in items:
            if item.kind is MessageKind.ESME and smsc.esme is None:
                continue  # no SMPP door here: never bound, never claimed
            if item.kind is MessageKind.ESME and item.esme not in self._receivers:
                away.append(item)  # its ESME unbound here while the claim ran
                continue
            if item.kind is MessageKind.SMS and item.esme is not None:
                smsc.esme_door.from_esmes[item.id] = item
            smsc.enqueue(item)
        if subs and smsc.esme is not None:
            smsc.esme.take_up(subs, [])
        self._give_back(away)
        self.claimed += len(items)
        if items:
            log.info("node %s: claimed %d queued messages", self.name, len(items))
        return len(items)


def tell(conn: Connection, keys: list[str], now: datetime) -> None:
    """Tell each node of the ``keys`` (subscribers, ESMEs) that are its, once
    ``conn``'s transaction commits: one location query for all subscribers and
    one NOTIFY per node (its payload a JSON list of keys, split only at
    PostgreSQL's payload limit), however many messages the batch made."""
    msisdns = [k[len(_SUBSCRIBER) :] for k in keys if k.startswith(_SUBSCRIBER)]
    located = cluster.where_all(conn, msisdns, now) if msisdns else {}
    per_node: dict[str, list[str]] = {}
    for key in keys:
        if key.startswith(_ESME):
            nodes = cluster.receivers(conn, key[len(_ESME) :], now)
        else:
            found = located.get(key[len(_SUBSCRIBER) :])
            nodes = [] if found is None else [found]
        for node in nodes:
            per_node.setdefault(node, []).append(key)
    for node, told in per_node.items():
        for payload in payloads(told):
            notify(conn, cluster.channel(node), payload)


def payloads(keys: list[str], limit: int = MAX_PAYLOAD) -> list[str]:
    """``keys`` as JSON lists of at most ``limit`` bytes each, in order."""
    out: list[str] = []
    chunk: list[str] = []
    size = 2  # the brackets
    for key in keys:
        cost = len(json.dumps(key)) + 1  # ASCII (ensure_ascii), and a comma
        if chunk and size + cost > limit:
            out.append(json.dumps(chunk, separators=(",", ":")))
            chunk, size = [], 2
        chunk.append(key)
        size += cost
    if chunk:
        out.append(json.dumps(chunk, separators=(",", ":")))
    return out


def _keys(payload: str) -> list[str]:
    """The keys of a notification: a JSON list (``tell``), or one bare key
    (``_MOVED``, sent one per subscriber)."""
    if payload.startswith("["):
        return [str(k) for k in json.loads(payload)]
    return [payload]


def _locate(msisdn: str, node: str, now: datetime, conn: Connection) -> None:
    cluster.locate(conn, msisdn, node, now)


def _detach(msisdn: str, node: str, conn: Connection) -> None:
    cluster.detach(conn, msisdn, node)


def _bound(system_id: str, node: str, count: int, conn: Connection) -> None:
    cluster.bound(conn, system_id, node, count)


def _claim(
    node: str, msisdns: list[str], esmes: list[str], conn: Connection
) -> tuple[list[Queued], list[Submitted]]:
    rows = claims.for_subscribers(conn, node, msisdns) if msisdns else []
    for holder, msisdn in claims.held_elsewhere(conn, node, msisdns):
        notify(conn, cluster.channel(holder), _MOVED + msisdn)
    if esmes:
        rows += claims.for_esmes(conn, node, esmes)
    items = [queued_of(row) for row in rows]
    # The receipts of ESME messages whose parts this node now delivers.
    from_esmes = [i.id for i in items if i.kind is MessageKind.SMS and i.esme is not None]
    subs = submitted_for(conn, from_esmes) if from_esmes else []
    return items, subs


class ClusterPage(Resource):
    """``GET /cluster`` of any node's admin API: every node of the cluster
    with its lease, subscribers, receiving binds and queue depth, and the
    messages no node holds (``cluster.view``, read now)."""

    isLeaf = True

    def __init__(self, node: ClusterNode) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.node = node

    def render_GET(self, request: Request) -> int:
        node = self.node
        now = node.now()
        d = node.writer.call(lambda conn: cluster.view(conn, now))
        d.addCallbacks(
            lambda view: write_json(request, 200, {"node": node.name, "nodes": view}),
            lambda f: write_json(request, 500, {"error": f.getErrorMessage()}),
        )
        return NOT_DONE_YET
