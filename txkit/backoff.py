"""The one back-off of the product: reconnects, resubmissions and the SMSC's
delivery retries all wait ``initial``, then twice as long after each failure,
up to ``maximum``.

It is Twisted's own ``backoffPolicy`` (what ``ClientService`` takes as its
``retryPolicy``) with a factor of 2 and no jitter, so that a test on
``task.Clock`` knows exactly when the next attempt comes.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.application.internet import backoffPolicy


def backoff_policy(initial: float, maximum: float) -> Callable[[int], float]:
    """Seconds to wait after ``n`` failures in a row (n >= 1): ``initial``
    after the first.  ``ClientService`` counts its ``retryPolicy`` argument
    the same way."""
    policy = backoffPolicy(initialDelay=initial, maxDelay=maximum, factor=2.0, jitter=lambda: 0.0)
    return lambda failures: policy(max(0, failures - 1))


class Backoff:
    """``backoff_policy`` with its failure count: ``next()`` after a failure,
    ``reset()`` after a success."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0) -> None:
        self.policy = backoff_policy(initial, maximum)
        self.failures = 0

    def next(self) -> float:
        self.failures += 1
        return self.policy(self.failures)

    def reset(self) -> None:
        self.failures = 0
