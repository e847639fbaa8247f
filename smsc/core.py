"""The SMSC's core: store and forward between handsets (and, through its
door, ESMEs), over parts with one idea each.

* ``links.RadioLinks``: the radio links, through ``radiolink.network``;
* ``submissions.Submissions``: what handsets submit;
* ``delivery.Delivery``: each recipient's queue, attempts, answers, back-off;
* ``reports.StatusReports``: SMS-STATUS-REPORTs for senders who asked;
* ``esme_door.EsmeDoor``: what the SMPP gateway submits and is owed;
* ``repository.QueueRepository``: the queue's storage.

It keeps time through an ``IReactorTime`` (``task.Clock`` in tests).  The
rules that span the parts:

* an SMS-SUBMIT is acknowledged (RP-ACK) only once its row is committed, and is
  forwarded only from then on;
* a message ends once (delivered, failed, expired, deleted): its row says so,
  and its sender gets a status report (or an ESME its receipt) if it asked;
* TP-SRR gets the sender an SMS-STATUS-REPORT, queued like any message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING

from twisted.internet.interfaces import IReactorTime

from .capture import Capture
from .delivery import Delivery, Station
from .esme_door import EsmeDoor, EsmeSink
from .links import RadioLinks
from .metrics import Metrics, Watcher, Watchers
from .models import VALUE, MessageKind, MessageState
from .queued import Queued
from .reports import StatusReports
from .repository import Backlog, QueueRepository
from .submissions import Submissions

if TYPE_CHECKING:
    from .node import ClusterNode

log = logging.getLogger(__name__)


@dataclass
class SmscConfig:
    #: The SMSC's own address: RP-OA of what it sends, what handsets put in RP-DA.
    address: str = "+15550000000"
    #: "queue": keep a message for a number no handset has attached with, until
    #: one does or it expires; "reject": answer RP-ERROR 1 (unassigned number).
    unknown_recipient: str = "queue"
    default_validity: timedelta = timedelta(days=2)
    answer_timeout: float = 30.0  # seconds a handset has to answer an RP-DATA
    #: Seconds a radio link has to attach before it is closed (smsc.server).
    attach_timeout: float = 10.0
    retry_base: float = 2.0  # first back-off, doubled at each failure
    retry_max: float = 300.0
    #: The zone of TP-SCTS and TP-DT.
    zone: tzinfo = UTC
    #: Accept any ATTACH, as any number, with no SIM authentication (for rigs
    #: that cannot do MILENAGE); off: only subscriptions, by UMTS AKA.
    open_attach: bool = False


class Smsc:
    def __init__(self, store: QueueRepository, clock: IReactorTime, config: SmscConfig) -> None:
        self.store = store
        self.clock = clock
        self.config = config
        self.metrics = Metrics()
        self.watchers = Watchers()
        #: The SMPP door, if there is one (set before ``take_up``).
        self.esme: EsmeSink | None = None
        #: What captures the legs' traffic (pcapng, GSMTAP); None: nothing does.
        self.capture: Capture | None = None
        self._next_id = 1
        #: This process as a node of a cluster (``smsc.node``); None: the only one.
        self.cluster: ClusterNode | None = None
        self.delivery = Delivery(self)
        self.radio = RadioLinks(self)
        self.submissions = Submissions(self)
        self.reports = StatusReports(self)
        self.esme_door = EsmeDoor(self)

    # -- life cycle ----------------------------------------------------------

    def load(self) -> None:
        """Read and take up what a previous run left queued, on this thread
        (tests; the service reads on a thread, then calls ``take_up``)."""
        self.take_up(self.store.load())

    def take_up(self, backlog: Backlog) -> None:
        """Queue again what a previous run left queued (before serving)."""
        self._next_id = max(self._next_id, backlog.next_id)
        for msisdn, imsi in backlog.subscribers:
            self.delivery.station(msisdn).imsi = imsi
        for item in backlog.queued:
            if item.kind is MessageKind.ESME:
                if self.esme is not None:
                    self.esme.enqueue(item)
                continue
            if item.esme is not None:
                self.esme_door.from_esmes[item.id] = item
            self.delivery.queue(item)
        if self.esme is not None:
            self.esme.take_up(backlog.submitted, backlog.numbered)
        log.info("loaded %d queued messages", len(backlog.queued))

    def stop(self) -> None:
        self.delivery.stop()
        self.radio.peer_log.stop()

    def watch(self, fn: Watcher) -> None:
        """Call ``fn(event, details)`` on each state change (for the demo, tests, logs)."""
        self.watchers.add(fn)

    # -- time and ids --------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    def local(self, when: datetime) -> datetime:
        """``when`` as TP-SCTS and receipts show it: the SMSC's zone, whole seconds."""
        return when.astimezone(self.config.zone).replace(microsecond=0)

    def new_id(self, count: int = 1) -> int:
        """The first of ``count`` contiguous new message ids (a message's parts)."""
        if self.cluster is not None:
            return self.cluster.ids.take(count)
        i = self._next_id
        self._next_id += count
        return i

    # -- what the admin API shows ------------------------------------------------------

    @property
    def stations(self) -> dict[str, Station]:
        return self.delivery.stations

    def queue_depth(self) -> int:
        return self.delivery.depth()

    def attached(self) -> Iterator[str]:
        """The subscribers attached now."""
        return self.radio.attached()

    # -- a message's way ---------------------------------------------------------------

    def enqueue(self, item: Queued) -> bool:
        """A committed message to its recipient's queue (or its ESME's); False
        if another node of the cluster is to deliver it (``smsc.node``)."""
        if self.cluster is not None and not self.cluster.holds(item):
            return False
        if item.kind is MessageKind.ESME:
            assert self.esme is not None
            self.esme.enqueue(item)
            return True
        self.delivery.add(item)
        return True

    def finish(self, item: Queued, state: MessageState, st: int, cause: int | None = None) -> None:
        """End ``item`` in a final ``state`` (the SMPP door ends the deliver_sms it sends)."""
        self.store.finish(
            item, state, self.now(), cause if cause is not None else (st if st else None)
        )
        ended = VALUE[state]
        self.metrics.count_end(ended)
        if self.watchers:
            self.watchers.emit(ended, id=item.id, kind=VALUE[item.kind], recipient=item.recipient)
        if item.kind is MessageKind.SMS and item.esme is not None:
            # From an ESME: its receipt (if it asked) is a deliver_sm, not an SMS.
            self.esme_door.ended(item)
            if self.esme is not None:
                self.esme.finished(item, state, cause if cause is not None else st)
        elif item.kind is not MessageKind.REPORT and item.tp_srr:
            # An SMS from a handset, to a handset or an ESME: SMS-STATUS-REPORT.
            self.reports.report(item, st)


def zone_of_now() -> timezone:
    """This machine's zone as a fixed offset, or UTC if not in quarter hours."""
    offset = datetime.now().astimezone().utcoffset() or timedelta()
    return timezone(offset) if not offset % timedelta(minutes=15) else UTC
