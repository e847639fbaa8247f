"""Sending by SMS: a message is numbered and stored before anything is sent,
and its parts are submitted until the SMSC accepts or refuses them, across
lost links and restarts (the state stays ``sending`` meanwhile)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from pdu import Address, DataCodingScheme, SmsSubmit, SmsSubmitReport
from pdu import encode as encode_tpdu
from pdu.concat import split
from pdu.message_number import Carrier
from radiolink import rp
from txkit import Backoff

from .context import PhoneContext
from .link_client import LinkClient, SubmitRefused
from .views import Build, Outgoing, PendingPart, StateChange

log = logging.getLogger(__name__)

C = rp.RpCause
#: RP-Causes of a refused SMS-SUBMIT after which the same submit may succeed
#: later (TS 24.011 Table 8.4): the part stays pending and is submitted again.
RETRY_CAUSES = frozenset(
    {
        C.DESTINATION_OUT_OF_ORDER,
        C.NETWORK_OUT_OF_ORDER,
        C.TEMPORARY_FAILURE,
        C.CONGESTION,
        C.RESOURCES_UNAVAILABLE_UNSPECIFIED,
    }
)


def build_submits(
    to: Address,
    text: str,
    number: int | None,
    ref: int,
    first_mr: int,
    *,
    carrier: Carrier,
    iei: int,
    marker: str,
) -> list[tuple[int, bytes]]:
    """The SMS-SUBMITs of one message, as (TP-MR, octets): split through the
    codec with the message number in the chosen carrier, a status report
    requested for every part."""
    plan = split(text, ref=ref, message_number=number, carrier=carrier, iei=iei, marker=marker)
    dcs = DataCodingScheme.general(plan.alphabet)
    out = []
    for i, ud in enumerate(plan.parts):
        mr = (first_mr + i) % 256
        submit = SmsSubmit(tp_da=to, tp_mr=mr, tp_dcs=dcs, tp_ud=ud, tp_srr=True)
        out.append((mr, encode_tpdu(submit)))
    return out


class Outbox:
    """Numbers, stores and submits; ``link`` gives the radio link, if it is up."""

    def __init__(
        self, ctx: PhoneContext, link: Callable[[], LinkClient | None], backoff: Backoff
    ) -> None:
        self.ctx, self.link, self.backoff = ctx, link, backoff
        self._submitting: set[int] = set()  # part ids submitted on the current link

    def builder(self, to: Address, text: str, how: Carrier) -> Build:
        """Makes the SMS-SUBMITs of a message once its number is known."""
        settings = self.ctx.settings

        def build(number: int | None, ref: int, first_mr: int) -> list[tuple[int, bytes]]:
            return build_submits(to, text, number, ref, first_mr, carrier=how,
                                 iei=settings.iei, marker=settings.marker)  # fmt: skip

        return build

    def store(self, to: Address, text: str, how: Carrier, via: str) -> Deferred[Outgoing]:
        """Number and store a message; its SMS parts, if any, are submitted."""
        build = self.builder(to, text, how)
        repo = self.ctx.repo
        d = self.ctx.store.call(repo.create_outgoing, str(to), text, how, self.ctx.now(), build,
                                via=via)  # fmt: skip
        return d.addCallback(self._queued)

    def _queued(self, out: Outgoing) -> Outgoing:
        m = out.message
        self.ctx.events.emit("queued", id=m.id, peer=m.peer, number=m.number, parts=m.parts,
                             via=m.via)  # fmt: skip
        self.submit_all(out.parts)
        return out

    def submit_all(self, parts: list[PendingPart]) -> None:
        for part in parts:
            self.submit(part)

    def submit(self, part: PendingPart) -> None:
        link = self.link()
        if link is None or part.id in self._submitting:
            return
        self._submitting.add(part.id)
        d = link.submit(part.tpdu)
        d.addCallbacks(self._accepted, self._refused, callbackArgs=(part,), errbackArgs=(part,))
        d.addErrback(self.ctx.log, "submit")

    def resubmit(self) -> None:
        """Submit every part still pending (after an attach, after a refusal for now)."""
        d = self.ctx.store.call(self.ctx.repo.pending_parts)
        d.addCallback(self.submit_all)
        d.addErrback(self.ctx.log, "pending parts")

    def link_lost(self) -> None:
        """What was submitted on the link that went is submitted again on the next."""
        self._submitting.clear()

    def _settled(self, change: Deferred[StateChange | None], part: PendingPart) -> Deferred[None]:
        """Announce the part's effect once committed; from then on a sweep of
        the pending parts may see it (it is no longer pending)."""

        def done(result: StateChange | None) -> None:
            self._submitting.discard(part.id)
            self.ctx.events.changed(result)

        def failed(failure: Failure) -> None:
            self._submitting.discard(part.id)
            self.ctx.log(failure, f"part {part.id}")

        return change.addCallback(done).addErrback(failed)

    def _accepted(self, report: SmsSubmitReport | None, part: PendingPart) -> Deferred[None]:
        self.backoff.reset()
        tp_scts = report.tp_scts if report is not None else None
        accepted = self.ctx.store.call(self.ctx.repo.part_accepted, part.id, tp_scts)
        return self._settled(accepted, part)

    def _refused(self, failure: Failure, part: PendingPart) -> Deferred[None] | None:
        exc = failure.value
        if isinstance(exc, SubmitRefused) and exc.cause not in RETRY_CAUSES:
            log.info("%s: part %d refused: %s", self.ctx.msisdn, part.id, exc)
            refused = self.ctx.store.call(self.ctx.repo.part_refused, part.id, exc.cause)
            return self._settled(refused, part)
        self._submitting.discard(part.id)
        if isinstance(exc, SubmitRefused):
            # Temporary: the same part again, after a while.
            self.ctx.later("submit", self.backoff.next(), self.resubmit)
        elif not isinstance(exc, ConnectionError):
            self.ctx.log(failure, f"submitting part {part.id}")
        return None  # a lost link: submitted again on the next attach
