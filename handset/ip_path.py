"""The direct IP message path (docs/read-receipts.md §Routing): a message for a peer online on the
IP server goes through the server instead of the SMSC, under the number it
took; one the server will not take goes by SMS instead, once."""

from __future__ import annotations

import logging
from collections.abc import Callable

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from ipwire import wire
from pdu import Address, PDUError
from txkit import Backoff

from .context import PhoneContext, number_of
from .history import millis
from .ip_session import RETRY_LATER, IpSession
from .outbox import Outbox
from .views import MessageView, Outgoing, Received

log = logging.getLogger(__name__)


class IpMessages:
    """Offers IP-path messages to the server (``session``), falls back to SMS
    through ``outbox``, and stores what comes this way; ``on_stored`` hears of
    each new message stored.  ``backoff`` is the IP session's: a server that
    refuses for now is asked again no sooner than it would be reconnected."""

    def __init__(
        self,
        ctx: PhoneContext,
        session: Callable[[], IpSession | None],
        outbox: Outbox,
        backoff: Backoff,
        on_stored: Callable[[], None],
    ) -> None:
        self.ctx, self.session, self.outbox = ctx, session, outbox
        self.backoff, self.on_stored = backoff, on_stored
        self._offering: set[int] = set()  # IP-path messages on their way to the server

    def offer(self, m: MessageView) -> None:
        """Hand an IP-path message to the server; by SMS if it will not take it."""
        session = self.session()
        if session is None or m.id in self._offering:
            if session is None:
                self.fallback(m.id)
            return
        self._offering.add(m.id)
        assert m.number is not None
        d = session.ip_submit(m.peer, m.uid, m.number, m.text, millis(m.created_at))

        def taken(_: object) -> Deferred[None]:
            self._offering.discard(m.id)
            d = self.ctx.store.call(self.ctx.repo.ip_accepted, m.id)
            return d.addCallback(self.ctx.events.changed)

        def refused(failure: Failure) -> None:
            self._offering.discard(m.id)
            code = getattr(failure.value, "code", None)
            if code is None or code in RETRY_LATER:
                # No answer (the session went, or timed out): the server may
                # have taken it, so it is offered again over IP, never also
                # by SMS, and the server takes each uid once.  Refused for
                # now: again a little later.
                wait = getattr(failure.value, "retry_after", None)
                delay = float(wait) if isinstance(wait, int | float) else self.backoff.next()
                self.ctx.later("ip offer", delay, self.offer_pending)
                return
            log.info("%s: message %d by SMS: %s", self.ctx.owner, m.id, failure.getErrorMessage())
            self.fallback(m.id)

        d = self.ctx.bounded(d, f"IP-path message {m.id}")
        d.addCallbacks(taken, refused).addErrback(self.ctx.log, f"IP-path message {m.id}")

    def fallback(self, message_id: int) -> None:
        """Send an IP-path message by SMS instead (once: the store makes its
        parts only while it is still waiting for the IP path)."""
        repo = self.ctx.repo

        def go(m: MessageView) -> Deferred[Outgoing]:
            carrier = m.carrier or self.ctx.settings.carrier
            build = self.outbox.builder(Address.parse(m.peer), m.text, carrier)
            return self.ctx.store.call(repo.ip_fallback, message_id, build)

        def submit(out: Outgoing) -> None:
            if out.parts:
                self.ctx.events.emit("ip fallback", id=message_id, parts=len(out.parts))
            self.outbox.submit_new(out.parts)

        d = self.ctx.store.call(repo.message, message_id).addCallback(go)
        d.addCallback(submit).addErrback(self.ctx.log, f"message {message_id} by SMS")

    def fallback_all(self) -> Deferred[None]:
        """With no IP server: the IP-path messages of a run that had one, by SMS."""

        def each(ids: list[int]) -> None:
            for message_id in ids:
                self.fallback(message_id)

        return self.ctx.store.call(self.ctx.repo.ip_pending).addCallback(each)

    def offer_pending(self) -> None:
        """After a login: the IP-path messages still waiting go again (the
        server takes each uid once)."""
        repo = self.ctx.repo

        def load() -> list[MessageView]:  # one trip to the database thread, not one a message
            return [repo.message(i) for i in repo.ip_pending()]

        def offer(messages: list[MessageView]) -> None:
            for m in messages:
                self.offer(m)

        d = self.ctx.store.call(load).addCallback(offer)
        d.addErrback(self.ctx.log, "pending IP-path messages")

    def receive(self, m: wire.IpMessage) -> Deferred[None]:
        """A message over the IP path: stored (once per uid), then acknowledged."""
        try:
            sender = number_of(m.sender)
        except PDUError:
            log.info("%s: IP message from %r ignored", self.ctx.owner, m.sender)
            return succeed(None)
        # Filed under when it came, as an SMS is: the sender's clock is the
        # sender's, and another account's device may say anything.
        now = self.ctx.now()
        d = self.ctx.store.call(self.ctx.repo.store_ip_incoming, sender, m.uid, m.text,
                                m.message_number, now, now)  # fmt: skip

        def stored(received: Received) -> None:
            if self.ctx.events.received(received, "ip"):
                self.on_stored()

        return d.addCallback(stored)
