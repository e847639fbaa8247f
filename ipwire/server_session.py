"""One device connection to the IP server, as a plain state machine.

``ServerSession`` is fed what the ``FrameReader`` decoded and the results of the
storage work it asked for; it returns *actions*: messages to send, the
connection to close, and effects for the server to run against the store
(``Authenticate``, ``StoreFeedback``, ``LoadBacklog``, ``AckFeedback``).  It does
no I/O and reads no clock, so every rule below is testable without a reactor:

* a login is a challenge-response (ipwire.proof): ``login`` (or
  ``push_subscribe``) is answered ``challenge``, and its ``login_proof`` is
  checked (``Authenticate``);
* before a login succeeds only the login frames are read: anything else (a
  ``ping`` too, a frame that cannot be read, a frame other than the proof
  after a challenge) is answered ``error`` unauthenticated and the connection
  closes at once, as MQTT does with a first packet that is not CONNECT; what
  arrives after the proof waits for its outcome, so a client may pipeline;
* a connection not logged in at its login deadline (``deadline``) closes; one
  whose proof is being checked then closes if the proof fails;
* a response is accepted only from the device whose MSISDN is its receiver,
  and ``ok`` goes back only once its feedback is committed (``stored``);
* on login a phone gets all its pending feedback in id order, then new
  feedback as it is committed, each once per connection (a companion device
  gets none: sent messages live on the phone);
* a push channel (``push_subscribe``) is authenticated like a login but stays
  logged out: it carries login indications only;
* the requests of multi-device accounts (history, queries, the IP path) go
  to the server as ``Serve`` once logged in, and their answers come back
  through ``reply``;
* each device has a token bucket shared by its connections (``RateLimiter``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto

from . import proof, wire
from .ratelimit import RateLimiter
from .wire import ErrorCode


@dataclass(frozen=True, slots=True)
class Identity:
    """A registered device, as authentication establishes it."""

    device_id: str
    msisdn: str
    account: str
    kind: str  # "phone" or "companion"


# -- actions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    message: wire.Message


@dataclass(frozen=True, slots=True)
class Close:
    reason: str


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Check ``proof`` of ``message`` (the AuthMessage) against the device's
    verifier; answer with ``login_result``.  ``push``: for a push channel."""

    device: str
    message: bytes
    proof: bytes
    push: bool = False


@dataclass(frozen=True, slots=True)
class Serve:
    """A request of a logged-in device that the server answers from its store
    and its account's other devices (history, queries, the IP path); the
    answer comes back through ``reply``."""

    identity: Identity
    message: wire.Message


@dataclass(frozen=True, slots=True)
class LoadBacklog:
    """Load the feedback pending for ``msisdn``; answer with ``backlog``."""

    msisdn: str


@dataclass(frozen=True, slots=True)
class StoreFeedback:
    """Commit a feedback for ``to_msisdn`` (the sender); answer with ``stored``,
    then push it to the sender's sessions."""

    request_id: wire.RequestId
    to_msisdn: str
    receiver: str
    message_number: int
    status: int
    sent_at: int | None = None


@dataclass(frozen=True, slots=True)
class AckFeedback:
    """Mark feedback ``feedback_id`` of ``msisdn`` delivered; no answer."""

    msisdn: str
    feedback_id: int


Action = Send | Close | Authenticate | LoadBacklog | StoreFeedback | AckFeedback | Serve

#: Requests the session passes to the server as ``Serve``, once logged in;
#: those with an ``id`` spend a token of the rate limit.
SERVED = (
    wire.HistoryPut,
    wire.Query,
    wire.QueryAnswer,
    wire.FetchResults,
    wire.ResultsAck,
    wire.IpSubmit,
    wire.ReadSync,
    wire.ReadStateAck,
    wire.IpMessageAck,
)


