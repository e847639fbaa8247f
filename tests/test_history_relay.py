"""The IP server's side of multi-device accounts (docs/history-query.md; the
IP path of docs/read-receipts.md §Routing), over real TCP on 127.0.0.1 with
handset IP clients, on SQLite and PostgreSQL: the partial history and its
retention, the query relay with sealed answers, push channels and login
indications, account isolation, the IP path's durable queue.  The deadline
is tested on ``task.Clock`` with in-memory transports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import pytest_twisted
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredQueue
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from handset.history import from_entry, merge, open_answers, open_window, seal_answer
from handset.ip_client import IpClient, IpError, connect_ip, connect_push
from ipwire import wire
from ipwire.device_session import DeviceSession
from ipwire.sealed import DeviceKey
from receipt_server.jobs import to_millis
from receipt_server.models import (
    HistoryCopy,
    HistoryKey,
    HistoryQuery,
    HistoryWindow,
    IpDelivery,
    QueryResult,
)
from receipt_server.server import ReceiptServerFactory
from receipt_server.store import ReceiptStore, Registration, Retention
from tests.test_receipt_server import Net, failure_of
from tests.test_receipt_wire import device_messages

PHONE, OTHER = "+447700900123", "+4915112345678"
NOW = datetime(2026, 12, 1, 12, 0, 0)
#: The longest deadline a query may have: those below end as soon as every
#: device has answered, so this only bounds a test that would otherwise fail.
PATIENT = 60


def uid(n: int) -> str:
    return f"{n:032x}"


def entry(n: int, text: str, *, age: timedelta = timedelta(0)) -> wire.HistoryEntry:
    return wire.HistoryEntry(uid(n), OTHER, "in", text, to_millis(NOW - age))


def sealed(request: wire.QueryRequest, device: str, found: list[wire.HistoryEntry]) -> bytes:
    """Seal what a device found to the asker's key, as a handset does."""
    items = [from_entry(e) for e in found]
    return seal_answer(items, wire.unb64(request.reply_key), request.query_id, device)[1]


class Device:
    """A logged-in device that records what the server pushes to it."""

    def __init__(self, reg: Registration, key: DeviceKey) -> None:
        self.reg = reg
        self.key = key
        self.pushed: DeferredQueue[wire.Message] = DeferredQueue()
        self.client: IpClient

    def on_push(self, message: wire.Message) -> None:
        self.pushed.put(message)

    async def next(self, kind: type[wire.Message]) -> Any:
        message = await self.pushed.get()
        assert isinstance(message, kind), message
        return message

    async def answer(self, request: wire.QueryRequest, found: list[wire.HistoryEntry]) -> None:
        blob = sealed(request, self.reg.device_id, found)
        await self.client.answer(request.query_id, len(found), blob)


class Accounts(Net):
    """The IP server with a clock-free retention window for these tests."""

    async def bind(self, msisdn: str, account: str | None = None, kind: str = "phone") -> Device:
        key = DeviceKey.generate()
        reg = await self.store.register_device(msisdn, account, kind, public_key=key.public)
        return Device(reg, key)

    async def login(self, device: Device) -> Device:
        device.client = await connect_ip(
            reactor, "127.0.0.1", self.port, device.reg.device_id, device.reg.secret,
            on_push=device.on_push,
        )  # fmt: skip
        return device

    def count(self, model: Any) -> int:
        with Session(self.store.engine) as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def net(database_url: str) -> Iterator[Accounts]:
    net = Accounts(database_url, retention=Retention(timedelta(days=30), 3))
    yield net
    pytest_twisted.blockon(Deferred.fromCoroutine(net.shut()))


def opened(entries: tuple[wire.WindowEntry, ...] | None, key: DeviceKey) -> list[str]:
    """The texts of the window's hits, opened as the asker does."""
    found, bad = open_window(entries or (), key)
    assert bad == 0
    return [f.item.text for f in found]


