"""Receiving by SMS: messages reassembled from their parts, each stored once
(a part the SMSC delivers again after a lost RP-ACK is recognised and
dropped), incomplete messages given up after ``fragment_ttl``, and status
reports applied.  Every answer is a Deferred that fires once committed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from twisted.internet.defer import Deferred, DeferredLock, fail
from twisted.python.failure import Failure

from pdu import Address, PDUError, SmsDeliver, SmsStatusReport, encode_sca
from pdu import encode as encode_tpdu
from pdu.concat import Reassembled, Reassembler
from pdu.message_number import Carrier, read_number
from pdu.tpdu import Direction as TpduDirection
from pdu.tpdu import decode as decode_tpdu
from pdu.udh import find_concat, find_message_number
from radiolink.rp import RpCause

from .context import PhoneContext
from .conversation import report_state
from .views import FragmentKey, Received, StateChange, StoreFull

log = logging.getLogger(__name__)

#: How long the parts of an incomplete concatenated message are kept, counted
#: from the first of them.  TS 23.040 §9.2.3.24.1 sets no limit; three days
#: outlasts the SMSC's retries of the missing parts (its default validity is
#: two days, ``smsc.core``) and keeps a part that will never be completed from
#: joining a later message once the sender's 8-bit reference comes round again.
FRAGMENT_TTL = timedelta(days=3)
#: How long the phone remembers the parts it stored whole, to recognise one
#: the SMSC sends again because it never saw the RP-ACK.  A resend comes while
#: the SMSC still holds the message, so this only has to outlast the longest
#: validity period in use: a week, against the SMSC's default two days.
CONSUMED_TTL = timedelta(days=7)
#: Seconds between two sweeps of what is too old (the two limits above).
SWEEP_EVERY = 3600.0


def text_of(body: str) -> str:
    """A received text as stored: U+0000 has no place in a text column
    (PostgreSQL refuses it)."""
    return body.replace("\x00", "\ufffd")


class Inbox:
    """Takes SMS-DELIVERs and SMS-STATUS-REPORTs; ``on_stored`` hears of each
    new message stored."""

    def __init__(
        self,
        ctx: PhoneContext,
        fragment_ttl: timedelta,
        consumed_ttl: timedelta,
        on_stored: Callable[[], None],
    ) -> None:
        self.ctx = ctx
        self.fragment_ttl, self.consumed_ttl = fragment_ttl, consumed_ttl
        self.on_stored = on_stored
        self._reassembler = Reassembler()
        #: The incomplete messages the reassembler holds: when the first part came.
        self._held: dict[FragmentKey, datetime] = {}
        #: Parts of concatenated messages are taken one at a time, each once
        #: the one before is committed: a part delivered again while its first
        #: copy is being stored is then seen as consumed.
        self._parts_lock = DeferredLock()

    async def load(self) -> None:
        """Drop what is too old, and hold again the parts of incomplete messages."""
        repo, now = self.ctx.repo, self.ctx.now()
        await self.ctx.store.call(repo.expire_fragments, now - self.fragment_ttl)
        await self.ctx.store.call(repo.prune_consumed, now - self.consumed_ttl)
        await self._hold_stored_parts()

    async def _hold_stored_parts(self) -> None:
        """Hold in the reassembler what the store holds of incomplete messages."""
        self._reassembler, self._held = Reassembler(), {}
        for held in await self.ctx.store.call(self.ctx.repo.fragments):
            try:
                tpdu = decode_tpdu(held.tpdu, TpduDirection.MT)
            except PDUError:
                continue
            if isinstance(tpdu, SmsDeliver):
                self._reassembler.feed(held.key.sender, tpdu.tp_ud)
                since = self._held.get(held.key, held.received_at)
                self._held[held.key] = min(since, held.received_at)

    def _interpret(self, whole: Reassembled) -> tuple[str, int | None, Carrier | None]:
        """Display text, the sender's number and how it came.  A number in the
        UDH is the number, and the text is the user's, whole, whatever it ends
        with; only without one is an inline marker looked for (and stripped)."""
        settings = self.ctx.settings
        udh = tuple(ie for ud in whole.parts for ie in (ud.udh or ()))
        body = whole.body
        in_udh = find_message_number(udh, settings.iei)
        if isinstance(body, bytes):  # 8-bit data: shown as hex, numbered by the UDH only
            return body.hex(" "), in_udh, Carrier.UDH if in_udh is not None else None
        if in_udh is not None:
            return text_of(body), in_udh, Carrier.UDH
        numbered = read_number(body, None, settings.iei, settings.marker)
        return text_of(numbered.text), numbered.number, numbered.carrier

    def deliver(self, tpdu: SmsDeliver, sca: Address | None = None) -> Deferred[int | None]:
        """Take an SMS-DELIVER that came through the SMSC ``sca``; fires with
        None once stored (RP-ACK), or with the RP-Cause to refuse it: 22
        (memory capacity exceeded) when the message store is full."""
        d = self._deliver(tpdu, encode_sca(tpdu, sca))

        def full(failure: Failure) -> Deferred[int | None]:
            if not isinstance(failure.value, StoreFull):
                return fail(failure)
            log.info("%s: message store full, SMS from %s refused", self.ctx.msisdn, tpdu.tp_oa)
            noted = self.ctx.store.call(self.ctx.repo.memory_exceeded)
            return noted.addCallback(lambda _: RpCause.MEMORY_CAPACITY_EXCEEDED)

        return d.addErrback(full)

    def _deliver(self, tpdu: SmsDeliver, entry: bytes) -> Deferred[int | None]:
        sender = str(tpdu.tp_oa)
        concat = find_concat(tpdu.tp_ud.udh)
        if concat is None:
            return self._take(tpdu, None, entry)
        key = FragmentKey(sender, concat.ref_bits, concat.ref, concat.total)
        # What the SMSC may change when it delivers the same part again (more
        # messages waiting, loop prevention, reply path, report wanted) is left
        # out of what identifies the part.
        try:
            octets = encode_tpdu(
                replace(tpdu, tp_mms=False, tp_lp=False, tp_sri=False, tp_rp=False)
            )
        except PDUError:
            return fail()
        return self._parts_lock.run(self._take_part, tpdu, key, concat.seq, octets, entry)

    async def _take_part(
        self, tpdu: SmsDeliver, key: FragmentKey, seq: int, octets: bytes, entry: bytes
    ) -> int | None:
        """One part of a concatenated message: dropped (and acknowledged) when
        it went into a stored message already, else taken."""
        if await self.ctx.store.call(self.ctx.repo.part_consumed, key, seq, octets):
            log.info("%s: part %d of %d (reference %d) from %s again, stored already",
                     self.ctx.msisdn, seq, key.total, key.ref, key.sender)  # fmt: skip
            return None  # acknowledged: the SMSC stops resending it
        try:
            return await self._take(tpdu, (key, seq, octets), entry)
        except StoreFull:
            await self._hold_stored_parts()  # the part refused is not held: it comes again
            raise

    def _take(
        self, tpdu: SmsDeliver, part: tuple[FragmentKey, int, bytes] | None, entry: bytes
    ) -> Deferred[int | None]:
        """Reassemble and store a new SMS-DELIVER; ``part``: its key, part
        number and octets as kept, when it is one part of several; ``entry``:
        what goes into the message store (the SMSC address field and the
        TPDU), told to the AT port by a "stored" event once committed."""
        sender, now, repo = str(tpdu.tp_oa), self.ctx.now(), self.ctx.repo
        key = part[0] if part is not None else None
        since = self._held.get(key) if key is not None else None
        if since is not None and since < now - self.fragment_ttl:
            self.expire_fragments()  # what is held for this key can only be stale
            since = None
        whole = self._reassembler.feed(sender, tpdu.tp_ud)
        if whole is None:  # a part of a message still incomplete (or one held already)
            assert part is not None and key is not None
            self._held.setdefault(key, now)
            kept = self.ctx.store.call(repo.save_fragment, key, part[1], part[2], now, entry,
                                       self.ctx.capacity)  # fmt: skip
            return kept.addCallback(self._entry_stored, entry)
        if key is not None:
            self._held.pop(key, None)
        text, number, carrier = self._interpret(whole)
        # An inline number is the sender's only if it numbers (repo's rule).
        body = whole.body
        unstripped = text_of(body) if carrier is Carrier.INLINE and isinstance(body, str) else None
        d = self.ctx.store.call(repo.store_incoming, sender, text, number, carrier,
                                tpdu.tp_scts, len(whole.parts), key, now,
                                (part[1], part[2]) if part is not None else None,
                                entry=entry, capacity=self.ctx.capacity,
                                unstripped=unstripped)  # fmt: skip

        def stored(received: Received) -> None:
            self._entry_stored(received.slot, entry)
            if self.ctx.events.received(received, "sms"):
                self.on_stored()

        def not_stored(failure: Failure) -> Failure:
            # Hold the other parts again: the SMSC resends this one.
            others = [ud for ud in whole.parts if ud is not tpdu.tp_ud]
            for ud in others:
                self._reassembler.feed(sender, ud)
            if key is not None and others:
                self._held.setdefault(key, since or now)
            return failure

        return d.addCallbacks(stored, not_stored)

    def _entry_stored(self, slot: int | None, entry: bytes) -> None:
        if slot is not None:
            self.ctx.events.emit("stored", index=slot, pdu=entry)

    def expire_fragments(self) -> None:
        """Give up on the incomplete messages whose first part is older than
        ``fragment_ttl``, in memory at once and then in the store.  The store
        runs its work in order, so parts taken before are stored before it
        drops them, and parts taken after are kept."""
        cutoff = self.ctx.now() - self.fragment_ttl
        for key in [k for k, since in self._held.items() if since < cutoff]:
            del self._held[key]
            self._forget(key)
            log.info("%s: incomplete message %d from %s given up (first part over %s old)",
                     self.ctx.msisdn, key.ref, key.sender, self.fragment_ttl)  # fmt: skip
        d = self.ctx.store.call(self.ctx.repo.expire_fragments, cutoff)
        d.addErrback(self.ctx.log, "expiring fragments")

    def _forget(self, key: FragmentKey) -> None:
        """Drop what the reassembler holds of ``key`` alone: it drops by sender
        and reference, so other messages sharing those are put back."""
        dropped = []
        while (gone := self._reassembler.drop(key.sender, key.ref)) is not None:
            dropped.append(gone)
        for gone in dropped:
            c = find_concat(gone.parts[0].udh) if gone.parts else None
            if c is not None and (c.ref_bits, c.total) != (key.ref_bits, key.total):
                for ud in gone.parts:
                    self._reassembler.feed(key.sender, ud)

    def sweep(self) -> None:
        """Drop what is too old to matter: incomplete messages, consumed parts."""
        self.expire_fragments()
        d = self.ctx.store.call(self.ctx.repo.prune_consumed, self.ctx.now() - self.consumed_ttl)
        d.addErrback(self.ctx.log, "pruning consumed parts")
        self.ctx.later("sweep", SWEEP_EVERY, self.sweep)

    def report(self, tpdu: SmsStatusReport, sca: Address | None = None) -> Deferred[int | None]:
        """Apply a status report; a "status report" event (with the SMSC
        address field and the TPDU) tells the AT port once it is applied."""
        d = self.ctx.store.call(self.ctx.repo.apply_report, str(tpdu.tp_ra), tpdu.tp_mr,
                                tpdu.tp_st, report_state(tpdu.tp_st))  # fmt: skip

        def applied(change: StateChange | None) -> None:
            self.ctx.events.changed(change)
            self.ctx.events.emit("status report", pdu=encode_sca(tpdu, sca))

        return d.addCallback(applied)
