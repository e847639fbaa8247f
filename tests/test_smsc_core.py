"""The SMSC's store and forward, driven deterministically: no reactor, no sleeps.

Time is a ``task.Clock``, each handset is an ``MsLink`` (the sans-I/O handset
side of docs/radio-link.md) talking through a ``StringTransport`` to the real
``RadioLinkProtocol``, in front of the real ``Smsc`` and a real SQLite file run
by a synchronous ``BatchWriter``.  The assertions are on what a user depends
on: frames on the wire, TPDU fields, and rows in the ``message`` table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from pdu import (
    Address,
    Direction,
    SmsCommand,
    SmsDeliver,
    SmsStatusReport,
    SmsSubmit,
    SmsSubmitReport,
    UserData,
    ValidityPeriod,
    decode,
    encode,
)
from pdu.validity import RelativeVP
from radiolink import frames as lk
from radiolink import rp
from radiolink.ms import (
    Acked,
    Attached,
    Challenged,
    Detached,
    Event,
    Incoming,
    LinkFailure,
    MsLink,
    Refused,
)
from smsc.core import Smsc, SmscConfig
from smsc.idblocks import ID_RETRY, IdsExhausted
from smsc.models import Message
from smsc.repository import SqlQueueRepository
from smsc.server import RadioLinkProtocol
from smsc.store import BatchWriter, open_engine, sqlite_url

from .sims import subscription

#: 2026-09-21: TP-SCTS has a two-digit year, so the clock must not sit at 1970.
EPOCH = 1_790_000_000
SMSC_ADDRESS = "+15550000000"
A, B, C = "+4915112345678", "+15551234567", "+447700900123"

# -- helpers -----------------------------------------------------------------------


def utc(seconds: float) -> datetime:
    """An aware UTC time ``seconds`` after EPOCH."""
    return datetime.fromtimestamp(EPOCH + seconds, UTC)


def naive(seconds: float) -> datetime:
    """The same time as the database stores it (naive UTC)."""
    return utc(seconds).replace(tzinfo=None)


class Wire(StringTransport):
    """A StringTransport that also calls ``on_write`` as each frame is written."""

    def __init__(self) -> None:
        super().__init__()
        self.on_write: Callable[[bytes], None] | None = None

    def write(self, data: bytes) -> None:
        if self.on_write is not None:
            self.on_write(data)
        super().write(data)


class Handset:
    """An MsLink plugged into a RadioLinkProtocol of ``smsc`` by a StringTransport,
    with the SIM the SMSC was provisioned with; it answers challenges itself."""

    def __init__(self, smsc: Smsc, msisdn: str) -> None:
        sub = subscription(msisdn)
        smsc.store.provision(sub)  # a synchronous writer: committed on return
        self.ms = MsLink(sub.imsi, msisdn, sub.keys)
        self.transport = Wire()
        self.protocol = RadioLinkProtocol(smsc)
        self.protocol.makeConnection(self.transport)

    def send(self, data: bytes) -> list[Event]:
        """Feed ``data`` to the SMSC; what it sent back, parsed."""
        self.protocol.dataReceived(data)
        return self.events()

    def events(self) -> list[Event]:
        data = self.transport.value()
        self.transport.clear()
        events = []
        for event in self.ms.receive(data):
            if isinstance(event, Challenged):
                events += self.send(event.reply)
            else:
                events.append(event)
        return events

    def attach(self) -> list[Event]:
        """Attach; what followed the ATTACH-ACCEPT."""
        events = self.send(self.ms.attach())
        assert events[:1] == [Attached(SMSC_ADDRESS)]
        return events[1:]

    def submit(self, submit: SmsSubmit) -> tuple[int, list[Event]]:
        mr, data = self.ms.submit(encode(submit))
        return mr, self.send(data)

    def ack(self, rp_mr: int) -> list[Event]:
        return self.send(self.ms.ack(rp_mr))

    def error(self, rp_mr: int, cause: int) -> list[Event]:
        return self.send(self.ms.error(rp_mr, cause))

    def smma(self) -> tuple[int, list[Event]]:
        mr, data = self.ms.smma()
        return mr, self.send(data)

    def lose_connection(self) -> None:
        """The TCP connection goes away (what the reactor would report)."""
        self.protocol.connectionLost(Failure(ConnectionDone()))


class Net:
    """A clock, a SQLite file and an SMSC on it."""

    def __init__(self, data_dir: Path, engines: list[Engine], **config: Any) -> None:
        self.data_dir = data_dir
        self.engines = engines
        self.config = config
        self.clock = Clock()
        self.clock.advance(EPOCH)
        self.smsc = self._start()

    def _start(self) -> Smsc:
        engine = open_engine(sqlite_url(self.data_dir))
        self.engines.append(engine)
        self.engine = engine
        smsc = Smsc(
            SqlQueueRepository(BatchWriter(engine, threaded=False)),
            self.clock,
            SmscConfig(address=SMSC_ADDRESS, **self.config),
        )
        smsc.load()
        return smsc

    def restart(self) -> None:
        """A new SMSC process on the same database; the old one just stops
        (like kill -9: nothing is written on the way out)."""
        self.smsc.stop()
        self.smsc = self._start()

    def handset(self, msisdn: str) -> Handset:
        return Handset(self.smsc, msisdn)

    def attached(self, msisdn: str) -> Handset:
        handset = self.handset(msisdn)
        assert handset.attach() == []
        return handset

    def rows(self) -> list[Message]:
        with Session(self.engine) as session:
            return list(session.scalars(select(Message).order_by(Message.id)))

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def elapsed(self) -> float:
        return self.clock.seconds() - EPOCH


@pytest.fixture
def make_net(tmp_path: Path) -> Iterator[Callable[..., Net]]:
    engines: list[Engine] = []
    yield lambda **config: Net(tmp_path, engines, **config)
    for engine in engines:
        engine.dispose()


@pytest.fixture
def net(make_net: Callable[..., Net]) -> Net:
    return make_net()


def sms(
    to: str, text: str, *, mr: int = 0, srr: bool = False, vp: ValidityPeriod = None
) -> SmsSubmit:
    return SmsSubmit(tp_da=Address.parse(to), tp_mr=mr, tp_ud=UserData(text), tp_srr=srr, tp_vp=vp)


def one(events: list[Event]) -> Event:
    assert len(events) == 1, events
    return events[0]


def incoming(events: list[Event]) -> Incoming:
    event = one(events)
    assert isinstance(event, Incoming), event
    return event


def deliver(event: Incoming) -> SmsDeliver:
    tpdu = decode(event.tpdu, Direction.MT)
    assert isinstance(tpdu, SmsDeliver), tpdu
    return tpdu


def status_report(event: Incoming) -> SmsStatusReport:
    tpdu = decode(event.tpdu, Direction.MT)
    assert isinstance(tpdu, SmsStatusReport), tpdu
    return tpdu


def submit_report(event: Event) -> SmsSubmitReport:
    assert isinstance(event, Acked) and event.rp_ud is not None, event
    tpdu = decode(event.rp_ud, Direction.MT, rp_error=False)
    assert isinstance(tpdu, SmsSubmitReport), tpdu
    return tpdu


def text_of(event: Incoming) -> str | bytes:
    return deliver(event).tp_ud.body


def accepted(handset: Handset, submit: SmsSubmit) -> None:
    """Submit and insist on the RP-ACK."""
    mr, events = handset.submit(submit)
    ack = one(events)
    assert isinstance(ack, Acked) and ack.rp_mr == mr, ack


def receive_all(handset: Handset, first: Incoming) -> list[str | bytes]:
    """Acknowledge ``first`` and each message that follows it; their texts."""
    texts = []
    event: Incoming | None = first
    while event is not None:
        texts.append(text_of(event))
        events = handset.ack(event.rp_mr)
        event = incoming(events) if events else None
    return texts


def take_report(handset: Handset) -> SmsStatusReport:
    """The one status report waiting on ``handset``'s wire, acknowledged."""
    event = incoming(handset.events())
    assert handset.ack(event.rp_mr) == []
    return status_report(event)


