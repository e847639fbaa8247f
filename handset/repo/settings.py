"""The user's settings, stored with the handset's counters
(docs/read-receipts.md §Carriers, §Routing, §Responses)."""

from __future__ import annotations

from sqlalchemy import select, update

from ..models import Conversation, Message
from ..views import Settings
from .base import RepoBase


class SettingsRepo(RepoBase):
    """What the user chose, and the number the next message to a peer takes."""

    def load_settings(self, defaults: Settings | None = None) -> Settings:
        """The stored settings; ``defaults`` (stored) when there are none yet."""
        with self._session() as s, s.begin():
            return self._settings(self._profile(s, defaults))

    def save_settings(self, settings: Settings) -> Settings:
        """Store the user's choice.  Turning receipts off also drops the
        responses not yet sent: from then on nothing goes out."""
        with self._session() as s, s.begin():
            row = self._profile(s, settings)
            row.carrier, row.receipts = settings.carrier.value, settings.receipts
            row.iei, row.marker = settings.iei, settings.marker
            row.ip_path, row.read_on_view = settings.ip_path.value, settings.read_on_view
            if not settings.receipts:
                s.execute(
                    update(Message)
                    .where(Message.owner == self.owner, Message.response_pending)
                    .values(response_pending=False)
                )
            return self._settings(row)

    def next_number(self, peer: str) -> int:
        """The number the next message to ``peer`` will carry."""
        with self._session() as s:
            found = s.scalars(
                select(Conversation.next_number).where(
                    Conversation.owner == self.owner, Conversation.peer == peer
                )
            ).one_or_none()
            return found or 0
