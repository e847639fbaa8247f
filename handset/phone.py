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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from twisted.internet.defer import (
    Deferred,
    DeferredList,
    DeferredLock,
    fail,
    succeed,
)
from twisted.internet.defer import (
    TimeoutError as DeferredTimeout,
)
from twisted.internet.interfaces import IDelayedCall, IReactorTCP, IReactorTime
from twisted.python.failure import Failure

from ipwire import wire
from pdu import Address, DataCodingScheme, PDUError, SmsDeliver, SmsStatusReport, SmsSubmit, Tpdu
from pdu import encode as encode_tpdu
from pdu.address import TON_ALPHANUMERIC
from pdu.concat import Reassembled, Reassembler, split
from pdu.message_number import Carrier, read_number
from pdu.tpdu import Direction as TpduDirection
from pdu.tpdu import decode as decode_tpdu
from pdu.udh import find_concat, find_message_number
from radiolink import rp
from txkit import Backoff

from .conversation import report_state
from .history import (
    LOCAL,
    SERVER,
    Found,
    SearchResult,
    from_entry,
    from_millis,
    merge,
    millis,
    open_answers,
    seal_answer,
    to_entry,
)
from .link_client import LinkClient, SubmitRefused, connect_client
from .sealed import DeviceKey
from .store import (
    ConversationView,
    FragmentKey,
    HandsetStore,
    HistoryQuery,
    IpPath,
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
    "FeedbackLike",
    "IpConnector",
    "IpSession",
    "NotFound",
    "OnFeedback",
    "OnPush",
    "Phone",
    "PhoneError",
    "PushChannel",
    "PushConnector",
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
#: Seconds a request to the IP server may take before the phone gives up on
#: it (a half-open connection, a stalled server): a search never hangs.
REQUEST_TIMEOUT = 30.0
#: Seconds a search waits past the query's deadline for the results to be
#: ready, in case the server fails to say: a search never hangs.
RESULTS_GRACE = 10.0
#: Octets of history entries in one history_put frame, with room for the rest.
_PUT_BUDGET = wire.MAX_FRAME - 256


class PhoneError(ValueError):
    """A request the phone cannot carry out, with the reason for its user."""


class FeedbackLike(Protocol):
    """What the phone reads of a feedback (``ipwire.wire.Feedback``)."""

    @property
    def receiver(self) -> str: ...

    @property
    def message_number(self) -> int: ...

    @property
    def status(self) -> int: ...


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
        self, receiver: str, sender: str, message_number: int, status: int = 1
    ) -> Deferred[None]: ...

    def put_history(self, entries: Sequence[wire.HistoryEntry]) -> Deferred[None]: ...

    def query(self, **criteria: Any) -> Deferred[wire.QueryResult | wire.QueryOpen]: ...

    def answer(self, query_id: str, count: int, sealed: bytes) -> Deferred[None]: ...

    def fetch(self, query_id: str) -> Deferred[list[wire.Results]]: ...

    def ack_results(self, query_id: str) -> Deferred[None]: ...

    def ip_submit(
        self, to: str, uid: str, message_number: int, text: str, sent_at: int
    ) -> Deferred[None]: ...


#: Connects and logs in to the IP server, handing pushed feedback and the
#: other pushed messages to the callbacks: e.g. ``lambda on_feedback, on_push:
#: connect_ip(reactor, host, port, device, secret, on_feedback, on_push)``.
IpConnector = Callable[[OnFeedback, OnPush], Awaitable[IpSession]]
#: Opens the device's push channel (``handset.ip_client.connect_push``).
PushConnector = Callable[[OnPush], Awaitable[PushChannel]]
#: ``watch`` callbacks: the event's name and its details.
Watcher = Callable[[str, dict[str, Any]], None]


