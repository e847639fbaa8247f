"""The handset's repository (``Repository``): plain synchronous SQL work, one
short transaction per method, returning the frozen views of ``handset.views``.
Each module holds one idea; ``Repository`` composes them."""

from __future__ import annotations

from .base import RepoBase, part_digest, received_uid
from .history import HistoryRepo
from .incoming import IncomingRepo
from .outgoing import OutgoingRepo
from .reading import ReadingRepo
from .settings import SettingsRepo

__all__ = ["RepoBase", "Repository", "part_digest", "received_uid"]


class Repository(SettingsRepo, OutgoingRepo, IncomingRepo, ReadingRepo, HistoryRepo):
    """One handset's rows in ``engine``: every method is one short transaction."""
