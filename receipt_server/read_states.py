"""The durable queue of read state (docs/receipt-wire.md §Reads): a
message read on one device of an account is pending for each of its other
devices until that device acknowledges it."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred

from ipwire import wire

from .jobs import Part
from .models import Device, ReadState


class ReadStates(Part):
    """Reads to show on the account's other devices, per device."""

    def sync_read(
        self, account: str, reader: str, uid: str
    ) -> Deferred[list[tuple[str, wire.ReadState]]]:
        """Commit the read of ``uid`` on device ``reader`` for every other
        bound device of ``account``; fires with what to push to which device."""

        def work(s: Session) -> list[tuple[str, wire.ReadState]]:
            devices = s.scalars(
                select(Device.device_id)
                .where(
                    Device.account == account,
                    Device.device_id != reader,
                    Device.revoked_at.is_(None),
                )
                .order_by(Device.device_id)
            ).all()
            out = []
            for device in devices:
                row = ReadState(device_id=device, uid=uid, created_at=self.now(), acked_at=None)
                s.add(row)
                s.flush()
                out.append((device, wire.ReadState(row.id, uid)))
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
            result = s.execute(
                update(ReadState)
                .where(
                    ReadState.id == sync_id,
                    ReadState.device_id == device_id,
                    ReadState.acked_at.is_(None),
                )
                .values(acked_at=self.now())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return self._submit(work, lazy=True)
