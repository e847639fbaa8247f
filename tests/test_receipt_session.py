"""The IP server's session state machine and rate limiter, without a reactor:
messages in, actions out, time as plain numbers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipwire import proof, wire
from ipwire.ratelimit import RateLimiter, TokenBucket
from ipwire.server_session import (
    MAX_HELD,
    AckFeedback,
    Action,
    Authenticate,
    Close,
    Identity,
    LoadBacklog,
    Send,
    Serve,
    ServerSession,
    StoreFeedback,
)
from ipwire.wire import ErrorCode

A, B, C = "+4915112345678", "+447700900123", "+15551234567"
PHONE_B = Identity("devB", B, B, "phone")


def sent(actions: list[Action]) -> list[wire.Message]:
    return [a.message for a in actions if isinstance(a, Send)]


def error(actions: list[Action]) -> tuple[str, Any]:
    (message,) = sent(actions)
    assert isinstance(message, wire.Error), message
    return message.code, message.id


#: The nonces, proof and signature of these tests: the session only carries
#: them (whether a proof is right is the store's business, test_receipt_server).
CLIENT_NONCE, SERVER_NONCE = wire.b64(b"c" * 18), b"s" * 18
PROOF, SIGNATURE = b"\x02" * 32, b"\x01" * 32


def new_session(limiter: RateLimiter | None = None) -> ServerSession:
    return ServerSession(limiter, nonce=lambda: SERVER_NONCE)


def authenticate(rid: int, device: str = "devB", push: bool = False) -> Authenticate:
    """What the session asks the store to check for login ``rid``."""
    purpose = "push" if push else "login"
    message = proof.auth_message(purpose, device, CLIENT_NONCE, wire.b64(SERVER_NONCE))
    return Authenticate(device, message, PROOF, push)


def login(session: ServerSession, rid: int, device: str = "devB", push: bool = False) -> None:
    """``login`` (or ``push_subscribe``) ``rid``, its challenge, its proof."""
    make = wire.PushSubscribe if push else wire.Login
    challenge = wire.Challenge(rid, wire.b64(SERVER_NONCE))
    assert session.receive(make(rid, device, CLIENT_NONCE), 0) == [Send(challenge)]
    actions = session.receive(wire.LoginProof(rid, wire.b64(PROOF)), 0)
    assert actions == [authenticate(rid, device, push)]


def ok(rid: int, identity: Identity = PHONE_B) -> wire.LoginOk:
    return wire.LoginOk(
        rid, identity.device_id, identity.msisdn, identity.account, wire.b64(SIGNATURE)
    )


def logged_in(limiter: RateLimiter | None = None, identity: Identity = PHONE_B) -> ServerSession:
    session = new_session(limiter)
    login(session, 1, identity.device_id)
    actions = session.login_result((identity, SIGNATURE), 0)
    assert actions == [Send(ok(1, identity)), LoadBacklog(identity.msisdn)]
    assert session.backlog([]) == []
    return session


def feedback(fid: int, number: int = 0) -> wire.Feedback:
    return wire.Feedback(fid, B, number, 1)


# -- login -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        wire.Ping("p"),
        wire.Response(2, B, A, 5),
        wire.FeedbackAck(9),
        wire.Query(3, text="x"),
        wire.LoginProof(4, wire.b64(PROOF)),  # no challenge asked it
        wire.WireError(ErrorCode.BAD_MESSAGE, "no such type", 6),
    ],
)
def test_before_a_login_anything_but_a_login_frame_closes(frame: Any) -> None:
    """A ping too: before a login only login frames are read (as MQTT reads
    only CONNECT), so a connection cannot idle on pings or probe the server."""
    session = new_session()
    actions = session.receive(frame, 0)
    assert error(actions) == ("unauthenticated", getattr(frame, "id", None))
    assert isinstance(actions[-1], Close) and session.closed
    assert session.closed_before_login == "frame"
    assert session.receive(wire.Login(7, "devB", CLIENT_NONCE), 0) == []


def test_a_login_is_challenged_and_only_its_proof_is_read_then() -> None:
    session = new_session()
    session.receive(wire.Login(1, "devB", CLIENT_NONCE), 0)
    actions = session.receive(wire.Ping(2), 0)
    assert error(actions) == ("unauthenticated", 2) and session.closed
    other = new_session()
    other.receive(wire.Login(1, "devB", CLIENT_NONCE), 0)
    actions = other.receive(wire.LoginProof(9, wire.b64(PROOF)), 0)
    assert error(actions) == ("bad_message", None) and other.closed  # the proof of another login


def test_the_auth_message_binds_both_nonces_the_device_and_the_purpose() -> None:
    session = new_session()
    login(session, 1, "devB")
    expected = b"smsemu-login-1,login,devB," + CLIENT_NONCE.encode() + b","
    assert authenticate(1).message == expected + wire.b64(SERVER_NONCE).encode()


def test_bad_credentials_can_be_retried() -> None:
    session = new_session()
    login(session, 1)
    assert error(session.login_result(None, 0)) == ("bad_credentials", 1)
    assert session.identity is None
    login(session, 2)
    assert sent(session.login_result((PHONE_B, SIGNATURE), 0))[0] == ok(2)


def test_a_second_login_is_refused() -> None:
    session = logged_in()
    assert error(session.receive(wire.Login(5, "devB", CLIENT_NONCE), 0)) == (
        "already_authenticated",
        5,
    )
    assert session.identity == PHONE_B


def test_requests_pipelined_behind_a_proof_wait_for_its_outcome() -> None:
    session = new_session()
    login(session, 1)
    assert session.receive(wire.Response(2, B, A, 7), 0) == []
    assert session.receive(wire.Ping(3), 0) == []
    actions = session.login_result((PHONE_B, SIGNATURE), 0)
    assert actions == [
        Send(ok(1)),
        LoadBacklog(B),
        StoreFeedback(2, A, B, 7, 1),
        Send(wire.Pong(3)),
    ]


def test_requests_pipelined_behind_a_failed_login_close_the_connection() -> None:
    session = new_session()
    login(session, 1)
    session.receive(wire.Response(2, B, A, 7), 0)
    session.receive(wire.Response(3, B, A, 8), 0)
    actions = session.login_result(None, 0)
    assert [error([a]) for a in actions if isinstance(a, Send)] == [
        ("bad_credentials", 1),
        ("unauthenticated", 2),
    ]
    assert isinstance(actions[-1], Close) and session.closed
    assert not any(isinstance(a, StoreFeedback) for a in actions)


def test_a_store_failure_during_login_is_a_server_error() -> None:
    session = new_session()
    login(session, 1)
    assert error(session.login_failed("database down", 0)) == ("server_error", 1)
    assert session.identity is None and not session.closed


# -- the login deadline ------------------------------------------------------------------


def test_the_deadline_closes_a_connection_not_logged_in() -> None:
    idle, challenged = new_session(), new_session()
    challenged.receive(wire.Login(1, "devB", CLIENT_NONCE), 0)
    for session in (idle, challenged):
        actions = session.deadline(10)
        assert sent(actions) == [wire.Error("unauthenticated", "no login within 10 s")]
        assert isinstance(actions[-1], Close) and session.closed
        assert session.closed_before_login == "deadline"


def test_the_deadline_leaves_a_logged_in_connection_alone() -> None:
    session = logged_in()
    assert session.deadline(10) == [] and not session.closed
    assert sent(session.receive(wire.Ping(2), 0)) == [wire.Pong(2)]


def test_a_proof_checked_at_the_deadline_decides() -> None:
    good, bad, broken = new_session(), new_session(), new_session()
    for session in (good, bad, broken):
        login(session, 1)
        assert session.deadline(10) == []  # the store is checking the proof
    assert sent(good.login_result((PHONE_B, SIGNATURE), 0)) == [ok(1)] and not good.closed
    actions = bad.login_result(None, 0)
    assert error(actions[:1]) == ("bad_credentials", 1) and bad.closed
    assert "no login within 10 s" in actions[0].message.reason  # type: ignore[union-attr]
    assert error(broken.login_failed("database down", 0)[:1]) == ("server_error", 1)
    assert broken.closed


# -- responses ----------------------------------------------------------------------------


def test_a_response_from_its_receiver_is_stored_then_ok() -> None:
    session = logged_in()
    assert session.receive(wire.Response(2, B, A, 17, 0), 0) == [StoreFeedback(2, A, B, 17, 0)]
    assert sent(session.stored(2)) == [wire.Ok(2)]


def test_a_response_naming_another_receiver_is_forbidden_and_not_stored() -> None:
    session = logged_in()
    actions = session.receive(wire.Response(2, C, A, 17), 0)
    assert error(actions) == ("forbidden", 2)
    assert not any(isinstance(a, StoreFeedback) for a in actions)


def test_a_failed_store_is_a_server_error_for_that_request() -> None:
    session = logged_in()
    session.receive(wire.Response(2, B, A, 17), 0)
    assert error(session.store_failed(2, "could not store")) == ("server_error", 2)


def test_bad_frames_get_errors_and_the_session_goes_on() -> None:
    session = logged_in()
    bad = wire.WireError(ErrorCode.BAD_MESSAGE, "no", 4)
    assert sent(session.receive(bad, 0)) == [wire.Error("bad_message", "no", 4)]
    assert sent(session.receive(wire.Ping(5), 0)) == [wire.Pong(5)]


def test_a_fatal_frame_error_closes_and_nothing_more_is_served() -> None:
    session = logged_in()
    actions = session.receive(wire.WireError(ErrorCode.BAD_FRAME, "lost", fatal=True), 0)
    assert actions == [Send(wire.Error("bad_frame", "lost")), Close("lost")]
    assert session.receive(wire.Ping(5), 0) == []
    assert session.push(feedback(1)) == []


# -- feedback -------------------------------------------------------------------------------


def test_the_backlog_comes_in_id_order_with_feedback_pushed_while_it_loaded() -> None:
    session = new_session()
    login(session, 1)
    session.login_result((PHONE_B, SIGNATURE), 0)
    assert session.push(feedback(7)) == []  # committed while the backlog loads
    assert session.push(feedback(5)) == []
    actions = session.backlog([feedback(3), feedback(5), feedback(6)])
    assert [m.feedback_id for m in sent(actions)] == [3, 5, 6, 7]  # type: ignore[attr-defined]
    assert sent(session.push(feedback(8))) == [feedback(8)]


def test_an_ack_marks_the_devices_own_feedback() -> None:
    session = logged_in()
    assert session.receive(wire.FeedbackAck(42), 0) == [AckFeedback(B, 42)]


def test_no_feedback_before_login() -> None:
    session = ServerSession()
    assert session.push(feedback(1)) == []


def test_a_failed_backlog_hangs_up_so_the_device_logs_in_again() -> None:
    session = new_session()
    login(session, 1)
    session.login_result((PHONE_B, SIGNATURE), 0)
    actions = session.backlog_failed("could not load")
    assert actions == [Send(wire.Error("server_error", "could not load")), Close("could not load")]
    assert session.closed


def test_a_replaced_session_is_told_and_closed_and_late_results_are_dropped() -> None:
    session = logged_in()
    session.receive(wire.Response(2, B, A, 1), 0)
    actions = session.replaced()
    assert error(actions[:1]) == ("session_replaced", None)
    assert isinstance(actions[1], Close)
    assert session.stored(2) == []
    assert session.push(feedback(1)) == []


def test_a_lost_connection_drops_late_results() -> None:
    session = new_session()
    login(session, 1)
    session.close()
    assert session.login_result((PHONE_B, SIGNATURE), 0) == []


# -- rate limit ---------------------------------------------------------------------------


def test_past_the_burst_requests_get_rate_limited_with_retry_after() -> None:
    session = logged_in(RateLimiter(rate=2, burst=3))
    for i in range(3):
        assert isinstance(session.receive(wire.Response(i, B, A, i), 100.0)[0], StoreFeedback)
    actions = session.receive(wire.Response(9, B, A, 9), 100.0)
    (message,) = sent(actions)
    assert message == wire.Error("rate_limited", message.reason, 9, 0.5)  # type: ignore[attr-defined]
    assert not any(isinstance(a, StoreFeedback) for a in actions)
    assert error(session.receive(wire.Ping(10), 100.25)) == ("rate_limited", 10)
    assert isinstance(session.receive(wire.Response(11, B, A, 9), 100.5)[0], StoreFeedback)


def test_acks_are_never_rate_limited() -> None:
    session = logged_in(RateLimiter(rate=1, burst=1))
    session.receive(wire.Ping(1), 0)
    assert session.receive(wire.FeedbackAck(3), 0) == [AckFeedback(B, 3)]


def test_the_bucket_is_per_device_and_shared_by_its_connections() -> None:
    limiter = RateLimiter(rate=1, burst=1)
    first, second = logged_in(limiter), logged_in(limiter)
    other = logged_in(limiter, Identity("devA", A, A, "phone"))
    assert sent(first.receive(wire.Ping(1), 0)) == [wire.Pong(1)]
    assert error(second.receive(wire.Ping(2), 0)) == ("rate_limited", 2)
    assert sent(other.receive(wire.Ping(3), 0)) == [wire.Pong(3)]


def test_a_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(rate=10, burst=2, tokens=2, stamp=0)
    assert [bucket.take(0) for _ in range(3)] == [0, 0, 0.1]
    assert bucket.take(0.1) == 0
    assert bucket.take(1000) == 0 and bucket.take(1000) == 0  # capped at the burst
    assert bucket.take(1000) > 0
    assert bucket.take(999) > 0  # a clock going back refills nothing


# -- any sequence ---------------------------------------------------------------------


numbers = st.sampled_from([A, B, C])
inputs = st.one_of(
    st.builds(wire.Login, st.integers(0, 3), st.just("devB"), st.just(CLIENT_NONCE)),
    st.builds(wire.PushSubscribe, st.integers(0, 3), st.just("devB"), st.just(CLIENT_NONCE)),
    st.builds(wire.LoginProof, st.integers(0, 3), st.just(wire.b64(PROOF))),
    st.builds(wire.Response, st.integers(0, 3), numbers, numbers, st.integers(0, 255)),
    st.builds(wire.FeedbackAck, st.integers(1, 5)),
    st.builds(wire.Ping, st.integers(0, 3)),
    st.builds(wire.WireError, st.sampled_from(ErrorCode), st.just("bad"), st.none(), st.booleans()),
    st.tuples(st.just("login_result"), st.booleans()),
    st.tuples(st.just("backlog"), st.lists(st.integers(1, 9))),
    st.tuples(st.just("push"), st.integers(1, 9)),
    st.tuples(st.just("replaced"), st.none()),
    st.tuples(st.just("deadline"), st.none()),
)


@given(st.lists(inputs, max_size=30))
def test_no_sequence_breaks_the_rules(steps: list[Any]) -> None:
    """Whatever happens, nothing is stored, acknowledged, loaded or sent as
    feedback but for a logged-in device, and only for its own MSISDN."""
    session = new_session(RateLimiter(rate=1, burst=5))
    proved = False  # a login_proof was read since the last login_result
    for now, step in enumerate(steps):
        if isinstance(step, tuple):
            kind, arg = step
            if kind == "login_result":
                actions = session.login_result(
                    (PHONE_B, SIGNATURE) if arg and proved else None, now
                )
                proved = False
            elif kind == "deadline":
                actions = session.deadline()
            elif kind == "backlog":
                actions = session.backlog([feedback(i) for i in sorted(set(arg))])
            elif kind == "push":
                actions = session.push(feedback(arg))
            else:
                actions = session.replaced()
        else:
            actions = session.receive(step, now)
        proved = proved or any(isinstance(a, Authenticate) for a in actions)
        for action in actions:
            if session.identity is None:  # not logged in: only login frames answered
                assert not isinstance(action, StoreFeedback | AckFeedback | LoadBacklog | Serve)
                if isinstance(action, Send):
                    assert isinstance(action.message, wire.Challenge | wire.Error)
            if isinstance(action, StoreFeedback | AckFeedback | LoadBacklog) or (
                isinstance(action, Send) and isinstance(action.message, wire.Feedback)
            ):
                assert session.identity == PHONE_B
            if isinstance(action, StoreFeedback):
                assert action.receiver == B
            if isinstance(action, AckFeedback | LoadBacklog):
                assert action.msisdn == B


def test_the_third_bad_login_closes_the_connection() -> None:
    session = new_session()
    for attempt in (1, 2):
        login(session, attempt)
        assert error(session.login_result(None, 0)) == ("bad_credentials", attempt)
        assert not session.closed
    login(session, 3)
    actions = session.login_result(None, 0)
    assert sent(actions)[0] == wire.Error(
        "bad_credentials", "unknown device or wrong secret, 3 times", 3
    )
    assert any(isinstance(a, Close) for a in actions) and session.closed
    assert session.receive(wire.Login(4, "devB", CLIENT_NONCE), 0) == []


def test_frames_piling_up_behind_a_proof_close_the_connection() -> None:
    session = new_session()
    login(session, 1)
    for i in range(MAX_HELD):
        assert session.receive(wire.Ping(i), 0) == []  # held until the login is decided
    actions = session.receive(wire.Ping(MAX_HELD), 0)
    assert error([a for a in actions if isinstance(a, Send)]) == ("bad_message", None)
    assert any(isinstance(a, Close) for a in actions) and session.closed


# -- multi-device accounts -------------------------------------------------------------

DESKTOP_B = Identity("desk", B, B, "companion")


def test_a_push_channel_is_authenticated_but_serves_only_pings() -> None:
    session = new_session()
    login(session, 1, "desk", push=True)
    assert sent(session.login_result((DESKTOP_B, SIGNATURE), 0)) == [ok(1, DESKTOP_B)]
    assert session.receive(wire.Ping(2), 0) == [Send(wire.Pong(2))]
    for request in (
        wire.Query(3, text="x"),
        wire.Response(4, B, A, 1),
        wire.Login(5, "desk", CLIENT_NONCE),
    ):
        code, rid = error(session.receive(request, 0))
        assert rid == request.id and code in ("unauthenticated", "already_authenticated")
    indication = wire.LoginIndication("history_query")
    assert session.indicate(indication) == [Send(indication)]
    assert session.reply(wire.Ok(9)) == []  # nothing else goes down a push channel


def test_a_companion_gets_no_feedback_backlog_and_its_requests_are_served() -> None:
    session = new_session()
    login(session, 1, "desk")
    assert session.login_result((DESKTOP_B, SIGNATURE), 0) == [Send(ok(1, DESKTOP_B))]
    query = wire.Query(2, text="test message")
    assert session.receive(query, 0) == [Serve(DESKTOP_B, query)]
    ack = wire.IpMessageAck(7)
    assert session.receive(ack, 0) == [Serve(DESKTOP_B, ack)]
    # Feedback is the phone's: a companion's ack must not clear it.
    assert session.receive(wire.FeedbackAck(3), 0) == []
    assert session.indicate(wire.LoginIndication("history_query")) == []  # not a push channel
    assert session.reply(wire.Ok(2)) == [Send(wire.Ok(2))]
    session.close()
    assert session.reply(wire.Ok(2)) == []


def test_served_requests_spend_the_rate_limit_but_acks_do_not() -> None:
    session = logged_in(RateLimiter(rate=1, burst=1))
    first = wire.HistoryPut(2, ())
    assert session.receive(first, 0) == [Serve(PHONE_B, first)]
    code, rid = error(session.receive(wire.Query(3), 0))
    assert (code, rid) == ("rate_limited", 3)
    ack = wire.IpMessageAck(4)
    assert session.receive(ack, 0) == [Serve(PHONE_B, ack)]


def test_requests_before_a_login_are_refused() -> None:
    session = new_session()
    code, rid = error(session.receive(wire.FetchResults(5, "0" * 32), 0))
    assert (code, rid) == ("unauthenticated", 5) and session.closed