# -- 1. offline recipient ------------------------------------------------------------


def test_offline_recipient_gets_queue_in_order_one_at_a_time(net: Net) -> None:
    """A submit is acknowledged only once its row is committed; an offline
    recipient gets its messages on attach, one at a time in the order accepted,
    with TP-MMS saying more are waiting on all but the last."""
    a = net.attached(A)
    snapshots: list[list[tuple[int | None, str]]] = []
    a.transport.on_write = lambda _: snapshots.append(
        [(row.tp_mr, row.state) for row in net.rows()]
    )
    for i in range(3):
        snapshots.clear()
        mr, events = a.submit(sms(B, f"message {i}", mr=10 + i))
        ack = one(events)
        assert isinstance(ack, Acked) and ack.rp_mr == mr
        assert submit_report(ack).tp_scts == utc(i)
        # The frame carrying the RP-ACK was written when the row was already there.
        assert len(snapshots) == 1 and (10 + i, "queued") in snapshots[0]
        net.advance(1)
    rows = net.rows()
    assert [(r.originator, r.recipient, r.state) for r in rows] == [(A, B, "queued")] * 3
    assert [r.submitted_at for r in rows] == [naive(0), naive(1), naive(2)]

    b = net.handset(B)
    got: list[SmsDeliver] = []
    event = incoming(b.attach())
    for i in range(3):
        tpdu = deliver(event)
        got.append(tpdu)
        net.advance(25)  # while B takes its time (under 30 s), nothing else comes
        assert b.events() == []
        events = b.ack(event.rp_mr)
        if i < 2:
            event = incoming(events)
        else:
            assert events == []
    assert [d.tp_ud.body for d in got] == ["message 0", "message 1", "message 2"]
    assert [d.tp_mms for d in got] == [True, True, False]
    assert all(str(d.tp_oa) == A and not d.tp_sri for d in got)
    assert [d.tp_scts for d in got] == [utc(0), utc(1), utc(2)]
    assert [r.state for r in net.rows()] == ["delivered"] * 3
    assert all(r.done_at is not None and r.attempts == 1 for r in net.rows())
    assert a.events() == []  # no TP-SRR, no report