def owner_of(msisdn: str, companion: str | None = None) -> str:
    """Whose rows a handset store holds: the phone's MSISDN, or
    ``name@msisdn`` for a companion device of that account."""
    if companion is None:
        return msisdn
    if not companion or len(companion) > 16 or not companion.replace("-", "").isalnum():
        raise PhoneError(f"a companion name is 1 to 16 letters, digits or '-', not {companion!r}")
    return f"{companion}@{msisdn}"


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
    Either may be None (a phone with no IP server; a companion device, which
    has no SIM, has no ``smsc``).  ``settings`` None keeps what the store has.
    ``fragment_ttl`` and ``consumed_ttl``: see ``FRAGMENT_TTL`` and
    ``CONSUMED_TTL``.

    A companion device of the account (SPEC §3) is a ``Phone`` with a
    ``companion`` name and no ``smsc``: its store's owner is
    ``name@msisdn``.  ``key`` is the device's X25519 key, which the results of
    its history searches are sealed to; ``push`` opens the push channel that
    wakes a logged-out device (``auto_login``).
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
        companion: str | None = None,
        key: DeviceKey | None = None,
        push: PushConnector | None = None,
        auto_login: bool = True,
    ) -> None:
        self.imsi = imsi
        self.msisdn = number_of(msisdn)
        self.companion = companion
        self.owner = owner_of(self.msisdn, companion)
        if store.owner != self.owner:
            raise PhoneError(f"the store belongs to {store.owner}, not {self.owner}")
        self.key = key
        self.auto_login = auto_login
        self._push_connector = push
        self._push: PushChannel | None = None
        self._push_backoff = Backoff(*backoff)
        #: Logged out by its user: the IP session stays down, the push channel up.
        self.logged_out = False
        self._ready: dict[str, Deferred[wire.ResultsReady]] = {}
        self._early_ready: dict[str, wire.ResultsReady] = {}
        self._offering: set[int] = set()  # IP-path messages on their way to the server
        self._history_busy = False
        self._history_again = False
        self._history_synced: list[Deferred[None]] = []
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
        self._connect_push()
        if self._ip_connector is None:
            # IP-path messages of a run that had an IP server: by SMS now.
            # (With one, they are offered again at login.)
            for message_id in await self.store.call(repo.ip_pending):
                self._ip_fallback(message_id)

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
        for channel in (self._ip, self._push):
            if channel is not None:
                closing.append(channel.lost)
                channel.close()
        for waiting in list(self._ready.values()):
            waiting.errback(PhoneError("the phone stopped"))
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
        if self.companion is not None:
            return fail(PhoneError("a companion device has no SIM: it does not send messages"))
        settings = self.settings
        try:
            to = Address.parse(peer.strip())
            if to.ton == TON_ALPHANUMERIC:
                raise PhoneError(f"cannot send to {peer!r}: not a phone number")
            how = Carrier(carrier) if carrier is not None else settings.carrier
            build = self._builder(to, text, how)
            build(0, 0, 0)  # what cannot be sent is refused before it takes a number
            if self._ip is not None and settings.ip_path is IpPath.WHEN_POSSIBLE:
                wire.text(wire.MAX_TEXT)(text)  # too long for the IP path: by SMS
                via = "ip"
            else:
                via = "sms"
        except wire.Invalid:
            via = "sms"
        except (PDUError, ValueError) as exc:
            return fail(PhoneError(str(exc)))
        d = self.store.call(
            self.store.repo.create_outgoing, str(to), text, how, self._now(), build, via=via
        )
        return d.addCallback(self._queued)

    def _builder(self, to: Address, text: str, how: Carrier) -> Callable[[int, int, int], Any]:
        """Makes the SMS-SUBMITs of a message once its number is known."""
        settings = self.settings

        def build(number: int, ref: int, first_mr: int) -> list[tuple[int, bytes]]:
            return build_submits(to, text, number, ref, first_mr, carrier=how,
                                 iei=settings.iei, marker=settings.marker)  # fmt: skip

        return build

    def _queued(self, out: Outgoing) -> int:
        m = out.message
        self._emit("queued", id=m.id, peer=m.peer, number=m.number, parts=m.parts, via=m.via)
        for part in out.parts:
            self._submit(part)
        if m.via == "ip":
            self._offer_ip(m)
        self._flush_history()
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
                self._emit("received", id=m.id, peer=m.peer, text=m.text, number=m.number,
                           via="sms")  # fmt: skip
                self._flush_history()

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
        if not self._running or connector is None or self.logged_out or self._ip is not None:
            return

        async def login() -> IpSession:
            return await connector(self._on_feedback, self._on_push)

        d = Deferred.fromCoroutine(login())
        d.addCallbacks(self._ip_up, self._ip_failed)

    def _ip_up(self, session: IpSession) -> None:
        if not self._running:
            session.close()
            return
        if self._ip is not None or self.logged_out:  # a second login raced the first
            session.close()
            return
        self._ip = session
        self._ip_backoff.reset()
        session.lost.addBoth(self._ip_lost, session)
        self._emit("ip up")
        self._flush_responses()
        self._flush_history()
        self._offer_pending_ip()

    def _ip_failed(self, failure: Failure) -> None:
        log.info("%s: IP server: %s", self.msisdn, failure.getErrorMessage())
        self._later("ip", self._ip_backoff.next(), self._connect_ip)

    def _ip_lost(self, _: object, session: IpSession) -> None:
        if self._ip is not session:
            return
        self._ip = None
        self._responding.clear()
        self._emit("ip down")
        if not self.logged_out:
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

    # -- logging in and out, the push channel ------------------------------------------

    def logout(self) -> Deferred[None]:
        """The user logs the device out of the IP server: the session closes
        and stays closed; the push channel stays, so a login indication can
        still reach the device.  Fires once the session is gone."""
        self.logged_out = True
        call = self._timers.pop("ip", None)
        if call is not None and call.active():
            call.cancel()
        session = self._ip
        if session is None:
            return succeed(None)
        session.close()
        return session.lost

    def login(self) -> Deferred[dict[str, Any]]:
        """Log in again; fires on "ip up" (at once if it is up)."""
        if self._ip_connector is None:
            return fail(PhoneError(f"{self.owner} has no IP server to log in to"))
        self.logged_out = False
        if self._ip is not None:
            return succeed({})
        up = self.wait_for("ip up")
        self._connect_ip()
        return up

    def _connect_push(self) -> None:
        connector = self._push_connector
        if not self._running or connector is None:
            return

        async def subscribe() -> PushChannel:
            return await connector(self._on_push)

        d = Deferred.fromCoroutine(subscribe())
        d.addCallbacks(self._push_up, self._push_failed)

    def _push_up(self, channel: PushChannel) -> None:
        if not self._running:
            channel.close()
            return
        self._push = channel
        self._push_backoff.reset()
        channel.lost.addBoth(self._push_lost, channel)
        self._emit("push up")

    def _push_failed(self, failure: Failure) -> None:
        log.info("%s: push channel: %s", self.owner, failure.getErrorMessage())
        self._later("push", self._push_backoff.next(), self._connect_push)

    def _push_lost(self, _: object, channel: PushChannel) -> None:
        if self._push is channel:
            self._push = None
            self._later("push", self._push_backoff.next(), self._connect_push)

    def _on_push(self, message: wire.Message) -> Deferred[None] | None:
        """What the IP server pushes besides feedback."""
        if isinstance(message, wire.IpMessage):
            return self._on_ip_message(message)
        if isinstance(message, wire.QueryRequest):
            self._answer_query(message)
        elif isinstance(message, wire.ResultsReady):
            waiting = self._ready.pop(message.query_id, None)
            if waiting is not None:
                waiting.callback(message)
            else:
                self._early_ready[message.query_id] = message
        elif isinstance(message, wire.LoginIndication):
            self._emit("login indication", reason=message.reason)
            if self.logged_out and self.auto_login:
                self.login()
        return None

    # -- the IP path (SPEC §2.3) -------------------------------------------------------

    def _offer_ip(self, m: MessageView) -> None:
        """Hand an IP-path message to the server; by SMS if it will not take it."""
        session = self._ip
        if session is None or m.id in self._offering:
            if session is None:
                self._ip_fallback(m.id)
            return
        self._offering.add(m.id)
        assert m.number is not None
        d = session.ip_submit(m.peer, m.uid, m.number, m.text, millis(m.created_at))

        def taken(_: object) -> Deferred[None]:
            self._offering.discard(m.id)
            return self.store.call(self.store.repo.ip_accepted, m.id).addCallback(self._changed)

        def refused(failure: Failure) -> None:
            self._offering.discard(m.id)
            code = getattr(failure.value, "code", None)
            if code is None or code in RETRY_LATER:
                # No answer (the session went, or timed out): the server may
                # have taken it, so it is offered again over IP, never also
                # by SMS, and the server takes each uid once.  Refused for
                # now: again a little later.
                wait = getattr(failure.value, "retry_after", None)
                delay = float(wait) if isinstance(wait, int | float) else self._ip_backoff.next()
                self._later("ip offer", delay, self._offer_pending_ip)
                return
            log.info("%s: message %d by SMS: %s", self.owner, m.id, failure.getErrorMessage())
            self._ip_fallback(m.id)

        d = self._bounded(d, f"IP-path message {m.id}")
        d.addCallbacks(taken, refused).addErrback(self._log, f"IP-path message {m.id}")

    def _ip_fallback(self, message_id: int) -> None:
        """Send an IP-path message by SMS instead (once: the store makes its
        parts only while it is still waiting for the IP path)."""

        def go(m: MessageView) -> Deferred[Outgoing]:
            carrier = m.carrier or self.settings.carrier
            build = self._builder(Address.parse(m.peer), m.text, carrier)
            return self.store.call(self.store.repo.ip_fallback, message_id, build)

        def submit(out: Outgoing) -> None:
            if out.parts:
                self._emit("ip fallback", id=message_id, parts=len(out.parts))
            for part in out.parts:
                self._submit(part)

        d = self.store.call(self.store.repo.message, message_id).addCallback(go)
        d.addCallback(submit).addErrback(self._log, f"message {message_id} by SMS")

    def _pending_ip(self) -> Deferred[list[MessageView]]:
        repo = self.store.repo

        def load() -> list[MessageView]:  # one trip to the database thread, not one a message
            return [repo.message(i) for i in repo.ip_pending()]

        return self.store.call(load)

    def _offer_pending_ip(self) -> None:
        """After a login: the IP-path messages still waiting go again (the
        server takes each uid once)."""

        def offer(messages: list[MessageView]) -> None:
            for m in messages:
                self._offer_ip(m)

        self._pending_ip().addCallback(offer).addErrback(self._log, "pending IP-path messages")

    def _bounded(self, d: Deferred[Any], what: str) -> Deferred[Any]:
        """``d``, failed with PhoneError if the IP server has not answered in
        ``REQUEST_TIMEOUT`` seconds."""

        def late(failure: Failure) -> Any:
            if not isinstance(failure.value, DeferredTimeout):
                return failure
            raise PhoneError(f"{what}: no answer from the IP server in {REQUEST_TIMEOUT:g} s")

        return d.addTimeout(REQUEST_TIMEOUT, self.reactor).addErrback(late)

    def _on_ip_message(self, m: wire.IpMessage) -> Deferred[None]:
        """A message over the IP path: stored (once per uid), then acknowledged."""
        try:
            sender = number_of(m.sender)
        except PDUError:
            log.info("%s: IP message from %r ignored", self.owner, m.sender)
            return succeed(None)
        d = self.store.call(
            self.store.repo.store_ip_incoming,
            sender,
            m.uid,
            m.text,
            m.message_number,
            # Filed under when it came, as an SMS is: the sender's clock is
            # the sender's, and another account's device may say anything.
            self._now(),
            self._now(),
        )

        def stored(received: Received) -> None:
            v = received.message
            if not received.duplicate:
                self._emit("received", id=v.id, peer=v.peer, text=v.text, number=v.number, via="ip")
                self._flush_history()

        return d.addCallback(stored)

    # -- the server's partial history --------------------------------------------------

    def sync_history(self) -> Deferred[None]:
        """Fires once the server has a copy of everything stored so far (or
        the IP session is down: then at once)."""
        if self._ip is None:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._history_synced.append(d)
        self._flush_history()
        return d

    def _flush_history(self) -> None:
        """Copy what the server's history lacks to it, a frame at a time."""
        if self._ip is None:
            self._settle_history()
            return
        if self._history_busy:
            self._history_again = True
            return
        self._history_busy = True
        d = Deferred.fromCoroutine(self._put_history())

        def done(result: object) -> None:
            self._history_busy = False
            if isinstance(result, Failure):
                self._log(result, "history copies")
                self._settle_history(result)
            elif self._history_again:
                self._history_again = False
                self._flush_history()
            else:
                self._settle_history()

        d.addBoth(done)

    def _settle_history(self, failure: Failure | None = None) -> None:
        synced, self._history_synced = self._history_synced, []
        for d in synced:
            if failure is None:
                d.callback(None)
            else:
                d.errback(PhoneError(f"history copies: {failure.getErrorMessage()}"))

    async def _put_history(self) -> None:
        repo = self.store.repo
        while (session := self._ip) is not None:
            owed = await self.store.call(repo.history_pending)
            if not owed:
                return
            done: list[str] = []  # sent in this frame, or too long ever to be
            entries: list[wire.HistoryEntry] = []
            budget = _PUT_BUDGET
            for item in owed:
                entry = to_entry(item) if len(item.text) <= wire.MAX_TEXT else None
                size = len(wire.encode_unchecked(entry)) if entry is not None else 0
                if entry is not None and (size > budget or len(entries) == wire.MAX_ENTRIES):
                    if entries:
                        break
                    entry = None  # alone it still does not fit: never sent
                done.append(item.uid)
                if entry is not None:
                    entries.append(entry)
                    budget -= size + 1
            if entries:
                await self._bounded(session.put_history(entries), "history copies")
            await self.store.call(repo.history_done, done)
            self._emit("history copied", count=len(entries))

    # -- history search (SPEC §3) ------------------------------------------------------

    def search(
        self,
        text: str | None = None,
        peer: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        timeout: float | None = None,
    ) -> Deferred[SearchResult]:
        """Search the history: this device's store; if nothing, the server's
        copy; if nothing there, the account's other devices (SPEC §3).  Fires
        with what was found and where; never later than the query's deadline
        (plus ``RESULTS_GRACE`` should the server fail to answer)."""
        try:
            query = HistoryQuery(
                text, number_of(peer) if peer is not None else None, since, until, limit
            )
        except (PDUError, ValueError) as exc:
            return fail(PhoneError(str(exc)))
        return Deferred.fromCoroutine(self._search(query, timeout))

    async def _search(self, q: HistoryQuery, timeout: float | None) -> SearchResult:
        local = await self.store.call(self.store.repo.search, q)
        if local:
            return self._searched(SearchResult("found", [Found(i, (LOCAL,)) for i in local], LOCAL))
        session = self._ip
        if session is None:
            return self._searched(SearchResult("not_found", [], LOCAL))
        self._emit("search missed", where=LOCAL)
        criteria = {
            "text": q.text,
            "peer": q.peer,
            "since": millis(q.since) if q.since is not None else None,
            "until": millis(q.until) if q.until is not None else None,
            "limit": q.limit,
            "timeout": timeout,
        }
        reply = await self._bounded(session.query(**criteria), "history query")
        if isinstance(reply, wire.QueryResult):
            items = [Found(from_entry(e), (SERVER,)) for e in reply.messages]
            return self._searched(SearchResult(reply.status, items, SERVER))
        self._emit("search missed", where=SERVER)
        self._emit("search relayed", query_id=reply.query_id, devices=reply.devices)
        ready = await self._results_ready(reply.query_id, (reply.deadline or 0) + RESULTS_GRACE)
        session = self._ip  # the session may have been replaced meanwhile
        if session is None:
            raise PhoneError("the IP session went while the query ran: search again")
        frames = await self._bounded(session.fetch(reply.query_id), "fetching results")
        if self.key is None:
            raise PhoneError("this device has no key to open the results with")
        answers = [a for f in frames for a in f.answers]
        found, unusable = open_answers(answers, self.key, reply.query_id)
        items = merge(found, q.limit)
        await self._bounded(session.ack_results(reply.query_id), "acknowledging results")
        status = ready.status if items else "not_found"
        if unusable and status == "complete":
            status = "partial"  # an answer that cannot be opened is no answer
        missing = [*(frames[-1].missing if frames else ()), *unusable]
        return self._searched(SearchResult(status, items, "devices", missing, reply.query_id))

    def _searched(self, result: SearchResult) -> SearchResult:
        self._emit("searched", status=result.status, source=result.source,
                   results=len(result.items), query_id=result.query_id)  # fmt: skip
        return result

    def _results_ready(self, query_id: str, within: float) -> Deferred[wire.ResultsReady]:
        early = self._early_ready.pop(query_id, None)
        if early is not None:
            return succeed(early)
        d: Deferred[wire.ResultsReady] = Deferred()
        self._ready[query_id] = d

        def too_late(failure: Failure) -> Any:
            if not isinstance(failure.value, DeferredTimeout):
                return failure
            self._ready.pop(query_id, None)
            raise PhoneError(f"query {query_id}: no results from the IP server in time")

        return d.addTimeout(within, self.reactor).addErrback(too_late)

    def _answer_query(self, request: wire.QueryRequest) -> None:
        """Another device of the account asks: search here, seal what was found
        to the asker's key, answer."""
        session = self._ip
        if session is None:
            return
        q = HistoryQuery(
            request.text,
            request.peer,
            from_millis(request.since) if request.since is not None else None,
            from_millis(request.until) if request.until is not None else None,
            request.limit,
        )

        reply_key = wire.unb64(request.reply_key)

        async def answer() -> None:
            repo = self.store.repo
            if not await self.store.call(repo.pin_key, request.asker, reply_key, self._now()):
                log.warning("%s: query %s: the key of %s is not the one pinned: not answered",
                            self.owner, request.query_id, request.asker)  # fmt: skip
                self._emit("query refused", query_id=request.query_id, asker=request.asker,
                           reason="the asking device's key changed")  # fmt: skip
                return
            found = await self.store.call(repo.search, q)
            count, blob = seal_answer(found, reply_key, request.query_id, session.device)
            self._emit("query answered", query_id=request.query_id, asker=request.asker,
                       results=count)  # fmt: skip
            await self._bounded(session.answer(request.query_id, count, blob), "answer")

        d = Deferred.fromCoroutine(answer())
        d.addErrback(self._log, f"answering query {request.query_id}")

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
