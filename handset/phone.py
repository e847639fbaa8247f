"""The emulated phone (docs/read-receipts.md): it numbers and sends messages through
the SMSC, receives and reassembles them, detects reads and sends responses to
the IP server, and applies the feedback that comes back.

``Phone`` is a facade over parts with one idea each, sharing a
``handset.context.PhoneContext``: the radio link (``handset.radio``), sending
(``outbox``), receiving (``inbox``), read receipts (``receipts``), the IP
session and push channel (``ip_session``), the IP message path (``ip_path``),
history copies (``history_sync``) and the history search (``search``).  Each
link is re-established with a growing back-off when it drops
(``handset.reconnect``).

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

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, fail, succeed
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator, IReactorTime

from ipwire import wire
from ipwire.sealed import DeviceKey
from pdu import Address, PDUError
from pdu.address import TON_ALPHANUMERIC
from pdu.message_number import Carrier
from txkit import Backoff

from .context import REQUEST_TIMEOUT, PhoneContext, PhoneError, Watcher, number_of, owner_of
from .history import SearchResult
from .history_sync import HistoryCopies
from .inbox import CONSUMED_TTL, FRAGMENT_TTL, SWEEP_EVERY, Inbox
from .ip_path import IpMessages
from .ip_session import (
    FeedbackLike,
    IpConnector,
    IpLink,
    IpSession,
    OnFeedback,
    OnPush,
    PushChannel,
    PushConnector,
)
from .outbox import Outbox, build_submits
from .radio import RadioLink
from .read_sync import ReadSync
from .receipts import Receipts
from .search import HistorySearch
from .sim import SimCard
from .store import (
    ConversationView,
    HandsetStore,
    IpPath,
    MessageView,
    NotFound,
    Outgoing,
    Settings,
)

__all__ = [
    "CONSUMED_TTL",
    "FRAGMENT_TTL",
    "REQUEST_TIMEOUT",
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
    "owner_of",
]


class Phone:
    """One emulated handset: see the module docstring for what it promises.

    ``smsc`` is the radio link's (host, port), on TLS with ``smsc_tls``;
    ``ip`` connects the IP session.
    ``sim`` holds the keys that answer the SMSC's challenge at attach (None:
    a SIM that cannot, which only an open SMSC attaches).
    Either may be None (a phone with no IP server; a companion device, which
    has no SIM, has no ``smsc``).  ``settings`` None keeps what the store has.
    ``fragment_ttl`` and ``consumed_ttl``: see ``handset.inbox``.

    A companion device of the account (docs/history-query.md §Accounts) is a ``Phone`` with a
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
        capacity: int | None = None,
        sim: SimCard | None = None,
        smsc_tls: IOpenSSLClientConnectionCreator | None = None,
    ) -> None:
        self.imsi = imsi
        self.msisdn = number_of(msisdn)
        self.companion = companion
        self.owner = owner_of(self.msisdn, companion)
        if store.owner != self.owner:
            raise PhoneError(f"the store belongs to {store.owner}, not {self.owner}")
        self.key, self.store, self.reactor, self.smsc = key, store, reactor, smsc
        self._has_ip = ip is not None
        self._given_settings = settings
        ctx = self._ctx = PhoneContext(self.msisdn, self.owner, store, reactor,
                                       settings or Settings())  # fmt: skip
        ctx.capacity = capacity
        self._read_sync = ReadSync(ctx, self._session)
        self._receipts = Receipts(ctx, self._session, Backoff(*backoff), self._read_sync.read_here)
        self._ip = IpLink(ctx, ip, push, backoff, on_feedback=self._receipts.feedback,
                          on_push=self._on_push, on_up=self._ip_up,
                          on_down=self._ip_down, auto_login=auto_login)  # fmt: skip
        self._history = HistoryCopies(ctx, self._session, Backoff(*backoff))
        self._inbox = Inbox(ctx, fragment_ttl, consumed_ttl, self._history.flush)
        self._radio = RadioLink(ctx, imsi, smsc, backoff, self._inbox, sim=sim, tls=smsc_tls,
                                on_up=self._attached, on_down=self._detached)  # fmt: skip
        self._outbox = Outbox(ctx, lambda: self._radio.current, Backoff(*backoff))
        self._ip_path = IpMessages(ctx, self._session, self._outbox, self._ip.backoff,
                                   self._history.flush)  # fmt: skip
        self._search = HistorySearch(ctx, self._session, key)
        #: Where its AT port is reachable (``handset.at_lines``: pty, link,
        #: tcp), told by whoever opened it, for the control API.
        self.at: dict[str, str] = {}

    def _session(self) -> IpSession | None:
        return self._ip.current

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Load the settings and the parts of incomplete messages, then bring
        the links up (without waiting for them: see ``wait_for``)."""
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        ctx, repo = self._ctx, self.store.repo
        if self._given_settings is not None:
            ctx.settings = await self.store.call(repo.save_settings, self._given_settings)
        else:
            ctx.settings = await self.store.call(repo.load_settings, None)
        await self._inbox.load()
        ctx.running = True
        ctx.later("sweep", SWEEP_EVERY, self._inbox.sweep)
        self._radio.start()
        self._ip.start()
        if not self._has_ip:
            # IP-path messages of a run that had an IP server: by SMS now.
            # (With one, they are offered again at login.)
            await self._ip_path.fallback_all()

    def stop(self) -> Deferred[None]:
        """Drop both links and stop reconnecting; fires once they are closed."""
        self._ctx.stop_timers()
        closing = [self._radio.stop(), *self._ip.stop()]
        self._search.stop()
        done: Deferred[Any] = DeferredList(closing, consumeErrors=True)
        return done.addCallback(lambda _: None)

    @property
    def settings(self) -> Settings:
        return self._ctx.settings

    @property
    def attached(self) -> bool:
        return self._radio.current is not None

    @property
    def online(self) -> bool:
        """Whether the IP session is up."""
        return self._ip.current is not None

    @property
    def logged_out(self) -> bool:
        """Logged out by its user: the IP session stays down, the push channel up."""
        return self._ip.logged_out

    @property
    def auto_login(self) -> bool:
        """Whether a login indication logs a logged-out device in again."""
        return self._ip.auto_login

    @auto_login.setter
    def auto_login(self, value: bool) -> None:
        self._ip.auto_login = value

    def _attached(self) -> None:
        self._outbox.resubmit()
        self._radio.smma().addErrback(self._ctx.log, "SMMA")

    def _detached(self) -> None:
        self._outbox.link_lost()

    def _ip_down(self) -> None:
        self._receipts.session_lost()
        self._read_sync.session_lost()

    def _ip_up(self) -> None:
        self._receipts.flush()
        self._read_sync.flush()
        self._history.flush()
        self._ip_path.offer_pending()

    def _on_push(self, message: wire.Message) -> Deferred[None] | None:
        """What the IP server pushes besides feedback."""
        if isinstance(message, wire.IpMessage):
            return self._ip_path.receive(message)
        if isinstance(message, wire.ReadState):
            return self._read_sync.apply(message)
        if isinstance(message, wire.QueryRequest):
            self._search.answer(message)
        elif isinstance(message, wire.ResultsReady):
            self._search.results_ready(message)
        elif isinstance(message, wire.LoginIndication):
            self._ip.indicated(message)
        return None

    # -- events --------------------------------------------------------------------

    def watch(self, fn: Watcher) -> None:
        """Call ``fn(event, details)`` on everything that happens (for the demo,
        logs and tests): attached, detached, ip up, ip down, queued, state,
        received, opened, read elsewhere, response, response refused, feedback."""
        self._ctx.events.watch(fn)

    def wait_for(self, kind: str, **match: Any) -> Deferred[dict[str, Any]]:
        """Fires with the details of the next event ``kind`` whose details
        include ``match``."""
        return self._ctx.events.wait_for(kind, **match)

    # -- what the user does ---------------------------------------------------------

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
            self._outbox.builder(to, text, how)(0, 0, 0)  # refused before it takes a number
            # A legacy phone (no message numbers) has no IP path either.
            ip_path = how is not Carrier.NONE and settings.ip_path is IpPath.WHEN_POSSIBLE
            if self.online and ip_path:
                wire.message_text(text)  # too long for the IP path: by SMS
                via = "ip"
            else:
                via = "sms"
        except wire.Invalid:
            via = "sms"
        except (PDUError, ValueError) as exc:
            return fail(PhoneError(str(exc)))
        return self._outbox.store(to, text, how, via).addCallback(self._queued)

    def _queued(self, out: Outgoing) -> int:
        if out.message.via == "ip":
            self._ip_path.offer(out.message)
        self._history.flush()
        return out.message.id

    def read(self, message_id: int) -> Deferred[MessageView]:
        """The user opens a message: a received one becomes read and, with
        receipts on, the IP server gets a response for it; a sent one is
        only shown.  Fires with the message; ``NotFound`` for an id this
        phone does not have."""
        # A first read is passed on to the account's other devices (ReadSync).
        return self._receipts.read(message_id)

    def logout(self) -> Deferred[None]:
        """The user logs the device out of the IP server: the session closes
        and stays closed; the push channel stays, so a login indication can
        still reach the device.  Fires once the session is gone."""
        return self._ip.logout()

    def login(self) -> Deferred[dict[str, Any]]:
        """Log in again; fires on "ip up" (at once if it is up)."""
        return self._ip.login()

    def sync_history(self) -> Deferred[None]:
        """Fires once the server has a copy of everything stored so far (or
        the IP session is down: then at once)."""
        return self._history.sync()

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
        copy; if nothing there, the account's other devices (docs/history-query.md §Search).  Fires
        with what was found and where; never later than the query's deadline
        (plus ``handset.search.RESULTS_GRACE`` should the server fail to answer)."""
        return self._search.search(text, peer, since, until, limit, timeout)

    # -- what the AT port asks (handset.modem) ---------------------------------------

    def now(self) -> datetime:
        return self._ctx.now()

    @property
    def capacity(self) -> int | None:
        return self._ctx.capacity

    @property
    def smsc_address(self) -> Address | None:
        return self._radio.smsc_address()

    def submit_tpdu(self, tpdu: bytes, timeout: float) -> Deferred[int]:
        """Send an SMS-SUBMIT the TE built, under the handset's next TP-MR
        (octet 2 of the TPDU); fires with that TP-MR on the SMSC's RP-ACK.
        See ``RadioLink.submit`` for the failures."""
        if self.companion is not None or not self.attached:
            return fail(ConnectionError("not attached to the SMSC"))

        def send(mr: int) -> Deferred[int]:
            d = self._radio.submit(tpdu[:1] + bytes([mr]) + tpdu[2:], timeout)
            return d.addCallback(lambda _: mr)

        return self.store.call(self.store.repo.take_tp_mr).addCallback(send)

    def set_radio(self, on: bool) -> Deferred[None]:
        """AT+CFUN: the radio on (attach, as at start) or off (detach)."""
        if on:
            self._radio.start()
            return succeed(None)
        return self._radio.stop()

    def memory_available(self) -> Deferred[None]:
        """Room in the message store again: the SMSC hears of it (RP-SMMA)
        if it refused a message for want of room."""
        return self._radio.smma()

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
            self._ctx.settings = settings
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

    def view(self, peer: str) -> Deferred[list[MessageView]]:
        """The user looks at the conversation with ``peer`` (the control API's
        ``GET .../conversations/PEER``): with ``read_on_view`` set, as on
        phones, each unread received message it shows is opened (``read``,
        and its response sent) first.  ``conversation`` only looks."""
        if not self.settings.read_on_view:
            return self.conversation(peer)
        try:
            key = number_of(peer)
        except PDUError as exc:
            return fail(PhoneError(str(exc)))

        # All it opens in one commit, as many as there are.
        opening = self._receipts.open_conversation(key)
        return opening.addCallback(lambda _: self.conversation(key))

    def conversation(self, peer: str) -> Deferred[list[MessageView]]:
        """The messages with ``peer``, oldest first, each with its state and
        the "Read" / "Sent" marks of docs/read-receipts.md §Conversations."""
        try:
            key = number_of(peer)
        except PDUError as exc:
            return fail(PhoneError(str(exc)))
        return self.store.call(self.store.repo.conversation, key)