@pytest_twisted.ensureDeferred
async def test_the_window_answers_a_range_it_covers_sealed_to_the_asker(net: Accounts) -> None:
    phone = await net.login(await net.bind(PHONE))
    desktop = await net.login(await net.bind(PHONE, PHONE, "companion"))
    # The window took the account's first copy two hours ago: it holds
    # everything since then.
    net.store.now = lambda: NOW - timedelta(hours=2)
    await phone.client.put_history([entry(3, "first", age=timedelta(hours=2))])
    net.store.now = lambda: NOW
    await phone.client.put_history(
        [entry(1, "a Test Message", age=timedelta(minutes=1)), entry(2, "other")]
    )
    # Not what came before the window took the account: the phone is asked too.
    before = await desktop.client.query(peer=OTHER, timeout=PATIENT)
    assert isinstance(before, wire.QueryOpen) and len(before.window or ()) == 3
    await phone.answer(await phone.next(wire.QueryRequest), [])
    await desktop.next(wire.ResultsReady)
    # The last hour of the conversation: inside the window.
    since = to_millis(NOW - timedelta(hours=1))
    reply = await desktop.client.query(peer=OTHER, since=since)
    assert isinstance(reply, wire.QueryResult) and reply.status == "found"
    assert reply.messages == () and opened(reply.window, desktop.key) == ["other", "a Test Message"]
    # Each device of the account opens its own key, and only its own.
    mine = await phone.client.query(peer=OTHER, since=since)
    assert isinstance(mine, wire.QueryResult)
    assert opened(mine.window, phone.key) == ["other", "a Test Message"]
    assert open_window(mine.window or (), desktop.key)[1] == 2
    # The newest N, when the window holds N: covered as well.
    newest = await desktop.client.query(peer=OTHER, limit=2)
    assert isinstance(newest, wire.QueryResult) and len(newest.window or ()) == 2
    assert phone.pushed.pending == []  # nothing was relayed
    # At rest, the server holds no text.
    with Session(net.store.engine) as s:
        blobs = [*s.scalars(select(HistoryCopy.box)), *s.scalars(select(HistoryKey.sealed))]
    assert len(blobs) == 3 + 3 * 2 and not any(b"Message" in b or b"other" in b for b in blobs)


@pytest_twisted.ensureDeferred
async def test_what_the_window_does_not_cover_goes_to_the_devices_too(net: Accounts) -> None:
    """Three newest asked, two held and nothing older known to be gone: the
    window gives its two and the phone is asked; a text search the window
    cannot read goes to the phone whole."""
    phone = await net.login(await net.bind(PHONE))
    desktop = await net.login(await net.bind(PHONE, PHONE, "companion"))
    net.store.now = lambda: NOW
    await phone.client.put_history([entry(1, "one", age=timedelta(minutes=1)), entry(2, "two")])
    reply = await desktop.client.query(peer=OTHER, limit=3, timeout=PATIENT)
    assert isinstance(reply, wire.QueryOpen) and opened(reply.window, desktop.key) == ["two", "one"]
    request = await phone.next(wire.QueryRequest)
    assert (request.peer, request.limit, request.text) == (OTHER, 3, None)
    await phone.answer(request, [entry(n, f"#{n}", age=timedelta(minutes=n)) for n in (0, 1, 2)])
    ready = await desktop.next(wire.ResultsReady)
    assert (ready.status, ready.answered, ready.expected) == ("complete", 1, 1)
    text = await desktop.client.query(text="two", timeout=PATIENT)
    assert isinstance(text, wire.QueryOpen) and text.window is None
    assert (await phone.next(wire.QueryRequest)).text == "two"


@pytest_twisted.ensureDeferred
async def test_retention_prunes_the_oldest_and_those_queries_go_to_the_devices(
    net: Accounts,
) -> None:
    phone = await net.login(await net.bind(PHONE))
    desktop = await net.login(await net.bind(PHONE, PHONE, "companion"))
    net.store.now = lambda: NOW
    # Five messages against a window of 3 by count: the two oldest go.
    await phone.client.put_history(
        [entry(n, f"note {n}", age=timedelta(minutes=10 - n)) for n in range(1, 6)]
    )
    assert net.count(HistoryCopy) == 3
    # By age (30 days): 5.5 minutes short of 30 days after NOW, the sweep
    # drops notes 3 and 4 (7 and 6 minutes older than NOW), keeps note 5.
    net.store.now = lambda: NOW + timedelta(days=30) - timedelta(minutes=5, seconds=30)
    await net.server.factory.sweep()
    with Session(net.store.engine) as s:
        kept = sorted(s.scalars(select(HistoryCopy.uid)))
    assert kept == [uid(5)]
    reply = await desktop.client.query(text="note 4", timeout=5)
    assert isinstance(reply, wire.QueryOpen)  # not on the server: relayed
    request = await phone.next(wire.QueryRequest)
    assert request.text == "note 4"


