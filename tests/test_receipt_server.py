"""The IP server over real TCP on 127.0.0.1, on SQLite and PostgreSQL, with
handset IP clients: login, responses, the durable feedback outbox across
restarts, forged responses, malformed frames, the rate limit."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import select
from sqlalchemy.orm import Session
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredQueue, fail
from twisted.internet.protocol import ClientCreator, Protocol
from twisted.python.failure import Failure

from handset.ip_client import IpClient, IpError, connect_ip
from ipwire import wire
from ipwire.device_session import DeviceSession
from receipt_server.models import Feedback
from receipt_server.server import Listening, ReceiptServerService, listen
from receipt_server.store import (
    DeviceExists,
    ReceiptStore,
    Registration,
    migrate,
    open_engine,
    sqlite_url,
)

A, B, C = "+4915112345678", "+447700900123", "+15551234567"
ELSEWHERE = "+19990000000"  # a sender no test listens for


class Net:
    """An IP server and its store on ``url``, which a test may restart."""

    def __init__(self, url: str, **limits: Any) -> None:
        self.url = url
        self.limits = limits
        self.start()

    def start(self) -> None:
        self.store = ReceiptStore.open(self.url)
        self.server: Listening = listen(reactor, self.store, "tcp:0", **self.limits)
        self.port = self.server.address[1]

    async def shut(self) -> None:
        await self.server.stop()
        await self.store.stop()

    async def restart(self) -> None:
        """A new server process on the same database."""
        await self.shut()
        self.start()

    async def device(self, msisdn: str, **kwargs: Any) -> Registration:
        return await self.store.register_device(msisdn, **kwargs)

    async def connect(self, reg: Registration, *, applies: bool = True) -> Phone:
        """A device logged in; it acknowledges each feedback at once, or (not
        ``applies``) fails to apply it and does not acknowledge it."""
        phone = Phone(reg, applies)
        phone.client = await connect_ip(
            reactor, "127.0.0.1", self.port, reg.device_id, reg.secret, phone.apply
        )
        return phone

    def feedback_rows(self, to: str = A) -> list[Feedback]:
        """The outbox rows for ``to``, as committed."""
        with Session(self.store.engine) as s:
            query = select(Feedback).where(Feedback.to_msisdn == to).order_by(Feedback.id)
            return list(s.scalars(query))


class Phone:
    def __init__(self, reg: Registration, applies: bool) -> None:
        self.reg = reg
        self.applies = applies
        self.feedback: DeferredQueue[wire.Feedback] = DeferredQueue()
        self.client: IpClient

    def apply(self, feedback: wire.Feedback) -> Deferred[None] | None:
        self.feedback.put(feedback)
        return None if self.applies else fail(OSError("disk full"))

    async def barrier(self) -> None:
        """Wait until all the server had queued for this device went out: a
        response through the store answers after the login's backlog and after
        any acknowledgement sent before it has been queued for commit."""
        msisdn = self.client.login_ok.msisdn  # type: ignore[union-attr]
        await self.client.send_response(msisdn, ELSEWHERE, 0)

    def waiting(self) -> list[wire.Feedback]:
        return list(self.feedback.pending)

    async def hang_up(self) -> None:
        self.client.close()
        await self.client.lost


@pytest.fixture
def net(database_url: str) -> Iterator[Net]:
    net = Net(database_url)
    yield net
    pytest_twisted.blockon(Deferred.fromCoroutine(net.shut()))


def who(ok: wire.LoginOk | None) -> tuple[str, str, str]:
    """Whom a login_ok names (its signature the client has checked already)."""
    assert ok is not None
    return ok.device, ok.msisdn, ok.account


async def failure_of(d: Awaitable[Any]) -> Any:
    try:
        await d
    except Exception as exc:
        return exc
    raise AssertionError("it succeeded")


# -- login -------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_login_tells_the_device_who_it_is(net: Net) -> None:
    reg = await net.device(B)
    companion = await net.device(B, account="family", kind="companion", device_id="tablet-1")
    phone = await net.connect(reg)
    assert who(phone.client.login_ok) == (reg.device_id, B, B)
    tablet = await net.connect(companion)
    assert who(tablet.client.login_ok) == ("tablet-1", B, "family")
    assert isinstance(await failure_of(net.device(A, device_id="tablet-1")), DeviceExists)


@pytest_twisted.ensureDeferred
async def test_bad_credentials_are_refused(net: Net) -> None:
    reg = await net.device(B)
    for device, secret in [(reg.device_id, "not-the-secret"), ("nobody", reg.secret)]:
        error = await failure_of(net.connect(Registration(device, secret)))
        assert isinstance(error, IpError) and error.code == "bad_credentials"


@pytest_twisted.ensureDeferred
async def test_a_second_login_of_a_device_replaces_the_first(net: Net) -> None:
    reg_a, reg_b = await net.device(A), await net.device(B)
    old = await net.connect(reg_a)
    new = await net.connect(reg_a)
    await old.client.lost
    assert old.client.last_error is not None
    assert old.client.last_error.code == "session_replaced"
    b = await net.connect(reg_b)
    await b.client.send_response(B, A, 3)
    assert await new.feedback.get() == wire.Feedback(1, B, 3, 1)


# -- responses and feedback -----------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_response_reaches_the_logged_in_sender_as_feedback(net: Net) -> None:
    a, b = await net.connect(await net.device(A)), await net.connect(await net.device(B))
    await b.client.send_response(B, A, 17)
    # "ok" means committed: the row is there, pending, before A acknowledges.
    (row,) = net.feedback_rows()
    assert (row.to_msisdn, row.receiver, row.message_number, row.status) == (A, B, 17, 1)
    got = await a.feedback.get()
    assert got == wire.Feedback(row.id, B, 17, 1)
    await a.barrier()  # A's acknowledgement is queued before the barrier's response
    assert await net.store.pending_for(A) == []
    await b.client.send_response(B, A, 18, status=0)
    second = await a.feedback.get()
    assert second.feedback_id > row.id
    assert (second.receiver, second.message_number, second.status) == (B, 18, 0)


@pytest_twisted.ensureDeferred
async def test_the_time_a_response_names_reaches_the_sender_live_and_after_a_restart(
    net: Net,
) -> None:
    """``sent_at`` (docs/receipt-wire.md): which of two messages numbered 0 was
    read, after a wrap; committed with the feedback, so a restart keeps it."""
    reg_a = await net.device(A)
    a, b = await net.connect(reg_a), await net.connect(await net.device(B))
    await b.client.send_response(B, A, 0, sent_at=1_764_000_000_000)
    got = await a.feedback.get()
    assert (got.message_number, got.sent_at) == (0, 1_764_000_000_000)
    await a.hang_up()
    await net.restart()
    a = await net.connect(reg_a)
    again = await a.feedback.get()  # not acknowledged: pushed again, from the database
    assert (again.feedback_id, again.sent_at) == (got.feedback_id, 1_764_000_000_000)


@pytest_twisted.ensureDeferred
async def test_feedback_for_an_offline_sender_waits_and_comes_in_order(net: Net) -> None:
    reg_a = await net.device(A)
    b = await net.connect(await net.device(B))
    await b.client.send_response(B, A, 1)
    await b.client.send_response(B, A, 2)
    await b.client.send_response(B, A, 200)
    a = await net.connect(reg_a)
    got = [await a.feedback.get() for _ in range(3)]
    assert [(f.receiver, f.message_number) for f in got] == [(B, 1), (B, 2), (B, 200)]
    assert [f.feedback_id for f in got] == sorted(f.feedback_id for f in got)


@pytest_twisted.ensureDeferred
async def test_many_responses_at_once_are_all_committed_and_delivered(database_url: str) -> None:
    net = Net(database_url, burst=1000)
    try:
        a, b = await net.connect(await net.device(A)), await net.connect(await net.device(B))
        sent = [b.client.send_response(B, A, n % 256) for n in range(300)]
        for d in sent:
            await d
        got = [await a.feedback.get() for _ in range(300)]
        assert [f.message_number for f in got] == [n % 256 for n in range(300)]
        assert len({f.feedback_id for f in got}) == 300
    finally:
        await net.shut()


@pytest_twisted.ensureDeferred
async def test_feedback_survives_a_server_restart_and_is_delivered_once(net: Net) -> None:
    reg_a = await net.device(A)
    b = await net.connect(await net.device(B))
    await b.client.send_response(B, A, 42)
    await net.restart()  # a new store and server on the same database
    a = await net.connect(reg_a)
    assert (await a.feedback.get()).message_number == 42
    await a.barrier()
    await a.hang_up()
    await net.restart()
    a = await net.connect(reg_a)
    await a.barrier()  # the backlog, if any, would have come before this
    assert a.waiting() == []


@pytest_twisted.ensureDeferred
async def test_feedback_not_acknowledged_is_sent_again_at_the_next_login(net: Net) -> None:
    reg_a = await net.device(A)
    b = await net.connect(await net.device(B))
    a = await net.connect(reg_a, applies=False)  # its commit fails: no ack
    await b.client.send_response(B, A, 9)
    first = await a.feedback.get()
    await a.barrier()
    await a.hang_up()
    a = await net.connect(reg_a)
    assert await a.feedback.get() == first
    await a.barrier()
    await a.hang_up()
    a = await net.connect(reg_a)
    await a.barrier()
    assert a.waiting() == []


@pytest_twisted.ensureDeferred
async def test_a_device_cannot_acknowledge_someone_elses_feedback(net: Net) -> None:
    reg_a = await net.device(A)
    b = await net.connect(await net.device(B))
    await b.client.send_response(B, A, 5)
    (row,) = net.feedback_rows()
    b.client.transport.write(wire.encode(wire.FeedbackAck(row.id)))  # type: ignore[union-attr]
    await b.barrier()
    a = await net.connect(reg_a)
    assert (await a.feedback.get()).feedback_id == row.id


@pytest_twisted.ensureDeferred
async def test_a_forged_response_is_forbidden_and_nothing_reaches_the_sender(net: Net) -> None:
    a = await net.connect(await net.device(A))
    await net.connect(await net.device(B))
    c = await net.connect(await net.device(C))
    error = await failure_of(c.client.send_response(B, A, 3))  # C claims B read it
    assert isinstance(error, IpError) and error.code == "forbidden"
    assert net.feedback_rows() == []
    await a.barrier()
    assert a.waiting() == []
    await c.client.ping()  # C's session goes on


# -- bad input ----------------------------------------------------------------------------


class Raw(Protocol):
    """A device speaking raw frames, collecting what the server sends."""

    def __init__(self) -> None:
        self.reader = wire.FrameReader(wire.SERVER_MESSAGES)
        self.got: DeferredQueue[wire.Message | wire.WireError] = DeferredQueue()
        self.lost: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        for item in self.reader.feed(data):
            self.got.put(item)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.lost.callback(None)

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def ask(self, data: bytes) -> Any:
        self.send(data)
        return await self.got.get()


async def raw(net: Net) -> Raw:
    protocol: Raw = await ClientCreator(reactor, Raw).connectTCP("127.0.0.1", net.port)
    return protocol


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


async def raw_login(r: Raw, reg: Registration, rid: wire.RequestId = 1) -> wire.LoginOk:
    """Log ``r`` in as ``reg`` with the device's side of the protocol."""
    session = DeviceSession()
    _, login = session.login(reg.device_id, reg.secret)
    challenge = await r.ask(login)
    assert isinstance(challenge, wire.Challenge)
    answer = session.answer(challenge)
    assert answer is not None
    r.send(answer)
    got = await r.got.get()
    assert isinstance(got, wire.Message), got
    (ok,) = session.receive(wire.encode(got))
    assert isinstance(ok, wire.LoginOk), ok
    return ok


