"""The emulated phone.

First driven deterministically: a ``MemoryReactorClock`` for time and TCP, the
network's end of the radio link on a ``StringTransport`` (frames built with the
real codecs), a real SQLite file run inline.  Then end to end: phones through
the real SMSC over TCP on 127.0.0.1, each with its own SQLite file on a
database thread.  The IP server is a small fake at the edge (``FakeIpServer``):
it keeps the contract of docs/receipt-wire.md that the phone relies on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
import pytest_twisted
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from twisted.internet import reactor
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.protocol import ClientFactory
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from handset.conversation import Mark, OutState
from handset.link_client import LinkClient
from handset.phone import REQUEST_TIMEOUT, IpConnector, OnFeedback, OnPush, Phone, PhoneError
from handset.sim import SimCard, SimProfile
from handset.store import HandsetStore, IpPath, Settings, open_engine, sqlite_url
from ipwire.wire import MAX_TEXT, HistoryEntry, HistoryPut
from ipwire.wire import encode as encode_frame
from pdu import (
    Address,
    DataCodingScheme,
    Direction,
    SmsDeliver,
    SmsStatusReport,
    SmsSubmit,
    decode,
    encode,
)
from pdu.concat import split
from pdu.message_number import MARKER, Carrier, parse_inline, read_number
from pdu.udh import find_concat, find_message_number
from radiolink import frames as lk
from radiolink import rp
from smsc.models import Message as SmscMessage
from smsc.service import SmscService
from smsc.store import open_engine as open_smsc_engine

from .netfix import provision, start_smsc, stop
from .sims import keys_for
from .strategies import sms_deliver, sms_status_report

T = TypeVar("T")
A, B, C = "+4915112345678", "+15551234567", "+447700900123"
SMSC = "+15550000000"
EPOCH = 1_790_000_000  # 2026-09-21: TP-SCTS has a two-digit year
SCTS = datetime(2026, 9, 21, 12, 0, tzinfo=UTC)


def now(d: Deferred[T]) -> T:
    """The result of a Deferred that has fired: the inline store answers at once."""
    results: list[T] = []
    d.addCallback(results.append)
    assert results, "the Deferred has not fired"
    return results[0]


def imsi(msisdn: str) -> str:
    return "00101" + msisdn[-10:].rjust(10, "0")


# -- the IP server, faked at the edge ------------------------------------------------------


@dataclass(frozen=True)
class Feedback:
    feedback_id: int
    receiver: str
    message_number: int
    status: int
    sent_at: int | None = None


class Refusal(Exception):
    """An ``error`` frame answering a request: code, reason, retry_after."""

    def __init__(self, code: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {reason}")
        self.code, self.reason, self.retry_after = code, reason, retry_after


class FakeSession:
    """The phone's IP session: responses and feedback as the server would;
    history copies recorded; the rest of the multi-device requests are the
    business of tests/test_history_e2e.py, against the real server."""

    def __init__(self, server: FakeIpServer, msisdn: str, on_feedback: OnFeedback) -> None:
        self.server, self.msisdn, self.on_feedback = server, msisdn, on_feedback
        self.device = f"dev-{msisdn[1:]}"
        self.lost: Deferred[None] = Deferred()

    def put_history(self, entries: Sequence[HistoryEntry]) -> Deferred[None]:
        try:
            encode_frame(HistoryPut(1, tuple(entries)))  # what the real client sends
        except ValueError as exc:
            return fail(exc)
        if self.server.history_answers:
            return fail(self.server.history_answers.pop(0))
        if self.server.older and any(not e.text for e in entries):
            # A server of before empty texts: the whole frame is refused.
            return fail(Refusal("bad_message", '"text" must be a string of 1 to 8000 characters'))
        self.server.history.extend(entries)
        return succeed(None)

    @staticmethod
    def _absent() -> Deferred[Any]:
        return fail(Refusal("unknown_type", "not in this fake"))

    def query(self, **criteria: Any) -> Deferred[Any]:
        if self.server.stall:
            return Deferred()  # a half-open connection: no answer, ever
        return self._absent()

    def answer(self, query_id: str, count: int, sealed: bytes) -> Deferred[None]:
        return self._absent()

    def fetch(self, query_id: str) -> Deferred[Any]:
        return self._absent()

    def ack_results(self, query_id: str) -> Deferred[None]:
        return self._absent()

    def ip_submit(
        self, to: str, uid: str, message_number: int, text: str, sent_at: int
    ) -> Deferred[None]:
        self.server.ip_submits.append(uid)
        if self.server.ip_answers:
            answer = self.server.ip_answers.pop(0)
            return fail(answer) if answer is not None else succeed(None)
        return self._absent()

    def send_response(
        self,
        receiver: str,
        sender: str,
        message_number: int,
        status: int = 1,
        sent_at: int | None = None,
    ) -> Deferred[None]:
        return self.server.response(self, receiver, sender, message_number, status, sent_at)

    def read_sync(self, uid: str) -> Deferred[None]:
        self.server.read_syncs.append((self.msisdn, uid))
        return succeed(None)

    def close(self) -> None:
        if not self.lost.called:
            if self.server.sessions.get(self.msisdn) is self:
                del self.server.sessions[self.msisdn]
            self.lost.callback(None)


@dataclass
class FakeIpServer:
    """Accepts a response only from the receiver it names; keeps each feedback
    in the sender's outbox until the sender's phone acknowledges it, pushing it
    on every login until then."""

    sessions: dict[str, FakeSession] = field(default_factory=dict)
    outbox: dict[str, list[Feedback]] = field(default_factory=dict)
    responses: list[tuple[str, str, int, int]] = field(default_factory=list)
    acked: list[Feedback] = field(default_factory=list)
    refuse_logins: int = 0  # this many logins fail before one works
    refuse_responses: list[Refusal] = field(default_factory=list)  # answers, in turn
    history: list[HistoryEntry] = field(default_factory=list)  # copies the phones put
    history_answers: list[Refusal] = field(default_factory=list)  # to history_put, in turn
    older: bool = False  # refuses history entries of empty text, as servers did once
    stall: bool = False  # queries get no answer
    ip_submits: list[str] = field(default_factory=list)  # uids offered over IP
    read_syncs: list[tuple[str, str]] = field(default_factory=list)  # (msisdn, uid) read
    ip_answers: list[Exception | None] = field(default_factory=list)  # in turn; None: taken
    _ids: Iterator[int] = field(default_factory=lambda: count(1))

    def connector(self, msisdn: str) -> IpConnector:
        def connect(on_feedback: OnFeedback, on_push: OnPush) -> Deferred[FakeSession]:
            if self.refuse_logins:
                self.refuse_logins -= 1
                return fail(ConnectionRefusedError())
            session = self.sessions[msisdn] = FakeSession(self, msisdn, on_feedback)
            for feedback in list(self.outbox.get(msisdn, [])):
                self._push(session, feedback)
            return succeed(session)

        return connect

    def response(
        self,
        session: FakeSession,
        receiver: str,
        sender: str,
        number: int,
        status: int,
        sent_at: int | None = None,
    ) -> Deferred[None]:
        if self.refuse_responses:
            return fail(self.refuse_responses.pop(0))
        if receiver != session.msisdn:
            return fail(Refusal("forbidden", "a response names its own device as receiver"))
        self.responses.append((receiver, sender, number, status))
        feedback = Feedback(next(self._ids), receiver, number, status, sent_at)
        self.outbox.setdefault(sender, []).append(feedback)
        target = self.sessions.get(sender)
        if target is not None:
            self._push(target, feedback)
        return succeed(None)

    def _push(self, session: FakeSession, feedback: Feedback) -> None:
        session.on_feedback(feedback).addCallback(lambda _: self._ack(session.msisdn, feedback))

    def _ack(self, msisdn: str, feedback: Feedback) -> None:
        if feedback in self.outbox.get(msisdn, []):
            self.outbox[msisdn].remove(feedback)
            self.acked.append(feedback)


def events(phone: Phone, kind: str, n: int = 1, **match: Any) -> Deferred[list[dict[str, Any]]]:
    """Fires with the details of the next ``n`` events ``kind`` matching ``match``."""
    got: list[dict[str, Any]] = []
    done: Deferred[list[dict[str, Any]]] = Deferred()

    def watcher(k: str, details: dict[str, Any]) -> None:
        if k == kind and not done.called and all(details.get(x) == v for x, v in match.items()):
            got.append(details)
            if len(got) == n:
                done.callback(got)

    phone.watch(watcher)
    return done


# -- the radio link on a StringTransport ---------------------------------------------------


class Radio:
    """The network's end of one connection the phone opened."""

    def __init__(self, clock: MemoryReactorClock, index: int = -1) -> None:
        factory = clock.tcpClients[index][2]
        assert isinstance(factory, ClientFactory)
        self.factory = factory
        # The phone connects through an endpoint, which wraps its protocol.
        wrapper = factory.buildProtocol(None)
        assert wrapper is not None
        protocol = getattr(wrapper, "_wrappedProtocol", wrapper)
        assert isinstance(protocol, LinkClient)
        self.protocol = protocol
        self.transport = StringTransport()
        wrapper.makeConnection(self.transport)
        self.reader = lk.FrameReader()
        self.mr = count()
        msisdn = protocol.ms.msisdn
        assert self.frames() == [lk.Attach(imsi(msisdn), msisdn)]

    def frames(self) -> list[lk.Frame]:
        data = self.transport.value()
        self.transport.clear()
        out = []
        for frame in self.reader.feed(data):
            assert not isinstance(frame, lk.MalformedFrame)
            out.append(frame)
        return out

    def messages(self) -> list[rp.RpMessage]:
        out = []
        for frame in self.frames():
            assert isinstance(frame, lk.Rp)
            out.append(rp.decode_rp(frame.message, direction=Direction.MO))
        return out

    def submits(self) -> list[tuple[int, SmsSubmit]]:
        out = []
        for message in self.messages():
            assert isinstance(message, rp.RpData)
            tpdu = decode(message.rp_ud, Direction.MO)
            assert isinstance(tpdu, SmsSubmit)
            out.append((message.rp_mr, tpdu))
        return out

    def send(self, message: rp.RpMessage) -> None:
        self.protocol.dataReceived(lk.encode_frame(lk.Rp(rp.encode_rp(message))))

    def accept_attach(self) -> None:
        self.protocol.dataReceived(lk.encode_frame(lk.AttachAccept(SMSC)))

    def deliver(self, tpdu: SmsDeliver | SmsStatusReport) -> int:
        mr = next(self.mr) % 256
        self.send(rp.RpData.mt(mr, Address.parse(SMSC), encode(tpdu)))
        return mr

    def drop(self) -> None:
        self.protocol.connectionLost(Failure(ConnectionDone()))


