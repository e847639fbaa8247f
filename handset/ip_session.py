"""The phone's two connections to the IP server, kept up by
``handset.reconnect``: the logged-in session (responses, feedback, history,
the IP path) and the push channel, which stays up while the user is logged out
so that a login indication can still reach the device (docs/history-query.md §Search, step 4).

The session and the channel are opened by connectors: normally
``handset.ip_client`` over TCP, in tests an in-memory fake.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from twisted.internet.defer import Deferred, fail, succeed

from ipwire import wire
from txkit import Backoff

from .context import PhoneContext, PhoneError
from .reconnect import Reconnector

log = logging.getLogger(__name__)

#: How the phone takes an ``error`` answering a request (docs/receipt-wire.md):
#: rate_limited waits retry_after, server_error backs off, unauthenticated logs
#: in again; any other code (forbidden, bad_message, one it does not know)
#: refuses the request for good.
RETRY_LATER, LOG_IN_AGAIN = frozenset({"rate_limited", "server_error"}), "unauthenticated"


class FeedbackLike(Protocol):
    """What the phone reads of a feedback (``ipwire.wire.Feedback``)."""

    @property
    def receiver(self) -> str: ...

    @property
    def message_number(self) -> int: ...

    @property
    def status(self) -> int: ...

    @property
    def sent_at(self) -> int | None: ...


#: Applies a feedback; the IP client acknowledges it once the Deferred fires.
OnFeedback = Callable[[FeedbackLike], Deferred[None]]
#: Takes what the IP server pushes besides feedback (``query_request``,
#: ``results_ready``, ``login_indication``, ``ip_message``).
OnPush = Callable[[wire.Message], Deferred[None] | None]


class PushChannel(Protocol):
    """A device's push channel: it only needs to know when it is gone."""

    @property
    def lost(self) -> Deferred[None]: ...

    def close(self) -> None: ...


class IpSession(PushChannel, Protocol):
    """What the phone needs of a logged-in IP session (``IpClient``)."""

    @property
    def device(self) -> str: ...

    def send_response(
        self,
        receiver: str,
        sender: str,
        message_number: int,
        status: int = 1,
        sent_at: int | None = None,
    ) -> Deferred[None]: ...

    def put_history(self, entries: Sequence[wire.HistoryEntry]) -> Deferred[None]: ...

    def query(self, **criteria: Any) -> Deferred[wire.QueryResult | wire.QueryOpen]: ...

    def answer(self, query_id: str, count: int, sealed: bytes) -> Deferred[None]: ...

    def fetch(self, query_id: str) -> Deferred[list[wire.Results]]: ...

    def ack_results(self, query_id: str) -> Deferred[None]: ...

    def ip_submit(
        self, to: str, uid: str, message_number: int, text: str, sent_at: int
    ) -> Deferred[None]: ...

    def read_sync(self, uid: str) -> Deferred[None]: ...


#: Connects and logs in to the IP server, handing pushed feedback and the
#: other pushed messages to the callbacks: e.g. ``lambda on_feedback, on_push:
#: connect_ip(reactor, host, port, device, secret, on_feedback, on_push)``.
IpConnector = Callable[[OnFeedback, OnPush], Awaitable[IpSession]]
#: Opens the device's push channel (``handset.ip_client.connect_push``).
PushConnector = Callable[[OnPush], Awaitable[PushChannel]]


class IpLink:
    """The IP session and the push channel, each kept up by a ``Reconnector``;
    logging out keeps the session down (and the push channel up) until
    ``login``, or a login indication when ``auto_login``."""

    def __init__(
        self,
        ctx: PhoneContext,
        ip: IpConnector | None,
        push: PushConnector | None,
        backoff: tuple[float, float],
        *,
        on_feedback: OnFeedback,
        on_push: OnPush,
        on_up: Callable[[], None],
        on_down: Callable[[], None],
        auto_login: bool = True,
    ) -> None:
        self.ctx = ctx
        self.auto_login = auto_login
        #: Logged out by its user: the IP session stays down, the push channel up.
        self.logged_out = False
        #: The session's back-off, which what the server refuses for now shares.
        self.backoff = Backoff(*backoff)
        self._on_up, self._on_down = on_up, on_down
        self.session: Reconnector[IpSession] | None = None
        self.push: Reconnector[PushChannel] | None = None
        if ip is not None:
            connector = ip

            def login() -> Awaitable[IpSession]:
                return connector(on_feedback, on_push)

            self.session = Reconnector(
                "IP server", ctx.msisdn, login, ctx.reactor, self.backoff,
                on_up=self._up, on_down=self._down,
            )  # fmt: skip
        if push is not None:
            opener = push

            def subscribe() -> Awaitable[PushChannel]:
                return opener(on_push)

            self.push = Reconnector("push channel", ctx.owner, subscribe, ctx.reactor,
                                    Backoff(*backoff), on_up=self._push_up)  # fmt: skip

    @property
    def current(self) -> IpSession | None:
        """The logged-in session, if it is up."""
        return self.session.current if self.session is not None else None

    def start(self) -> None:
        if self.session is not None and not self.logged_out:
            self.session.start()
        if self.push is not None:
            self.push.start()

    def stop(self) -> list[Deferred[None]]:
        """Close both; the Deferreds fire once they are gone."""
        return [r.stop() for r in (self.session, self.push) if r is not None]

    def _up(self, _: IpSession) -> None:
        self.ctx.events.emit("ip up")
        self._on_up()

    def _down(self, _: IpSession) -> None:
        self._on_down()
        self.ctx.events.emit("ip down")

    def _push_up(self, _: PushChannel) -> None:
        self.ctx.events.emit("push up")

    def logout(self) -> Deferred[None]:
        """Close the session and keep it closed; fires once it is gone."""
        self.logged_out = True
        if self.session is None:
            return succeed(None)
        return self.session.stop()

    def login(self) -> Deferred[dict[str, Any]]:
        """Log in again; fires on "ip up" (at once if it is up)."""
        if self.session is None:
            return fail(PhoneError(f"{self.ctx.owner} has no IP server to log in to"))
        self.logged_out = False
        if self.session.current is not None:
            return succeed({})
        up = self.ctx.events.wait_for("ip up")
        if self.ctx.running:
            self.session.start()
        return up

    def indicated(self, message: wire.LoginIndication) -> None:
        """The server asks this logged-out device to log in
        (docs/history-query.md §Search, step 4)."""
        self.ctx.events.emit("login indication", reason=message.reason)
        if self.logged_out and self.auto_login:
            self.login()