@pytest_twisted.ensureDeferred
async def test_a_relayed_query_is_answered_sealed_merged_fetched_and_deleted(
    net: Accounts,
) -> None:
    phone = await net.login(await net.bind(PHONE))
    tablet = await net.login(await net.bind(PHONE, PHONE, "companion"))
    desktop = await net.login(await net.bind(PHONE, PHONE, "companion"))
    reply = await desktop.client.query(text="test message", timeout=PATIENT)
    assert isinstance(reply, wire.QueryOpen) and reply.devices == 2
    for device, held in (
        (phone, [entry(1, "test message 1"), entry(2, "test message 2")]),
        (tablet, [entry(2, "test message 2"), entry(3, "test message 3")]),
    ):
        request = await device.next(wire.QueryRequest)
        assert request.asker == desktop.reg.device_id and request.text == "test message"
        await device.answer(request, held)
    ready = await desktop.next(wire.ResultsReady)
    assert (ready.query_id, ready.status, ready.answered, ready.expected) == (
        reply.query_id, "complete", 2, 2,
    )  # fmt: skip
    # The server holds ciphertext only.
    with Session(net.store.engine) as s:
        stored = list(s.scalars(select(QueryResult.sealed)))
    assert len(stored) == 2 and not any(b"test message" in b for b in stored)
    frames = await desktop.client.fetch(reply.query_id)
    found, bad = open_answers([a for f in frames for a in f.answers], desktop.key, reply.query_id)
    merged = merge(found, 50)
    assert bad == [] and [(f.item.uid, f.item.text) for f in merged] == [
        (uid(n), f"test message {n}") for n in (3, 2, 1)
    ]
    both = {phone.reg.device_id, tablet.reg.device_id}
    assert set(merged[1].sources) == both  # message 2 was on both: listed once
    await desktop.client.ack_results(reply.query_id)
    assert net.count(QueryResult) == 0 and net.count(HistoryQuery) == 0
    # Fetched and acknowledged: gone for good.
    assert (await failure_of(desktop.client.fetch(reply.query_id))).code == "not_open"


@pytest_twisted.ensureDeferred
async def test_a_logged_out_device_is_woken_by_its_push_channel(net: Accounts) -> None:
    desktop = await net.login(await net.bind(PHONE, PHONE, "companion"))
    phone = await net.bind(PHONE)
    indications: DeferredQueue[wire.Message] = DeferredQueue()
    channel = await connect_push(
        reactor, "127.0.0.1", net.port, phone.reg.device_id, phone.reg.secret, indications.put
    )
    reply = await desktop.client.query(text="test message", timeout=PATIENT)
    assert isinstance(reply, wire.QueryOpen)
    indication = await indications.get()
    assert indication == wire.LoginIndication("history_query")
    assert b"test message" not in wire.encode(indication)  # no search terms
    # A push channel serves nothing else.
    assert (await failure_of(channel.put_history([entry(9, "x")]))).code == "unauthenticated"
    await net.login(phone)
    request = await phone.next(wire.QueryRequest)
    await phone.answer(request, [entry(1, "test message")])
    ready = await desktop.next(wire.ResultsReady)
    assert ready.status == "complete"
    channel.close()