def test_timestamps_are_in_the_smsc_zone(make_net: Callable[..., Net]) -> None:
    """TP-SCTS (submit report, deliver) and TP-DT carry the SMSC's zone and the
    instant the SMSC accepted (delivered) the message."""
    zone = timezone(timedelta(hours=5, minutes=45))
    net = make_net(zone=zone)
    a, b = net.attached(A), net.attached(B)
    _, events = a.submit(sms(B, "zoned", srr=True))
    scts = submit_report(one(events)).tp_scts
    assert scts.utcoffset() == timedelta(hours=5, minutes=45) and scts == utc(0)
    net.advance(7)
    event = incoming(b.events())
    assert deliver(event).tp_scts == scts and deliver(event).tp_scts.utcoffset() == zone.utcoffset(
        None
    )
    net.advance(3)
    b.ack(event.rp_mr)
    report = take_report(a)
    assert report.tp_scts == scts and report.tp_dt == utc(10)
    assert report.tp_dt.utcoffset() == zone.utcoffset(None)


def test_submit_that_cannot_be_stored_is_refused_not_acknowledged(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A storage failure gets RP-ERROR 41, never an RP-ACK, and nothing is forwarded."""
    a, b = net.attached(A), net.attached(B)

    def broken(*_: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(BatchWriter, "_apply", staticmethod(broken))
    mr, events = a.submit(sms(B, "lost?"))
    assert events == [Refused(mr, rp.RpCause.TEMPORARY_FAILURE)]
    monkeypatch.undo()
    assert net.rows() == [] and b.events() == []


# -- 2. memory full ------------------------------------------------------------------


def test_memory_full_holds_until_smma_and_reports_once(net: Net) -> None:
    """RP-ERROR 22 stops delivery to that handset until it sends RP-SMMA; the
    SMSC acknowledges the SMMA and sends the same message again.  The sender
    asked for a report: one temporary TP-ST 0x21, then 0x00 when delivered."""
    a, b = net.attached(A), net.attached(B)
    accepted(a, sms(B, "first", mr=42, srr=True))
    first = incoming(b.events())
    assert deliver(first).tp_sri and text_of(first) == "first"
    assert b.error(first.rp_mr, rp.RpCause.MEMORY_CAPACITY_EXCEEDED) == []

    temporary = take_report(a)
    assert temporary.tp_st == 0x21 and temporary.tp_mr == 42 and str(temporary.tp_ra) == B
    assert net.rows()[0].state == "queued"

    # Held: not on a timer, not for a new message.
    net.advance(3600)
    accepted(a, sms(B, "second", mr=43))
    net.advance(3600)
    assert b.events() == []

    mr, events = b.smma()
    assert events[0] == Acked(mr, None)
    again = incoming(events[1:])
    assert deliver(again).tp_scts == deliver(first).tp_scts
    assert text_of(again) == "first" and deliver(again).tp_mms  # "second" waits behind it
    # Full again: still held, and no second temporary report.
    assert b.error(again.rp_mr, rp.RpCause.MEMORY_CAPACITY_EXCEEDED) == []
    assert a.events() == []
    net.advance(3600)
    assert b.events() == []

    mr, events = b.smma()
    assert events[0] == Acked(mr, None)
    third = incoming(events[1:])
    assert text_of(third) == "first"
    assert text_of(incoming(b.ack(third.rp_mr))) == "second"

    final = take_report(a)
    assert final.tp_st == 0x00 and final.tp_mr == 42 and str(final.tp_ra) == B
    assert final.tp_scts == utc(0) and final.tp_dt >= final.tp_scts
    assert final.tp_dt == utc(net.elapsed())
    assert net.rows()[0].state == "delivered" and net.rows()[0].attempts == 3


# -- 3. expiry -----------------------------------------------------------------------


def test_validity_period_expires_an_undelivered_message(net: Net) -> None:
    """When TP-VP runs out before delivery the message ends 'expired', the
    sender gets TP-ST 0x46, and the recipient never gets it."""
    a = net.attached(A)
    accepted(a, sms(B, "five minutes", mr=7, srr=True, vp=RelativeVP(0)))
    accepted(a, sms(B, "two days", mr=8))
    assert RelativeVP(0).duration == timedelta(minutes=5)

    net.advance(299)
    assert [r.state for r in net.rows()] == ["queued", "queued"]
    assert a.events() == []
    net.advance(2)
    row = net.rows()[0]
    assert row.state == "expired" and row.expires_at == naive(300)
    assert row.done_at is not None and row.done_at <= naive(301)

    report = take_report(a)
    assert report.tp_st == 0x46 and report.tp_mr == 7 and str(report.tp_ra) == B
    assert report.tp_scts == utc(0) and report.tp_dt >= utc(300)

    b = net.handset(B)
    event = incoming(b.attach())
    assert text_of(event) == "two days" and not deliver(event).tp_mms
    assert b.ack(event.rp_mr) == []
    net.advance(3600)
    assert b.events() == []
    assert [r.state for r in net.rows() if r.kind == "sms"] == ["expired", "delivered"]


def test_validity_period_expires_while_memory_is_full(net: Net) -> None:
    """A message held by memory full still expires; the SMMA then brings nothing."""
    a, b = net.attached(A), net.attached(B)
    accepted(a, sms(B, "short lived", srr=True, vp=RelativeVP(0)))
    event = incoming(b.events())
    b.error(event.rp_mr, rp.RpCause.MEMORY_CAPACITY_EXCEEDED)
    assert take_report(a).tp_st == 0x21
    net.advance(301)
    assert take_report(a).tp_st == 0x46
    mr, events = b.smma()
    assert events == [Acked(mr, None)]
    assert net.rows()[0].state == "expired"


def test_expiry_touches_only_what_is_due_however_long_the_queue(net: Net) -> None:
    """10,000 messages wait for B with two days to live, three more with five
    minutes: those three end at 300 s exactly, and the tick that ends them
    takes three entries off the timers' heap; nothing walks the queue."""
    rows = [
        {
            "id": i,
            "kind": "sms",
            "originator": A,
            "recipient": B,
            "tp_mr": i % 256,
            "tp_srr": False,
            "tpdu": encode(SmsDeliver(tp_oa=Address.parse(A), tp_scts=utc(0), tp_ud=UserData("x"))),
            "state": "queued",
            "attempts": 0,
            "submitted_at": naive(0),
            "expires_at": naive(2 * 86400),
        }
        for i in range(1, 10_001)
    ]
    with Session(net.engine) as session, session.begin():
        session.execute(insert(Message), rows)
    net.restart()
    a = net.attached(A)
    for mr in range(3):
        accepted(a, sms(B, f"short {mr}", mr=mr, vp=RelativeVP(0)))
    expiries = net.smsc.delivery.expiries
    assert len(expiries) == 10_003 and net.smsc.queue_depth() == 10_003
    before = expiries.examined
    net.advance(299)
    assert expiries.examined == before
    net.advance(1)
    assert expiries.examined - before == 3
    assert len(expiries) == 10_000 and net.smsc.queue_depth() == 10_000
    with Session(net.engine) as session:
        states = session.execute(select(Message.state, func.count()).group_by(Message.state))
        assert dict(states.all()) == {"queued": 10_000, "expired": 3}


def test_in_flight_when_its_validity_ends_it_is_not_pulled_from_under_the_handset(
    net: Net,
) -> None:
    """A message being delivered when TP-VP runs out waits for its answer:
    an RP-ACK still delivers it; silence until the answer timeout ends it."""
    a = net.attached(A)
    accepted(a, sms(B, "just in time", mr=1, vp=RelativeVP(0)))
    accepted(a, sms(B, "too late", mr=2, vp=RelativeVP(0)))
    net.advance(290)
    b = net.handset(B)
    first = incoming(b.attach())  # in flight from 290 s
    net.advance(15)  # 305 s: past its validity; the one waiting behind it ended at 300 s
    assert [r.state for r in net.rows()] == ["queued", "expired"]
    assert b.ack(first.rp_mr) == []
    assert [r.state for r in net.rows()] == ["delivered", "expired"]

    b.lose_connection()
    accepted(a, sms(B, "silence", mr=3, vp=RelativeVP(0)))  # due at 605 s
    net.advance(290)
    b = net.handset(B)
    assert text_of(incoming(b.attach())) == "silence"  # in flight from 595 s
    net.advance(30)  # no answer at 625 s: backs off, then expires, not sent again
    net.advance(5)
    assert net.rows()[2].state == "expired" and b.events() == []


# -- 4. retries ----------------------------------------------------------------------


@pytest.mark.parametrize("cause", [27, 38, 41, 42, 47, 98, 111])
def test_temporary_error_backs_off_then_redelivers(net: Net, cause: int) -> None:
    """A temporary RP-Cause is retried after 2 s, then 4 s (not before); the
    sender gets one temporary report (TP-ST 0x25), then the final one."""
    a, b = net.attached(A), net.attached(B)
    accepted(a, sms(B, "retry me", mr=5, srr=True))
    event = incoming(b.events())
    for delay in (2.0, 4.0):
        assert b.error(event.rp_mr, cause) == []
        if delay == 2.0:
            temporary = take_report(a)
            assert (temporary.tp_st, temporary.tp_mr) == (0x25, 5)
        net.advance(delay - 0.5)
        assert b.events() == []
        net.advance(0.5)
        event = incoming(b.events())
        assert text_of(event) == "retry me"
    # The row records each failed attempt and its cause.
    assert (net.rows()[0].attempts, net.rows()[0].error) == (2, cause)
    assert a.events() == []  # one temporary report only
    assert b.ack(event.rp_mr) == []
    final = take_report(a)
    assert (final.tp_st, final.tp_mr) == (0x00, 5)
    assert (net.rows()[0].state, net.rows()[0].attempts) == ("delivered", 3)


def test_back_off_doubles_up_to_five_minutes(net: Net) -> None:
    """Back-off starts at 2 s and doubles at each failure, up to 300 s."""
    a, b = net.attached(A), net.attached(B)
    accepted(a, sms(B, "stubborn"))
    event = incoming(b.events())
    for delay in (2, 4, 8, 16, 32, 64, 128, 256, 300, 300):
        b.error(event.rp_mr, rp.RpCause.TEMPORARY_FAILURE)
        net.advance(delay - 0.5)
        assert b.events() == []
        net.advance(0.5)
        event = incoming(b.events())
    b.ack(event.rp_mr)
    assert net.rows()[0].state == "delivered" and net.rows()[0].attempts == 11


def test_no_answer_is_retried_after_the_answer_timeout(net: Net) -> None:
    """Silence for answer_timeout (30 s) counts as a failed attempt: TP-ST 0x22
    once, and the message comes again after the back-off."""
    a, b = net.attached(A), net.attached(B)
    accepted(a, sms(B, "hello?", mr=9, srr=True))
    first = incoming(b.events())
    net.advance(29.5)
    assert b.events() == [] and a.events() == []
    net.advance(0.5)  # 30 s: given up on this attempt
    assert take_report(a).tp_st == 0x22
    net.advance(1.5)
    assert b.events() == []
    net.advance(0.5)  # + 2 s back-off
    second = incoming(b.events())
    assert second.tpdu == first.tpdu
    assert second.rp_mr != first.rp_mr
    net.advance(30)  # silent again ...
    net.advance(3.5)  # ... and this time the back-off is 4 s
    assert b.events() == []
    net.advance(0.5)
    third = incoming(b.events())
    assert b.ack(third.rp_mr) == []
    assert take_report(a).tp_st == 0x00  # the 0x22 went out once only
    assert net.rows()[0].state == "delivered" and net.rows()[0].attempts == 3


@pytest.mark.parametrize("cause", [21, 30, 96])
def test_permanent_error_fails_the_message(net: Net, cause: int) -> None:
    """Any other RP-Cause ends the message 'failed' (TP-ST 0x42 for the sender)
    and the recipient's next message goes out at once."""
    a, b = net.attached(A), net.attached(B)
    accepted(a, sms(B, "unwanted", mr=3, srr=True))
    accepted(a, sms(B, "next"))
    event = incoming(b.events())
    assert text_of(incoming(b.error(event.rp_mr, cause))) == "next"
    rows = net.rows()
    assert (rows[0].state, rows[0].error, rows[0].attempts) == ("failed", cause, 1)
    report = take_report(a)
    assert report.tp_st == 0x42 and report.tp_mr == 3 and str(report.tp_ra) == B
    net.advance(600)
    assert a.events() == []


# -- 5. detach in flight --------------------------------------------------------------


@pytest.mark.parametrize("how", ["connection lost", "DETACH frame"])
def test_detach_in_flight_keeps_the_message_first_in_line(
    make_net: Callable[..., Net], how: str
) -> None:
    """A recipient that goes away between the RP-DATA and its answer has not
    got the message: it stays queued and is the first thing sent on re-attach
    (the link waits for it, unattached, longer than the answer timeout)."""
    net = make_net(attach_timeout=300.0)
    a, b = net.attached(A), net.attached(B)
    accepted(a, sms(B, "one"))
    accepted(a, sms(B, "two"))
    event = incoming(b.events())
    assert text_of(event) == "one"
    if how == "connection lost":
        b.lose_connection()
        b = net.handset(B)
    else:
        assert b.send(b.ms.detach()) == []
    accepted(a, sms(B, "three"))
    net.advance(120)  # past any answer timeout: nothing fires for a detached handset
    assert [r.state for r in net.rows()] == ["queued"] * 3
    assert b.events() == []

    assert receive_all(b, incoming(b.attach())) == ["one", "two", "three"]
    assert [(r.state, r.attempts) for r in net.rows()] == [
        ("delivered", 2),
        ("delivered", 1),
        ("delivered", 1),
    ]


def test_a_link_that_does_not_attach_in_time_is_told_and_closed(net: Net) -> None:
    """Idle sockets cannot pile up: ``attach_timeout`` seconds to attach; an
    attached phone that is merely quiet stays; one that detaches and stays
    connected has the same time again."""
    idle = net.handset(B)
    net.advance(net.smsc.config.attach_timeout - 1)
    assert not idle.transport.disconnecting
    net.advance(1)
    assert idle.events() == [LinkFailure(lk.ErrorCode.NOT_ATTACHED, "not attached within 10 s")]
    assert idle.transport.disconnecting
    quiet = net.attached(A)
    net.advance(3600)
    assert not quiet.transport.disconnecting
    assert quiet.send(quiet.ms.detach()) == []
    net.advance(net.smsc.config.attach_timeout)
    assert quiet.transport.disconnecting


# -- 6. restart ----------------------------------------------------------------------


def test_restart_delivers_what_was_queued_exactly_once(net: Net) -> None:
    """A new SMSC on the same database takes up the queue: the recipient gets
    what was not delivered (including the one in flight at the crash) once each,
    in order; delivered messages and reports are not sent again; new ids do
    not collide with old ones."""
    a, b = net.attached(A), net.attached(B)
    accepted(a, sms(B, "before", mr=1, srr=True))
    event = incoming(b.events())
    assert b.ack(event.rp_mr) == []
    assert take_report(a).tp_st == 0x00
    accepted(a, sms(B, "in flight", mr=2, srr=True))
    assert text_of(incoming(b.events())) == "in flight"  # never answered
    accepted(a, sms(B, "waiting", mr=3))
    a.lose_connection()
    net.advance(5)

    net.restart()
    b = net.handset(B)
    assert receive_all(b, incoming(b.attach())) == ["in flight", "waiting"]

    a = net.handset(A)
    event = incoming(a.attach())  # the report of "in flight", made after the restart
    assert a.ack(event.rp_mr) == []
    report = status_report(event)
    assert (report.tp_mr, report.tp_st, report.tp_scts) == (2, 0x00, utc(0))
    accepted(a, sms(B, "after", mr=4))
    event = incoming(b.events())
    assert text_of(event) == "after"
    assert b.ack(event.rp_mr) == []

    net.advance(3600)
    assert a.events() == [] and b.events() == []
    rows = net.rows()
    assert len({r.id for r in rows}) == len(rows) == 6
    assert all(r.state == "delivered" for r in rows)
    assert [r.tp_mr for r in rows if r.kind == "sms"] == [1, 2, 3, 4]


def test_restart_with_the_recipient_offline_keeps_everything(net: Net) -> None:
    """Messages queued for a handset that never attached survive a restart
    and go out in order."""
    a = net.attached(A)
    for i in range(3):
        accepted(a, sms(B, f"m{i}"))
    net.restart()
    net.restart()  # twice: loading does not duplicate anything
    b = net.handset(B)
    assert receive_all(b, incoming(b.attach())) == ["m0", "m1", "m2"]
    assert [r.state for r in net.rows()] == ["delivered"] * 3


def test_validity_runs_out_while_the_smsc_is_down(net: Net) -> None:
    """A message whose TP-VP ran out while the SMSC was down ends 'expired'
    after the restart (TP-ST 0x46 for the sender) and is never delivered."""
    a = net.attached(A)
    accepted(a, sms(B, "too late", mr=11, srr=True, vp=RelativeVP(0)))
    net.smsc.stop()
    net.advance(600)
    net.restart()
    net.advance(1)
    assert net.rows()[0].state == "expired"
    a = net.handset(A)
    report = status_report(incoming(a.attach()))
    assert (report.tp_mr, report.tp_st, report.tp_scts) == (11, 0x46, utc(0))
    assert net.handset(B).attach() == []


def test_temporary_report_is_sent_once_across_a_restart(net: Net) -> None:
    """The temporary status report goes out once per message, even if the SMSC
    restarts between two failed attempts."""
    a, b = net.attached(A), net.attached(B)
    accepted(a, sms(B, "bumpy", mr=6, srr=True))
    event = incoming(b.events())
    b.error(event.rp_mr, rp.RpCause.TEMPORARY_FAILURE)
    assert take_report(a).tp_st == 0x25

    net.restart()
    a, b = net.attached(A), net.handset(B)
    event = incoming(b.attach())
    assert b.error(event.rp_mr, rp.RpCause.CONGESTION) == []
    assert a.events() == []  # no second temporary report
    net.advance(4)
    event = incoming(b.events())
    b.ack(event.rp_mr)
    assert take_report(a).tp_st == 0x00
    assert [(r.kind, r.state) for r in net.rows()] == [
        ("sms", "delivered"),
        ("report", "delivered"),
        ("report", "delivered"),
    ]


# -- 7. protocol errors ----------------------------------------------------------------


def _frame(kind: int, payload: bytes) -> bytes:
    return (len(payload) + 1).to_bytes(2, "big") + bytes((kind,)) + payload


def _rp_data(mr: int, tpdu: bytes) -> bytes:
    return lk.encode_frame(lk.Rp(rp.encode_rp(rp.RpData.mo(mr, Address.parse(SMSC_ADDRESS), tpdu))))


def _summary(event: Event) -> tuple[str, int]:
    if isinstance(event, Refused):
        return ("RP-ERROR", event.cause)
    assert isinstance(event, LinkFailure), event
    return ("ERROR", event.code)


GARBAGE_TPDU = encode(sms(B, "cut short"))[:5]
A_DELIVER = encode(SmsDeliver(tp_oa=Address.parse(A), tp_scts=utc(0)))
A_COMMAND = encode(SmsCommand(tp_mr=1, tp_ct=1, tp_mn=0, tp_da=Address.parse(B)))


@pytest.mark.parametrize(
    ("data", "mr", "answer"),
    [
        pytest.param(_rp_data(77, GARBAGE_TPDU), 77, ("RP-ERROR", 96), id="garbage TPDU"),
        pytest.param(_frame(5, b"\x07\x55"), 0x55, ("RP-ERROR", 97), id="RP-MTI 7"),
        pytest.param(
            _frame(5, rp.encode_rp(rp.RpData.mt(0x56, Address.parse(SMSC_ADDRESS), A_DELIVER))),
            0x56,
            ("RP-ERROR", 97),
            id="network-to-MS RP-DATA",
        ),
        pytest.param(_frame(5, b"\x00\x58\x00"), 0x58, ("RP-ERROR", 96), id="RP-DATA cut short"),
        pytest.param(_rp_data(78, A_COMMAND), 78, ("RP-ERROR", 69), id="SMS-COMMAND"),
        pytest.param(
            _rp_data(79, encode(sms("Shop", "hi"))), 79, ("RP-ERROR", 1), id="alphanumeric TP-DA"
        ),
        pytest.param(_frame(5, b"\x00"), None, ("ERROR", 2), id="RP without RP-MR"),
        pytest.param(_frame(0x7E, b"hello"), None, ("ERROR", 1), id="unknown frame type"),
        pytest.param(b"\x00\x00", None, ("ERROR", 2), id="empty frame"),
        pytest.param(
            lk.encode_frame(lk.AttachAccept(SMSC_ADDRESS)), None, ("ERROR", 6), id="SMSC's frame"
        ),
        pytest.param(lk.encode_frame(lk.Attach("001", A)), None, ("ERROR", 4), id="attach twice"),
    ],
)
def test_bad_input_is_answered_and_the_link_goes_on(
    net: Net, data: bytes, mr: int | None, answer: tuple[str, int]
) -> None:
    """Each malformed frame or RP message gets its documented answer (RP-ERROR
    with the same RP-MR, or an ERROR frame), stores nothing, and the same link
    can still submit."""
    x = net.attached(C)
    event = one(x.send(data))
    assert _summary(event) == answer
    if isinstance(event, Refused):
        assert event.rp_mr == mr
    assert not x.transport.disconnecting
    assert net.rows() == []
    accepted(x, sms(B, "still here"))
    assert len(net.rows()) == 1


def test_protocol_errors_on_one_link_do_not_disturb_another(net: Net) -> None:
    """Garbage from one handset, up to a frame too long (ERROR 5, then that
    connection closes), leaves the other handsets' traffic untouched."""
    a, b = net.attached(A), net.attached(B)
    accepted(a, sms(B, "one"))
    first = incoming(b.events())

    stranger = net.handset(C)
    assert [_summary(e) for e in stranger.send(_rp_data(0, encode(sms(B, "x"))))] == [
        ("ERROR", lk.ErrorCode.NOT_ATTACHED)
    ]
    x = net.attached(C)
    assert x.send(_rp_data(77, GARBAGE_TPDU)) == [
        Refused(77, rp.RpCause.INVALID_MANDATORY_INFORMATION)
    ]
    accepted(a, sms(B, "two"))
    assert x.send(_frame(5, b"\x07\x55")) == [
        Refused(0x55, rp.RpCause.MESSAGE_TYPE_NON_EXISTENT_OR_NOT_IMPLEMENTED)
    ]
    assert [_summary(e) for e in x.send(_frame(0x42, b""))] == [
        ("ERROR", lk.ErrorCode.UNKNOWN_FRAME_TYPE)
    ]
    two = incoming(b.ack(first.rp_mr))
    assert text_of(two) == "two"
    assert [_summary(e) for e in x.send((1025).to_bytes(2, "big") + b"\x05")] == [
        ("ERROR", lk.ErrorCode.FRAME_TOO_LONG)
    ]
    assert x.transport.disconnecting
    x.lose_connection()
    assert not a.transport.disconnecting and not b.transport.disconnecting

    accepted(a, sms(B, "three"))
    assert b.events() == []  # "two" is still in flight
    three = incoming(b.ack(two.rp_mr))
    assert text_of(three) == "three"
    assert b.ack(three.rp_mr) == []
    assert [(r.originator, r.state) for r in net.rows()] == [(A, "delivered")] * 3


# -- 8. unknown recipients ------------------------------------------------------------


def test_reject_unknown_recipient(make_net: Callable[..., Net]) -> None:
    """With unknown_recipient="reject", a number that never attached gets
    RP-ERROR 1 and no row; a number that did attach once is queued for."""
    net = make_net(unknown_recipient="reject")
    a = net.attached(A)
    mr, events = a.submit(sms(B, "anyone there?"))
    assert events == [Refused(mr, rp.RpCause.UNASSIGNED_NUMBER)]
    assert net.rows() == []

    b = net.attached(B)
    b.lose_connection()
    accepted(a, sms(B, "see you later"))
    assert [r.state for r in net.rows()] == ["queued"]
    net.restart()  # the SMSC remembers who attached
    a = net.attached(A)
    accepted(a, sms(B, "still known"))
    assert len(net.rows()) == 2


def test_queue_for_unknown_recipient_by_default(net: Net) -> None:
    """By default a number nobody attached with is queued for until it attaches."""
    a = net.attached(A)
    accepted(a, sms(B, "for later"))
    assert [(r.recipient, r.state) for r in net.rows()] == [(B, "queued")]
    event = incoming(net.handset(B).attach())
    assert text_of(event) == "for later"


# -- 9. the same subscriber on a second connection ------------------------------------


def test_second_attach_moves_the_subscriber(net: Net) -> None:
    """Attaching again with the same MSISDN from another connection moves the
    subscriber: the old connection gets DETACH and is closed, the message in
    flight and what follows go to the new one."""
    a, old = net.attached(A), net.attached(B)
    accepted(a, sms(B, "one"))
    stale = incoming(old.events())

    new = net.handset(B)
    moved = incoming(new.attach())
    assert old.events() == [Detached()]
    assert old.transport.disconnecting and not new.transport.disconnecting
    assert text_of(moved) == "one"

    # The old link's late answer is not the subscriber's any more.
    assert [_summary(e) for e in old.ack(stale.rp_mr)] == [("ERROR", lk.ErrorCode.NOT_ATTACHED)]
    old.lose_connection()
    assert net.rows()[0].state == "queued"

    assert new.ack(moved.rp_mr) == []
    accepted(a, sms(B, "two"))
    event = incoming(new.events())
    assert text_of(event) == "two"
    new.ack(event.rp_mr)
    net.advance(120)
    assert old.events() == [] and new.events() == []
    assert [r.state for r in net.rows()] == ["delivered"] * 2


def test_a_status_report_waits_for_an_id_when_a_cluster_node_has_none(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster node out of id blocks (smsc.idblocks) makes its status report
    once the next block is there, on its clock; the delivery is not disturbed."""
    a, b = net.attached(A), net.attached(B)
    accepted(a, sms(B, "report me", srr=True))
    event = incoming(b.events())
    given = net.smsc.new_id

    def exhausted(count: int = 1) -> int:
        raise IdsExhausted("no message ids left")

    monkeypatch.setattr(net.smsc, "new_id", exhausted)
    assert b.ack(event.rp_mr) == []  # delivered; no report yet
    assert a.events() == []
    net.advance(ID_RETRY)
    assert a.events() == []  # still none: tried again, still out
    monkeypatch.setattr(net.smsc, "new_id", given)
    net.advance(ID_RETRY)
    report = take_report(a)
    assert report.tp_st == 0 and report.tp_mr == 0
