"""The handset's IP client: ``DeviceSession`` without I/O, and ``IpClient``
over a ``StringTransport`` playing the server's side of docs/receipt-wire.md."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred, fail
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from handset.ip_client import IpClient, IpConnectionLost, IpError
from ipwire import proof, wire
from ipwire.device_session import DeviceSession

A, B = "+4915112345678", "+447700900123"
#: What the server keeps of devB's secret "s3cret", and the nonces of these tests.
VERIFIER = proof.Verifier.from_secret("s3cret")
CLIENT_NONCE, SERVER_NONCE = b"c" * 18, wire.b64(b"s" * 18)


def signed_ok(rid: int, login: bytes, purpose: str = "login") -> wire.LoginOk:
    """The server's login_ok for the device's login ``rid`` (its frame ``login``)
    challenged with SERVER_NONCE, after checking its proof as the server does."""
    return wire.LoginOk(rid, "devB", B, B, wire.b64(server_signature(login, purpose)))


def server_signature(login: bytes, purpose: str = "login") -> bytes:
    (frame,) = server_reads(login)
    assert isinstance(frame, wire.Login | wire.PushSubscribe)
    message = proof.auth_message(purpose, frame.device, frame.nonce, SERVER_NONCE)
    return proof.server_signature(VERIFIER, message)


def server_reads(data: bytes) -> list[wire.Message | wire.WireError]:
    return wire.FrameReader(wire.DEVICE_MESSAGES).feed(data)


# -- DeviceSession ------------------------------------------------------------------------


def test_requests_are_numbered_and_framed() -> None:
    session = DeviceSession(nonce=lambda: CLIENT_NONCE)
    rid1, login = session.login("devB", "s3cret")
    rid2, response = session.response(B, A, 17)
    rid3, ping = session.ping()
    assert (rid1, rid2, rid3) == (1, 2, 3)
    assert server_reads(login + response + ping + session.ack(42)) == [
        wire.Login(1, "devB", wire.b64(CLIENT_NONCE)),
        wire.Response(2, B, A, 17, 1),
        wire.Ping(3),
        wire.FeedbackAck(42),
    ]


@pytest.mark.parametrize(
    ("receiver", "sender", "number", "status"),
    [(B, A, 256, 1), (B, A, -1, 1), (B, A, 1, 2), ("bob", A, 1, 1), (B, "", 1, 1)],
)
def test_a_response_out_of_range_is_refused_before_it_is_sent(
    receiver: str, sender: str, number: int, status: int
) -> None:
    with pytest.raises(ValueError):
        DeviceSession().response(receiver, sender, number, status)


def test_the_challenge_is_answered_with_a_proof_the_server_accepts() -> None:
    session = DeviceSession()
    _, login = session.login("devB", "s3cret")
    (frame,) = server_reads(login)
    assert isinstance(frame, wire.Login) and len(wire.unb64(frame.nonce)) == proof.NONCE_OCTETS
    answer = session.answer(wire.Challenge(1, SERVER_NONCE))
    assert answer is not None and b"s3cret" not in login + answer  # never on the wire
    (proved,) = server_reads(answer)
    assert isinstance(proved, wire.LoginProof) and proved.id == 1
    message = proof.auth_message("login", "devB", frame.nonce, SERVER_NONCE)
    assert proof.verify(VERIFIER, message, wire.unb64(proved.proof))
    other = proof.auth_message("login", "devB", frame.nonce, wire.b64(b"t" * 18))
    assert not proof.verify(VERIFIER, other, wire.unb64(proved.proof))  # this challenge only
    assert session.answer(wire.Challenge(2, SERVER_NONCE)) is None  # no login 2 asked


def test_two_logins_never_use_the_same_nonce() -> None:
    session = DeviceSession()
    nonces = {server_reads(session.login("devB", "s3cret")[1])[0].nonce for _ in range(50)}  # type: ignore[union-attr]
    assert len(nonces) == 50


def test_a_login_ok_that_does_not_prove_the_secret_is_an_error() -> None:
    """A server that does not know the device's secret (an impostor on the
    address, a captured login_ok replayed) cannot pass for the real one."""
    session = DeviceSession(nonce=lambda: CLIENT_NONCE)
    session.login("devB", "s3cret")
    session.answer(wire.Challenge(1, SERVER_NONCE))
    wrong = wire.LoginOk(1, "devB", B, B, wire.b64(bytes(32)))
    (event,) = session.receive(wire.encode(wrong))
    assert isinstance(event, wire.Error) and event.code == "bad_credentials" and event.id == 1
    assert session.login_ok is None


def test_received_frames_become_events_and_login_ok_is_kept() -> None:
    session = DeviceSession(nonce=lambda: CLIENT_NONCE)
    _, login = session.login("devB", "s3cret")
    session.answer(wire.Challenge(1, SERVER_NONCE))
    ok = signed_ok(1, login)
    data = wire.encode(ok) + wire.encode(wire.Feedback(3, A, 4, 1)) + b"\x00\x00\x00\x02[]"
    events = session.receive(data[:10])
    events += session.receive(data[10:])
    assert events[:2] == [ok, wire.Feedback(3, A, 4, 1)]
    assert isinstance(events[2], wire.WireError)
    assert session.login_ok == ok
    assert session.failed is None


# -- IpClient -----------------------------------------------------------------------------


class Server:
    """The server's end of one IpClient connection."""

    def __init__(self, on_feedback: Any = None) -> None:
        self.transport = StringTransport()
        self.client = IpClient("devB", "s3cret", on_feedback)
        self.client.makeConnection(self.transport)

    def read(self) -> list[wire.Message | wire.WireError]:
        data = self.transport.value()
        self.transport.clear()
        return server_reads(data)

    def send(self, *messages: wire.Message) -> None:
        self.client.dataReceived(b"".join(wire.encode(m) for m in messages))

    def logged_in(self) -> Server:
        d = self.client.login()
        login = self.transport.value()
        (frame,) = self.read()
        assert isinstance(frame, wire.Login) and frame.device == "devB"
        self.send(wire.Challenge(1, SERVER_NONCE))
        (proved,) = self.read()
        assert isinstance(proved, wire.LoginProof) and proved.id == 1
        message = proof.auth_message("login", "devB", frame.nonce, SERVER_NONCE)
        assert proof.verify(VERIFIER, message, wire.unb64(proved.proof))
        self.send(signed_ok(1, login))
        assert d.result == signed_ok(1, login)
        return self

    def hang_up(self) -> None:
        self.client.connectionLost(Failure(ConnectionDone()))