class State(Enum):
    UNAUTHENTICATED = auto()
    CHALLENGED = auto()  # a challenge sent, its proof awaited
    LOGGING_IN = auto()  # the proof being checked
    AUTHENTICATED = auto()
    PUSH = auto()  # a push channel: login indications only
    CLOSED = auto()


def _error(code: ErrorCode, reason: str, rid: wire.RequestId | None = None) -> Send:
    return Send(wire.Error(code, reason, rid))


#: Bad logins a connection may make before it is closed: guessing secrets
#: costs a new TCP connection each few tries.
MAX_FAILED_LOGINS = 3
#: Frames a connection may send while its login is being decided.
MAX_HELD = 64
#: Seconds a connection has to log in before it is closed.
LOGIN_DEADLINE = 10.0


def _nonce() -> bytes:
    return os.urandom(proof.NONCE_OCTETS)


class ServerSession:
    def __init__(
        self, limiter: RateLimiter | None = None, nonce: Callable[[], bytes] = _nonce
    ) -> None:
        self.limiter = limiter
        self.failed_logins = 0
        self.state = State.UNAUTHENTICATED
        self.identity: Identity | None = None
        self._nonce = nonce
        self._login: wire.Login | wire.PushSubscribe | None = None
        self._auth_message = b""
        self._late = ""  # the deadline passed during a login: why a failure closes
        #: Why the connection was closed before a login: "deadline" (none in
        #: time), "frame" (something else than a login frame), else "".
        self.closed_before_login = ""
        self._held: list[wire.Message | wire.WireError] = []
        # Feedback pushed while the backlog loads, merged into it by id.
        self._early: dict[int, wire.Feedback] | None = None

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    # -- input from the device ---------------------------------------------------

    def receive(self, item: wire.Message | wire.WireError, now: float) -> list[Action]:
        if self.state is State.CLOSED:
            return []
        if self.state is State.CHALLENGED:
            if isinstance(item, wire.LoginProof):
                return self._proved(item)
            return self._before_login(item)
        if self.state is State.LOGGING_IN:
            if len(self._held) >= MAX_HELD:
                return self._close(ErrorCode.BAD_MESSAGE, "too many frames before the login")
            self._held.append(item)
            return []
        if isinstance(item, wire.WireError):
            if item.fatal:
                self.state = State.CLOSED
                return [Send(item.message()), Close(item.reason)]
            if self.identity is None:
                return self._before_login(item)
            return [Send(item.message())]
        if isinstance(item, wire.Login | wire.PushSubscribe):
            if self.state is not State.UNAUTHENTICATED:
                return [_error(ErrorCode.ALREADY_AUTHENTICATED, "already logged in", item.id)]
            self.state, self._login = State.CHALLENGED, item
            challenge = wire.Challenge(item.id, wire.b64(self._nonce()))
            purpose = "push" if isinstance(item, wire.PushSubscribe) else "login"
            self._auth_message = proof.auth_message(
                purpose, item.device, item.nonce, challenge.nonce
            )
            return [Send(challenge)]
        identity = self.identity
        rid = getattr(item, "id", None)
        if identity is None:
            return self._before_login(item)
        if isinstance(item, wire.Ping):
            return self._limited(item.id, now) or [Send(wire.Pong(item.id))]
        if isinstance(item, wire.LoginProof):
            return [_error(ErrorCode.ALREADY_AUTHENTICATED, "already logged in", item.id)]
        if self.state is State.PUSH:
            reason = "a push channel carries login indications only: log in on another connection"
            return [_error(ErrorCode.UNAUTHENTICATED, reason, rid)]
        if isinstance(item, wire.Response):
            return self._limited(item.id, now) or self._response(identity, item)
        if isinstance(item, wire.FeedbackAck):
            # Only a phone is sent feedback, and only its ack may clear one.
            if identity.kind != "phone":
                return []
            return [AckFeedback(identity.msisdn, item.feedback_id)]
        if isinstance(item, SERVED):
            limited = self._limited(rid, now) if rid is not None else []
            return limited or [Serve(identity, item)]
        raise AssertionError(f"the reader accepted a {item.TYPE} the session cannot serve")

    def _before_login(self, item: wire.Message | wire.WireError) -> list[Action]:
        """Only login frames before a login: anything else closes."""
        self.closed_before_login = "frame"
        if isinstance(item, wire.WireError):
            return self._close(ErrorCode.UNAUTHENTICATED, f"{item.reason}, before a login", item.id)
        rid = getattr(item, "id", None)
        if self.state is State.CHALLENGED:
            what = f"{item.TYPE} instead of the login_proof"
        elif isinstance(item, wire.LoginProof):
            what = "login_proof without a challenge"
        else:
            what = f"{item.TYPE} before a login"
        return self._close(ErrorCode.UNAUTHENTICATED, f"{what}: only a login is read", rid)

    def _proved(self, item: wire.LoginProof) -> list[Action]:
        login = self._login
        assert login is not None
        if item.id != login.id:
            return self._close(
                ErrorCode.BAD_MESSAGE, f"login_proof {item.id!r} answers login {login.id!r}"
            )
        self.state = State.LOGGING_IN
        push = isinstance(login, wire.PushSubscribe)
        return [Authenticate(login.device, self._auth_message, wire.unb64(item.proof), push)]

    def deadline(self, seconds: float = LOGIN_DEADLINE) -> list[Action]:
        """The connection's login deadline (``seconds`` after it was made)
        passed: closed unless logged in; a proof being checked still decides,
        but a failed one then closes."""
        self._late = f"no login within {seconds:g} s"
        if self.state in (State.UNAUTHENTICATED, State.CHALLENGED):
            self.closed_before_login = "deadline"
            return self._close(ErrorCode.UNAUTHENTICATED, self._late)
        return []

    def _close(
        self, code: ErrorCode, reason: str, rid: wire.RequestId | None = None
    ) -> list[Action]:
        self.state = State.CLOSED
        self._held = []
        return [_error(code, reason, rid), Close(reason)]

    def _limited(self, rid: wire.RequestId | None, now: float) -> list[Action]:
        if self.limiter is None or self.identity is None:
            return []
        wait = self.limiter.take(self.identity.device_id, now)
        if wait <= 0:
            return []
        reason = f"more than {self.limiter.rate:g} requests per second"
        return [Send(wire.Error(ErrorCode.RATE_LIMITED, reason, rid, round(wait, 3) or 0.001))]

    @staticmethod
    def _response(identity: Identity, item: wire.Response) -> list[Action]:
        if item.receiver != identity.msisdn:
            reason = f"this device is {identity.msisdn}, not the receiver {item.receiver}"
            return [_error(ErrorCode.FORBIDDEN, reason, item.id)]
        return [
            StoreFeedback(
                item.id, item.sender, item.receiver, item.message_number, item.status, item.sent_at
            )
        ]

    # -- results of the effects ----------------------------------------------------

    def login_result(self, outcome: tuple[Identity, bytes] | None, now: float) -> list[Action]:
        """The outcome of ``Authenticate``: the device and the ServerSignature,
        or None for an unknown device or a wrong proof."""
        login, self._login = self._login, None
        if self.state is not State.LOGGING_IN or login is None:
            return []
        actions: list[Action]
        if outcome is None:
            self.state = State.UNAUTHENTICATED
            self.failed_logins += 1
            if self._late:
                self.closed_before_login = "deadline"
            if self.failed_logins >= MAX_FAILED_LOGINS or self._late:
                times = f", {self.failed_logins} times" if self.failed_logins > 1 else ""
                late = f", and {self._late}" if self._late else ""
                return self._close(
                    ErrorCode.BAD_CREDENTIALS, f"unknown device or wrong secret{times}{late}",
                    login.id,
                )  # fmt: skip
            actions = [
                _error(ErrorCode.BAD_CREDENTIALS, "unknown device or wrong secret", login.id)
            ]
        else:
            identity, signature = outcome
            push = isinstance(login, wire.PushSubscribe)
            self.state = State.PUSH if push else State.AUTHENTICATED
            self.identity = identity
            ok = wire.LoginOk(
                login.id, identity.device_id, identity.msisdn, identity.account,
                wire.b64(signature),
            )  # fmt: skip
            actions = [Send(ok)]
            if not push and identity.kind == "phone":
                # Feedback is about sent messages, which live on the phone: a
                # companion's ack must not clear what the phone has not seen.
                self._early = {}
                actions.append(LoadBacklog(identity.msisdn))
        return actions + self._release(now)

    def login_failed(self, reason: str, now: float) -> list[Action]:
        """``Authenticate`` could not be run (the store failed)."""
        login, self._login = self._login, None
        if self.state is not State.LOGGING_IN or login is None:
            return []
        self.state = State.UNAUTHENTICATED
        if self._late:
            return self._close(ErrorCode.SERVER_ERROR, f"{reason}, and {self._late}", login.id)
        return [_error(ErrorCode.SERVER_ERROR, reason, login.id), *self._release(now)]

    def _release(self, now: float) -> list[Action]:
        held, self._held = self._held, []
        actions: list[Action] = []
        for i, item in enumerate(held):
            actions += self.receive(item, now)
            if self.state is State.LOGGING_IN:  # another login: the rest waits again
                self._held = held[i + 1 :] + self._held
                break
        return actions

    def backlog(self, pending: list[wire.Feedback]) -> list[Action]:
        """The outcome of ``LoadBacklog``: all pending feedback, sent in id order."""
        if self.state is not State.AUTHENTICATED or self._early is None:
            return []
        merged = {f.feedback_id: f for f in pending} | self._early
        self._early = None
        return [Send(merged[k]) for k in sorted(merged)]

    def backlog_failed(self, reason: str) -> list[Action]:
        """``LoadBacklog`` failed: hang up, so the device logs in (and loads) again."""
        if self.state is State.CLOSED:
            return []
        self.state = State.CLOSED
        return [_error(ErrorCode.SERVER_ERROR, reason), Close(reason)]

    def push(self, feedback: wire.Feedback) -> list[Action]:
        """A feedback for this device's MSISDN was just committed."""
        if self.state is not State.AUTHENTICATED:
            return []
        if self._early is not None:
            self._early[feedback.feedback_id] = feedback
            return []
        return [Send(feedback)]

    def reply(self, message: wire.Message) -> list[Action]:
        """The answer to a ``Serve``, or something the server pushes (a query
        request, an IP message, results ready): sent if logged in still."""
        return [Send(message)] if self.state is State.AUTHENTICATED else []

    def indicate(self, message: wire.LoginIndication) -> list[Action]:
        """A login indication, on a push channel."""
        return [Send(message)] if self.state is State.PUSH else []

    def stored(self, rid: wire.RequestId) -> list[Action]:
        """The feedback of response ``rid`` is committed."""
        return [] if self.state is State.CLOSED else [Send(wire.Ok(rid))]

    def store_failed(self, rid: wire.RequestId, reason: str) -> list[Action]:
        if self.state is State.CLOSED:
            return []
        return [_error(ErrorCode.SERVER_ERROR, reason, rid)]

    # -- the connection ------------------------------------------------------------

    def replaced(self) -> list[Action]:
        """The same device logged in on another connection: this one ends."""
        if self.state is State.CLOSED:
            return []
        self.state = State.CLOSED
        reason = "the device logged in on another connection"
        return [_error(ErrorCode.SESSION_REPLACED, reason), Close(reason)]

    def close(self) -> None:
        """The connection is gone: results still on their way are dropped."""
        self.state = State.CLOSED
        self._held = []
