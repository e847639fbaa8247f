"""The device's side of the IP server's wire protocol, with no I/O.

``DeviceSession`` builds requests (each with its own id, counting from 1) as
the bytes to send, and turns the bytes the server sends into messages.  The
handset's Twisted protocol (``handset.ip_client``) feeds it and matches each
answer to the Deferred of its request.
"""

from __future__ import annotations

from collections.abc import Callable

from . import wire

#: What the server may send, and a frame of it that could not be read.
Event = wire.Message | wire.WireError


class DeviceSession:
    """The device side of the protocol, with no I/O.  Request ids are integers
    counting from 1; each request returns its id with its frame."""

    def __init__(self) -> None:
        self._reader = wire.FrameReader(wire.SERVER_MESSAGES)
        self._last_id = 0
        self.login_ok: wire.LoginOk | None = None

    def _id(self) -> int:
        self._last_id += 1
        return self._last_id

    def login(self, device: str, secret: str) -> tuple[int, bytes]:
        rid = self._id()
        return rid, wire.encode(wire.Login(rid, device, secret))

    def response(
        self,
        receiver: str,
        sender: str,
        message_number: int,
        status: int = 1,
        sent_at: int | None = None,
    ) -> tuple[int, bytes]:
        """``receiver`` (this device) has read message ``message_number`` of
        ``sender``, sent at ``sent_at`` (ms); ValueError if a field is out of range."""
        rid = self._id()
        response = wire.Response(rid, receiver, sender, message_number, status, sent_at)
        return rid, wire.encode(response)

    def ack(self, feedback_id: int) -> bytes:
        return wire.encode(wire.FeedbackAck(feedback_id))

    def ping(self) -> tuple[int, bytes]:
        rid = self._id()
        return rid, wire.encode(wire.Ping(rid))

    def request(self, make: Callable[[int], wire.Message]) -> tuple[int, bytes]:
        """Any request: ``make`` builds it around its id; ValueError if invalid."""
        rid = self._id()
        return rid, wire.encode(make(rid))

    def push_subscribe(self, device: str, secret: str) -> tuple[int, bytes]:
        return self.request(lambda rid: wire.PushSubscribe(rid, device, secret))

    def ip_message_ack(self, delivery_id: int) -> bytes:
        return wire.encode(wire.IpMessageAck(delivery_id))

    def read_state_ack(self, sync_id: int) -> bytes:
        return wire.encode(wire.ReadStateAck(sync_id))

    def receive(self, data: bytes) -> list[Event]:
        events = self._reader.feed(data)
        for event in events:
            if isinstance(event, wire.LoginOk):
                self.login_ok = event
        return events

    @property
    def failed(self) -> wire.WireError | None:
        """Set once the server's framing was lost: nothing more can be read."""
        return self._reader.failed