@pytest.fixture
def clock() -> MemoryReactorClock:
    clock = MemoryReactorClock()
    clock.advance(EPOCH)
    return clock


@pytest.fixture
def ip() -> FakeIpServer:
    return FakeIpServer()


class MakePhone(Protocol):
    def __call__(
        self, msisdn: str = A, settings: Settings | None = None, *, online: bool = True
    ) -> Phone: ...


@pytest.fixture
def make_phone(tmp_path: Path, clock: MemoryReactorClock, ip: FakeIpServer) -> Iterator[MakePhone]:
    stores: list[HandsetStore] = []

    def make(msisdn: str = A, settings: Settings | None = None, *, online: bool = True) -> Phone:
        store = HandsetStore.open(
            sqlite_url(tmp_path / f"{msisdn[1:]}.sqlite3"), msisdn, threaded=False
        )
        stores.append(store)
        phone = Phone(
            imsi(msisdn),
            msisdn,
            store,
            settings,
            clock,
            smsc=("127.0.0.1", 7101),
            ip=ip.connector(msisdn) if online else None,
        )
        phone.start()
        return phone

    yield make
    for store in stores:
        store.close()


def deliver_of(
    text: str, number: int | None = 4, sender: str = B, *, scts: datetime = SCTS
) -> list[SmsDeliver]:
    """What the SMSC delivers of ``text`` (reference 9 when it takes parts)."""
    plan = split(text, ref=9, message_number=number)
    return [
        SmsDeliver(
            tp_oa=Address.parse(sender),
            tp_scts=scts,
            tp_ud=ud,
            tp_dcs=DataCodingScheme.general(plan.alphabet),
        )
        for ud in plan.parts
    ]


