"""What the SMSC tells those who watch it: counters for /metrics, and state
changes for the demo, tests and logs."""

from __future__ import annotations

from dataclasses import dataclass, field

from txkit.watchers import Watcher, Watchers

__all__ = ["Metrics", "Watcher", "Watchers"]


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
    attaches: int = 0
    #: Refused attaches by reason: ``radiolink.frames.RejectCause`` in lower case.
    attach_refused: dict[str, int] = field(
        default_factory=lambda: {"not_provisioned": 0, "authentication_failed": 0}
    )

    def count_end(self, state: str) -> None:
        """One more message ended in ``state`` (each final state has its counter)."""
        setattr(self, state, getattr(self, state) + 1)
