"""The durable queue of read state (docs/receipt-wire.md §Reads): a
message read on one device of an account is pending for each of its other
devices until that device acknowledges it."""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred

from ipwire import wire

from .jobs import Part, ack_pending
from .models import Base, Device, ReadState

# A read passed on is on the receipts' hot path: Core statements built once.
_D = Base.metadata.tables[Device.__tablename__]
_R = Base.metadata.tables[ReadState.__tablename__]
_OTHERS = (
    select(_D.c.device_id)
    .where(
        _D.c.account == bindparam("b_account"),
        _D.c.device_id != bindparam("b_reader"),
        _D.c.revoked_at.is_(None),
    )
    .order_by(_D.c.device_id)
)
_ADD = insert(_R)
_ACK = ack_pending(_R, "device_id")


class ReadStates(Part):
    """Reads to show on the account's other devices, per device."""

    def sync_read(
        self, account: str, reader: str, uid: str
    ) -> Deferred[list[tuple[str, wire.ReadState]]]:
        """Commit the read of ``uid`` on device ``reader`` for every other
        bound device of ``account``; fires with what to push to which device."""

        def work(s: Session) -> list[tuple[str, wire.ReadState]]:
            s.flush()  # a device the batch's session registered counts (autoflush)
            conn = s.connection()
            devices = conn.scalars(_OTHERS, {"b_account": account, "b_reader": reader}).all()
            out = []
            for device in devices:
                added = conn.execute(
                    _ADD, {"device_id": device, "uid": uid, "created_at": self.now(),
                           "acked_at": None},
                ).inserted_primary_key  # fmt: skip
                assert added is not None
                out.append((device, wire.ReadState(int(added[0]), uid)))
            return out

        return self._submit(work)

    def pending_reads(self, device_id: str) -> Deferred[list[wire.ReadState]]:
        """The reads a device is still to show, oldest first."""

        def work(s: Session) -> list[wire.ReadState]:
            rows = s.execute(
                select(ReadState.id, ReadState.uid)
                .where(ReadState.device_id == device_id, ReadState.acked_at.is_(None))
                .order_by(ReadState.id)
            ).all()
            return [wire.ReadState(r.id, r.uid) for r in rows]

        return self._submit(work)

    def ack_read(self, device_id: str, sync_id: int) -> Deferred[bool]:
        """A device showed a read; False if it was not pending for it."""

        def work(s: Session) -> bool:
            result = s.connection().execute(
                _ACK, {"b_id": sync_id, "b_owner": device_id, "b_at": self.now()}
            )
            return bool(result.rowcount)

        return self._submit(work, lazy=True)