# -- the radio link, clock-driven ------------------------------------------------------------


def test_the_radio_link_reconnects_with_backoff(
    clock: MemoryReactorClock, make_phone: MakePhone
) -> None:
    phone = make_phone(online=False)
    assert len(clock.tcpClients) == 1
    for delay in (0.5, 1.0, 2.0):
        factory = clock.tcpClients[-1][2]
        factory.clientConnectionFailed(clock.connectors[-1], Failure(ConnectionRefusedError()))
        clock.advance(delay - 0.01)
        attempts = len(clock.tcpClients)
        clock.advance(0.01)
        assert len(clock.tcpClients) == attempts + 1  # exactly after ``delay``
    radio = Radio(clock)
    radio.accept_attach()
    assert phone.attached
    radio.drop()
    assert not phone.attached
    clock.advance(0.5)  # attached once: the back-off starts again
    assert len(clock.tcpClients) == 5


def test_an_attach_refused_is_closed_and_tried_again(
    clock: MemoryReactorClock, make_phone: MakePhone
) -> None:
    phone = make_phone(online=False)
    radio = Radio(clock)
    radio.protocol.dataReceived(
        lk.encode_frame(lk.AttachReject(lk.RejectCause.NOT_PROVISIONED, "who?"))
    )
    assert radio.transport.disconnecting and not phone.attached
    clock.advance(0.5)
    assert len(clock.tcpClients) == 2


def test_a_message_sent_offline_waits_then_goes_with_its_number(
    clock: MemoryReactorClock, make_phone: MakePhone
) -> None:
    phone = make_phone(online=False)
    states = []
    phone.watch(lambda kind, d: states.append(d["state"]) if kind == "state" else None)
    sent = phone.send(B, "hello")
    assert sent.called  # stored, numbered
    mid = now(sent)
    assert [m.state for m in now(phone.conversation(B))] == [OutState.SENDING]

    radio = Radio(clock)
    assert radio.frames() == []  # nothing before the attach is accepted
    radio.accept_attach()
    [(rp_mr, submit)] = radio.submits()
    assert str(submit.tp_da) == B and submit.tp_srr
    assert submit.tp_ud.body == "hello"
    assert find_message_number(submit.tp_ud.udh) == 0

    radio.send(rp.RpAck.mt(rp_mr))
    assert states == [OutState.SENT]
    report = SmsStatusReport(
        tp_mr=submit.tp_mr, tp_ra=Address.parse(B), tp_scts=SCTS, tp_dt=SCTS, tp_st=0x00
    )
    mr = radio.deliver(report)
    assert radio.messages() == [rp.RpAck.mo(mr)]  # the report is acknowledged once applied
    assert states == [OutState.SENT, OutState.DELIVERED]
    assert now(phone.message(mid)).state is OutState.DELIVERED


def test_a_submit_lost_with_the_link_goes_again(
    clock: MemoryReactorClock, make_phone: MakePhone
) -> None:
    phone = make_phone(online=False)
    radio = Radio(clock)
    radio.accept_attach()
    phone.send(B, "x" * 400)  # three parts
    first = radio.submits()
    assert len(first) == 3
    radio.send(rp.RpAck.mt(first[0][0]))
    radio.drop()
    clock.advance(0.5)
    radio = Radio(clock)
    radio.accept_attach()
    again = radio.submits()
    # The parts the SMSC had not acknowledged, with the same TP-MR and octets.
    assert [encode(s) for _, s in again] == [encode(s) for _, s in first[1:]]


def test_temporary_refusals_retry_and_permanent_ones_fail(
    clock: MemoryReactorClock, make_phone: MakePhone
) -> None:
    phone = make_phone(online=False)
    radio = Radio(clock)
    radio.accept_attach()
    mid = now(phone.send(B, "try"))
    [(mr, _)] = radio.submits()
    radio.send(rp.RpError.mt(mr, rp.RpCause.CONGESTION))
    assert radio.submits() == []
    clock.advance(0.5)
    [(mr, _)] = radio.submits()
    radio.send(rp.RpError.mt(mr, rp.RpCause.CALL_BARRED))
    assert now(phone.message(mid)).state is OutState.FAILED
    clock.advance(60)
    assert radio.submits() == []


def test_what_cannot_be_sent_is_refused_before_it_takes_a_number(make_phone: MakePhone) -> None:
    phone = make_phone(online=False)
    for peer, body in [("", "x"), ("INFO", "x"), (B, "x" * 153 * 256)]:
        failure = phone.send(peer, body)
        assert isinstance(failure.result, Failure)
        assert failure.result.check(PhoneError)
        failure.addErrback(lambda _: None)
    assert now(phone.send(B, "ok", carrier="inline")) == 1
    assert now(phone.message(1)).number == 0


def test_received_parts_are_acknowledged_once_stored_and_survive_a_restart(
    clock: MemoryReactorClock, make_phone: MakePhone
) -> None:
    phone = make_phone(online=False)
    radio = Radio(clock)
    radio.accept_attach()
    parts = deliver_of("a long story " * 30, number=17)
    assert len(parts) == 3
    for tpdu in parts[:2]:
        mr = radio.deliver(tpdu)
        assert radio.messages() == [rp.RpAck.mo(mr)]
    assert now(phone.inbox()) == []
    radio.drop()
    phone.stop()

    phone = make_phone(online=False)  # a new process on the same store
    radio = Radio(clock)
    radio.accept_attach()
    mr = radio.deliver(parts[2])
    assert radio.messages() == [rp.RpAck.mo(mr)]
    [message] = now(phone.inbox())
    assert (message.text, message.number, message.parts) == ("a long story " * 30, 17, 3)
    assert not message.read


def test_an_sms_that_cannot_be_stored_is_refused_for_now(
    clock: MemoryReactorClock, make_phone: MakePhone
) -> None:
    phone = make_phone(online=False)
    radio = Radio(clock)
    radio.accept_attach()
    with phone.store.engine.begin() as conn:
        conn.execute(text("DROP TABLE handset_message"))
    mr = radio.deliver(deliver_of("lost?")[0])
    assert radio.messages() == [rp.RpError.mo(mr, rp.RpCause.TEMPORARY_FAILURE)]  # the SMSC retries


