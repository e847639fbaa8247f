"""Received messages: the parts of incomplete ones, the parts consumed (to
know a resend), and whole messages stored once."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select

from pdu.message_number import Carrier

from ..models import ConsumedPart, Direction, Fragment, Via
from ..views import FragmentKey, HeldFragment, Received, check_uid
from .base import _MESSAGES, _aware, _naive, _of_key, _view, part_digest, received_uid
from .sms_store import REC_UNREAD, SmsStoreRepo

_M = _MESSAGES
_BY_ID = select(_M).where(_M.c.id == bindparam("b_id"))
_BY_UID = select(_M).where(_M.c.owner == bindparam("b_owner"), _M.c.uid == bindparam("b_uid"))
_ADD_MESSAGE = insert(_M)
#: The same message stored already: by its uid, or as stored before uids
#: were derived (revision 0003).
_SAME_MESSAGE = (
    select(_M)
    .where(
        _M.c.owner == bindparam("b_owner"),
        or_(
            _M.c.uid == bindparam("b_uid"),
            (_M.c.peer == bindparam("b_peer"))
            & (_M.c.direction == Direction.IN.value)
            & (_M.c.tp_scts == bindparam("b_scts"))
            & _M.c.message_number.is_not_distinct_from(bindparam("b_number"))
            & (_M.c.text == bindparam("b_text")),
        ),
    )
    .limit(1)
)
_NUMBERED = (
    select(_M.c.id)
    .where(
        _M.c.owner == bindparam("b_owner"),
        _M.c.peer == bindparam("b_peer"),
        _M.c.direction == Direction.IN.value,
        _M.c.message_number.is_not(None),
    )
    .limit(1)
)


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
            conn = s.connection()  # Core statements: the receipts' hot path
            if unstripped is not None and number != 0 and not self._numbers(conn, peer):
                text, number, carrier = unstripped, None, None
            if uid is None:
                uid = received_uid(self.owner, peer, scts, number, text)
            check_uid(uid)
            consumed: dict[int, bytes] = {}
            if fragments is not None:
                where = (Fragment.owner == self.owner, *_of_key(Fragment, fragments))
                for seq, tpdu in conn.execute(select(Fragment.seq, Fragment.tpdu).where(*where)):
                    consumed.setdefault(seq, tpdu)
                conn.execute(delete(Fragment).where(*where))
                if last is not None:
                    consumed.setdefault(*last)
            row = conn.execute(
                _SAME_MESSAGE,
                {"b_owner": self.owner, "b_uid": uid, "b_peer": peer, "b_scts": scts,
                 "b_number": number, "b_text": text},
            ).first()  # fmt: skip
            duplicate = row is not None
            if row is None:
                added = conn.execute(
                    _ADD_MESSAGE,
                    {"owner": self.owner, "peer": peer, "direction": Direction.IN.value,
                     "text": text, "message_number": number,
                     "carrier": carrier.value if carrier is not None else None,
                     "state": None, "read": False, "response_pending": False,
                     "part_count": parts,
                     "concat_ref": fragments.ref if fragments is not None else None,
                     "created_at": _naive(now), "tp_scts": scts, "read_at": None, "uid": uid,
                     "via": how.value, "history_pending": True},
                ).inserted_primary_key  # fmt: skip
                assert added is not None
                row = conn.execute(_BY_ID, {"b_id": added[0]}).one()
            slot = None
            if entry is not None and not duplicate:
                slot = self._add_entry(s, REC_UNREAD, entry, now, capacity,
                                       message_id=row.id, key=fragments)  # fmt: skip
                if fragments is not None:
                    self._link_parts(conn, fragments, row.id)
            if fragments is not None and consumed:
                conn.execute(
                    insert(ConsumedPart),
                    self._consumed(fragments, consumed.items(), row.id, now),
                )
            return Received(_view(row), duplicate=duplicate, slot=slot)

    def _numbers(self, conn: Connection, peer: str) -> bool:
        """Whether ``peer`` numbered a message it sent here before."""
        found = conn.execute(_NUMBERED, {"b_owner": self.owner, "b_peer": peer}).first()
        return found is not None

    def store_ip_incoming(
        self, peer: str, uid: str, text: str, number: int | None, sent_at: datetime, now: datetime
    ) -> Received:
        """Store, unread, a message that came over the IP path (docs/read-receipts.md §Routing),
        under the sender's ``uid`` and time: a redelivery of that uid is not
        stored twice."""
        check_uid(uid)
        with self._tx() as conn:
            row = conn.execute(_BY_UID, {"b_owner": self.owner, "b_uid": uid}).first()
            if row is not None:
                return Received(_view(row), duplicate=True)
            added = conn.execute(
                _ADD_MESSAGE,
                {"owner": self.owner, "peer": peer, "direction": Direction.IN.value,
                 "text": text, "message_number": number, "carrier": None, "state": None,
                 "read": False, "response_pending": False, "part_count": 1, "concat_ref": None,
                 "created_at": _naive(sent_at), "tp_scts": None, "read_at": None, "uid": uid,
                 "via": Via.IP.value, "history_pending": True},
            ).inserted_primary_key  # fmt: skip
            assert added is not None
            row = conn.execute(_BY_ID, {"b_id": added[0]}).one()
            return Received(_view(row), duplicate=False)

    def _consumed(
        self, key: FragmentKey, parts: Iterable[tuple[int, bytes]], message_id: int, now: datetime
    ) -> list[dict[str, Any]]:
        """The rows of ``ConsumedPart`` for the parts of a message now whole."""
        return [
            {"owner": self.owner, "sender": key.sender, "ref_bits": key.ref_bits,
             "ref": key.ref, "total": key.total, "seq": seq, "digest": part_digest(tpdu),
             "message_id": message_id, "consumed_at": _naive(now)}
            for seq, tpdu in parts
        ]  # fmt: skip
