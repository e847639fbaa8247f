"""A small load generator: ``count`` messages from one phone to a peer at
``rate`` per second, for the console's load panel (control API ``POST
/handsets/M/load``).  Each message is an ordinary ``Phone.send``; the
network's live stream shows what becomes of each, so its rate and latency
are measured where everything else is."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime

log = logging.getLogger(__name__)
MAX_COUNT = 10_000
MAX_RATE = 1000.0


@dataclass
class Load:
    """``send(to, text)`` (a phone's ``send``) ``count`` times, ``rate`` per second."""

    owner: str  # the phone's, for what the run is shown as
    send: Callable[[str, str], Deferred[int]]
    to: str
    count: int
    rate: float
    text: str
    clock: IReactorTime
    started: int = 0  # sends begun
    sent: int = 0  # sends stored by the phone
    failed: int = 0
    _next: IDelayedCall | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_COUNT:
            raise ValueError(f"'count' is 1 to {MAX_COUNT}")
        if not 0 < self.rate <= MAX_RATE:
            raise ValueError(f"'rate' is above 0 and at most {MAX_RATE:g} per second")

    def start(self) -> None:
        self._tick(self.clock.seconds())

    def _tick(self, due: float) -> None:
        """Send the next message; plan the one after on the schedule, not after
        the last send, so the rate holds when a send is slow."""
        self._next = None
        if self.started >= self.count:
            return
        self.started += 1
        self.send(self.to, f"{self.text} {self.started}/{self.count}").addCallbacks(
            self._done, self._failed
        )
        if self.started == self.count:
            return
        due += 1.0 / self.rate
        self._next = self.clock.callLater(max(0.0, due - self.clock.seconds()), self._tick, due)

    def _done(self, _: int) -> None:
        self.sent += 1

    def _failed(self, failure: Any) -> None:
        self.failed += 1
        log.warning("load from %s: %s", self.owner, failure.getErrorMessage())

    def stop(self) -> None:
        if self._next is not None and self._next.active():
            self._next.cancel()
        self._next = None

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.owner, "to": self.to, "count": self.count,
                "rate": self.rate, "sent": self.sent, "failed": self.failed}  # fmt: skip
