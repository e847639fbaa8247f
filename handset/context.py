"""What the parts of a phone share: its identity, store, clock, settings and
events (``PhoneContext``), and the errors and numbers every part speaks.

The parts (``handset.radio``, ``outbox``, ``inbox``, ``receipts``,
``ip_session``, ``ip_path``, ``history_sync``, ``search``) each hold one idea;
they share state only through this object and the collaborators they are
given, never by reaching into each other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.defer import TimeoutError as DeferredTimeout
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

from pdu import Address

from .store import HandsetStore
from .views import Received, Settings, StateChange

log = logging.getLogger(__name__)

#: Seconds a request to the IP server may take before the phone gives up on
#: it (a half-open connection, a stalled server): a search never hangs.
REQUEST_TIMEOUT = 30.0

#: ``watch`` callbacks: the event's name and its details.
Watcher = Callable[[str, dict[str, Any]], None]


class PhoneError(ValueError):
    """A request the phone cannot carry out, with the reason for its user."""


def owner_of(msisdn: str, companion: str | None = None) -> str:
    """Whose rows a handset store holds: the phone's MSISDN, or
    ``name@msisdn`` for a companion device of that account."""
    if companion is None:
        return msisdn
    if not companion or len(companion) > 16 or not companion.replace("-", "").isalnum():
        raise PhoneError(f"a companion name is 1 to 16 letters, digits or '-', not {companion!r}")
    return f"{companion}@{msisdn}"


def number_of(text: str) -> str:
    """A phone number as the network writes it (``+4479...``): how peers are keyed."""
    return str(Address.parse(text.strip()))


@dataclass
class _Waiter:
    kind: str
    match: dict[str, Any]
    done: Deferred[dict[str, Any]]


class Events:
    """What happens on a phone, told to its watchers and waiters."""

    def __init__(self, who: str) -> None:
        self.who = who
        self._watchers: list[Watcher] = []
        self._waiters: list[_Waiter] = []

    def watch(self, fn: Watcher) -> None:
        self._watchers.append(fn)

    def wait_for(self, kind: str, **match: Any) -> Deferred[dict[str, Any]]:
        waiter = _Waiter(kind, match, Deferred())
        self._waiters.append(waiter)
        return waiter.done

    def emit(self, kind: str, **details: Any) -> None:
        log.debug("%s: %s %s", self.who, kind, details)
        for fn in self._watchers:
            fn(kind, details)
        fired = [
            w
            for w in self._waiters
            if w.kind == kind and all(details.get(k) == v for k, v in w.match.items())
        ]
        for w in fired:
            self._waiters.remove(w)
            w.done.callback(details)

    def changed(self, change: StateChange | None) -> None:
        """Tell of a sent message's state that moved (if it did)."""
        if change is not None:
            self.emit("state", id=change.message_id, peer=change.peer, number=change.number,
                      old=change.old, state=change.new)  # fmt: skip

    def received(self, received: Received, via: str) -> bool:
        """Tell of a message received, unless it was stored already; whether it was new."""
        m = received.message
        if not received.duplicate:
            self.emit("received", id=m.id, peer=m.peer, text=m.text, number=m.number, via=via)
        return not received.duplicate


class PhoneContext:
    """One phone's identity, store, clock, settings and events, and its named
    timers (one of each name at a time, all cancelled when it stops)."""

    def __init__(
        self,
        msisdn: str,
        owner: str,
        store: HandsetStore,
        reactor: IReactorTime,
        settings: Settings,
    ) -> None:
        self.msisdn, self.owner = msisdn, owner
        self.store, self.repo = store, store.repo
        self.reactor = reactor
        self.settings = settings
        #: Entries of the message store the AT port shows (None: no limit).
        self.capacity: int | None = None
        self.events = Events(msisdn)
        self.running = False
        self._timers: dict[str, IDelayedCall] = {}

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.reactor.seconds(), UTC)

    def later(self, name: str, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` in ``delay`` seconds, unless a timer ``name`` is set already."""
        if not self.running:
            return
        old = self._timers.get(name)
        if old is not None and old.active():
            return

        def run() -> None:
            self._timers.pop(name, None)
            fn()

        self._timers[name] = self.reactor.callLater(delay, run)

    def stop_timers(self) -> None:
        self.running = False
        for call in self._timers.values():
            if call.active():
                call.cancel()
        self._timers.clear()

    def log(self, failure: Failure, what: str) -> None:
        log.error("%s: %s: %s", self.msisdn, what, failure.getErrorMessage())

    def bounded(self, d: Deferred[Any], what: str) -> Deferred[Any]:
        """``d``, failed with PhoneError if the IP server has not answered in
        ``REQUEST_TIMEOUT`` seconds."""

        def late(failure: Failure) -> Any:
            if not isinstance(failure.value, DeferredTimeout):
                return failure
            raise PhoneError(f"{what}: no answer from the IP server in {REQUEST_TIMEOUT:g} s")

        return d.addTimeout(REQUEST_TIMEOUT, self.reactor).addErrback(late)
