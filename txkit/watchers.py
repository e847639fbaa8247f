"""Watchers: those a component tells of what happens in it, as ``(event,
details)``, for the demo, the tests and the live traffic log of ``smsemu``.

The SMSC, its SMPP door and the IP server emit through one ``Watchers`` each;
an emitter that would build costly details checks ``bool(watchers)`` first,
so a component nobody watches pays one truth test per event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Watcher = Callable[[str, dict[str, Any]], None]


class Watchers:
    """Those called with ``(event, details)`` on each state change."""

    __slots__ = ("_fns",)

    def __init__(self) -> None:
        self._fns: list[Watcher] = []

    def add(self, fn: Watcher) -> None:
        self._fns.append(fn)

    def __bool__(self) -> bool:
        return bool(self._fns)

    def emit(self, event: str, **details: Any) -> None:
        for fn in self._fns:
            fn(event, details)
