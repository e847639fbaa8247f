"""Per-device token buckets.  Time is passed in: nothing here reads a clock, so
tests drive it with plain numbers and the server with ``reactor.seconds()``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    """``burst`` requests at once, then ``rate`` per second on average."""

    rate: float
    burst: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """Spend a token: 0.0 if there was one, else the seconds until there is."""
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    """One token bucket per key (a device id), shared by all of its connections."""

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str, now: float) -> float:
        """0.0 if ``key`` may go ahead now, else how many seconds it must wait."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self.burst, now)
        return bucket.take(now)
