"""Things due at a time (a queued message's TP-VP expiry), kept in a heap
keyed by due time with one timer armed for the earliest: when it fires it
touches what is due and nothing else, however long the queue.

A thing leaves early (delivered, cancelled) by ``discard``: a dict lookup; its
heap entry stays until it surfaces, or until dead entries outnumber live ones
and the heap is rebuilt of the live (amortised over the discards, never a
periodic walk).  The entries are (time, key) tuples of plain numbers, which
the garbage collector stops tracking, and a thing's time and the thing sit in
two dicts: nothing more for the collector to walk per queued message.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Generic, TypeVar

from twisted.internet.interfaces import IDelayedCall, IReactorTime

T = TypeVar("T")


class Deadlines(Generic[T]):
    """``due(things)`` is called with what has come due, in due-time order."""

    def __init__(self, clock: IReactorTime, due: Callable[[list[T]], None]) -> None:
        self.clock = clock
        self.due = due
        self._heap: list[tuple[float, int]] = []
        self._live: dict[int, T] = {}
        self._when: dict[int, float] = {}
        self._call: IDelayedCall | None = None
        self._armed_at = float("inf")
        #: Heap entries taken out when due, live or dead (what a tick touched).
        self.examined = 0

    def __len__(self) -> int:
        return len(self._live)

    def add(self, when: float, key: int, thing: T) -> None:
        """``thing`` (known by ``key``) is due at ``when`` (reactor seconds);
        a later ``add`` of the same key replaces the earlier."""
        self._live[key] = thing
        self._when[key] = when
        heapq.heappush(self._heap, (when, key))
        if when < self._armed_at:
            self._arm(when)

    def discard(self, key: int) -> None:
        """``key`` is no longer due (it left the queue)."""
        if self._live.pop(key, None) is None:
            return
        del self._when[key]
        if len(self._heap) > 2 * len(self._live) + 64:  # mostly dead: keep the live only
            self._heap = [(w, k) for w, k in self._heap if self._when.get(k) == w]
            heapq.heapify(self._heap)

    def cancel(self) -> None:
        """Disarm the timer (the SMSC stops)."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call, self._armed_at = None, float("inf")

    def _arm(self, when: float) -> None:
        delay = max(0.0, when - self.clock.seconds())
        if self._call is not None and self._call.active():
            self._call.reset(delay)
        else:
            self._call = self.clock.callLater(delay, self._fire)
        self._armed_at = when

    def _fire(self) -> None:
        self._call, self._armed_at = None, float("inf")
        now = self.clock.seconds()
        heap, due, ready = self._heap, self._when, []
        while heap and heap[0][0] <= now:
            when, key = heapq.heappop(heap)
            self.examined += 1
            if due.get(key) == when:
                del due[key]
                ready.append(self._live.pop(key))
        if heap:
            self._arm(heap[0][0])
        if ready:
            self.due(ready)
