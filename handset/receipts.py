"""Read receipts (docs/read-receipts.md §Reading to §Feedback): a message the user opens owes the IP
server a response (``response_pending``) until the server accepts it, sent
again whenever the session comes back; with receipts off nothing is sent.
A feedback the server pushes moves the sent message to ``read``, and is
acknowledged once applied."""

from __future__ import annotations

import logging
from collections.abc import Callable

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from pdu import PDUError
from txkit import Backoff

from .context import PhoneContext, number_of
from .history import from_millis, millis
from .ip_session import LOG_IN_AGAIN, RETRY_LATER, FeedbackLike, IpSession
from .models import Direction
from .views import MessageView, Opened, Response, StateChange

log = logging.getLogger(__name__)


class Receipts:
    """Responses for what is read, feedback for what was sent; ``session``
    gives the IP session, if it is up."""

    def __init__(
        self,
        ctx: PhoneContext,
        session: Callable[[], IpSession | None],
        backoff: Backoff,
        on_first_read: Callable[[MessageView], None] = lambda _: None,
    ) -> None:
        """``on_first_read``: a received message was opened for the first time
        (committed): the account's other devices are owed the news."""
        self.ctx, self.session, self.backoff = ctx, session, backoff
        self.on_first_read = on_first_read
        self._responding: set[int] = set()  # message ids whose response is on its way

    def read(self, message_id: int) -> Deferred[MessageView]:
        d = self.ctx.store.call(self.ctx.repo.mark_read, message_id, self.ctx.now())
        return d.addCallback(self._opened)

    def open_conversation(self, peer: str) -> Deferred[list[MessageView]]:
        """Open every unread received message from ``peer`` in one commit
        (a conversation viewed); fires with those opened."""
        d = self.ctx.store.call(self.ctx.repo.open_conversation, peer, self.ctx.now())
        return d.addCallback(lambda opened: [self._opened(o) for o in opened])

    def _opened(self, opened: Opened) -> MessageView:
        m = opened.message
        if m.direction is not Direction.IN:
            return m  # a sent message is shown as it stands: only a received one is opened
        self.ctx.events.emit("opened", id=m.id, peer=m.peer, number=m.number)
        if opened.first:
            self.on_first_read(m)
        if opened.respond and m.number is not None:
            self._respond(Response(m.id, m.peer, m.number, m.tp_scts or m.created_at))
        return m

    def _respond(self, response: Response) -> None:
        session = self.session()
        if session is None or response.message_id in self._responding:
            return  # owed still: sent when the session is up
        self._responding.add(response.message_id)
        sent_at = millis(response.sent_at) if response.sent_at is not None else None
        d = session.send_response(self.ctx.msisdn, response.sender, response.number, 1, sent_at)
        d.addCallbacks(self._responded, self._response_failed,
                       callbackArgs=(response,), errbackArgs=(response, session))  # fmt: skip
        d.addErrback(self.ctx.log, "response")

    def flush(self) -> None:
        """Send every response still owed."""

        def respond_all(owed: list[Response]) -> None:
            for response in owed:
                self._respond(response)

        d = self.ctx.store.call(self.ctx.repo.pending_responses)
        d.addCallback(respond_all)
        d.addErrback(self.ctx.log, "pending responses")

    def session_lost(self) -> None:
        """What was on its way is owed still: sent again at the next login."""
        self._responding.clear()

    def _responded(self, _: object, response: Response) -> Deferred[None]:
        def done(_: object) -> None:
            self.backoff.reset()
            self.ctx.events.emit("response", id=response.message_id, peer=response.sender,
                                 number=response.number)  # fmt: skip

        def settled(result: object) -> object:
            self._responding.discard(response.message_id)
            return result

        # Bookkeeping: the server has it; may share a later commit.
        d = self.ctx.store.settle(self.ctx.repo.response_done, response.message_id)
        return d.addCallback(done).addBoth(settled)

    def _response_failed(
        self, failure: Failure, response: Response, session: IpSession
    ) -> Deferred[None] | None:
        self._responding.discard(response.message_id)
        exc = failure.value
        code = getattr(exc, "code", None)
        if code is None and isinstance(exc, ConnectionError):
            return None  # the session went: sent again at the next login
        if code in RETRY_LATER:
            wait = getattr(exc, "retry_after", None)
            delay = float(wait) if isinstance(wait, int | float) else self.backoff.next()
            self.ctx.later("responses", delay, self.flush)
            return None
        if code == LOG_IN_AGAIN:
            session.close()  # a new session sends what is owed
            return None
        reason = getattr(exc, "reason", failure.getErrorMessage())
        log.warning("%s: response %s refused: %s %s", self.ctx.msisdn, response, code, reason)
        d = self.ctx.store.call(self.ctx.repo.response_done, response.message_id)
        d.addCallback(lambda _: self.ctx.events.emit(
            "response refused", id=response.message_id, code=code, reason=reason))  # fmt: skip
        return d

    def feedback(self, feedback: FeedbackLike) -> Deferred[None]:
        """Apply a feedback; the Deferred fires (and the IP client acks) once
        it is committed.  One that names nothing of ours is acked as is."""
        try:
            receiver = number_of(feedback.receiver)
        except PDUError:
            log.info("%s: feedback for %r ignored", self.ctx.msisdn, feedback.receiver)
            return succeed(None)
        sent_at = from_millis(feedback.sent_at) if feedback.sent_at is not None else None
        d = self.ctx.store.call(self.ctx.repo.apply_feedback, receiver, feedback.message_number,
                                feedback.status, self.ctx.now(), sent_at)  # fmt: skip

        def applied(change: StateChange | None) -> None:
            self.ctx.events.changed(change)
            self.ctx.events.emit("feedback", peer=receiver, number=feedback.message_number,
                                 status=feedback.status,
                                 id=change.message_id if change is not None else None)  # fmt: skip

        return d.addCallback(applied)