@pytest.mark.parametrize(
    ("data", "code", "rid"),
    [
        (b"\x00\x00\x00\x00", "unauthenticated", None),
        (frame(b"\xc3\x28"), "unauthenticated", None),
        (frame(b"{not json"), "unauthenticated", None),
        (frame(b'{"type":"teleport","id":1}'), "unauthenticated", 1),
        (frame(b'{"type":"login","id":2,"device":7,"nonce":"x"}'), "unauthenticated", 2),
        (frame(b'{"type":"login","id":2,"device":"d","secret":"an old client"}'),
         "unauthenticated", 2),
        (frame(b'{"type":"response","id":3,"receiver":"+1","sender":"+2","message_number":1}'),
         "unauthenticated", 3),
        (frame(b'{"type":"ping","id":4}'), "unauthenticated", 4),
    ],
)  # fmt: skip
@pytest_twisted.ensureDeferred
async def test_anything_but_a_login_before_a_login_is_refused_and_closes(
    tmp_path: Path, data: bytes, code: str, rid: Any
) -> None:
    net = Net(sqlite_url(tmp_path))  # no database work before a login
    try:
        r = await raw(net)
        error = await r.ask(data)
        assert isinstance(error, wire.Error) and (error.code, error.id) == (code, rid)
        await r.lost
    finally:
        await net.shut()


