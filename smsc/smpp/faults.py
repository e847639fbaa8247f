"""Faults a tester scripts against the SMPP door, and the per-ESME rate limit.

A ``FaultRule`` matches requests by ESME (system_id), command, destination
(a prefix, ``*`` at the end optional), content (a regular expression on the
decoded text) and sequence (every Nth match), and with a probability drawn
from a seeded random source, so that a scripted run repeats exactly.  What a
matching rule does:

* ``status``: answer with ``command_status`` (nothing is accepted);
* ``throttle``: answer ESME_RTHROTTLED;
* ``delay``: accept, but send the response ``delay`` seconds late;
* ``drop``: accept, and never send the response;
* ``unbind``: answer, then send ``unbind`` to the ESME;
* ``reset``: close the connection without answering;
* ``fail_delivery``: accept, then end the message with ``message_state``
  and ``error`` instead of delivering it (its receipt says so).

Plain objects, no clock of their own: time and text are passed in.
"""

from __future__ import annotations

import random
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

ACTIONS = ("status", "throttle", "delay", "drop", "unbind", "reset", "fail_delivery")
#: The requests a rule can match ("*": either).
COMMANDS = ("submit_sm", "data_sm", "*")
#: The message_states a failed delivery may end in (SMPP 3.4 §5.2.28).
FAILED_STATES = (3, 4, 5, 8)


@dataclass
class FaultRule:
    action: str
    esme: str | None = None
    command: str = "submit_sm"  # or "data_sm", or "*" for either
    destination: str | None = None  # a number prefix; "*" at its end is allowed
    content: str | None = None  # a regular expression searched in the text
    every: int = 1  # act on every Nth request the rule matches
    probability: float = 1.0
    command_status: int = 0x08  # ESME_RSYSERR
    delay: float = 0.0
    message_state: int = 5  # UNDELIVERABLE
    error: int = 0
    name: str = ""
    #: A rule switched off (admin API ``POST /faults/N``) matches nothing.
    enabled: bool = True
    matched: int = field(default=0, init=False)
    _content: re.Pattern[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"fault action {self.action!r}: use one of {', '.join(ACTIONS)}")
        if self.every < 1 or not 0.0 <= self.probability <= 1.0 or self.delay < 0:
            raise ValueError("every >= 1, probability 0..1, delay >= 0")
        if self.action == "status" and not 0 < self.command_status <= 0xFFFFFFFF:
            raise ValueError("a status fault needs a non-zero command_status")
        if self.command not in COMMANDS:
            raise ValueError(f"faults apply to {', '.join(COMMANDS)}, not {self.command!r}")
        if self.message_state not in FAILED_STATES:
            raise ValueError(
                f"message_state {self.message_state}: use 3 (expired), 4 (deleted), "
                "5 (undeliverable) or 8 (rejected)"
            )
        if not 0 <= self.error <= 999:
            raise ValueError("error is 0 to 999")
        try:
            self._content = re.compile(self.content) if self.content is not None else None
        except re.error as exc:
            raise ValueError(f"content {self.content!r}: {exc}") from None

    def matches(self, esme: str, command: str, destination: str, text: str) -> bool:
        if not self.enabled:
            return False
        if self.esme is not None and self.esme != esme:
            return False
        if self.command not in ("*", command):
            return False
        if self.destination is not None and not destination.startswith(
            self.destination.rstrip("*")
        ):
            return False
        return self._content is None or self._content.search(text) is not None


class FaultInjector:
    """The rules of a config, tried in order: the first that matches and
    fires decides."""

    def __init__(self, rules: Iterable[FaultRule] = (), seed: int | None = None) -> None:
        self.rules = list(rules)
        self.random = random.Random(seed)

    def decide(self, esme: str, command: str, destination: str, text: str) -> FaultRule | None:
        for rule in self.rules:
            if not rule.matches(esme, command, destination, text):
                continue
            rule.matched += 1
            if rule.matched % rule.every:
                continue
            if rule.probability < 1.0 and self.random.random() >= rule.probability:
                continue
            return rule
        return None


class RateLimit:
    """At most ``rate`` requests in any one-second window (0: no limit)."""

    def __init__(self, rate: float) -> None:
        if rate < 0:
            raise ValueError("a rate is not negative")
        self.rate = rate
        self._times: deque[float] = deque()

    def allow(self, now: float) -> bool:
        if not self.rate:
            return True
        times = self._times
        while times and times[0] <= now - 1.0:
            times.popleft()
        if len(times) >= self.rate:
            return False
        times.append(now)
        return True
