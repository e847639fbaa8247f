"""A node's lease as a Twisted service: it joins the cluster, renews its
lease every ``interval`` seconds and, in the same transaction, reaps the nodes
whose lease ran out (``smsc.cluster``); a clean stop leaves at once.

A heartbeat that finds this run's row gone means the node stalled past its
lease and was reaped: what it holds in memory is no longer its own, so it
calls ``lost`` (the process ends, and is started again clean) rather than
deliver messages another node now holds.  ``reaped`` is told of the nodes it
reaped (the cluster is told too, by NOTIFY, to claim what they held).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection
from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

from . import cluster
from .store import BatchWriter

log = logging.getLogger(__name__)
#: A heartbeat's outcome: still alive, and the nodes it reaped.
_Beat = tuple[bool, list[str]]


class NodeLease(Service):
    """Keep node ``name``'s lease of ``seconds`` on ``writer``'s database."""

    def __init__(
        self,
        writer: BatchWriter,
        name: str,
        clock: IReactorTime,
        *,
        seconds: float = 5.0,
        interval: float = 1.0,
        admin_url: str | None = None,
        lost: Callable[[], None] = lambda: None,
        reaped: Callable[[list[str]], None] = lambda names: None,
    ) -> None:
        if not interval < seconds:
            raise ValueError(f"a lease of {seconds:g} s renewed every {interval:g} s would lapse")
        self.writer = writer
        self.clock = clock
        self.lease = cluster.Lease(name, self._now(), seconds)
        self.interval = interval
        self.admin_url = admin_url
        self.lost = lost
        self.reaped = reaped
        self._beat = LoopingCall(self._heartbeat)
        self._beat.clock = clock
        self._pending: Deferred[_Beat] | None = None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC).replace(tzinfo=None)

    def join(self) -> Deferred[None]:
        """Fires once the node is registered; fails with ``NodeNameTaken``."""
        return self.writer.call(
            lambda conn: cluster.join(conn, self.lease, self._now(), self.admin_url)
        )

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        self._beat.start(self.interval, now=False)

    def _heartbeat(self) -> None:
        if self._pending is not None:  # the last one is not back: never two at once
            return
        now = self._now()

        def beat(conn: Connection) -> _Beat:
            alive = cluster.heartbeat(conn, self.lease, now)
            dead = cluster.reap(conn, now) if alive else []
            return alive, dead

        self._pending = d = self.writer.call(beat)
        d.addCallbacks(self._beaten, self._failed)  # which may run at once

    def _beaten(self, result: _Beat) -> None:
        self._pending = None
        alive, dead = result
        if not alive:
            log.error(
                "node %s: its lease lapsed and another node took over what it held; stopping",
                self.lease.name,
            )
            if self._beat.running:
                self._beat.stop()
            self.lost()
            return
        if dead:
            log.warning("node %s: reaped dead node(s) %s", self.lease.name, ", ".join(dead))
            self.reaped(dead)

    def _failed(self, failure: object) -> None:
        # The database is away: the next beat tries again; if the lease runs out
        # meanwhile, the next one that gets through says so.
        self._pending = None
        log.error("node %s: cannot renew its lease: %s", self.lease.name, failure)

    def stopService(self) -> Deferred[None]:
        super().stopService()  # type: ignore[no-untyped-call]
        if self._beat.running:
            self._beat.stop()
        return self.writer.call(lambda conn: cluster.leave(conn, self.lease))