@pytest_twisted.ensureDeferred
async def test_malformed_frames_after_login_get_errors_and_the_session_survives(net: Net) -> None:
    reg = await net.device(B)
    r = await raw(net)
    assert who(await raw_login(r, reg, 1)) == (reg.device_id, B, B)
    cases = [
        (b"\x00\x00\x00\x00", "bad_frame", None),
        (frame(b"\xc3\x28"), "bad_frame", None),
        (frame(b"{not json"), "bad_frame", None),
        (frame(b'{"type":"teleport","id":1}'), "unknown_type", 1),
        (frame(b'{"type":"login","id":2,"device":7,"nonce":"x"}'), "bad_message", 2),
        (frame(b'{"type":"response","id":4,"receiver":"+1","sender":"+2","message_number":999}'),
         "bad_message", 4),
    ]  # fmt: skip
    for data, code, rid in cases:
        error = await r.ask(data)
        assert isinstance(error, wire.Error) and (error.code, error.id) == (code, rid)
    assert await r.ask(wire.encode(wire.Response(5, B, A, 1))) == wire.Ok(5)
    r.send(b"\x7f\xff\xff\xff")  # an impossible length: framing is lost
    error = await r.got.get()
    assert isinstance(error, wire.Error) and error.code == "bad_frame"
    await r.lost
    assert len(net.feedback_rows()) == 1


