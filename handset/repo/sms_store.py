"""The message store the AT port shows (``models.SmsEntry``, TS 27.005 §3.1):
entries by <index>, each with its <stat>; the counters a modem keeps with it
(the TP-MR of what the TE sends, the SMMA owed after a full store).

A store of ``capacity`` entries (None: no limit, a phone without an AT port)
takes an entry in the lowest free <index> from 1, as a SIM does."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from ..models import Base, Message, Profile, SmsEntry
from ..views import FragmentKey, StoredSms, StoreFull
from .base import RepoBase, _naive

REC_UNREAD, REC_READ, STO_UNSENT, STO_SENT = 0, 1, 2, 3

#: AT+CMGD <delflag> (TS 27.005 §3.5.4): the <stat>s each one deletes.
DELETED_BY_FLAG: dict[int, tuple[int, ...]] = {
    1: (REC_READ,),
    2: (REC_READ, STO_SENT),
    3: (REC_READ, STO_SENT, STO_UNSENT),
    4: (REC_UNREAD, REC_READ, STO_SENT, STO_UNSENT),
}


_E = Base.metadata.tables[SmsEntry.__tablename__]
# On the read path (mark_read): built once, Core (no ORM session sync).
_ENTRIES_READ = (
    update(_E)
    .where(
        _E.c.owner == bindparam("b_owner"),
        _E.c.message_id == bindparam("b_id"),
        _E.c.stat == REC_UNREAD,
    )
    .values(stat=REC_READ)
)
_LOCK_PROFILE = select(Profile.owner).where(Profile.owner == bindparam("b_owner")).with_for_update()
_SLOTS_USED = select(func.count(_E.c.id), func.max(_E.c.slot)).where(
    _E.c.owner == bindparam("b_owner")
)
_SLOTS = select(_E.c.slot).where(_E.c.owner == bindparam("b_owner")).order_by(_E.c.slot)
_ADD_ENTRY = insert(_E)


def part_of(key: FragmentKey) -> str:
    """How an entry names the concatenated message it is a part of."""
    return f"{key.sender}|{key.ref_bits}|{key.ref}|{key.total}"


def _stored(row: SmsEntry, stat: int | None = None) -> StoredSms:
    return StoredSms(row.slot, row.stat if stat is None else stat, bytes(row.pdu), row.message_id)


class SmsStoreRepo(RepoBase):
    """The entries of the message store, and what a read of one means."""

    def _entries(self, s: Session) -> list[SmsEntry]:
        return list(
            s.scalars(select(SmsEntry).where(SmsEntry.owner == self.owner).order_by(SmsEntry.slot))
        )

    def _used(self, s: Session) -> int:
        return s.scalar(select(func.count(SmsEntry.id)).where(SmsEntry.owner == self.owner)) or 0

    def _add_entry(
        self,
        s: Session,
        stat: int,
        pdu: bytes,
        now: datetime,
        capacity: int | None,
        *,
        message_id: int | None = None,
        key: FragmentKey | None = None,
    ) -> int:
        """A new entry in the lowest free <index>; StoreFull when there is none.
        Core statements on the session's connection: a received message
        stores one, on the receipts' hot path."""
        conn = s.connection()
        owner = {"b_owner": self.owner}
        # Every write locks the profile first: one writer at a time.
        if conn.execute(_LOCK_PROFILE, owner).first() is None:
            self._profile(s)  # the first write of a new handset makes it
        used, top = conn.execute(_SLOTS_USED, owner).one()
        used = int(used)
        if not used or top == used:  # slots 1..used all taken: the next is free
            slot = used + 1
        else:
            slot = 1
            for taken in conn.scalars(_SLOTS, owner):
                if taken != slot:
                    break
                slot += 1
        if capacity is not None and slot > capacity:
            raise StoreFull()
        key_text = part_of(key) if key is not None else None
        conn.execute(_ADD_ENTRY, {"owner": self.owner, "slot": slot, "stat": stat, "pdu": pdu,
                                  "message_id": message_id, "part_of": key_text,
                                  "stored_at": _naive(now)})  # fmt: skip
        return slot

    def _link_parts(self, s: Session | Connection, key: FragmentKey, message_id: int) -> None:
        """The parts of a message now whole belong to it."""
        s.execute(
            update(SmsEntry)
            .where(
                SmsEntry.owner == self.owner,
                SmsEntry.part_of == part_of(key),
                SmsEntry.message_id.is_(None),
            )
            .values(message_id=message_id)
        )

    def _entries_read(self, s: Session | Connection, message_id: int) -> None:
        """The user read the message: its entries are REC READ."""
        s.execute(_ENTRIES_READ, {"b_owner": self.owner, "b_id": message_id})

    # -- what the AT port asks -----------------------------------------------------

    def store_sms(self, pdu: bytes, stat: int, now: datetime, capacity: int | None) -> int:
        """AT+CMGW, or a status report the TE asked to keep: the new <index>."""
        with self._session() as s, s.begin():
            return self._add_entry(s, stat, pdu, now, capacity)

    def sms_entry(self, slot: int) -> StoredSms | None:
        with self._session() as s:
            row = s.scalars(
                select(SmsEntry).where(SmsEntry.owner == self.owner, SmsEntry.slot == slot)
            ).one_or_none()
            return _stored(row) if row is not None else None

    def read_sms(self, slot: int) -> StoredSms | None:
        """AT+CMGR: the entry at ``slot`` (with its <stat> before this read),
        REC READ from now on; None when the index is empty.  The caller opens
        its message, which is what a read means to the user."""
        with self._session() as s, s.begin():
            row = s.scalars(
                select(SmsEntry).where(SmsEntry.owner == self.owner, SmsEntry.slot == slot)
            ).one_or_none()
            if row is None:
                return None
            seen = _stored(row)
            if row.stat == REC_UNREAD:
                row.stat = REC_READ
            return seen

    def list_sms(self, stat: int) -> list[StoredSms]:
        """AT+CMGL: the entries of <stat> ``stat`` (4: all), in <index> order,
        each with its <stat> before the listing; REC UNREAD ones are REC READ
        from now on (TS 27.005 §3.4.2)."""
        with self._session() as s, s.begin():
            found = [row for row in self._entries(s) if stat in (4, row.stat)]
            out = [_stored(row) for row in found]
            for row in found:
                if row.stat == REC_UNREAD:
                    row.stat = REC_READ
            return out

    def delete_sms(self, slot: int, flag: int) -> bool:
        """AT+CMGD: <delflag> 0 deletes ``slot`` (False when it is empty); the
        others delete by <stat> (``DELETED_BY_FLAG``)."""
        with self._session() as s, s.begin():
            where = [SmsEntry.owner == self.owner]
            if flag == 0:
                where.append(SmsEntry.slot == slot)
            else:
                where.append(SmsEntry.stat.in_(DELETED_BY_FLAG[flag]))
            gone = s.execute(delete(SmsEntry).where(*where))
            return flag != 0 or bool(getattr(gone, "rowcount", 0))

    def sms_used(self) -> int:
        with self._session() as s:
            return self._used(s)

    def sms_sent(self, slot: int) -> None:
        """AT+CMSS sent a stored STO UNSENT message: STO SENT now."""
        with self._session() as s, s.begin():
            s.execute(
                update(SmsEntry)
                .where(
                    SmsEntry.owner == self.owner,
                    SmsEntry.slot == slot,
                    SmsEntry.stat == STO_UNSENT,
                )
                .values(stat=STO_SENT)
            )

    def take_tp_mr(self) -> int:
        """The TP-MR of an SMS-SUBMIT the TE sends: the handset's own counter,
        which its own messages share, so a status report matches one only."""
        with self._session() as s, s.begin():
            profile = self._profile(s)
            mr = profile.next_tp_mr
            profile.next_tp_mr = (mr + 1) % 256
            return mr

    # -- a full store --------------------------------------------------------------

    def memory_exceeded(self) -> None:
        """A message was refused for want of room: an SMMA is owed."""
        with self._session() as s, s.begin():
            self._profile(s).memory_exceeded = True

    def smma_due(self, capacity: int | None) -> bool:
        """Whether the SMSC is owed an SMMA: it was refused for a full store
        and there is room now."""
        with self._session() as s, s.begin():
            profile = self._profile(s)
            return profile.memory_exceeded and (capacity is None or self._used(s) < capacity)

    def memory_available_sent(self) -> None:
        """The SMSC acknowledged the SMMA."""
        with self._session() as s, s.begin():
            self._profile(s).memory_exceeded = False

    def read_message_ids(self, ids: set[int]) -> set[int]:
        """Which of ``ids`` the user has read already."""
        with self._session() as s:
            return set(
                s.scalars(
                    select(Message.id).where(
                        Message.owner == self.owner, Message.id.in_(ids), Message.read
                    )
                )
            )
