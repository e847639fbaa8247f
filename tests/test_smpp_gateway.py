"""The SMPP gateway's deliver_sm queue on ``task.Clock``: windows, temporary
refusals backed off, silence timed out and resent, a lost connection's
deliver_sms sent again on another, expiry."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from smpp34 import pdu as p
from smpp34.pdu import CommandStatus as S
from smsc.core import Smsc, SmscConfig
from smsc.models import MessageKind
from smsc.queued import Queued
from smsc.repository import SqlQueueRepository
from smsc.smpp.gateway import RESPONSE_TIMEOUT, EsmeAccount, SmppConfig, SmppGateway
from smsc.smpp.server import (
    ENQUIRE_AFTER,
    ENQUIRE_TIMEOUT,
    SmppFactory,
    SmppProtocol,
)
from smsc.store import BatchWriter, open_engine


class FakeConnection:
    """An ESME's receiver, recording the deliver_sms it is sent."""

    def __init__(self, window: int = 2) -> None:
        self.system_id: str | None = "tester"
        self.window = window
        self.sent: dict[int, p.Pdu] = {}
        self._seq = 0

    @property
    def can_receive(self) -> bool:
        return True

    @property
    def room(self) -> int:
        return self.window - len(self.sent)

    def request(self, make: type[p.Pdu], **fields: Any) -> int | None:
        if self.room <= 0:
            return None
        self._seq += 1
        self.sent[self._seq] = make(sequence_number=self._seq, **fields)
        return self._seq

    def forget(self, sequence_number: int) -> None:
        self.sent.pop(sequence_number, None)

    def unbind(self) -> None: ...

    def reset(self) -> None: ...

    def answer(self, gateway: SmppGateway, seq: int, status: int = 0) -> None:
        request = self.sent.pop(seq)
        response = p.DeliverSmResp(sequence_number=seq, command_status=status)
        gateway.answered(self, request, response)


def make(tmp_path: Path) -> tuple[Clock, Smsc, SmppGateway]:
    clock = Clock()
    clock.advance(1_800_000_000)
    writer = BatchWriter(open_engine(f"sqlite:///{tmp_path / 'smsc.sqlite3'}"), threaded=False)
    smsc = Smsc(SqlQueueRepository(writer), clock, SmscConfig())
    gateway = SmppGateway(smsc.esme_door, SmppConfig(accounts=[EsmeAccount("tester", "pw")]), clock)
    smsc.esme = gateway
    return clock, smsc, gateway


def owed(smsc: Smsc, text: bytes, expires: timedelta = timedelta(hours=1)) -> Queued:
    now = smsc.now()
    item = Queued(
        id=smsc.new_id(),
        kind=MessageKind.ESME,
        originator="+15550001001",
        recipient="12345",
        tp_mr=None,
        tp_srr=False,
        tpdu=p.encode(p.DeliverSm(sequence_number=1, short_message=text)),
        submitted_at=now,
        expires_at=now + expires,
        esme="tester",
    )
    smsc.esme_door.queue_for_esme(item)
    return item


def texts(connection: FakeConnection) -> list[bytes]:
    return [getattr(pdu, "short_message", b"") for pdu in connection.sent.values()]


def test_the_window_holds_the_rest_until_answers_come(tmp_path: Path) -> None:
    _, smsc, gateway = make(tmp_path)
    for text in (b"a", b"b", b"c"):
        owed(smsc, text)
    esme = FakeConnection(window=2)
    gateway.bound(esme)
    assert texts(esme) == [b"a", b"b"]
    esme.answer(gateway, 1)
    assert texts(esme) == [b"b", b"c"]
    assert smsc.metrics.delivered == 1


def test_a_temporary_refusal_backs_off_and_a_permanent_one_fails(tmp_path: Path) -> None:
    clock, smsc, gateway = make(tmp_path)
    owed(smsc, b"busy")
    owed(smsc, b"bad")
    esme = FakeConnection(window=1)
    gateway.bound(esme)
    esme.answer(gateway, 1, S.ESME_RMSGQFUL)
    assert esme.sent == {}  # nothing until the back-off is over
    clock.advance(1.0)
    assert texts(esme) == [b"busy"]
    esme.answer(gateway, 2)
    assert texts(esme) == [b"bad"]
    esme.answer(gateway, 3, S.ESME_RX_P_APPN)
    assert (smsc.metrics.delivered, smsc.metrics.failed) == (1, 1)


def test_silence_is_timed_out_and_the_deliver_sm_sent_again(tmp_path: Path) -> None:
    clock, smsc, gateway = make(tmp_path)
    owed(smsc, b"hello?")
    esme = FakeConnection(window=1)
    gateway.bound(esme)
    clock.advance(RESPONSE_TIMEOUT)
    assert esme.sent == {}  # forgotten, and backing off
    clock.advance(1.0)
    assert texts(esme) == [b"hello?"] and list(esme.sent) == [2]


def test_a_lost_connection_gives_its_deliver_sms_to_another(tmp_path: Path) -> None:
    _, smsc, gateway = make(tmp_path)
    owed(smsc, b"one")
    first = FakeConnection(window=5)
    gateway.bound(first)
    assert texts(first) == [b"one"]
    unanswered = list(first.sent.values())
    first.system_id = "tester"
    gateway.gone(first, unanswered)
    second = FakeConnection(window=5)
    gateway.bound(second)
    assert texts(second) == [b"one"]