@pytest_twisted.ensureDeferred
async def test_requests_pipelined_behind_the_proof_are_served_after_it(net: Net) -> None:
    reg = await net.device(B)
    r = await raw(net)
    session = DeviceSession()
    _, login = session.login(reg.device_id, reg.secret)
    challenge = await r.ask(login)
    assert isinstance(challenge, wire.Challenge)
    answer = session.answer(challenge)
    assert answer is not None
    r.send(answer + wire.encode(wire.Response(2, B, A, 7)) + wire.encode(wire.Ping(3)))
    got = [await r.got.get() for _ in range(3)]
    assert isinstance(got[0], wire.LoginOk) and who(got[0]) == (reg.device_id, B, B)
    assert sorted(got[1:], key=str) == sorted([wire.Ok(2), wire.Pong(3)], key=str)


# -- rate limit ---------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_past_its_rate_a_device_is_told_when_to_retry(database_url: str) -> None:
    net = Net(database_url, rate=0.001, burst=2)
    try:
        a, b = await net.connect(await net.device(A)), await net.connect(await net.device(B))
        await b.client.send_response(B, A, 1)
        await b.client.send_response(B, A, 2)
        error = await failure_of(b.client.send_response(B, A, 3))
        assert isinstance(error, IpError) and error.code == "rate_limited"
        assert error.retry_after is not None and error.retry_after > 0
        assert [(await a.feedback.get()).message_number for _ in range(2)] == [1, 2]
        assert len(net.feedback_rows()) == 2
        # B's session survives: it still gets feedback pushed to it.
        await a.client.send_response(A, B, 8)
        assert (await b.feedback.get()).message_number == 8
    finally:
        await net.shut()


# -- the store and the service --------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_queued_work_commits_as_one_transaction_and_a_bad_job_fails_alone(
    database_url: str,
) -> None:
    engine = open_engine(database_url)
    migrate(engine)
    store = ReceiptStore(engine)
    try:
        # Queued before the database thread starts, so it finds them all at once.
        first = store.register_device(A, device_id="same")
        clash = store.register_device(B, device_id="same")
        ids = [store.add_feedback(A, B, n, 1) for n in range(50)]
        store.start()
        assert (await first).device_id == "same"
        assert isinstance(await failure_of(clash), DeviceExists)
        got = [await d for d in ids]
        assert got == sorted(got) and len(set(got)) == 50
        pending = await store.pending_for(A)
        assert [f.message_number for f in pending] == list(range(50))
    finally:
        await store.stop()


@pytest_twisted.ensureDeferred
async def test_queued_work_without_failures_is_one_commit(database_url: str) -> None:
    engine = open_engine(database_url)
    migrate(engine)
    store = ReceiptStore(engine)
    try:
        ids = [store.add_feedback(A, B, n, 1) for n in range(100)]
        store.start()
        for d in ids:
            await d
        assert (store.transactions, store.jobs) == (1, 100)
    finally:
        await store.stop()


@pytest_twisted.ensureDeferred
async def test_the_service_serves_devices_on_its_port(tmp_path: Path) -> None:
    service = ReceiptServerService(sqlite_url(tmp_path), address="tcp:0")
    service.startService()
    try:
        assert service.store is not None
        reg = await service.store.register_device(B)
        client = await connect_ip(reactor, "127.0.0.1", service.port, reg.device_id, reg.secret)
        await client.send_response(B, A, 1)
        assert await service.store.pending_for(A) == [wire.Feedback(1, B, 1, 1)]
    finally:
        await service.stopService()
    await client.lost  # the service hung up on its devices