@pytest_twisted.ensureDeferred
async def test_other_accounts_may_neither_answer_nor_fetch(net: Accounts) -> None:
    phone = await net.login(await net.bind(PHONE))
    desktop = await net.login(await net.bind(PHONE, PHONE, "companion"))
    stranger = await net.login(await net.bind(OTHER))
    reply = await desktop.client.query(text="secret", timeout=PATIENT)
    assert isinstance(reply, wire.QueryOpen)
    request = await phone.next(wire.QueryRequest)
    refused = await failure_of(stranger.answer(request, [entry(1, "forged secret")]))
    assert isinstance(refused, IpError) and refused.code == "forbidden"
    assert stranger.pushed.pending == []  # the query never reached another account
    # An answer for a query that is not open.
    late = await failure_of(phone.client.answer(uid(77), 0, b"x" * 61))
    assert isinstance(late, IpError) and late.code == "not_open"
    await phone.answer(request, [])
    ready = await desktop.next(wire.ResultsReady)
    assert ready.status == "not_found"
    stolen = await failure_of(stranger.client.fetch(reply.query_id))
    assert isinstance(stolen, IpError) and stolen.code == "forbidden"
    assert net.count(QueryResult) == 1  # nothing from the stranger was kept


@pytest_twisted.ensureDeferred
async def test_a_lone_device_gets_not_found_at_once(net: Accounts) -> None:
    phone = await net.login(await net.bind(PHONE))
    reply = await phone.client.query(text="anything")
    assert reply == wire.QueryResult(reply.id, "not_found")
    assert net.count(HistoryQuery) == 0


@pytest_twisted.ensureDeferred
async def test_unbinding_revokes_the_secret(net: Accounts) -> None:
    phone = await net.login(await net.bind(PHONE))
    desktop = await net.bind(PHONE, PHONE, "companion")
    await phone.client.put_history([entry(1, "before the unbinding")])
    assert net.count(HistoryKey) == 2
    assert await net.store.unbind(desktop.reg.device_id) is not None
    # Its key to the window's copy is gone: only the phone's is left.
    with Session(net.store.engine) as s:
        assert list(s.scalars(select(HistoryKey.device_id))) == [phone.reg.device_id]
    refused = await failure_of(net.login(desktop))
    assert isinstance(refused, IpError) and refused.code == "bad_credentials"
    assert [d.device_id for d in await net.store.account_devices(PHONE)] == [phone.reg.device_id]


@pytest_twisted.ensureDeferred
async def test_an_unbound_device_is_hung_up_and_no_longer_waited_for(net: Accounts) -> None:
    """Unbound by another process (``smsemu ip-server unbind``): the next sweep
    closes its connections, and the open query stops waiting for it."""
    desktop = await net.login(await net.bind(PHONE, PHONE, "companion"))
    tablet = await net.login(await net.bind(PHONE, PHONE, "companion"))
    reply = await desktop.client.query(text="anything", timeout=PATIENT)
    assert isinstance(reply, wire.QueryOpen)
    request = await tablet.next(wire.QueryRequest)
    await net.store.unbind(tablet.reg.device_id)
    # Still connected, until the sweep: its answer is refused all the same.
    late = await failure_of(tablet.answer(request, [entry(1, "anything")]))
    assert isinstance(late, IpError) and late.code == "forbidden"
    await net.server.factory.sweep()
    await tablet.client.lost
    ready = await desktop.next(wire.ResultsReady)  # long before the deadline
    assert (ready.status, ready.expected) == ("not_found", 1)


@pytest_twisted.ensureDeferred
async def test_a_device_without_a_key_opens_no_query(net: Accounts) -> None:
    await net.login(await net.bind(PHONE))
    reg = await net.store.register_device(PHONE, PHONE, "companion")  # no public key
    keyless = await net.login(Device(reg, DeviceKey.generate()))
    reply = await keyless.client.query(text="anything")
    assert isinstance(reply, wire.QueryResult) and reply.status == "not_found"
    assert net.count(HistoryQuery) == 0


