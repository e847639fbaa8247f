"""The IP path's durable queue (docs/read-receipts.md §Routing): a message sent over IP is kept
with a pending delivery per bound device of its recipient until that
device acknowledges it."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred

from ipwire import wire

from .jobs import Part, from_millis, to_millis
from .models import Device, IpDelivery, IpMessage


class IpQueue(Part):
    """IP-path messages and their deliveries, per recipient device."""

    def submit_ip(
        self, sender: str, m: wire.IpSubmit
    ) -> Deferred[list[tuple[str, wire.IpMessage]]]:
        """Commit an IP-path message and a pending delivery for each bound
        device of the recipient's number (its phone and companions); fires
        with what to push to which device.  The same message again (sender
        and uid) is not queued twice: fires with []."""

        def work(s: Session) -> list[tuple[str, wire.IpMessage]]:
            devices = s.scalars(
                select(Device.device_id)
                .where(Device.msisdn == m.to, Device.revoked_at.is_(None))
                .order_by(Device.device_id)
            ).all()
            known = s.scalar(
                select(IpMessage.id).where(IpMessage.sender == sender, IpMessage.uid == m.uid)
            )
            if known is not None:
                return []
            now = self.now()
            row = IpMessage(sender=sender, recipient=m.to, uid=m.uid,
                            message_number=m.message_number, text=m.text,
                            sent_at=from_millis(m.sent_at), created_at=now)  # fmt: skip
            s.add(row)
            s.flush()
            out = []
            for device in devices:
                delivery = IpDelivery(message_id=row.id, device_id=device, delivered_at=None)
                s.add(delivery)
                s.flush()
                out.append((device, wire.IpMessage(delivery.id, sender, m.uid, m.message_number,
                                                   m.text, m.sent_at)))  # fmt: skip
            return out

        return self._submit(work)

    def pending_ip(self, device_id: str) -> Deferred[list[wire.IpMessage]]:
        """The IP-path messages queued for a device, oldest first."""

        def work(s: Session) -> list[wire.IpMessage]:
            rows = s.execute(
                select(IpDelivery.id, IpMessage)
                .join(IpMessage, IpMessage.id == IpDelivery.message_id)
                .where(IpDelivery.device_id == device_id, IpDelivery.delivered_at.is_(None))
                .order_by(IpDelivery.id)
            ).all()
            return [
                wire.IpMessage(d, m.sender, m.uid, m.message_number, m.text, to_millis(m.sent_at))
                for d, m in rows
            ]

        return self._submit(work)

    def ack_ip(self, device_id: str, delivery_id: int) -> Deferred[bool]:
        """A device stored an IP-path message; False if it was not pending for it."""

        def work(s: Session) -> bool:
            result = s.execute(
                update(IpDelivery)
                .where(
                    IpDelivery.id == delivery_id,
                    IpDelivery.device_id == device_id,
                    IpDelivery.delivered_at.is_(None),
                )
                .values(delivered_at=self.now())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return self._submit(work, lazy=True)
