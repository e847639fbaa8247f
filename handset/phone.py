"""The emulated phone (SPEC §2, §4.3): it numbers and sends messages through
the SMSC, receives and reassembles them, detects reads and sends responses to
the IP server, and applies the feedback that comes back.

The state rules live in ``handset.conversation`` and the rows in
``handset.store``; this module wires them to the two links, each a thin
adapter: the radio link (``handset.link_client``) and the IP session (anything
shaped like ``IpSession``, normally ``handset.ip_client.IpClient``).  Both links
are re-established with a growing back-off when they drop.

What the phone promises, in the order it matters to the network:

* a received SMS-DELIVER or SMS-STATUS-REPORT is acknowledged (RP-ACK) only
  once its effect is committed; a commit that fails answers RP-ERROR 41
  (temporary failure) and the SMSC tries again;
* a feedback is acknowledged to the IP server only once applied;
* a message is numbered and stored before anything is sent, and its parts are
  submitted until the SMSC accepts or refuses them, across lost links and
  restarts (the state stays ``sending`` meanwhile);
* a part of a concatenated message that the SMSC delivers again after a lost
  RP-ACK is acknowledged and dropped when its message is stored already, and
  the same whole message again is not stored twice;
* a read message's response is owed (``response_pending``) until the IP server
  accepts it, and sent again whenever the IP session comes back.  With receipts
  off nothing is ever sent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from twisted.internet.defer import Deferred, DeferredList, DeferredLock, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTCP, IReactorTime
from twisted.python.failure import Failure

from pdu import Address, DataCodingScheme, PDUError, SmsDeliver, SmsStatusReport, SmsSubmit, Tpdu
from pdu import encode as encode_tpdu
from pdu.address import TON_ALPHANUMERIC
from pdu.concat import Reassembled, Reassembler, split
from pdu.message_number import Carrier, read_number
from pdu.tpdu import Direction as TpduDirection
from pdu.tpdu import decode as decode_tpdu
from pdu.udh import find_concat, find_message_number
from smsc import rp

from .conversation import report_state
from .link_client import LinkClient, SubmitRefused, connect_client
from .store import (
    ConversationView,
    FragmentKey,
    HandsetStore,
    MessageView,
    NotFound,
    Opened,
    Outgoing,
    PendingPart,
    Received,
    Response,
    Settings,
    StateChange,
)

log = logging.getLogger(__name__)

__all__ = [
    "Backoff",
    "FeedbackLike",
    "IpConnector",
    "IpSession",
    "NotFound",
    "OnFeedback",
    "Phone",
    "PhoneError",
    "Watcher",
    "build_submits",
    "number_of",
]

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
#: How the phone takes an ``error`` answering a response (docs/receipt-wire.md):
#: rate_limited waits retry_after, server_error backs off, unauthenticated logs
#: in again; any other code (forbidden, bad_message, one it does not know)
#: refuses the response for good, and it is no longer owed.
RETRY_LATER, LOG_IN_AGAIN = frozenset({"rate_limited", "server_error"}), "unauthenticated"

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


class PhoneError(ValueError):
    """A request the phone cannot carry out, with the reason for its user."""


class FeedbackLike(Protocol):
    """What the phone reads of a feedback (``receipt_server.wire.Feedback``)."""

    @property
    def receiver(self) -> str: ...

    @property
    def message_number(self) -> int: ...

    @property
    def status(self) -> int: ...


#: Applies a feedback; the IP client acknowledges it once the Deferred fires.
OnFeedback = Callable[[FeedbackLike], Deferred[None]]


class IpSession(Protocol):
    """What the phone needs of a logged-in IP session (``IpClient``)."""

    @property
    def lost(self) -> Deferred[None]: ...

    def send_response(
        self, receiver: str, sender: str, message_number: int, status: int = 1
    ) -> Deferred[None]: ...

    def close(self) -> None: ...


#: Connects and logs in to the IP server, handing pushed feedback to the
#: callback: e.g. ``lambda on_feedback: connect_ip(reactor, host, port, device,
#: secret, on_feedback)``.
IpConnector = Callable[[OnFeedback], Awaitable[IpSession]]
#: ``watch`` callbacks: the event's name and its details.
Watcher = Callable[[str, dict[str, Any]], None]


class Backoff:
    """Delays between reconnection attempts: ``initial``, doubled after each
    failure up to ``maximum``, back to ``initial`` after a success."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0) -> None:
        self.initial, self.maximum = initial, maximum
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self.maximum, delay * 2)
        return delay

    def reset(self) -> None:
        self._next = self.initial


