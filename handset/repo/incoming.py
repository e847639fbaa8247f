"""Received messages: the parts of incomplete ones, the parts consumed (to
know a resend), and whole messages stored once."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from pdu.message_number import Carrier

from ..models import ConsumedPart, Direction, Fragment, Message, Via
from ..views import FragmentKey, HeldFragment, Received, check_uid
from .base import _aware, _naive, _of_key, _view, part_digest, received_uid
from .sms_store import REC_UNREAD, SmsStoreRepo


class IncomingRepo(SmsStoreRepo):
    """Messages the handset receives, by SMS or over the IP path."""

    def save_fragment(
        self,
        key: FragmentKey,
        seq: int,
        tpdu: bytes,
        now: datetime,
        entry: bytes | None = None,
        capacity: int | None = None,
    ) -> int | None:
        """Keep one part of a message still incomplete (a repeat is ignored).
        ``entry`` (the SMSC address field and the SMS-DELIVER as received)
        goes into the message store: its <index> is returned; StoreFull when
        the store has no room for it."""
        with self._session() as s, s.begin():
            exists = s.scalars(
                select(Fragment.id).where(
                    Fragment.owner == self.owner, *_of_key(Fragment, key), Fragment.seq == seq
                )
            ).first()
            if exists is not None:
                return None
            slot = None
            if entry is not None:
                slot = self._add_entry(s, REC_UNREAD, entry, now, capacity, key=key)
            s.add(
                Fragment(
                    owner=self.owner,
                    sender=key.sender,
                    ref_bits=key.ref_bits,
                    ref=key.ref,
                    total=key.total,
                    seq=seq,
                    tpdu=tpdu,
                    received_at=_naive(now),
                )
            )
            return slot

    def fragments(self) -> list[HeldFragment]:
        """Every part kept of the messages still incomplete, oldest first."""
        with self._session() as s:
            rows = s.scalars(
                select(Fragment).where(Fragment.owner == self.owner).order_by(Fragment.id)
            )
            return [
                HeldFragment(
                    FragmentKey(r.sender, r.ref_bits, r.ref, r.total),
                    r.seq,
                    r.tpdu,
                    _aware(r.received_at),
                )
                for r in rows
            ]

    def expire_fragments(self, before: datetime) -> list[FragmentKey]:
        """Give up on the incomplete messages whose first part came before
        ``before``: their parts are dropped, and their keys returned."""
        with self._session() as s, s.begin():
            rows = s.execute(
                select(Fragment.sender, Fragment.ref_bits, Fragment.ref, Fragment.total)
                .where(Fragment.owner == self.owner)
                .group_by(Fragment.sender, Fragment.ref_bits, Fragment.ref, Fragment.total)
                .having(func.min(Fragment.received_at) < _naive(before))
            ).all()
            keys = [FragmentKey(r.sender, r.ref_bits, r.ref, r.total) for r in rows]
            for key in keys:
                s.execute(
                    delete(Fragment).where(Fragment.owner == self.owner, *_of_key(Fragment, key))
                )
            return keys

    def part_consumed(self, key: FragmentKey, seq: int, tpdu: bytes) -> bool:
        """Whether this very part went into a message stored already (the
        SMSC delivers it again when it did not see the RP-ACK)."""
        with self._session() as s:
            found = s.scalars(
                select(ConsumedPart.id).where(
                    ConsumedPart.owner == self.owner,
                    ConsumedPart.digest == part_digest(tpdu),
                    *_of_key(ConsumedPart, key),
                    ConsumedPart.seq == seq,
                )
            ).first()
            return found is not None

    def prune_consumed(self, before: datetime) -> int:
        """Forget the parts consumed before ``before``; how many went."""
        with self._session() as s, s.begin():
            gone = s.execute(
                delete(ConsumedPart).where(
                    ConsumedPart.owner == self.owner, ConsumedPart.consumed_at < _naive(before)
                )
            )
            return int(getattr(gone, "rowcount", 0) or 0)

    def store_incoming(
        self,
        peer: str,
        text: str,
        number: int | None,
        carrier: Carrier | None,
        tp_scts: datetime,
        parts: int,
        fragments: FragmentKey | None,
        now: datetime,
        last: tuple[int, bytes] | None = None,
        *,
        uid: str | None = None,
        via: str = Via.SMS,
        entry: bytes | None = None,
        capacity: int | None = None,
        unstripped: str | None = None,
    ) -> Received:
        """Store a whole received message, unread.

        ``unstripped``: the text as it came when ``number`` was read from an
        inline marker at its end.  Any text may end in ``□NNN``, so the marker
        is taken for a number only from a sender that numbers: one whose
        earlier messages here carried a number, or for number 0 (where every
        conversation starts).  Otherwise the text is kept whole, unnumbered,
        and nothing will answer it (docs/read-receipts.md §Carriers).

        A concatenated message's kept parts (``fragments``) and the one that
        completed it (``last``: its part number and SMS-DELIVER) are recorded
        as consumed, so that a resend of any of them is recognised
        (``part_consumed``).  The same message again (same peer, SMSC time
        stamp, text and number, or no number: the SMSC resends what it did not
        see acknowledged) is not stored twice.  Two messages from a phone that
        numbers nothing, with the same text in the same second, are taken for
        one: TP-SCTS has no finer grain.  Its ``uid``, unless given, is derived
        from the same (``received_uid``); a message of that uid (one imported
        from another device) is the same message too.

        ``entry`` (the SMSC address field and the SMS-DELIVER that completed
        it, as received) goes into the message store, linked to the message
        with the entries of its other parts; StoreFull (nothing stored) when
        the store has no room for it.
        """
        how = Via(via)
        scts = _naive(tp_scts)
        with self._session() as s, s.begin():
            if unstripped is not None and number != 0 and not self._numbers(s, peer):
                text, number, carrier = unstripped, None, None
            if uid is None:
                uid = received_uid(self.owner, peer, scts, number, text)
            check_uid(uid)
            consumed: dict[int, bytes] = {}
            if fragments is not None:
                where = (Fragment.owner == self.owner, *_of_key(Fragment, fragments))
                for seq, tpdu in s.execute(select(Fragment.seq, Fragment.tpdu).where(*where)):
                    consumed.setdefault(seq, tpdu)
                s.execute(delete(Fragment).where(*where))
                if last is not None:
                    consumed.setdefault(*last)
            message = s.scalars(
                select(Message).where(
                    Message.owner == self.owner,
                    or_(
                        Message.uid == uid,
                        # Stored before uids were derived (revision 0003).
                        (Message.peer == peer)
                        & (Message.direction == Direction.IN.value)
                        & (Message.tp_scts == scts)
                        & Message.message_number.is_not_distinct_from(number)
                        & (Message.text == text),
                    ),
                )
            ).first()
            duplicate = message is not None
            if message is None:
                message = Message(
                    owner=self.owner,
                    peer=peer,
                    direction=Direction.IN.value,
                    text=text,
                    message_number=number,
                    carrier=carrier.value if carrier is not None else None,
                    state=None,
                    read=False,
                    response_pending=False,
                    part_count=parts,
                    concat_ref=fragments.ref if fragments is not None else None,
                    created_at=_naive(now),
                    tp_scts=scts,
                    read_at=None,
                    uid=uid,
                    via=how.value,
                    history_pending=True,
                )
                s.add(message)
                s.flush()
            slot = None
            if entry is not None and not duplicate:
                slot = self._add_entry(s, REC_UNREAD, entry, now, capacity,
                                       message_id=message.id, key=fragments)  # fmt: skip
                if fragments is not None:
                    self._link_parts(s, fragments, message.id)
            if fragments is not None:
                s.add_all(self._consumed(fragments, consumed.items(), message.id, now))
            return Received(_view(message), duplicate=duplicate, slot=slot)

    def _numbers(self, s: Session, peer: str) -> bool:
        """Whether ``peer`` numbered a message it sent here before."""
        numbered = s.scalar(
            select(Message.id)
            .where(
                Message.owner == self.owner,
                Message.peer == peer,
                Message.direction == Direction.IN.value,
                Message.message_number.is_not(None),
            )
            .limit(1)
        )
        return numbered is not None

    def store_ip_incoming(
        self, peer: str, uid: str, text: str, number: int | None, sent_at: datetime, now: datetime
    ) -> Received:
        """Store, unread, a message that came over the IP path (docs/read-receipts.md §Routing),
        under the sender's ``uid`` and time: a redelivery of that uid is not
        stored twice."""
        check_uid(uid)
        with self._session() as s, s.begin():
            message = s.scalars(
                select(Message).where(Message.owner == self.owner, Message.uid == uid)
            ).one_or_none()
            if message is not None:
                return Received(_view(message), duplicate=True)
            message = Message(
                owner=self.owner,
                peer=peer,
                direction=Direction.IN.value,
                text=text,
                message_number=number,
                carrier=None,
                state=None,
                read=False,
                response_pending=False,
                part_count=1,
                concat_ref=None,
                created_at=_naive(sent_at),
                tp_scts=None,
                read_at=None,
                uid=uid,
                via=Via.IP.value,
                history_pending=True,
            )
            s.add(message)
            s.flush()
            return Received(_view(message), duplicate=False)

    def _consumed(
        self, key: FragmentKey, parts: Iterable[tuple[int, bytes]], message_id: int, now: datetime
    ) -> list[ConsumedPart]:
        return [
            ConsumedPart(
                owner=self.owner,
                sender=key.sender,
                ref_bits=key.ref_bits,
                ref=key.ref,
                total=key.total,
                seq=seq,
                digest=part_digest(tpdu),
                message_id=message_id,
                consumed_at=_naive(now),
            )
            for seq, tpdu in parts
        ]
