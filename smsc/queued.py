"""A message the SMSC holds for its recipient: the in-memory twin of a row of
the ``message`` table, which every part of the core passes around."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .models import MessageKind


@dataclass(slots=True, eq=False)
class Queued:
    """A message waiting for its recipient (the in-memory twin of a row).
    Slots: one object the garbage collector tracks per queued message, not
    two; equal only to itself (a queue removes it by identity)."""

    id: int
    kind: MessageKind
    originator: str
    recipient: str
    tp_mr: int | None
    tp_srr: bool
    tpdu: bytes
    submitted_at: datetime  # aware
    expires_at: datetime  # aware
    attempts: int = 0
    reported_delay: bool = False  # a temporary-error report went out already
    #: The ESME it came from (an SMS) or goes to (an ``esme`` message).
    esme: str | None = None