def number_of(text: str) -> str:
    """A phone number as the network writes it (``+4479...``): how peers are keyed."""
    return str(Address.parse(text.strip()))


def build_submits(
    to: Address,
    text: str,
    number: int,
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


@dataclass
class _Waiter:
    kind: str
    match: dict[str, Any]
    done: Deferred[dict[str, Any]]


class Phone:
    """One emulated handset: see the module docstring for what it promises.

    ``smsc`` is the radio link's (host, port); ``ip`` connects the IP session.
    Either may be None (a phone with no IP server; a companion device with no
    SIM would have no ``smsc``).  ``settings`` None keeps what the store has.
    ``fragment_ttl`` and ``consumed_ttl``: see ``FRAGMENT_TTL`` and
    ``CONSUMED_TTL``.
    """

    def __init__(
        self,
        imsi: str,
        msisdn: str,
        store: HandsetStore,
        settings: Settings | None,
        reactor: IReactorTime,
        *,
        smsc: tuple[str, int] | None = None,
        ip: IpConnector | None = None,
        backoff: tuple[float, float] = (0.5, 30.0),
        fragment_ttl: timedelta = FRAGMENT_TTL,
        consumed_ttl: timedelta = CONSUMED_TTL,
    ) -> None:
        self.imsi = imsi
        self.msisdn = number_of(msisdn)
        if store.owner != self.msisdn:
            raise PhoneError(f"the store belongs to {store.owner}, not {self.msisdn}")
        self.store = store
        self.settings = settings or Settings()
        self._given_settings = settings
        self.reactor = reactor
        self.smsc = smsc
        self._ip_connector = ip
        self._link_backoff = Backoff(*backoff)
        self._ip_backoff = Backoff(*backoff)
        self._submit_backoff = Backoff(*backoff)
        self._response_backoff = Backoff(*backoff)
        self.fragment_ttl, self.consumed_ttl = fragment_ttl, consumed_ttl
        self._reassembler = Reassembler()
        #: The incomplete messages the reassembler holds: when the first part came.
        self._held: dict[FragmentKey, datetime] = {}
        #: Parts of concatenated messages are taken one at a time, each once
        #: the one before is committed: a part delivered again while its first
        #: copy is being stored is then seen as consumed.
        self._parts_lock = DeferredLock()
        self._running = False
        self._link: LinkClient | None = None
        self._ip: IpSession | None = None
        self._submitting: set[int] = set()  # part ids submitted on the current link
        self._responding: set[int] = set()  # message ids whose response is on its way
        self._timers: dict[str, IDelayedCall] = {}
        self._watchers: list[Watcher] = []
        self._waiters: list[_Waiter] = []

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Load the settings and the parts of incomplete messages, then bring
        the links up (without waiting for them: see ``wait_for``)."""
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        repo = self.store.repo
        if self._given_settings is not None:
            self.settings = await self.store.call(repo.save_settings, self._given_settings)
        else:
            self.settings = await self.store.call(repo.load_settings, None)
        now = self._now()
        await self.store.call(repo.expire_fragments, now - self.fragment_ttl)
        await self.store.call(repo.prune_consumed, now - self.consumed_ttl)
        for held in await self.store.call(repo.fragments):
            try:
                tpdu = decode_tpdu(held.tpdu, TpduDirection.MT)
            except PDUError:
                continue
            if isinstance(tpdu, SmsDeliver):
                self._reassembler.feed(held.key.sender, tpdu.tp_ud)
                since = self._held.get(held.key, held.received_at)
                self._held[held.key] = min(since, held.received_at)
        self._running = True
        self._later("sweep", SWEEP_EVERY, self._sweep)
        self._connect_link()
        self._connect_ip()

    def stop(self) -> Deferred[None]:
        """Drop both links and stop reconnecting; fires once they are closed."""
        self._running = False
        for call in self._timers.values():
            if call.active():
                call.cancel()
        self._timers.clear()
        closing: list[Deferred[None]] = []
        if self._link is not None:
            closing.append(self._link.lost)
            self._link.close()
        if self._ip is not None:
            closing.append(self._ip.lost)
            self._ip.close()
        done: Deferred[Any] = DeferredList(closing, consumeErrors=True)
        return done.addCallback(lambda _: None)

    @property
    def attached(self) -> bool:
        return self._link is not None

    @property
    def online(self) -> bool:
        """Whether the IP session is up."""
        return self._ip is not None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.reactor.seconds(), UTC)

    def _later(self, name: str, delay: float, fn: Callable[[], None]) -> None:
        if not self._running:
            return
        old = self._timers.get(name)
        if old is not None and old.active():
            return

        def run() -> None:
            self._timers.pop(name, None)
            fn()

        self._timers[name] = self.reactor.callLater(delay, run)

    # -- events --------------------------------------------------------------------

    def watch(self, fn: Watcher) -> None:
        """Call ``fn(event, details)`` on everything that happens (for the demo,
        logs and tests): attached, detached, ip up, ip down, queued, state,
        received, opened, response, response refused, feedback."""
        self._watchers.append(fn)

    def wait_for(self, kind: str, **match: Any) -> Deferred[dict[str, Any]]:
        """Fires with the details of the next event ``kind`` whose details
        include ``match``."""
        waiter = _Waiter(kind, match, Deferred())
        self._waiters.append(waiter)
        return waiter.done

    def _emit(self, kind: str, **details: Any) -> None:
        log.debug("%s: %s %s", self.msisdn, kind, details)
        for fn in self._watchers:
            fn(kind, details)
        fired = [
            w
            for w in self._waiters
            if w.kind == kind and all(details.get(k) == v for k, v in w.match.items())
        ]
        for w in fired:
            self._waiters.remove(w)
            w.done.callback(details)

    def _changed(self, change: StateChange | None) -> None:
        if change is not None:
            self._emit(
                "state",
                id=change.message_id,
                peer=change.peer,
                number=change.number,
                old=change.old,
                state=change.new,
            )

    # -- the radio link ------------------------------------------------------------

    def _connect_link(self) -> None:
        if not self._running or self.smsc is None:
            return
        host, port = self.smsc
        client = LinkClient(self.imsi, self.msisdn, self._answer)
        d = connect_client(IReactorTCP(self.reactor), host, port, client)
        d.addCallbacks(self._link_up, self._link_failed, errbackArgs=(client,))

    def _link_up(self, client: LinkClient) -> None:
        if not self._running:
            client.close()
            return
        self._link = client
        self._link_backoff.reset()
        client.lost.addBoth(self._link_lost, client)
        self._emit("attached", smsc=client.ms.smsc)
        self._resubmit()

    def _link_failed(self, failure: Failure, client: LinkClient) -> None:
        log.info("%s: radio link: %s", self.msisdn, failure.getErrorMessage())
        client.close()
        self._later("link", self._link_backoff.next(), self._connect_link)

    def _link_lost(self, _: object, client: LinkClient) -> None:
        if self._link is not client:
            return
        self._link = None
        self._submitting.clear()
        self._emit("detached")
        self._later("link", self._link_backoff.next(), self._connect_link)

    def _answer(self, tpdu: Tpdu) -> Deferred[int | None] | int | None:
        """How to answer what the network delivers: after it is committed."""
        if isinstance(tpdu, SmsDeliver):
            return self._on_deliver(tpdu)
        if isinstance(tpdu, SmsStatusReport):
            return self._on_report(tpdu)
        log.info("%s: %s in an RP-DATA, refused", self.msisdn, tpdu.name)
        return C.MESSAGE_TYPE_NON_EXISTENT_OR_NOT_IMPLEMENTED

    # -- sending -------------------------------------------------------------------

    def send(self, peer: str, text: str, carrier: Carrier | str | None = None) -> Deferred[int]:
        """Number, store and submit a message to ``peer``; fires with its id
        once stored (its state then moves on: see the "state" event).
        ``carrier`` overrides the handset's setting for this message."""
        settings = self.settings
        try:
            to = Address.parse(peer.strip())
            if to.ton == TON_ALPHANUMERIC:
                raise PhoneError(f"cannot send to {peer!r}: not a phone number")
            how = Carrier(carrier) if carrier is not None else settings.carrier

            def build(number: int, ref: int, first_mr: int) -> list[tuple[int, bytes]]:
                return build_submits(
                    to,
                    text,
                    number,
                    ref,
                    first_mr,
                    carrier=how,
                    iei=settings.iei,
                    marker=settings.marker,
                )

            build(0, 0, 0)  # what cannot be sent is refused before it takes a number
        except (PDUError, ValueError) as exc:
            return fail(PhoneError(str(exc)))
        d = self.store.call(self.store.repo.create_outgoing, str(to), text, how, self._now(), build)
        return d.addCallback(self._queued)

    def _queued(self, out: Outgoing) -> int:
        m = out.message
        self._emit("queued", id=m.id, peer=m.peer, number=m.number, parts=m.parts)
        for part in out.parts:
            self._submit(part)
        return m.id

    def _submit(self, part: PendingPart) -> None:
        link = self._link
        if link is None or part.id in self._submitting:
            return
        self._submitting.add(part.id)
        d = link.submit(part.tpdu)
        d.addCallbacks(self._accepted, self._refused, callbackArgs=(part,), errbackArgs=(part,))
        d.addErrback(self._log, "submit")

    def _resubmit(self) -> None:
        def submit_all(parts: list[PendingPart]) -> None:
            for part in parts:
                self._submit(part)

        d = self.store.call(self.store.repo.pending_parts)
        d.addCallback(submit_all)
        d.addErrback(self._log, "pending parts")

    def _settled(self, change: Deferred[StateChange | None], part: PendingPart) -> Deferred[None]:
        """Announce the part's effect once committed; from then on a sweep of
        the pending parts may see it (it is no longer pending)."""

        def done(result: StateChange | None) -> None:
            self._submitting.discard(part.id)
            self._changed(result)

        def failed(failure: Failure) -> None:
            self._submitting.discard(part.id)
            self._log(failure, f"part {part.id}")

        return change.addCallback(done).addErrback(failed)

    def _accepted(self, _report: object, part: PendingPart) -> Deferred[None]:
        self._submit_backoff.reset()
        return self._settled(self.store.call(self.store.repo.part_accepted, part.id), part)

    def _refused(self, failure: Failure, part: PendingPart) -> Deferred[None] | None:
        exc = failure.value
        if isinstance(exc, SubmitRefused) and exc.cause not in RETRY_CAUSES:
            log.info("%s: part %d refused: %s", self.msisdn, part.id, exc)
            refused = self.store.call(self.store.repo.part_refused, part.id, exc.cause)
            return self._settled(refused, part)
        self._submitting.discard(part.id)
        if isinstance(exc, SubmitRefused):
            # Temporary: the same part again, after a while.
            self._later("submit", self._submit_backoff.next(), self._resubmit)
        elif not isinstance(exc, ConnectionError):
            self._log(failure, f"submitting part {part.id}")
        return None  # a lost link: submitted again on the next attach

    # -- receiving -----------------------------------------------------------------

    def _interpret(self, whole: Reassembled) -> tuple[str, int | None, Carrier | None]:
        """Display text, the sender's number and how it came.  A number in the
        UDH is the number, and the text is the user's, whole, whatever it ends
        with; only without one is an inline marker looked for (and stripped)."""
        udh = tuple(ie for ud in whole.parts for ie in (ud.udh or ()))
        body = whole.body
        in_udh = find_message_number(udh, self.settings.iei)
        if isinstance(body, bytes):  # 8-bit data: shown as hex, numbered by the UDH only
            return body.hex(" "), in_udh, Carrier.UDH if in_udh is not None else None
        # U+0000 has no place in a text column (PostgreSQL refuses it).
        if in_udh is not None:
            return body.replace("\x00", "\ufffd"), in_udh, Carrier.UDH
        numbered = read_number(body, None, self.settings.iei, self.settings.marker)
        return numbered.text.replace("\x00", "\ufffd"), numbered.number, numbered.carrier

    def _on_deliver(self, tpdu: SmsDeliver) -> Deferred[int | None]:
        sender = str(tpdu.tp_oa)
        concat = find_concat(tpdu.tp_ud.udh)
        if concat is None:
            return self._take(tpdu, None)
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
        return self._parts_lock.run(self._take_part, tpdu, key, concat.seq, octets)

    async def _take_part(
        self, tpdu: SmsDeliver, key: FragmentKey, seq: int, octets: bytes
    ) -> int | None:
        """One part of a concatenated message: dropped (and acknowledged) when
        it went into a stored message already, else taken."""
        if await self.store.call(self.store.repo.part_consumed, key, seq, octets):
            log.info(
                "%s: part %d of %d (reference %d) from %s again, stored already",
                self.msisdn,
                seq,
                key.total,
                key.ref,
                key.sender,
            )
            return None  # acknowledged: the SMSC stops resending it
        return await self._take(tpdu, (key, seq, octets))

    def _take(
        self, tpdu: SmsDeliver, part: tuple[FragmentKey, int, bytes] | None
    ) -> Deferred[int | None]:
        """Reassemble and store a new SMS-DELIVER; ``part``: its key, part
        number and octets as kept, when it is one part of several."""
        sender, now, repo = str(tpdu.tp_oa), self._now(), self.store.repo
        key = part[0] if part is not None else None
        since = self._held.get(key) if key is not None else None
        if since is not None and since < now - self.fragment_ttl:
            self._expire_fragments()  # what is held for this key can only be stale
            since = None
        whole = self._reassembler.feed(sender, tpdu.tp_ud)
        if whole is None:  # a part of a message still incomplete (or one held already)
            assert part is not None and key is not None
            self._held.setdefault(key, now)
            kept = self.store.call(repo.save_fragment, key, part[1], part[2], now)
            return kept.addCallback(lambda _: None)
        if key is not None:
            self._held.pop(key, None)
        text, number, carrier = self._interpret(whole)
        d = self.store.call(
            repo.store_incoming,
            sender,
            text,
            number,
            carrier,
            tpdu.tp_scts,
            len(whole.parts),
            key,
            now,
            (part[1], part[2]) if part is not None else None,
        )

        def stored(received: Received) -> None:
            m = received.message
            if not received.duplicate:
                self._emit("received", id=m.id, peer=m.peer, text=m.text, number=m.number)

        def not_stored(failure: Failure) -> Failure:
            # Hold the other parts again: the SMSC resends this one.
            others = [ud for ud in whole.parts if ud is not tpdu.tp_ud]
            for ud in others:
                self._reassembler.feed(sender, ud)
            if key is not None and others:
                self._held.setdefault(key, since or now)
            return failure

        return d.addCallbacks(stored, not_stored)

    def _expire_fragments(self) -> None:
        """Give up on the incomplete messages whose first part is older than
        ``fragment_ttl``, in memory at once and then in the store.  The store
        runs its work in order, so parts taken before are stored before it
        drops them, and parts taken after are kept."""
        cutoff = self._now() - self.fragment_ttl
        for key in [k for k, since in self._held.items() if since < cutoff]:
            del self._held[key]
            self._forget(key)
            log.info(
                "%s: incomplete message %d from %s given up (first part over %s old)",
                self.msisdn,
                key.ref,
                key.sender,
                self.fragment_ttl,
            )
        d = self.store.call(self.store.repo.expire_fragments, cutoff)
        d.addErrback(self._log, "expiring fragments")

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

    def _sweep(self) -> None:
        """Drop what is too old to matter: incomplete messages, consumed parts."""
        self._expire_fragments()
        d = self.store.call(self.store.repo.prune_consumed, self._now() - self.consumed_ttl)
        d.addErrback(self._log, "pruning consumed parts")
        self._later("sweep", SWEEP_EVERY, self._sweep)

    def _on_report(self, tpdu: SmsStatusReport) -> Deferred[int | None]:
        d = self.store.call(
            self.store.repo.apply_report,
            str(tpdu.tp_ra),
            tpdu.tp_mr,
            tpdu.tp_st,
            report_state(tpdu.tp_st),
        )
        return d.addCallback(self._changed)

    # -- reading and responses -------------------------------------------------------

    def read(self, message_id: int) -> Deferred[MessageView]:
        """The user opens a message: it becomes read and, with receipts on, the
        IP server gets a response for it.  Fires with the message;
        ``NotFound`` for an id this phone does not have."""
        d = self.store.call(self.store.repo.mark_read, message_id, self._now())
        return d.addCallback(self._opened)

    def _opened(self, opened: Opened) -> MessageView:
        m = opened.message
        self._emit("opened", id=m.id, peer=m.peer, number=m.number)
        if opened.respond and m.number is not None:
            self._respond(Response(m.id, m.peer, m.number))
        return m

    def _respond(self, response: Response) -> None:
        session = self._ip
        if session is None or response.message_id in self._responding:
            return  # owed still: sent when the session is up
        self._responding.add(response.message_id)
        d = session.send_response(self.msisdn, response.sender, response.number, 1)
        d.addCallbacks(
            self._responded,
            self._response_failed,
            callbackArgs=(response,),
            errbackArgs=(response, session),
        )
        d.addErrback(self._log, "response")

    def _flush_responses(self) -> None:
        def respond_all(owed: list[Response]) -> None:
            for response in owed:
                self._respond(response)

        d = self.store.call(self.store.repo.pending_responses)
        d.addCallback(respond_all)
        d.addErrback(self._log, "pending responses")

    def _responded(self, _: object, response: Response) -> Deferred[None]:
        def done(_: object) -> None:
            self._response_backoff.reset()
            self._emit(
                "response", id=response.message_id, peer=response.sender, number=response.number
            )

        def settled(result: object) -> object:
            self._responding.discard(response.message_id)
            return result

        d = self.store.call(self.store.repo.response_done, response.message_id)
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
            delay = float(wait) if isinstance(wait, int | float) else self._response_backoff.next()
            self._later("responses", delay, self._flush_responses)
            return None
        if code == LOG_IN_AGAIN:
            session.close()  # a new session sends what is owed
            return None
        reason = getattr(exc, "reason", failure.getErrorMessage())
        log.warning("%s: response %s refused: %s %s", self.msisdn, response, code, reason)
        d = self.store.call(self.store.repo.response_done, response.message_id)
        d.addCallback(
            lambda _: self._emit(
                "response refused", id=response.message_id, code=code, reason=reason
            )
        )
        return d

    # -- the IP session ------------------------------------------------------------

    def _connect_ip(self) -> None:
        connector = self._ip_connector
        if not self._running or connector is None:
            return

        async def login() -> IpSession:
            return await connector(self._on_feedback)

        d = Deferred.fromCoroutine(login())
        d.addCallbacks(self._ip_up, self._ip_failed)

    def _ip_up(self, session: IpSession) -> None:
        if not self._running:
            session.close()
            return
        self._ip = session
        self._ip_backoff.reset()
        session.lost.addBoth(self._ip_lost, session)
        self._emit("ip up")
        self._flush_responses()

    def _ip_failed(self, failure: Failure) -> None:
        log.info("%s: IP server: %s", self.msisdn, failure.getErrorMessage())
        self._later("ip", self._ip_backoff.next(), self._connect_ip)

    def _ip_lost(self, _: object, session: IpSession) -> None:
        if self._ip is not session:
            return
        self._ip = None
        self._responding.clear()
        self._emit("ip down")
        self._later("ip", self._ip_backoff.next(), self._connect_ip)

    def _on_feedback(self, feedback: FeedbackLike) -> Deferred[None]:
        """Apply a feedback; the Deferred fires (and the IP client acks) once
        it is committed.  One that names nothing of ours is acked as is."""
        try:
            receiver = number_of(feedback.receiver)
        except PDUError:
            log.info("%s: feedback for %r ignored", self.msisdn, feedback.receiver)
            return succeed(None)
        d = self.store.call(
            self.store.repo.apply_feedback,
            receiver,
            feedback.message_number,
            feedback.status,
            self._now(),
        )

        def applied(change: StateChange | None) -> None:
            self._changed(change)
            self._emit(
                "feedback",
                peer=receiver,
                number=feedback.message_number,
                status=feedback.status,
                id=change.message_id if change is not None else None,
            )

        return d.addCallback(applied)

    # -- settings and queries --------------------------------------------------------

    def configure(self, **changes: Any) -> Deferred[Settings]:
        """Change settings (carrier, receipts, iei, marker), stored at once.
        Turning receipts off drops the responses not yet sent."""
        try:
            wanted = replace(self.settings, **changes)
        except (TypeError, ValueError) as exc:
            return fail(PhoneError(str(exc)))
        d = self.store.call(self.store.repo.save_settings, wanted)

        def saved(settings: Settings) -> Settings:
            self.settings = settings
            return settings

        return d.addCallback(saved)

    def message(self, message_id: int) -> Deferred[MessageView]:
        return self.store.call(self.store.repo.message, message_id)

    def inbox(self, limit: int | None = None) -> Deferred[list[MessageView]]:
        """Received messages, newest first, read or not."""
        return self.store.call(self.store.repo.inbox, limit)

    def conversations(self) -> Deferred[list[ConversationView]]:
        """One line per peer, the most recently active first."""
        return self.store.call(self.store.repo.conversations)

    def conversation(self, peer: str) -> Deferred[list[MessageView]]:
        """The messages with ``peer``, oldest first, each with its state and
        the "Read" / "Sent" marks of SPEC §2.7."""
        try:
            key = number_of(peer)
        except PDUError as exc:
            return fail(PhoneError(str(exc)))
        return self.store.call(self.store.repo.conversation, key)

    def _log(self, failure: Failure, what: str) -> None:
        log.error("%s: %s: %s", self.msisdn, what, failure.getErrorMessage())
