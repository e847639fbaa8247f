"""Log lines a peer can cause, rate-limited and summarised, so that junk on a
port cannot flood the log.

A ``Throttle`` lets the first ``burst`` lines of a kind out (a kind is what
the line is about and where from: ``"malformed frames from 127.0.0.1"``) and
counts the rest until the end of an interval, then tells them in one line::

    … 4,812 more malformed frames from 127.0.0.1 in the last 10 s

While the flood goes on, each interval ends with one such line and nothing
else of that kind; an interval with nothing more ends the kind's window, so
the next line is shown again at once.  The clock is a Twisted
``IReactorTime`` (``task.Clock`` in tests).  Kinds are bounded: past
``max_kinds`` (100) at once, new kinds share one window (``lines from other
peers``), so ever-new source addresses (all of 127.0.0.0/8 is one host's)
cannot grow the table or the log: at most about two lines per kind each
interval.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime

#: Lines held back since the start, by logger name (for /metrics).
SUPPRESSED: Counter[str] = Counter()

INTERVAL = 10.0
OVERFLOW = "lines from other peers"


@dataclass(slots=True)
class _Window:
    level: int
    summary: str
    shown: int = 0
    held: int = 0
    call: IDelayedCall | None = field(default=None, repr=False)


class Throttle:
    """At most ``burst`` lines of each kind, then one summary per ``interval``."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval: float = INTERVAL,
        burst: int = 1,
        clock: IReactorTime | None = None,
        max_kinds: int = 100,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.burst = burst
        self._clock = clock
        self.max_kinds = max_kinds
        self._windows: dict[str, _Window] = {}

    @property
    def clock(self) -> IReactorTime:
        if self._clock is None:
            from twisted.internet import reactor

            self._clock = reactor
        return self._clock

    def allow(self, level: int, what: str, summary: str | None = None) -> bool:
        """Whether a line of kind ``what`` may go out now; if not, it is
        counted for the summary at the end of the interval (``summary``, a
        ``str.format`` template of ``count`` and ``seconds``, or ``… {count}
        more {what} in the last {seconds} s``)."""
        if not self.logger.isEnabledFor(level):
            return False
        window = self._windows.get(what)
        if window is None:
            if len(self._windows) >= self.max_kinds:
                what = OVERFLOW
                window = self._windows.get(what)
            if window is None:
                template = summary or f"… {{count:,}} more {what} in the last {{seconds:g}} s"
                window = self._windows[what] = _Window(level, template)
                window.call = self.clock.callLater(self.interval, self._end, what)
        if window.shown < self.burst:
            window.shown += 1
            return True
        window.held += 1
        SUPPRESSED[self.logger.name] += 1
        return False

    def log(self, level: int, what: str, msg: str, *args: Any, summary: str | None = None) -> bool:
        """Log ``msg % args`` if ``allow`` lets it; True if it was logged."""
        if not self.allow(level, what, summary):
            return False
        self.logger.log(level, msg, *args)
        return True

    def warning(self, what: str, msg: str, *args: Any, summary: str | None = None) -> bool:
        return self.log(logging.WARNING, what, msg, *args, summary=summary)

    def info(self, what: str, msg: str, *args: Any, summary: str | None = None) -> bool:
        return self.log(logging.INFO, what, msg, *args, summary=summary)

    def _end(self, what: str) -> None:
        window = self._windows[what]
        if not window.held:  # a quiet interval: the kind starts afresh
            del self._windows[what]
            return
        text = window.summary.format(count=window.held, seconds=self.interval)
        self.logger.log(window.level, "%s", text)
        # Still flooding, maybe: the next interval shows nothing new, only its count.
        window.held = 0
        window.shown = self.burst
        window.call = self.clock.callLater(self.interval, self._end, what)

    def stop(self) -> None:
        """Tell what is held now and forget every window (a service stopping)."""
        for what, window in list(self._windows.items()):
            if window.call is not None and window.call.active():
                window.call.cancel()
            if window.held:
                text = window.summary.format(count=window.held, seconds=self.interval)
                self.logger.log(window.level, "%s", text)
            del self._windows[what]
