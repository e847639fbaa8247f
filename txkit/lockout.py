"""Bind lockout: repeated failed binds lock a system_id and a source address for
a time that doubles, so that guessing an SMPP password (8 characters at most,
SMPP 3.4 §5.2.2) online is slow whatever the number of connections used.

The rules, with times from the caller's clock (seconds):

* A bind whose system_id or address is *locked* is refused (ESME_RBINDFAIL)
  without its password being checked.
* A failed check (unknown system_id, wrong password or system_type, an address
  the account does not allow) counts one failure against the address, and
  against the system_id when it names an account.  The first ``free`` failures
  of a key cost nothing (a typo); the n-th after them locks the key for
  ``base * 2 ** (n - 1)`` seconds, at most ``longest``.
* A refusal that locks, or that meets a lock, is answered after a delay: the
  time left on the lock, at most ``answer_delay``.
* A successful bind clears the counts of its system_id and address, and makes
  the address *known* for that system_id: a known address is not held by the
  system_id's lock, only by its own, so a stranger failing on purpose cannot
  lock a working ESME out.
* A key with no failure for ``forget`` seconds starts again from zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class _Count:
    failures: int = 0
    last: float = 0.0
    locked_until: float = 0.0


@dataclass(frozen=True, slots=True)
class Verdict:
    locked: bool  # refuse without checking
    delay: float  # seconds to wait before answering


@dataclass
class BindLockout:
    free: int = 3
    base: float = 1.0
    longest: float = 300.0
    answer_delay: float = 5.0
    forget: float = 900.0
    known_per_account: int = 64
    _counts: dict[tuple[str, str], _Count] = field(default_factory=dict)
    _known: dict[str, set[str]] = field(default_factory=dict)

    def _count(self, kind: str, key: str, now: float) -> _Count | None:
        count = self._counts.get((kind, key))
        if count is not None and now - count.last > self.forget:
            del self._counts[(kind, key)]
            return None
        return count

    def _held(self, kind: str, key: str, now: float) -> float:
        count = self._count(kind, key, now)
        return max(0.0, count.locked_until - now) if count else 0.0

    def check(self, system_id: str, address: str, now: float) -> Verdict:
        """Before the password is checked: is this bind locked out?"""
        held = self._held("address", address, now)
        if address not in self._known.get(system_id, ()):
            held = max(held, self._held("system_id", system_id, now))
        if held > 0:
            return Verdict(True, min(held, self.answer_delay))
        return Verdict(False, 0.0)

    def failed(self, system_id: str | None, address: str, now: float) -> float:
        """A failed check; the delay before its answer."""
        delay = self._fail("address", address, now)
        if system_id is not None:
            delay = max(delay, self._fail("system_id", system_id, now))
        return delay

    def _fail(self, kind: str, key: str, now: float) -> float:
        count = self._count(kind, key, now) or self._counts.setdefault((kind, key), _Count())
        count.failures += 1
        count.last = now
        if count.failures <= self.free:
            return 0.0
        lock: float = min(self.base * 2.0 ** (count.failures - self.free - 1), self.longest)
        count.locked_until = now + lock
        return min(lock, self.answer_delay)

    def succeeded(self, system_id: str, address: str) -> None:
        self._counts.pop(("address", address), None)
        self._counts.pop(("system_id", system_id), None)
        known = self._known.setdefault(system_id, set())
        if len(known) < self.known_per_account:
            known.add(address)

    def locked(self, now: float) -> int:
        """How many keys are locked now (a gauge)."""
        return sum(1 for c in self._counts.values() if c.locked_until > now)
