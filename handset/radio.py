"""The phone's radio side: the link to the SMSC, kept up by
``handset.reconnect`` (up once the SMSC accepts the attach), and how what
the network delivers is answered: after its effect is committed (RP-ACK),
RP-ERROR 41 if the commit fails, so the SMSC tries again."""

from __future__ import annotations

import logging
from collections.abc import Callable

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorTCP
from twisted.python.failure import Failure

from pdu import Address, PDUError, SmsDeliver, SmsStatusReport, SmsSubmitReport, Tpdu
from radiolink import rp
from txkit import Backoff

from .context import PhoneContext
from .inbox import Inbox
from .link_client import LinkClient, connect_client
from .reconnect import Reconnector
from .sim import SimCard

log = logging.getLogger(__name__)


class RadioLink:
    """The radio link to ``smsc`` (host, port); none for a companion device."""

    def __init__(
        self,
        ctx: PhoneContext,
        imsi: str,
        smsc: tuple[str, int] | None,
        backoff: tuple[float, float],
        inbox: Inbox,
        *,
        on_up: Callable[[], None],
        on_down: Callable[[], None],
        sim: SimCard | None = None,
    ) -> None:
        self.ctx, self.imsi, self.smsc, self.inbox = ctx, imsi, smsc, inbox
        self.sim = sim  # None: a SIM without keys, for an open SMSC only
        self._on_up, self._on_down = on_up, on_down
        self.link = Reconnector("radio link", ctx.msisdn, self._connect, ctx.reactor,
                                Backoff(*backoff), on_up=self._up, on_down=self._down)  # fmt: skip

    @property
    def current(self) -> LinkClient | None:
        """The attached link, if it is up."""
        return self.link.current

    def start(self) -> None:
        if self.smsc is not None:
            self.link.start()

    def stop(self) -> Deferred[None]:
        return self.link.stop()

    def smsc_address(self) -> Address | None:
        """The SMSC's address, as the attach told it (None while detached)."""
        link = self.current
        try:
            return Address.parse(link.ms.smsc) if link is not None and link.ms.smsc else None
        except PDUError:
            return None

    def submit(self, tpdu: bytes, timeout: float) -> Deferred[SmsSubmitReport | None]:
        """Submit a TPDU as it is, outside the outbox (the AT port's): fires
        on the SMSC's RP-ACK; SubmitRefused on its RP-ERROR; ConnectionError
        when not attached or the link goes; TimeoutError after ``timeout``."""
        link = self.current
        if link is None:
            return fail(ConnectionError("not attached to the SMSC"))
        return link.submit(tpdu).addTimeout(timeout, self.ctx.reactor)

    def smma(self) -> Deferred[None]:
        """Tell the SMSC the message store has room again (RP-SMMA), if it
        is owed one (a message was refused for a full store); fires once
        that is settled (or nothing was owed, or the link is down: then it
        is sent at the next attach)."""
        return Deferred.fromCoroutine(self._smma())

    async def _smma(self) -> None:
        store, repo = self.ctx.store, self.ctx.repo
        link = self.current
        if link is None or not await store.call(repo.smma_due, self.ctx.capacity):
            return
        await link.smma()
        await store.call(repo.memory_available_sent)
        self.ctx.events.emit("memory available")

    def _connect(self) -> Deferred[LinkClient]:
        assert self.smsc is not None
        host, port = self.smsc
        sim = self.sim
        if sim is None:
            client = LinkClient(self.imsi, self.ctx.msisdn, self.answer)
        else:
            profile = sim.profile  # SQN_MS as it is now, at each attach
            client = LinkClient(
                self.imsi,
                self.ctx.msisdn,
                self.answer,
                keys=profile.keys,
                sqn=profile.sqn,
                keep_sqn=sim.keep_sqn,
            )

        def failed(failure: Failure) -> Failure:
            client.close()  # a connection the SMSC refused to attach
            return failure

        d = connect_client(IReactorTCP(self.ctx.reactor), host, port, client)
        return d.addErrback(failed)

    def _up(self, client: LinkClient) -> None:
        self.ctx.events.emit("attached", smsc=client.ms.smsc)
        self._on_up()

    def _down(self, _: LinkClient) -> None:
        self._on_down()
        self.ctx.events.emit("detached")

    def answer(self, tpdu: Tpdu) -> Deferred[int | None] | int | None:
        """How to answer what the network delivers: after it is committed."""
        sca = self.smsc_address()
        if isinstance(tpdu, SmsDeliver):
            return self.inbox.deliver(tpdu, sca)
        if isinstance(tpdu, SmsStatusReport):
            return self.inbox.report(tpdu, sca)
        log.info("%s: %s in an RP-DATA, refused", self.ctx.msisdn, tpdu.name)
        return rp.RpCause.MESSAGE_TYPE_NON_EXISTENT_OR_NOT_IMPLEMENTED
