"""Sent messages: numbering, their parts, and the states they move through
(docs/read-receipts.md §Numbering, §Conversations), by SMS or over the IP path."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from pdu.message_number import Carrier, next_number

from ..conversation import OutState, advance, combine
from ..models import Direction, Message, Part, Profile, Via
from ..views import Build, Outgoing, PendingPart, StateChange, check_uid
from .base import _MESSAGES, RepoBase, _naive, _view

#: How many wraps back a feedback's ``sent_at`` may reach (256 messages each).
WRAPS_SEARCHED = 64

# A feedback is the read receipts' hot path on the sender: Core statements
# built once, no ORM unit of work.
_M = _MESSAGES
_FEEDBACK_CANDIDATES = (
    select(_M.c.id, _M.c.peer, _M.c.state, _M.c.tp_scts, _M.c.created_at)
    .where(
        _M.c.owner == bindparam("b_owner"),
        _M.c.peer == bindparam("b_peer"),
        _M.c.direction == Direction.OUT.value,
        _M.c.message_number == bindparam("b_number"),
    )
    .order_by(_M.c.id.desc())
    .limit(bindparam("b_limit"))
    .with_for_update()
)
_READ = (
    update(_M)
    .where(_M.c.id == bindparam("b_id"))
    .values(state=bindparam("b_state"), read_at=bindparam("b_at"))
)


class OutgoingRepo(RepoBase):
    """Messages the handset sends, and their parts."""

    def create_outgoing(
        self,
        peer: str,
        text: str,
        carrier: Carrier,
        now: datetime,
        build: Build,
        *,
        via: str = Via.SMS,
        uid: str | None = None,
    ) -> Outgoing:
        """Number a new message, make its parts and store it, all in one
        transaction: the counters move only with a stored message.

        A message via the IP path gets its number but no parts (``build`` only
        counts them): they are made if it falls back to SMS (``ip_fallback``),
        with the concatenation reference and TP-MRs of that moment."""
        how = Via(via)
        uid = check_uid(uid) if uid is not None else secrets.token_hex(16)
        with self._session() as s, s.begin():
            profile = self._profile(s)
            conversation = self._conversation(s, peer)
            number: int | None = None
            if carrier is not Carrier.NONE:  # a legacy phone numbers nothing
                number = conversation.next_number
                conversation.next_number = next_number(number)
            ref = profile.next_ref
            parts = build(number, ref, profile.next_tp_mr)
            if how is Via.SMS:
                self._advance_counters(profile, parts)
            message = Message(
                owner=self.owner,
                peer=peer,
                direction=Direction.OUT.value,
                text=text,
                message_number=number,
                carrier=carrier.value,
                state=OutState.SENDING.value,
                read=False,
                response_pending=False,
                part_count=len(parts),
                concat_ref=ref if how is Via.SMS and len(parts) > 1 else None,
                created_at=_naive(now),
                tp_scts=None,
                read_at=None,
                uid=uid,
                via=how.value,
                history_pending=True,
            )
            s.add(message)
            s.flush()
            pending = self._add_parts(s, message.id, parts) if how is Via.SMS else []
            return Outgoing(_view(message), pending)

    @staticmethod
    def _advance_counters(profile: Profile, parts: list[tuple[int, bytes]]) -> None:
        profile.next_ref = (profile.next_ref + 1) % 256
        profile.next_tp_mr = (parts[-1][0] + 1) % 256

    @staticmethod
    def _add_parts(
        s: Session, message_id: int, parts: list[tuple[int, bytes]]
    ) -> list[PendingPart]:
        rows = [
            Part(
                message_id=message_id,
                seq=seq,
                tp_mr=mr,
                tpdu=tpdu,
                state=OutState.SENDING.value,
                rp_cause=None,
                tp_st=None,
            )
            for seq, (mr, tpdu) in enumerate(parts, 1)
        ]
        s.add_all(rows)
        s.flush()
        return [PendingPart(p.id, message_id, p.tpdu) for p in rows]

    def _ip_message(self, s: Session, message_id: int) -> Message | None:
        """The sent message ``message_id``, locked, if it is via the IP path."""
        return s.scalars(
            select(Message)
            .where(
                Message.owner == self.owner,
                Message.id == message_id,
                Message.direction == Direction.OUT.value,
                Message.via == Via.IP.value,
            )
            .with_for_update()
        ).one_or_none()

    def ip_fallback(self, message_id: int, build: Build) -> Outgoing:
        """The IP server would not take a message: it goes by SMS, its parts
        made now, under the number it has.  One that went already (by SMS, or
        the IP server took it) is returned without parts, unchanged."""
        with self._session() as s, s.begin():
            profile = self._profile(s)  # locked before the message, as save_settings does
            message = self._ip_message(s, message_id)
            if message is None or message.state != OutState.SENDING.value:
                return Outgoing(_view(message or self._get(s, message_id)), [])
            assert message.message_number is not None
            ref = profile.next_ref
            parts = build(message.message_number, ref, profile.next_tp_mr)
            self._advance_counters(profile, parts)
            message.via = Via.SMS.value
            message.part_count = len(parts)
            message.concat_ref = ref if len(parts) > 1 else None
            return Outgoing(_view(message), self._add_parts(s, message.id, parts))

    def ip_accepted(self, message_id: int) -> StateChange | None:
        """The IP server committed a message sent over the IP path: it is sent."""
        with self._session() as s, s.begin():
            message = self._ip_message(s, message_id)
            if message is None:
                return None
            old = OutState(message.state or OutState.SENDING)
            new = advance(old, OutState.SENT)
            if new is old:
                return None
            message.state = new.value
            return StateChange(message.id, message.peer, message.message_number, old, new)

    def ip_pending(self) -> list[int]:
        """Messages over the IP path the IP server has not committed yet, oldest
        first: offered again once the link is back."""
        with self._session() as s:
            return list(
                s.scalars(
                    select(Message.id)
                    .where(
                        Message.owner == self.owner,
                        Message.direction == Direction.OUT.value,
                        Message.via == Via.IP.value,
                        Message.state == OutState.SENDING.value,
                    )
                    .order_by(Message.id)
                )
            )

    def pending_parts(self) -> list[PendingPart]:
        """Parts the SMSC has not accepted yet, of messages that have not ended,
        in the order they were sent."""
        with self._session() as s:
            rows = s.execute(
                select(Part.id, Part.message_id, Part.tpdu)
                .join(Message, Message.id == Part.message_id)
                .where(
                    Message.owner == self.owner,
                    Message.state == OutState.SENDING.value,
                    Part.state == OutState.SENDING.value,
                )
                .order_by(Part.id)
            ).all()
            return [PendingPart(r.id, r.message_id, r.tpdu) for r in rows]

    def _settle(self, s: Session, message: Message) -> StateChange | None:
        """Move ``message`` forward to what its parts say."""
        parts = s.scalars(select(Part.state).where(Part.message_id == message.id)).all()
        old = OutState(message.state or OutState.SENDING)
        new = advance(old, combine(OutState(p) for p in parts))
        if new is old:
            return None
        message.state = new.value
        return StateChange(message.id, message.peer, message.message_number, old, new)

    def _update_part(
        self,
        part_id: int,
        state: OutState | None,
        tp_scts: datetime | None = None,
        **values: int | None,
    ) -> StateChange | None:
        with self._session() as s, s.begin():
            part = s.get(Part, part_id)
            if part is None:
                return None
            if state is not None:
                part.state = advance(OutState(part.state), state).value
            for name, value in values.items():
                setattr(part, name, value)
            message = s.get(Message, part.message_id)
            assert message is not None
            if tp_scts is not None and message.tp_scts is None:
                message.tp_scts = _naive(tp_scts)
            return self._settle(s, message)

    def part_accepted(self, part_id: int, tp_scts: datetime | None = None) -> StateChange | None:
        """The SMSC acknowledged the part (RP-ACK), with the TP-SCTS of its
        SMS-SUBMIT-REPORT if it sent one: the first one a message gets is
        its time stamp at the SMSC, which its receiver sees too."""
        return self._update_part(part_id, OutState.SENT, tp_scts=tp_scts)

    def part_refused(self, part_id: int, rp_cause: int) -> StateChange | None:
        """The SMSC refused the part for good (RP-ERROR, a permanent cause)."""
        return self._update_part(part_id, OutState.FAILED, rp_cause=rp_cause)

    def apply_report(
        self, peer: str, tp_mr: int, tp_st: int, state: OutState | None
    ) -> StateChange | None:
        """An SMS-STATUS-REPORT: the newest part sent to ``peer`` with that TP-MR
        takes ``state`` (None: the SMSC is still trying, only TP-ST is kept)."""
        with self._session() as s, s.begin():
            part = s.scalars(
                select(Part)
                .join(Message, Message.id == Part.message_id)
                .where(
                    Message.owner == self.owner,
                    Message.peer == peer,
                    Message.direction == Direction.OUT.value,
                    Part.tp_mr == tp_mr,
                )
                .order_by(Part.id.desc())
                .limit(1)
            ).one_or_none()
            if part is None:
                return None
            part.tp_st = tp_st
            if state is not None:
                part.state = advance(OutState(part.state), state).value
            message = s.get(Message, part.message_id)
            assert message is not None
            return self._settle(s, message)

    def apply_feedback(
        self,
        receiver: str,
        number: int,
        status: int,
        now: datetime,
        sent_at: datetime | None = None,
    ) -> StateChange | None:
        """A feedback from the IP server (docs/read-receipts.md §Feedback):
        status 1 marks a message numbered ``number`` sent to ``receiver``
        read.  Which one: with ``sent_at`` (when the receiver saw it sent),
        the one whose time stamp is nearest, so that after a wrap the old #0
        is not taken for the new; without (an older receiver), the most
        recent.  Status 0, a number never used, a repeat: nothing changes."""
        if status != 1:
            return None
        with self._tx() as conn:
            candidates = conn.execute(
                _FEEDBACK_CANDIDATES,
                {"b_owner": self.owner, "b_peer": receiver, "b_number": number,
                 "b_limit": 1 if sent_at is None else WRAPS_SEARCHED},
            ).all()  # fmt: skip
            if not candidates:
                return None
            message = candidates[0]
            if sent_at is not None:
                when = _naive(sent_at)
                message = min(candidates, key=lambda m: abs((m.tp_scts or m.created_at) - when))
            old = OutState(message.state or OutState.SENDING)
            new = advance(old, OutState.READ)
            if new is old:
                return None
            conn.execute(_READ, {"b_id": message.id, "b_state": new.value, "b_at": _naive(now)})
            return StateChange(message.id, message.peer, number, old, new)