def result(d: Deferred[Any]) -> Any:
    box: list[Any] = []
    d.addBoth(box.append)
    assert box, "the Deferred has not fired"
    outcome = box[0]
    return outcome.value if isinstance(outcome, Failure) else outcome


def test_login_refused_fails_with_the_code() -> None:
    server = Server()
    d = server.client.login()
    server.send(wire.Challenge(1, SERVER_NONCE))
    server.send(wire.Error("bad_credentials", "unknown device or wrong secret", 1))
    error = result(d)
    assert isinstance(error, IpError) and error.code == "bad_credentials"


def test_a_push_channel_is_opened_with_the_push_purpose() -> None:
    server = Server()
    d = server.client.push_subscribe()
    subscribe = server.transport.value()
    (frame,) = server.read()
    assert isinstance(frame, wire.PushSubscribe)
    server.send(wire.Challenge(1, SERVER_NONCE))
    (proved,) = server.read()
    assert isinstance(proved, wire.LoginProof)
    as_login = proof.auth_message("login", "devB", frame.nonce, SERVER_NONCE)
    as_push = proof.auth_message("push", "devB", frame.nonce, SERVER_NONCE)
    assert proof.verify(VERIFIER, as_push, wire.unb64(proved.proof))
    assert not proof.verify(VERIFIER, as_login, wire.unb64(proved.proof))
    ok = signed_ok(1, subscribe, "push")
    server.send(ok)
    assert result(d) == ok and server.client.login_ok is None  # not logged in


