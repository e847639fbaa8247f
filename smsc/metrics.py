"""What the SMSC tells those who watch it: counters for /metrics, and state
changes for the demo, tests and logs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Watcher = Callable[[str, dict[str, Any]], None]


@dataclass
class Metrics:
    submits_accepted: int = 0
    submits_rejected: int = 0
    delivered: int = 0
    failed: int = 0
    expired: int = 0
    deleted: int = 0
    reports_made: int = 0
    delivery_attempts: int = 0
    frames_in: int = 0
    frames_out: int = 0
    protocol_errors: int = 0

    def count_end(self, state: str) -> None:
        """One more message ended in ``state`` (each final state has its counter)."""
        setattr(self, state, getattr(self, state) + 1)


class Watchers:
    """Those called with ``(event, details)`` on each state change; a caller
    that builds costly details checks ``bool(watchers)`` first."""

    def __init__(self) -> None:
        self._fns: list[Watcher] = []

    def add(self, fn: Watcher) -> None:
        self._fns.append(fn)

    def __bool__(self) -> bool:
        return bool(self._fns)

    def emit(self, event: str, **details: Any) -> None:
        for fn in self._fns:
            fn(event, details)