@pytest_twisted.ensureDeferred
async def test_the_ip_path_queues_for_every_device_and_refuses_offline_recipients(
    net: Accounts,
) -> None:
    sender = await net.login(await net.bind(OTHER))
    phone = await net.bind(PHONE)
    tablet = await net.bind(PHONE, PHONE, "companion")
    offline = await failure_of(sender.client.ip_submit(PHONE, uid(5), 7, "hello", 1000))
    assert isinstance(offline, IpError) and offline.code == "recipient_offline"
    await net.login(phone)
    await sender.client.ip_submit(PHONE, uid(5), 7, "hello", 1000)
    await sender.client.ip_submit(PHONE, uid(5), 7, "hello", 1000)  # a resend: queued once
    got = await phone.next(wire.IpMessage)
    assert (got.sender, got.uid, got.message_number, got.text) == (OTHER, uid(5), 7, "hello")
    # The tablet was offline: the durable queue gives it the message at its login.
    await net.login(tablet)
    assert (await tablet.next(wire.IpMessage)).uid == uid(5)
    await tablet.client.query(text="barrier")  # the acks ride before this commits
    with Session(net.store.engine) as s:
        pending = s.scalar(
            select(func.count()).select_from(IpDelivery).where(IpDelivery.delivered_at.is_(None))
        )
    assert pending == 0
    assert phone.pushed.pending == [] and tablet.pushed.pending == []


# -- the deadline, on a clock ------------------------------------------------------------


def fired(d: Deferred[Registration]) -> Registration:
    """The result of a store call run at once (``threaded=False``)."""
    out: list[Registration] = []
    d.addCallback(out.append)
    return out[0]


class Wire:
    """A device on an in-memory transport to a factory on ``task.Clock``."""

    def __init__(self, factory: ReceiptServerFactory) -> None:
        self.protocol = factory.buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)
        self.reader = wire.FrameReader(wire.SERVER_MESSAGES)

    def send(self, message: wire.Message) -> None:
        self.protocol.dataReceived(wire.encode(message))

    def received(self) -> list[wire.Message | wire.WireError]:
        out = self.reader.feed(self.transport.value())
        self.transport.clear()
        return out

    def login(self, device: str, secret: str, rid: wire.RequestId = 1) -> None:
        """``login``, the server's challenge, the proof (with the device's
        side of the protocol); the login_ok stays to be ``received``."""
        session = DeviceSession()
        (login,) = wire.FrameReader(wire.DEVICE_MESSAGES).feed(session.login(device, secret)[1])
        assert isinstance(login, wire.Login)
        self.send(wire.Login(rid, login.device, login.nonce))  # the id the test wants
        (challenge,) = self.received()
        assert isinstance(challenge, wire.Challenge)
        answer = session.answer(wire.Challenge(1, challenge.nonce))
        assert answer is not None
        proved = wire.FrameReader(wire.DEVICE_MESSAGES).feed(answer)[0]
        assert isinstance(proved, wire.LoginProof)
        self.send(wire.LoginProof(rid, proved.proof))


def test_a_query_ends_at_its_deadline_with_what_arrived(tmp_path: Any) -> None:
    clock = Clock()
    store = ReceiptStore.open(f"sqlite:///{tmp_path / 'rs.sqlite3'}", threaded=False)
    factory = ReceiptServerFactory(store, clock, query_timeout=5.0)
    keys = {name: DeviceKey.generate() for name in ("desktop", "phone", "tablet")}
    regs = {}
    for name, key in keys.items():
        kind = "phone" if name == "phone" else "companion"
        regs[name] = fired(
            store.register_device(PHONE, PHONE, kind, device_id=name, public_key=key.public)
        )
    desktop, phone = Wire(factory), Wire(factory)
    for w, name in ((desktop, "desktop"), (phone, "phone")):
        w.login(name, regs[name].secret)
        assert isinstance(w.received()[0], wire.LoginOk)
    # The tablet never logs in.
    desktop.send(wire.Query(2, text="test message"))
    opened = desktop.received()
    assert isinstance(opened[0], wire.QueryOpen) and opened[0].deadline == 5.0
    request = phone.received()[0]
    assert isinstance(request, wire.QueryRequest)
    blob = sealed(request, "phone", [entry(1, "test message")])
    phone.send(wire.QueryAnswer(3, request.query_id, 1, wire.b64(blob)))
    assert phone.received() == [wire.Ok(3)]
    clock.advance(4.9)
    assert desktop.received() == []  # still waiting for the tablet
    clock.advance(0.2)
    ready = desktop.received()
    assert ready == [wire.ResultsReady(request.query_id, "partial", 1, 2)]
    desktop.send(wire.FetchResults(4, request.query_id))
    (results,) = desktop.received()
    assert isinstance(results, wire.Results) and results.missing == ("tablet",)
    # Late answers are refused: the query is closed.
    phone.send(wire.QueryAnswer(5, request.query_id, 0, wire.b64(blob)))
    late = phone.received()[0]
    assert isinstance(late, wire.Error) and late.code == "not_open"
    # Never fetched (acknowledged): deleted once expired.
    later = store.now() + timedelta(seconds=5) + factory.results_ttl
    store.now = lambda: later
    factory.sweep()
    with Session(store.engine) as s:
        assert s.scalar(select(func.count()).select_from(HistoryQuery)) == 0
        assert s.scalar(select(func.count()).select_from(QueryResult)) == 0
    store.close()