def test_a_response_fires_on_ok_and_fails_on_error() -> None:
    server = Server().logged_in()
    first = server.client.send_response(B, A, 5)
    second = server.client.send_response(B, A, 6)
    assert server.read() == [wire.Response(2, B, A, 5, 1), wire.Response(3, B, A, 6, 1)]
    server.send(wire.Error("rate_limited", "more than 50 requests per second", 3, 0.25), wire.Ok(2))
    assert result(first) is None
    error = result(second)
    assert isinstance(error, IpError)
    assert (error.code, error.retry_after) == ("rate_limited", 0.25)


def test_an_invalid_response_fails_without_sending() -> None:
    server = Server().logged_in()
    assert isinstance(result(server.client.send_response(B, A, 300)), ValueError)
    assert server.read() == []


def test_ping_is_answered_by_pong() -> None:
    server = Server().logged_in()
    d = server.client.ping()
    assert server.read() == [wire.Ping(2)]
    server.send(wire.Pong(2))
    assert result(d) is None


def test_feedback_is_acknowledged_only_once_its_effect_is_committed() -> None:
    commits: list[Deferred[None]] = []

    def apply(feedback: wire.Feedback) -> Deferred[None]:
        commits.append(Deferred())
        return commits[-1]

    server = Server(apply).logged_in()
    server.send(wire.Feedback(7, A, 1, 1), wire.Feedback(8, A, 2, 1))
    assert len(commits) == 2
    assert server.read() == []  # nothing is acknowledged before its commit
    commits[1].callback(None)
    assert server.read() == [wire.FeedbackAck(8)]
    commits[0].callback(None)
    assert server.read() == [wire.FeedbackAck(7)]


def test_feedback_whose_effect_fails_is_not_acknowledged() -> None:
    def apply(feedback: wire.Feedback) -> Deferred[None]:
        if feedback.feedback_id == 1:
            raise OSError("database locked")
        return fail(OSError("disk full"))

    server = Server(apply).logged_in()
    server.send(wire.Feedback(1, A, 1, 1), wire.Feedback(2, A, 2, 1))
    assert server.read() == []
    assert server.client.connected  # and the connection goes on


def test_a_handler_returning_none_acknowledges_at_once() -> None:
    seen: list[wire.Feedback] = []
    server = Server(lambda f: seen.append(f)).logged_in()
    server.send(wire.Feedback(3, A, 9, 0))
    assert seen == [wire.Feedback(3, A, 9, 0)]
    assert server.read() == [wire.FeedbackAck(3)]


def test_a_lost_connection_fails_what_is_pending_and_acks_nothing_more() -> None:
    commit: Deferred[None] = Deferred()
    server = Server(lambda f: commit).logged_in()
    pending = server.client.send_response(B, A, 1)
    server.send(wire.Feedback(4, A, 1, 1))
    server.read()
    server.hang_up()
    assert isinstance(result(pending), IpConnectionLost)
    assert result(server.client.lost) is None
    commit.callback(None)
    assert server.read() == []  # the server sends it again at the next login
    assert isinstance(result(server.client.ping()), IpConnectionLost)


def test_an_error_answering_nothing_is_kept() -> None:
    server = Server().logged_in()
    server.send(wire.Error("session_replaced", "the device logged in on another connection"))
    assert server.client.last_error is not None
    assert server.client.last_error.code == "session_replaced"


def test_a_server_stream_that_loses_its_framing_is_hung_up() -> None:
    server = Server().logged_in()
    server.client.dataReceived(b"\xff\xff\xff\xff")
    assert server.transport.disconnecting