def test_what_expires_waiting_for_its_esme_ends_expired(tmp_path: Path) -> None:
    clock, smsc, gateway = make(tmp_path)
    owed(smsc, b"too late", expires=timedelta(seconds=10))
    clock.advance(11)
    esme = FakeConnection()
    gateway.bound(esme)
    assert esme.sent == {} and smsc.metrics.expired == 1


def test_what_waits_for_an_esme_never_bound_expires_at_its_due_time(tmp_path: Path) -> None:
    """No bind, no pump: the deliver_sm ends at its validity's end all the same,
    the one due then and no other."""
    clock, smsc, gateway = make(tmp_path)
    owed(smsc, b"ten seconds", expires=timedelta(seconds=10))
    later = owed(smsc, b"twenty seconds", expires=timedelta(seconds=20))
    clock.advance(9)
    assert smsc.metrics.expired == 0
    clock.advance(1)
    assert smsc.metrics.expired == 1
    assert list(gateway.outbox.queues["tester"]) == [later]
    clock.advance(10)
    assert smsc.metrics.expired == 2 and not gateway.outbox.queues["tester"]


# -- the connection's timers, on the same clock ---------------------------------------------


def connected(gateway: SmppGateway) -> tuple[SmppProtocol, StringTransport]:
    protocol = SmppFactory(gateway).buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def test_a_connection_nobody_binds_on_is_closed(tmp_path: Path) -> None:
    clock, _, gateway = make(tmp_path)
    _, transport = connected(gateway)
    clock.advance(gateway.config.bind_timeout - 1)
    assert not transport.disconnecting
    clock.advance(1)
    assert transport.disconnecting


def test_a_bind_answer_held_by_the_lockout_is_sent_before_the_deadline_closes(
    tmp_path: Path,
) -> None:
    """The bind deadline waits for an answer the lockout holds back, so the
    guesser gets its refusal; then the unbound connection goes."""
    clock, _, gateway = make(tmp_path)
    gateway.config.bind_timeout = 0.5
    protocol, transport = connected(gateway)
    reader = p.PduReader()
    for seq in range(1, 5):  # the fourth failure locks: its answer waits a second
        wrong = p.BindTransceiver(sequence_number=seq, system_id="tester", password="no")
        protocol.dataReceived(p.encode(wrong))
    assert len(reader.feed(transport.value())) == 3
    transport.clear()
    clock.advance(0.5)
    assert not transport.disconnecting
    clock.advance(0.5)
    (held,) = reader.feed(transport.value())
    assert isinstance(held, p.BindTransceiverResp) and held.command_status == S.ESME_RINVPASWD
    assert transport.disconnecting


def test_a_quiet_esme_is_asked_enquire_link_and_dropped_if_it_says_nothing(
    tmp_path: Path,
) -> None:
    clock, _, gateway = make(tmp_path)
    protocol, transport = connected(gateway)
    protocol.dataReceived(
        p.encode(p.BindTransceiver(sequence_number=1, system_id="tester", password="pw"))
    )
    reader = p.PduReader()
    (bound,) = reader.feed(transport.value())
    assert isinstance(bound, p.BindTransceiverResp) and bound.command_status == 0
    transport.clear()
    clock.advance(ENQUIRE_AFTER)
    (enquire,) = reader.feed(transport.value())
    assert isinstance(enquire, p.EnquireLink)
    transport.clear()
    # Answered: all is well, and the next quiet spell asks again.
    protocol.dataReceived(p.encode(p.EnquireLinkResp(sequence_number=enquire.sequence_number)))
    clock.advance(ENQUIRE_TIMEOUT)
    assert not transport.disconnecting
    (again,) = reader.feed(transport.value())
    assert isinstance(again, p.EnquireLink)
    clock.advance(ENQUIRE_TIMEOUT)  # no answer this time
    assert transport.disconnecting


def test_an_esme_that_talks_is_asked_enquire_link_only_after_its_last_word(
    tmp_path: Path,
) -> None:
    """The quiet spell runs from the last PDU heard (one timer, not one reset
    per read): at 29 s a PDU comes, so the enquire_link goes at 59 s, not 30."""
    clock, _, gateway = make(tmp_path)
    protocol, transport = connected(gateway)
    protocol.dataReceived(
        p.encode(p.BindTransceiver(sequence_number=1, system_id="tester", password="pw"))
    )
    reader = p.PduReader()
    reader.feed(transport.value())
    transport.clear()
    clock.advance(ENQUIRE_AFTER - 1)
    protocol.dataReceived(p.encode(p.EnquireLink(sequence_number=2)))
    (answer,) = reader.feed(transport.value())
    assert isinstance(answer, p.EnquireLinkResp)
    transport.clear()
    clock.advance(ENQUIRE_AFTER - 1)
    assert transport.value() == b""
    clock.advance(1)
    (enquire,) = reader.feed(transport.value())
    assert isinstance(enquire, p.EnquireLink) and not transport.disconnecting
