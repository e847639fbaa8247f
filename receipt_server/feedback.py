"""The feedback outbox (docs/read-receipts.md §Feedback): a feedback is committed before the
responder gets ``ok`` and stays pending until the sender's device
acknowledges it, so nothing is lost across restarts of either side."""

from __future__ import annotations

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred

from ipwire import wire

from .jobs import Part, ack_pending
from .models import Base, Feedback

# The receipts' hot path (a feedback added, then acknowledged): Core statements
# built once, on the session's connection: no ORM execution, no statement
# built and keyed per call.
_F = Base.metadata.tables[Feedback.__tablename__]
_ADD = insert(_F)
_ACK = ack_pending(_F, "to_msisdn")


class Outbox(Part):
    """Pending feedback per sender's MSISDN, oldest first."""

    def add_feedback(
        self,
        to_msisdn: str,
        receiver: str,
        message_number: int,
        status: int,
        sent_at: int | None = None,
    ) -> Deferred[int]:
        """Commit a pending feedback for ``to_msisdn``; fires with its id."""

        def work(s: Session) -> int:
            row = {"to_msisdn": to_msisdn, "receiver": receiver, "status": status,
                   "message_number": message_number, "sent_at": sent_at,
                   "created_at": self.now(), "acked_at": None}  # fmt: skip
            added = s.connection().execute(_ADD, row).inserted_primary_key
            assert added is not None
            return int(added[0])

        return self._submit(work)

    def pending_for(self, msisdn: str) -> Deferred[list[wire.Feedback]]:
        """The feedback for ``msisdn`` not yet acknowledged, oldest first."""

        def work(s: Session) -> list[wire.Feedback]:
            rows = s.scalars(
                select(Feedback)
                .where(Feedback.to_msisdn == msisdn, Feedback.acked_at.is_(None))
                .order_by(Feedback.id)
            )
            return [
                wire.Feedback(r.id, r.receiver, r.message_number, r.status, r.sent_at) for r in rows
            ]

        return self._submit(work)

    def pending_count(self) -> Deferred[int]:
        """How many feedbacks wait for their acknowledgement, all senders
        together (the partial index of pending rows answers it)."""

        def work(s: Session) -> int:
            query = select(func.count()).select_from(Feedback).where(Feedback.acked_at.is_(None))
            return int(s.scalar(query) or 0)

        return self._submit(work)

    def ack(self, msisdn: str, feedback_id: int) -> Deferred[bool]:
        """Mark a feedback of ``msisdn`` delivered; False if it is not one of its
        pending ones (another's, unknown, or acknowledged already)."""

        def work(s: Session) -> bool:
            result = s.connection().execute(
                _ACK, {"b_id": feedback_id, "b_owner": msisdn, "b_at": self.now()}
            )
            return bool(result.rowcount)

        # Lazy: an acknowledgement lost with its commit only means the feedback
        # is sent again, which the device applies idempotently; riding along in
        # the next response's transaction halves the commits per receipt.
        return self._submit(work, lazy=True)