def test_unexpected_tpdus_are_refused(clock: MemoryReactorClock, make_phone: MakePhone) -> None:
    make_phone(online=False)
    radio = Radio(clock)
    radio.accept_attach()
    radio.send(rp.RpData.mt(3, Address.parse(SMSC), bytes([0x01, 0x00]) + bytes(7)))
    [answer] = radio.messages()
    assert isinstance(answer, rp.RpError) and answer.rp_mr == 3


@pytest.fixture(scope="module")
def shared_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One database for many phones (each its own owner): cheap fuzzing."""
    engine = open_engine(sqlite_url(tmp_path_factory.mktemp("fuzz") / "phones.sqlite3"))
    yield engine
    engine.dispose()


OWNERS = count(1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(sms_deliver(), sms_status_report(), st.binary(min_size=1, max_size=160)),
        min_size=1,
        max_size=6,
    )
)
def test_whatever_the_network_delivers_gets_an_answer(
    shared_engine: Engine, received: list[SmsDeliver | SmsStatusReport | bytes]
) -> None:
    owner = f"+1555{next(OWNERS):07d}"
    clock = MemoryReactorClock()
    store = HandsetStore(shared_engine, owner, threaded=False)
    phone = Phone(imsi(owner), owner, store, None, clock, smsc=("127.0.0.1", 7101))
    phone.start()
    radio = Radio(clock)
    radio.accept_attach()
    for i, tpdu in enumerate(received):
        octets = tpdu if isinstance(tpdu, bytes) else encode(tpdu)
        radio.send(rp.RpData.mt(i, Address.parse(SMSC), octets))
        [answer] = radio.messages()
        assert isinstance(answer, rp.RpAck | rp.RpError) and answer.rp_mr == i
        if isinstance(answer, rp.RpError):  # only what is not an SMS-DELIVER / report
            assert answer.rp_cause != rp.RpCause.TEMPORARY_FAILURE
    delivered = [t for t in received if isinstance(t, SmsDeliver)]
    assert len(now(phone.inbox())) <= len(delivered)
    assert phone.attached


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_parts_in_any_order_with_repeats_make_one_message(
    shared_engine: Engine, data: st.DataObject
) -> None:
    owner = f"+1555{next(OWNERS):07d}"
    clock = MemoryReactorClock()
    store = HandsetStore(shared_engine, owner, threaded=False)
    phone = Phone(imsi(owner), owner, store, None, clock, smsc=("127.0.0.1", 7101))
    phone.start()
    radio = Radio(clock)
    radio.accept_attach()
    body = data.draw(
        st.text(min_size=200, max_size=500).filter(lambda t: parse_inline(t)[1] is None)
    )
    parts = deliver_of(body, number=data.draw(st.integers(0, 255)))
    order = data.draw(st.permutations(parts))
    repeats = data.draw(st.lists(st.sampled_from(order[:-1]), max_size=3)) if len(parts) > 1 else []
    for tpdu in [*order[:-1], *repeats, order[-1]]:
        radio.deliver(tpdu)
        assert isinstance(radio.messages()[0], rp.RpAck)
    [message] = now(phone.inbox())
    assert message.text == body.replace("\x00", "\ufffd") and message.parts == len(parts)


def received_texts(phone: Phone) -> list[str]:
    """The inbox, oldest first."""
    inbox = now(phone.inbox())
    return [m.text for m in reversed(inbox)]


def test_a_part_resent_after_a_lost_ack_is_acknowledged_and_not_stored_again(
    clock: MemoryReactorClock, make_phone: MakePhone
) -> None:
    phone = make_phone(online=False)
    radio = Radio(clock)
    radio.accept_attach()
    first = deliver_of("A" * 400, number=1)
    assert len(first) == 3
    for tpdu in first:
        radio.deliver(tpdu)
    assert received_texts(phone) == ["A" * 400]
    radio.drop()  # the RP-ACK of the last part never reached the SMSC
    phone.stop()

    phone = make_phone(online=False)  # a restart, on the same store
    seen: list[str] = []
    phone.watch(lambda kind, details: seen.append(kind))
    radio = Radio(clock)
    radio.accept_attach()
    mr = radio.deliver(first[-1])  # the SMSC delivers the same SMS-DELIVER again
    assert radio.messages() == [rp.RpAck.mo(mr)]
    assert received_texts(phone) == ["A" * 400]
    assert "received" not in seen

    # The sender's reference comes round again: the same reference, as many parts.
    later = SCTS + timedelta(hours=1)
    second = deliver_of("B" * 400, number=2, scts=later)
    assert [find_concat(t.tp_ud.udh) for t in second] == [find_concat(t.tp_ud.udh) for t in first]
    for tpdu in second:
        mr = radio.deliver(tpdu)
        assert radio.messages() == [rp.RpAck.mo(mr)]
    assert received_texts(phone) == ["A" * 400, "B" * 400]
    mr = radio.deliver(first[0])  # an earlier part of the first, late: acknowledged, dropped
    assert radio.messages() == [rp.RpAck.mo(mr)]
    assert received_texts(phone) == ["A" * 400, "B" * 400]
    assert seen.count("received") == 1


def acknowledged(radio: Radio, n: int) -> Deferred[list[SmsDeliver | SmsStatusReport]]:
    """Fires once the phone has acknowledged ``n`` more of what the network delivered."""
    got: list[SmsDeliver | SmsStatusReport] = []
    done: Deferred[list[SmsDeliver | SmsStatusReport]] = Deferred()

    def seen(tpdu: object) -> None:
        assert isinstance(tpdu, SmsDeliver | SmsStatusReport)
        got.append(tpdu)
        if len(got) == n:
            radio.protocol.on_receive.remove(seen)
            done.callback(got)

    radio.protocol.on_receive.append(seen)
    return done


@pytest_twisted.ensureDeferred
async def test_a_part_delivered_again_before_the_first_copy_is_stored(
    clock: MemoryReactorClock, tmp_path: Path
) -> None:
    """The store runs on its own thread: the second copy of the last part
    arrives while the message is still being stored."""
    store = HandsetStore.open(sqlite_url(tmp_path / "b.sqlite3"), B)
    phone = Phone(imsi(B), B, store, None, clock, smsc=("127.0.0.1", 7101))
    await phone.start()
    radio = Radio(clock)
    try:
        radio.accept_attach()
        parts = deliver_of("C" * 400, number=3)
        acks = acknowledged(radio, 4)
        for tpdu in [*parts, parts[-1]]:
            radio.deliver(tpdu)
        assert await acks == [*parts, parts[-1]]
        assert [m.text for m in await phone.inbox()] == ["C" * 400]

        second = deliver_of("D" * 400, number=4, scts=SCTS + timedelta(hours=1))
        acks = acknowledged(radio, 3)
        for tpdu in second:
            radio.deliver(tpdu)
        await acks
        assert [m.text for m in await phone.inbox()] == ["D" * 400, "C" * 400]
    finally:
        radio.drop()
        await phone.stop()
        await store.close()


@pytest.mark.parametrize("way", ["on arrival", "swept", "at start"])
def test_an_incomplete_message_is_given_up_after_three_days(
    clock: MemoryReactorClock, make_phone: MakePhone, way: str
) -> None:
    """The first part of a message whose other parts never come is not joined
    to a later message with the same reference."""
    phone = make_phone(online=False)
    radio = Radio(clock)
    radio.accept_attach()
    stale = deliver_of("A" * 400, number=1)
    radio.deliver(stale[0])
    assert isinstance(radio.messages()[0], rp.RpAck)
    later = SCTS + timedelta(days=3, hours=2)
    fresh = deliver_of("B" * 400, number=2, scts=later)
    if way == "on arrival":  # before the hourly sweep has seen it
        clock.advance(3 * 86400 - 1800)
        clock.advance(1800 + 1)
    elif way == "swept":
        clock.advance(3 * 86400 + 3600)
    else:
        radio.drop()
        phone.stop()
        clock.advance(3 * 86400 + 1)
        phone = make_phone(online=False)
        radio = Radio(clock)
        radio.accept_attach()
    for tpdu in fresh:
        radio.deliver(tpdu)
        assert isinstance(radio.messages()[0], rp.RpAck)
    assert received_texts(phone) == ["B" * 400]

    radio.drop()
    phone.stop()
    phone = make_phone(online=False)  # nothing of the stale part comes back
    radio = Radio(clock)
    radio.accept_attach()
    third = deliver_of("C" * 400, number=3, scts=later + timedelta(minutes=1))
    for tpdu in third:
        radio.deliver(tpdu)
    assert received_texts(phone) == ["B" * 400, "C" * 400]


def test_parts_within_three_days_make_their_message(
    clock: MemoryReactorClock, make_phone: MakePhone
) -> None:
    phone = make_phone(online=False)
    radio = Radio(clock)
    radio.accept_attach()
    parts = deliver_of("slow " * 80, number=5)
    radio.deliver(parts[0])
    clock.advance(2 * 86400)
    radio.drop()
    phone.stop()
    clock.advance(86400 - 60)  # a restart on the way
    phone = make_phone(online=False)
    radio = Radio(clock)
    radio.accept_attach()
    for tpdu in parts[1:]:
        radio.deliver(tpdu)
    assert received_texts(phone) == ["slow " * 80]


def test_an_unnumbered_message_resent_is_stored_once(
    clock: MemoryReactorClock, make_phone: MakePhone
) -> None:
    """A legacy phone numbers nothing; the SMSC resends after a lost RP-ACK."""
    phone = make_phone(online=False)
    seen: list[str] = []
    phone.watch(lambda kind, details: seen.append(kind))
    radio = Radio(clock)
    radio.accept_attach()
    [legacy] = deliver_of("see you at 8", number=None)
    for _ in range(2):
        mr = radio.deliver(legacy)
        assert radio.messages() == [rp.RpAck.mo(mr)]
    [message] = now(phone.inbox())
    assert (message.text, message.number) == ("see you at 8", None)
    assert seen.count("received") == 1
    # The same words later are another message.
    [again] = deliver_of("see you at 8", number=None, scts=SCTS + timedelta(minutes=5))
    radio.deliver(again)
    assert received_texts(phone) == ["see you at 8", "see you at 8"]


def test_a_udh_number_leaves_the_text_whole(
    clock: MemoryReactorClock, make_phone: MakePhone
) -> None:
    """Only a message without a number in its UDH may carry one inline."""
    phone = make_phone(online=False)
    radio = Radio(clock)
    radio.accept_attach()
    text = f"the box {MARKER}100"
    [numbered] = deliver_of(text, number=7)  # the UDH carrier
    radio.deliver(numbered)
    long_text = "x" * 200 + text
    for tpdu in deliver_of(long_text, number=8, scts=SCTS + timedelta(minutes=1)):
        radio.deliver(tpdu)
    [inline] = deliver_of(text, number=None, scts=SCTS + timedelta(minutes=2))
    radio.deliver(inline)
    inbox = now(phone.inbox())
    got = [(m.text, m.number, m.carrier) for m in reversed(inbox)]
    assert got == [
        (text, 7, Carrier.UDH),
        (long_text, 8, Carrier.UDH),
        ("the box ", 100, Carrier.INLINE),  # no UDH number: the inline carrier
    ]


def test_viewing_a_conversation_opens_what_it_shows_unless_turned_off(
    clock: MemoryReactorClock, make_phone: MakePhone, ip: FakeIpServer
) -> None:
    """read_on_view (on by default, as on phones): the user who looks at the
    conversation has seen its messages; ``conversation`` alone only looks."""
    phone = make_phone(B)
    radio = Radio(clock)
    radio.accept_attach()
    clock.advance(0)
    radio.deliver(deliver_of("one", number=5, sender=A)[0])
    radio.deliver(deliver_of("two", number=6, sender=A, scts=SCTS + timedelta(minutes=1))[0])
    assert [m.read for m in now(phone.conversation(A))] == [False, False]
    now(phone.configure(read_on_view=False))
    assert [m.read for m in now(phone.view(A))] == [False, False]
    assert ip.responses == []
    now(phone.configure(read_on_view=True))
    assert [m.read for m in now(phone.view(A))] == [True, True]
    clock.advance(1.0)
    assert sorted(ip.responses) == [(B, A, 5, 1), (B, A, 6, 1)]
    assert phone.store.repo.load_settings().read_on_view  # stored, for the next start


# -- the IP session, clock-driven ----------------------------------------------------------


def test_a_read_while_offline_is_answered_when_the_ip_session_comes(
    clock: MemoryReactorClock, make_phone: MakePhone, ip: FakeIpServer
) -> None:
    ip.refuse_logins = 2
    phone = make_phone(B)
    radio = Radio(clock)
    radio.accept_attach()
    radio.deliver(deliver_of("hi", number=5, sender=A)[0])
    [message] = now(phone.inbox())
    assert now(phone.read(message.id)).read
    assert ip.responses == [] and not phone.online
    clock.advance(0.5)
    assert ip.responses == []  # the second login failed too
    clock.advance(1.0)
    assert phone.online
    assert ip.responses == [(B, A, 5, 1)]
    assert phone.store.repo.pending_responses() == []
    ip.sessions[B].close()
    assert not phone.online
    clock.advance(0.5)  # the back-off started again after the login that worked
    assert phone.online
    assert ip.responses == [(B, A, 5, 1)]  # answered once


@pytest.mark.parametrize(
    ("refusal", "wait"),
    [
        (Refusal("rate_limited", "slow down", retry_after=3), 3.0),
        (Refusal("server_error", "database down"), 0.5),
        (Refusal("unauthenticated", "log in first"), 0.5),  # logs in again, then sends
    ],
)
def test_a_response_refused_for_now_is_sent_again(
    clock: MemoryReactorClock,
    make_phone: MakePhone,
    ip: FakeIpServer,
    refusal: Refusal,
    wait: float,
) -> None:
    phone = make_phone(B)
    radio = Radio(clock)
    radio.accept_attach()
    radio.deliver(deliver_of("hi", number=5, sender=A)[0])
    ip.refuse_responses.append(refusal)
    phone.read(now(phone.inbox())[0].id)
    assert ip.responses == []
    clock.advance(wait - 0.01)
    assert ip.responses == []
    clock.advance(0.01)
    assert ip.responses == [(B, A, 5, 1)]
    assert phone.store.repo.pending_responses() == []


def test_a_response_refused_for_good_is_no_longer_owed(
    clock: MemoryReactorClock, make_phone: MakePhone, ip: FakeIpServer
) -> None:
    phone = make_phone(B)
    radio = Radio(clock)
    radio.accept_attach()
    radio.deliver(deliver_of("hi", number=5, sender=A)[0])
    ip.refuse_responses.append(Refusal("forbidden", "not yours"))
    refused: list[dict[str, Any]] = []
    events(phone, "response refused").addCallback(refused.extend)
    phone.read(now(phone.inbox())[0].id)
    assert [r["code"] for r in refused] == ["forbidden"]
    assert phone.store.repo.pending_responses() == []


def test_feedback_marks_the_newest_message_with_its_number(
    clock: MemoryReactorClock, make_phone: MakePhone, ip: FakeIpServer
) -> None:
    phone = make_phone(A)
    for _ in range(257):  # numbers 0..255, then 0 again
        phone.send(B, "x")
    session = ip.sessions[A]
    applied = session.on_feedback(Feedback(1, B, 0, 1))
    assert applied.called
    marks = [(m.id, m.mark) for m in now(phone.conversation(B)) if m.mark]
    assert marks == [(257, Mark.READ)]
    assert now(phone.message(1)).state is OutState.SENDING
    session.on_feedback(Feedback(2, B, 0, 1))  # a duplicate changes nothing
    session.on_feedback(Feedback(3, B, 3, 0))  # "not yet read" changes nothing
    session.on_feedback(Feedback(4, "", 3, 1))  # names nobody: acknowledged all the same
    assert [(m.id, m.mark) for m in now(phone.conversation(B)) if m.mark] == marks


# -- end to end: phones through the real SMSC over TCP --------------------------------------


@dataclass
class Network:
    smsc: SmscService
    data: Path
    ip: FakeIpServer
    phones: list[Phone] = field(default_factory=list)

    def make(self, msisdn: str, settings: Settings | None = None) -> Phone:
        store = HandsetStore.open(sqlite_url(self.data / f"{msisdn[1:]}.sqlite3"), msisdn)
        phone = Phone(
            imsi(msisdn),
            msisdn,
            store,
            settings,
            reactor,
            smsc=("127.0.0.1", self.smsc.link_port),
            ip=self.ip.connector(msisdn),
            sim=SimCard(SimProfile(imsi(msisdn), msisdn, keys_for(msisdn))),
        )
        self.phones.append(phone)
        return phone

    async def start(self, phone: Phone) -> Phone:
        """Start ``phone``; returns once it is attached and logged in."""
        await provision(self.smsc, phone.msisdn)  # its SIM, as the SMSC knows it
        attached, online = phone.wait_for("attached"), phone.wait_for("ip up")
        await phone.start()
        await attached
        await online
        return phone

    async def phone(self, msisdn: str, settings: Settings | None = None) -> Phone:
        return await self.start(self.make(msisdn, settings))

    async def stop(self, phone: Phone) -> None:
        self.phones.remove(phone)
        await phone.stop()
        await phone.store.close()

    async def close(self) -> None:
        for phone in list(self.phones):
            await self.stop(phone)


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    smsc = start_smsc(sqlite_url(tmp_path / "smsc.sqlite3"), address=SMSC)
    net = Network(smsc, tmp_path, FakeIpServer())
    try:
        yield net
    finally:
        pytest_twisted.blockon(Deferred.fromCoroutine(net.close()))
        stop(smsc)


def wire(network: Network) -> list[SmsDeliver]:
    """Every SMS-DELIVER the SMSC handled, in the order it accepted them."""
    engine = open_smsc_engine(network.smsc.database_url)
    try:
        with Session(engine) as session:
            rows = session.scalars(
                select(SmscMessage).where(SmscMessage.kind == "sms").order_by(SmscMessage.id)
            )
            out = []
            for row in rows:
                tpdu = decode(row.tpdu, Direction.MT)
                assert isinstance(tpdu, SmsDeliver)
                out.append(tpdu)
            return out
    finally:
        engine.dispose()


LONG_GSM = "The quick brown fox jumps over the lazy dog. " * 9
LONG_UCS2 = "Grüße aus Köln! Привет! " * 7


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("carrier", [Carrier.UDH, Carrier.INLINE])
async def test_b_receives_clean_text_with_the_number(network: Network, carrier: Carrier) -> None:
    a = await network.phone(A, Settings(carrier=carrier))
    b = await network.phone(B)
    long_text = LONG_GSM if carrier is Carrier.UDH else LONG_UCS2
    assert len(split(long_text, message_number=0, carrier=carrier).parts) == 3
    received = events(b, "received", 2)
    delivered = events(a, "state", 2, state=OutState.DELIVERED)
    first = await a.send(B, "hello B")
    second = await a.send(B, long_text)

    got = await received
    assert [(g["peer"], g["text"], g["number"]) for g in got] == [
        (A, "hello B", 0),
        (A, long_text, 1),
    ]
    assert sorted(d["id"] for d in await delivered) == [first, second]
    inbox = await b.inbox()
    assert [(m.text, m.parts, m.carrier, m.read) for m in inbox] == [
        (long_text, 3, carrier, False),
        ("hello B", 1, carrier, False),
    ]

    # What crossed the network: the number once per message, in the carrier chosen.
    parts = wire(network)
    assert len(parts) == 4
    for tpdu in parts:
        body = tpdu.tp_ud.body
        assert isinstance(body, str)
        number = 0 if tpdu is parts[0] else 1
        last = find_concat(tpdu.tp_ud.udh) is None or tpdu is parts[-1]
        if carrier is Carrier.UDH:
            assert find_message_number(tpdu.tp_ud.udh) == number  # in every part
            assert MARKER not in body
        else:
            assert find_message_number(tpdu.tp_ud.udh) is None
            assert body.endswith(f"{MARKER}{number:03d}") == last  # the last part only
    assert read_number(str(parts[0].tp_ud.body), parts[0].tp_ud.udh).number == 0


@pytest_twisted.ensureDeferred
async def test_the_read_marks_move_as_b_reads(network: Network) -> None:
    """The demo: A sends three, B reads the second, then the third."""
    a, b = await network.phone(A), await network.phone(B)
    received = events(b, "received", 3)
    delivered = events(a, "state", 3, state=OutState.DELIVERED)
    for i in (1, 2, 3):
        await a.send(B, f"message {i}")
    inbox = {m["number"]: m["id"] for m in await received}
    await delivered

    async def marks() -> list[tuple[str, OutState | None, Mark | None]]:
        return [(m.text, m.state, m.mark) for m in await a.conversation(B)]

    assert await marks() == [
        ("message 1", OutState.DELIVERED, None),
        ("message 2", OutState.DELIVERED, None),
        ("message 3", OutState.DELIVERED, Mark.SENT),
    ]
    feedback = a.wait_for("feedback", number=1)
    await b.read(inbox[1])
    assert (await feedback)["status"] == 1
    assert network.ip.responses == [(B, A, 1, 1)]
    assert await marks() == [
        ("message 1", OutState.DELIVERED, None),
        ("message 2", OutState.READ, Mark.READ),
        ("message 3", OutState.DELIVERED, Mark.SENT),
    ]
    feedback = a.wait_for("feedback", number=2)
    await b.read(inbox[2])
    await feedback
    # "Sent" under the newest not yet read (docs/read-receipts.md §Conversations).
    assert await marks() == [
        ("message 1", OutState.DELIVERED, Mark.SENT),
        ("message 2", OutState.READ, None),
        ("message 3", OutState.READ, Mark.READ),
    ]
    [line] = await a.conversations()
    assert (line.peer, line.last.text, line.last.mark) == (B, "message 3", None)
    assert network.ip.outbox[A] == []  # every feedback acknowledged


@pytest_twisted.ensureDeferred
async def test_receipts_off_sends_nothing_ever(network: Network) -> None:
    a = await network.phone(A)
    b = await network.phone(B, Settings(receipts=False))
    received = events(b, "received", 2)
    await a.send(B, "one")
    await a.send(B, "two")
    first, second = await received
    opened = await b.read(first["id"])
    assert opened.read and opened.number == 0
    await b.configure(receipts=True)  # turned on later: an earlier read stays unanswered
    await b.read(first["id"])
    assert network.ip.responses == []
    await b.configure(receipts=False)
    await b.read(second["id"])
    assert network.ip.responses == []
    assert all(m.state is not OutState.READ for m in await a.conversation(B))


@pytest_twisted.ensureDeferred
async def test_feedback_is_acknowledged_only_once_applied(network: Network) -> None:
    a = await network.phone(A)
    sent = a.wait_for("state", state=OutState.SENT)
    mid = await a.send(B, "anyone there?")
    await sent
    session = network.ip.sessions[A]
    seen_at_ack: list[OutState | None] = []
    applied = session.on_feedback(Feedback(1, B, 0, 1))
    assert not applied.called  # the commit runs on the database thread
    applied.addCallback(lambda _: seen_at_ack.append(a.store.repo.message(mid).state))
    await applied
    assert seen_at_ack == [OutState.READ]


@pytest_twisted.ensureDeferred
async def test_a_restart_continues_the_numbering(network: Network) -> None:
    a, b = await network.phone(A), await network.phone(B)
    received = events(b, "received", 3)
    # Both accepted before the stop: a part still in flight when the phone
    # stops is submitted again after the restart (no TP-RD here), and B
    # would get it twice, which is not what this test is about.
    accepted = events(a, "state", 2, state=OutState.SENT)
    await a.send(B, "before")
    await a.send(C, "to someone else")  # another conversation, numbered on its own
    await accepted
    await network.stop(a)
    a = await network.phone(A)
    await a.send(B, "after")
    await a.send(B, "and again")
    assert [(g["text"], g["number"]) for g in await received] == [
        ("before", 0),
        ("after", 1),
        ("and again", 2),
    ]


@pytest_twisted.ensureDeferred
async def test_b_offline_gets_the_message_and_the_read_reaches_a(network: Network) -> None:
    a = await network.phone(A)
    sent = a.wait_for("state", state=OutState.SENT)
    mid = await a.send(B, "for later")
    await sent
    read = a.wait_for("state", id=mid, state=OutState.READ)
    b = network.make(B)
    received = b.wait_for("received")
    await network.start(b)
    message = await received
    assert (message["text"], message["number"]) == ("for later", 0)
    await b.read(message["id"])
    await read
    assert [m.mark for m in await a.conversation(B)] == [Mark.READ]


# -- multi-device: history copies, searches, the IP path ---------------------------------


def test_a_search_gives_up_when_the_server_never_answers(
    clock: MemoryReactorClock, make_phone: MakePhone, ip: FakeIpServer
) -> None:
    ip.stall = True
    a = make_phone(A)
    outcome: list[Any] = []
    a.search("anything").addBoth(outcome.append)
    clock.advance(REQUEST_TIMEOUT - 1)
    assert outcome == []
    clock.advance(1)
    (failure,) = outcome
    assert isinstance(failure, Failure) and isinstance(failure.value, PhoneError)
    assert "no answer from the IP server" in str(failure.value)


def test_history_copies_fit_their_frames_whatever_the_text(
    make_phone: MakePhone, ip: FakeIpServer
) -> None:
    a = make_phone(A)
    repo, now = a.store.repo, datetime(2026, 12, 1, tzinfo=UTC)
    # An emoji is 12 octets of JSON: two of these do not fit one frame, and
    # the last does not fit one at all (it stays on the phone alone).
    texts = ["😀" * 4000, "😀" * 4000, "short", "😀" * 6000]
    for n, body in enumerate(texts):
        repo.store_ip_incoming(B, f"{n:032x}", body, n, now, now)
    synced: list[Any] = []
    a.sync_history().addBoth(synced.append)
    assert synced == [None]
    assert [e.text for e in ip.history] == texts[:3]
    assert repo.history_pending() == []


def test_a_copy_refused_for_good_is_dropped_once_and_the_next_still_goes(
    clock: MemoryReactorClock, make_phone: MakePhone, ip: FakeIpServer
) -> None:
    ip.older = True
    a = make_phone(A)
    repo, now = a.store.repo, datetime(2026, 12, 1, tzinfo=UTC)
    dropped = events(a, "history copy dropped")
    repo.store_ip_incoming(B, f"{1:032x}", "", 0, now, now)
    repo.store_ip_incoming(B, f"{2:032x}", "after the empty one", 1, now, now)
    synced: list[Any] = []
    a.sync_history().addBoth(synced.append)
    assert synced == [None]
    assert [e.text for e in ip.history] == ["after the empty one"]
    (details,) = _fired(dropped)
    assert details["uid"] == f"{1:032x}" and "bad_message" in details["reason"]
    assert repo.history_pending() == []
    # Never tried again: the next copies go at once, without it.
    again = events(a, "history copy dropped")
    repo.store_ip_incoming(B, f"{3:032x}", "later", 2, now, now)
    a.sync_history()
    clock.advance(60)
    assert [e.text for e in ip.history] == ["after the empty one", "later"]
    assert not again.called


def test_a_copy_refused_for_now_is_sent_again_after_a_backoff(
    clock: MemoryReactorClock, make_phone: MakePhone, ip: FakeIpServer
) -> None:
    ip.history_answers = [Refusal("server_error", "no database"), Refusal("rate_limited", "", 7)]
    a = make_phone(A)
    repo, now = a.store.repo, datetime(2026, 12, 1, tzinfo=UTC)
    repo.store_ip_incoming(B, f"{1:032x}", "", 0, now, now)  # empty: an SMS may be
    outcome: list[Any] = []
    a.sync_history().addBoth(outcome.append)
    assert isinstance(outcome[0], Failure) and "server_error" in str(outcome[0].value)
    clock.advance(0.5)  # the backoff's first wait: refused again, for 7 s
    assert ip.history == [] and not ip.history_answers
    clock.advance(6.9)
    assert ip.history == []
    clock.advance(0.1)
    assert [e.text for e in ip.history] == [""] and repo.history_pending() == []


def test_a_text_longer_than_an_entry_is_copied_cut(make_phone: MakePhone, ip: FakeIpServer) -> None:
    a = make_phone(A)
    repo, now = a.store.repo, datetime(2026, 12, 1, tzinfo=UTC)
    longest = split("x" * 37740, message_number=0)  # the most a handset sends: 255 parts
    assert len(longest.parts) == 255
    repo.store_ip_incoming(B, f"{1:032x}", "x" * 37740, 0, now, now)
    a.sync_history()
    (entry,) = ip.history
    assert entry.text == "x" * (MAX_TEXT - 1) + "\u2026" and len(entry.text) == MAX_TEXT


def test_an_unanswered_ip_message_is_offered_again_never_also_by_sms(
    clock: MemoryReactorClock, make_phone: MakePhone, ip: FakeIpServer
) -> None:
    ip.ip_answers = [ConnectionDone(), None]
    a = make_phone(A, Settings(ip_path=IpPath.WHEN_POSSIBLE))
    sent = events(a, "state", state="sent")
    a.send(B, "over IP")
    assert len(ip.ip_submits) == 1 and not sent.called
    clock.advance(1)  # the back-off: offered again, and taken
    assert len(set(ip.ip_submits)) == 1 and len(ip.ip_submits) == 2
    assert sent.called
    assert a.store.repo.pending_parts() == []  # no SMS was ever made of it


def test_an_ip_message_refused_goes_by_sms_under_its_number(
    make_phone: MakePhone, ip: FakeIpServer
) -> None:
    ip.ip_answers = [Refusal("recipient_offline", "not logged in")]
    a = make_phone(A, Settings(ip_path=IpPath.WHEN_POSSIBLE))
    fallback = events(a, "ip fallback")
    message_id = a.send(B, "by SMS after all")
    assert fallback.called
    (part,) = a.store.repo.pending_parts()
    tpdu = decode(part.tpdu, Direction.MO)
    assert isinstance(tpdu, SmsSubmit)
    number = find_message_number(tpdu.tp_ud.udh, 0x80)
    assert number == a.store.repo.message(_fired(message_id)).number == 0


def test_logging_in_without_an_ip_server_fails_at_once(make_phone: MakePhone) -> None:
    a = make_phone(A, online=False)
    outcome: list[Any] = []
    a.login().addBoth(outcome.append)
    assert isinstance(outcome[0], Failure) and isinstance(outcome[0].value, PhoneError)


def _fired(d: Deferred[T]) -> T:
    out: list[T] = []
    d.addCallback(out.append)
    return out[0]
