"""One connection to the IP server: a Twisted protocol that moves frames
between TCP and its ``ServerSession``, and runs the session's effects
(authenticate, load the backlog, store a feedback, acknowledge one) against
the repository.  What a logged-in device asks beyond that, the factory serves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

from ipwire import wire
from ipwire.server_session import (
    AckFeedback,
    Action,
    Authenticate,
    Close,
    Identity,
    LoadBacklog,
    Send,
    Serve,
    ServerSession,
    State,
    StoreFeedback,
)
from txkit import nodelay

if TYPE_CHECKING:
    from .factory import ReceiptServerFactory

log = logging.getLogger(__name__)
T = TypeVar("T")


class ReceiptServerProtocol(Protocol):
    """One device's connection: frames in, the session's actions carried out."""

    def __init__(self, factory: ReceiptServerFactory) -> None:
        self.factory = factory
        self.session = ServerSession(factory.limiter)
        self.reader = wire.FrameReader(wire.DEVICE_MESSAGES)
        self.lost: Deferred[None] = Deferred()
        self.peer = self.host = "?"
        self.metrics = factory.metrics
        self._timers: list[IDelayedCall] = []
        #: Ids of the responses (read receipts) not answered yet: their ``ok``
        #: or ``error`` is counted as their outcome.
        self._responses: set[wire.RequestId] = set()
        self.ends = (("", 0), ("", 0))  # (device, server) host and port, for capture

    def connectionMade(self) -> None:
        assert self.transport is not None
        # A push after a quiet spell (a query request, a feedback) must not
        # wait for the device's delayed ACK: Nagle off.
        nodelay(self.transport)
        address = self.transport.getPeer()
        self.host = str(getattr(address, "host", "?"))
        self.peer = f"{self.host}:{getattr(address, 'port', '?')}"
        host = self.transport.getHost()
        self.ends = (
            (str(getattr(address, "host", "")), int(getattr(address, "port", 0))),
            (str(getattr(host, "host", "")), int(getattr(host, "port", 0))),
        )
        self.factory.sessions.add(self)
        deadline = self.factory.login_deadline
        self._later(deadline, lambda: self._apply(self.session.deadline(deadline)))

    def _later(self, seconds: float, fn: Callable[[], object]) -> None:
        self._timers = [t for t in self._timers if t.active()]
        self._timers.append(self.factory.clock.callLater(seconds, fn))

    def dataReceived(self, data: bytes) -> None:
        if self.factory.tap is not None:
            self.factory.tap.stream("ip", self, data, True, self.ends)
        # What one read answers goes out in one write (txkit.cork).
        with self.factory.cork:
            for item in self.reader.feed(data):
                if self.session.closed:
                    break
                if isinstance(item, wire.Response):
                    self._responses.add(item.id)
                self._apply(self.session.receive(item, self._now()))

    def connectionLost(self, reason: Failure | None = None) -> None:
        for timer in self._timers:
            if timer.active():
                timer.cancel()
        if self.factory.tap is not None:
            self.factory.tap.stream_closed("ip", self)
        identity, state = self.session.identity, self.session.state
        if self.session.closed_before_login:
            self.metrics.not_logged_in.inc(self.session.closed_before_login)
        self.session.close()
        if identity is not None and state is State.AUTHENTICATED and self.factory.watchers:
            self.factory.watchers.emit(
                "logout", device_id=identity.device_id, msisdn=identity.msisdn, peer=self.peer
            )
        self.factory.sessions.gone(self)
        self.lost.callback(None)

    def push(self, feedback: wire.Feedback) -> None:
        self._apply(self.session.push(feedback))

    def reply(self, message: wire.Message) -> None:
        self._apply(self.session.reply(message))

    def reply_all(self, messages: Iterable[wire.Message]) -> None:
        for message in messages:
            self.reply(message)

    def indicate(self, message: wire.LoginIndication) -> None:
        self._apply(self.session.indicate(message))

    def replaced(self) -> None:
        self._apply(self.session.replaced())

    def close(self) -> None:
        if self.transport is not None:
            self.factory.cork.flush(self.transport)  # what was said before, then the hang-up
            self.transport.loseConnection()

    def who(self) -> str:
        identity = self.session.identity
        return f"{self.peer} ({identity.device_id})" if identity else self.peer

    # -- actions -------------------------------------------------------------------

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                if isinstance(action.message, wire.Error):
                    host = self.ends[0][0]
                    self.factory.peer_log.info(f"errors answered to {host}", "%s: error %s: %s",
                                            self.who(), action.message.code,
                                            action.message.reason)  # fmt: skip
                self._count(action.message)
                if self.transport is not None:
                    data = self._encode(action.message)
                    if self.factory.tap is not None:
                        self.factory.tap.stream("ip", self, data, False, self.ends)
                    self.factory.cork.write(self.transport, data)
            elif isinstance(action, Close):
                self.close()
            elif isinstance(action, Authenticate):
                self._authenticate(action)
            elif isinstance(action, LoadBacklog):
                self._effect(
                    self.factory.store.pending_for(action.msisdn),
                    self.session.backlog,
                    self.session.backlog_failed,
                    "could not load the pending feedback",
                )
            elif isinstance(action, StoreFeedback):
                self._store(action)
            elif isinstance(action, AckFeedback):
                self._effect(
                    self.factory.store.ack(action.msisdn, action.feedback_id),
                    self._acked,
                    lambda _: [],
                    "could not record an acknowledgement",
                )
            elif isinstance(action, Serve):
                self.factory.serve(self, action.identity, action.message)

    def _count(self, message: wire.Message) -> None:
        if isinstance(message, wire.Feedback):
            self.metrics.feedback_pushed.inc()
        elif isinstance(message, wire.Ok | wire.Error):
            if isinstance(message, wire.Error) and message.code == wire.ErrorCode.RATE_LIMITED:
                self.metrics.rate_limited.inc()
            if message.id is not None and message.id in self._responses:
                self._responses.discard(message.id)
                outcome = "accepted" if isinstance(message, wire.Ok) else str(message.code)
                self.metrics.responses.inc(outcome)

    def _acked(self, acked: bool) -> list[Action]:
        if acked:
            self.metrics.feedback_pending.dec()
        return []

    def _encode(self, message: wire.Message) -> bytes:
        try:
            return wire.encode(message)
        except ValueError as exc:  # cannot happen with bounded fields; never a traceback
            log.error("%s: cannot encode %s: %s", self.who(), message.TYPE, exc)
            # The request it answers still gets its answer: nobody waits forever.
            rid = getattr(message, "id", None)
            reason = "the answer could not be encoded"
            return wire.encode(wire.Error(wire.ErrorCode.SERVER_ERROR, reason, rid))

    def _effect(
        self,
        d: Deferred[T],
        then: Callable[[T], list[Action]],
        failed: Callable[[str], list[Action]],
        what: str,
    ) -> None:
        """Feed the outcome of a store call back into the session."""

        def ok(result: T) -> None:
            self._apply(then(result))

        def error(failure: Failure) -> None:
            log.error("%s: %s: %s", self.who(), what, failure.getErrorMessage())
            self._apply(failed(what))

        d.addCallbacks(ok, error)

    def _now(self) -> float:
        return float(self.factory.clock.seconds())

    def _authenticate(self, action: Authenticate) -> None:
        """The proof checked, unless the device or the address is locked out;
        a refusal past the free ones waits before it is answered."""
        lockout, device = self.factory.lockout, action.device
        verdict = lockout.check(device, self.host, self._now())
        if verdict.locked:
            self.metrics.auth_failures.inc()
            self.metrics.auth_locked.inc()
            self._refuse(verdict.delay)
            return

        def checked(outcome: tuple[Identity, bytes] | None) -> list[Action]:
            if outcome is not None:
                lockout.succeeded(device, self.host)
                return self._logged_in(outcome)
            self.metrics.auth_failures.inc()
            self._refuse(lockout.failed(device, self.host, self._now()))
            return []

        self._effect(
            self.factory.store.authenticate(device, action.message, action.proof),
            checked,
            lambda reason: self.session.login_failed(reason, self._now()),
            "authentication failed",
        )

    def _refuse(self, delay: float) -> None:
        """A refused login is answered after ``delay`` seconds (at once if 0)."""
        if delay > 0:
            self._later(delay, lambda: self._logged_in(None))
        else:
            self._logged_in(None)

    def _logged_in(self, outcome: tuple[Identity, bytes] | None) -> list[Action]:
        self._apply(self.session.login_result(outcome, self._now()))
        if outcome is not None and self.session.state in (State.AUTHENTICATED, State.PUSH):
            self.factory.logged_in(self, outcome[0])
        return []

    def _store(self, action: StoreFeedback) -> None:
        def stored(feedback_id: int) -> list[Action]:
            feedback = wire.Feedback(
                feedback_id, action.receiver, action.message_number, action.status, action.sent_at
            )
            self.metrics.feedback_pending.inc()
            self.factory.deliver(action.to_msisdn, feedback)
            return self.session.stored(action.request_id)

        self._effect(
            self.factory.store.add_feedback(
                action.to_msisdn,
                action.receiver,
                action.message_number,
                action.status,
                action.sent_at,
            ),
            stored,
            lambda reason: self.session.store_failed(action.request_id, reason),
            "could not store the response",
        )
