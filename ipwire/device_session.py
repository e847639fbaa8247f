"""The device's side of the IP server's wire protocol, with no I/O.

``DeviceSession`` builds requests (each with its own id, counting from 1) as
the bytes to send, and turns the bytes the server sends into messages.  The
handset's Twisted protocol (``handset.ip_client``) feeds it and matches each
answer to the Deferred of its request.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from . import proof, wire

#: What the server may send, and a frame of it that could not be read.
Event = wire.Message | wire.WireError


@dataclass(frozen=True, slots=True)
class _Login:
    purpose: str
    device: str
    secret: str
    nonce: str
    message: bytes = b""  # the AuthMessage, once the challenge came


def _nonce() -> bytes:
    return os.urandom(proof.NONCE_OCTETS)


class DeviceSession:
    """The device side of the protocol, with no I/O.  Request ids are integers
    counting from 1; each request returns its id with its frame.

    A login (or push channel) is two frames: ``login`` now, then the
    ``login_proof`` that ``answer`` makes of the server's ``challenge``.  A
    ``login_ok`` whose signature does not prove the server knows the secret is
    turned into an ``error`` (bad_credentials) for that login."""

    def __init__(self, nonce: Callable[[], bytes] = _nonce) -> None:
        self._reader = wire.FrameReader(wire.SERVER_MESSAGES)
        self._last_id = 0
        self._nonce = nonce
        self._logins: dict[wire.RequestId, _Login] = {}
        self.login_ok: wire.LoginOk | None = None

    def _id(self) -> int:
        self._last_id += 1
        return self._last_id

    def login(self, device: str, secret: str) -> tuple[int, bytes]:
        return self._start("login", device, secret)

    def _start(self, purpose: str, device: str, secret: str) -> tuple[int, bytes]:
        rid, nonce = self._id(), wire.b64(self._nonce())
        self._logins[rid] = _Login(purpose, device, secret, nonce)
        make = wire.PushSubscribe if purpose == "push" else wire.Login
        return rid, wire.encode(make(rid, device, nonce))

    def answer(self, challenge: wire.Challenge) -> bytes | None:
        """The ``login_proof`` for a challenge (None: no login of ours asked)."""
        login = self._logins.get(challenge.id)
        if login is None:
            return None
        message = proof.auth_message(login.purpose, login.device, login.nonce, challenge.nonce)
        self._logins[challenge.id] = _Login(
            login.purpose, login.device, login.secret, login.nonce, message
        )
        made = proof.client_proof(login.secret, message)
        return wire.encode(wire.LoginProof(challenge.id, wire.b64(made)))

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
        return self._start("push", device, secret)

    def ip_message_ack(self, delivery_id: int) -> bytes:
        return wire.encode(wire.IpMessageAck(delivery_id))

    def read_state_ack(self, sync_id: int) -> bytes:
        return wire.encode(wire.ReadStateAck(sync_id))

    def receive(self, data: bytes) -> list[Event]:
        return [self._checked(e) for e in self._reader.feed(data)]

    def _checked(self, event: Event) -> Event:
        if isinstance(event, wire.Error) and event.id is not None:
            self._logins.pop(event.id, None)
        if not isinstance(event, wire.LoginOk):
            return event
        login = self._logins.pop(event.id, None)
        signature = wire.unb64(event.signature)
        if login is None or not proof.server_proves(login.secret, login.message, signature):
            reason = "the server did not prove it knows this device's secret"
            return wire.Error(wire.ErrorCode.BAD_CREDENTIALS, reason, event.id)
        if login.purpose == "login":
            self.login_ok = event
        return event

    @property
    def failed(self) -> wire.WireError | None:
        """Set once the server's framing was lost: nothing more can be read."""
        return self._reader.failed