def test_nobody_answering_is_partial_at_the_deadline_naming_the_silent(tmp_path: Any) -> None:
    """Nothing found, but a device of the account was not heard: "partial",
    not "not_found" (docs/history-query.md §Deadline)."""
    clock = Clock()
    store = ReceiptStore.open(f"sqlite:///{tmp_path / 'rs.sqlite3'}", threaded=False)
    factory = ReceiptServerFactory(store, clock)
    key = DeviceKey.generate()
    asker = fired(
        store.register_device(PHONE, PHONE, "companion", device_id="desk", public_key=key.public)
    )
    store.register_device(PHONE, PHONE, "phone", device_id="phone")
    desktop = Wire(factory)
    desktop.login("desk", asker.secret)
    desktop.send(wire.Query(2, text="x", timeout=1))
    got = desktop.received()
    assert isinstance(got[1], wire.QueryOpen)
    clock.advance(1)
    (ready,) = desktop.received()
    assert isinstance(ready, wire.ResultsReady) and (ready.status, ready.answered) == (
        "partial",
        0,
    )
    desktop.send(wire.FetchResults(3, ready.query_id))
    (results,) = desktop.received()
    assert isinstance(results, wire.Results) and (results.status, results.missing) == (
        "partial",
        ("phone",),
    )
    store.close()


# -- any request, in any order -----------------------------------------------------------

_STORES: dict[str, tuple[ReceiptStore, Registration]] = {}


@given(st.lists(device_messages, min_size=1, max_size=8))
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_every_request_gets_an_answer_whatever_comes(
    tmp_path: Any, messages: list[wire.Message]
) -> None:
    """A logged-in device sends anything the wire allows: the server answers
    every request that has an id (at least one frame carrying it), sends only
    frames a device can read, and raises nothing."""
    key = str(tmp_path)
    if key not in _STORES:
        store = ReceiptStore.open(f"sqlite:///{tmp_path / 'rs.sqlite3'}", threaded=False)
        reg = fired(store.register_device(PHONE, public_key=DeviceKey.generate().public))
        fired(store.register_device(PHONE, PHONE, "companion"))
        _STORES[key] = (store, reg)
    store, reg = _STORES[key]
    factory = ReceiptServerFactory(store, Clock(), rate=1e6, burst=10**6)
    device = Wire(factory)
    device.login(reg.device_id, reg.secret, "me")
    for message in messages:
        device.send(message)
    answers = device.received()
    assert not any(isinstance(a, wire.WireError) for a in answers), answers
    answered = {getattr(a, "id", None) for a in answers}
    for message in messages:
        rid = getattr(message, "id", None)
        if rid is not None and not isinstance(message, wire.Login | wire.PushSubscribe):
            assert rid in answered, (message, answers)
    device.protocol.transport.loseConnection()  # type: ignore[union-attr]
    device.protocol.connectionLost(None)


@pytest_twisted.ensureDeferred
async def test_a_window_that_kept_nothing_vouches_for_nothing_after(net: Accounts) -> None:
    """Set to keep nothing, the server forgets where each window began: kept
    again, it covers an account only from its next copy on."""
    phone = await net.login(await net.bind(PHONE))
    await net.login(await net.bind(PHONE, PHONE, "companion"))
    await phone.client.put_history([entry(1, "kept")])
    assert net.count(HistoryWindow) == 1
    assert await net.store.prune_history(Retention(timedelta(0), 0)) == 1
    assert net.count(HistoryWindow) == 0 and net.count(HistoryKey) == 0
