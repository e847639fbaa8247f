"""Lockout after failed logins: repeated failures lock an account (an SMPP
system_id, an IP device) and a source address for a time that doubles, so
that guessing a password online is slow whatever the number of connections
used (an SMPP password has 8 characters at most, SMPP 3.4 §5.2.2).

The rules, with times from the caller's clock (seconds):

* A login whose account or address is *locked* is refused without its
  credentials being checked.
* A failed check counts one failure against the address, and against the
  account when it names one (the caller decides: an SMPP bind to an unknown
  system_id does not, an IP login always does).  The first ``free`` failures
  of a key cost nothing (a typo); the n-th after them locks the key for
  ``base * 2 ** (n - 1)`` seconds, at most ``longest``.
* A refusal that locks, or that meets a lock, is answered after a delay: the
  time left on the lock, at most ``answer_delay``.
* A success clears the counts of its account and address, and makes the
  address *known* for that account (a familiar place, as "smart lockout"
  calls it).  A login from a known address is held neither by the account's
  lock nor by the address's, only by the lock of that pair, which only
  failures of that pair count: a stranger failing on purpose cannot lock a
  working client out, and an attacker sharing an address (127.0.0.1, a NAT)
  with working clients locks out no one but the account it guesses, from
  there.
* A key with no failure for ``forget`` seconds starts again from zero; at most
  ``max_keys`` are kept (the least recent go first), so made-up accounts cannot
  fill the memory.
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
class Lockout:
    free: int = 3
    base: float = 1.0
    longest: float = 300.0
    answer_delay: float = 5.0
    forget: float = 900.0
    known_per_account: int = 64
    max_keys: int = 100_000
    _counts: dict[tuple[str, str], _Count] = field(default_factory=dict)
    _known: dict[str, set[str]] = field(default_factory=dict)

    def _count(self, kind: str, key: str, now: float) -> _Count | None:
        count = self._counts.get((kind, key))
        if count is not None and now - count.last > self.forget:
            del self._counts[(kind, key)]
            return None
        return count

    def _counted(self, kind: str, key: str, now: float) -> _Count:
        count = self._count(kind, key, now)
        if count is None:
            if len(self._counts) >= self.max_keys:
                del self._counts[next(iter(self._counts))]
            count = _Count()
        else:
            del self._counts[(kind, key)]  # re-inserted: the most recent last
        self._counts[(kind, key)] = count
        return count

    def _held(self, kind: str, key: str, now: float) -> float:
        count = self._count(kind, key, now)
        return max(0.0, count.locked_until - now) if count else 0.0

    def check(self, account: str, address: str, now: float) -> Verdict:
        """Before the credentials are checked: is this login locked out?"""
        if address in self._known.get(account, ()):
            held = self._held("pair", f"{account}\n{address}", now)
        else:
            held = max(self._held("address", address, now), self._held("account", account, now))
        if held > 0:
            return Verdict(True, min(held, self.answer_delay))
        return Verdict(False, 0.0)

    def failed(self, account: str | None, address: str, now: float) -> float:
        """A failed check; the delay before its answer."""
        delay = self._fail("address", address, now)
        if account is not None:
            delay = max(delay, self._fail("account", account, now))
            if address in self._known.get(account, ()):
                delay = max(delay, self._fail("pair", f"{account}\n{address}", now))
        return delay

    def _fail(self, kind: str, key: str, now: float) -> float:
        count = self._counted(kind, key, now)
        count.failures += 1
        count.last = now
        if count.failures <= self.free:
            return 0.0
        lock: float = min(self.base * 2.0 ** (count.failures - self.free - 1), self.longest)
        count.locked_until = now + lock
        return min(lock, self.answer_delay)

    def succeeded(self, account: str, address: str) -> None:
        self._counts.pop(("address", address), None)
        self._counts.pop(("account", account), None)
        self._counts.pop(("pair", f"{account}\n{address}"), None)
        known = self._known.setdefault(account, set())
        if len(known) < self.known_per_account:
            known.add(address)

    def locked(self, now: float) -> int:
        """How many keys are locked now (a gauge)."""
        return sum(1 for c in self._counts.values() if c.locked_until > now)
