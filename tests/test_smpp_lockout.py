"""Online guessing of SMPP passwords: the lockout rules on their own, then the
SMPP door answering binds on ``task.Clock`` (delays waited on the clock)."""

from __future__ import annotations

from pathlib import Path

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from smpp34 import pdu as p
from smpp34.pdu import CommandStatus as S
from smsc.core import Smsc, SmscConfig
from smsc.repository import SqlQueueRepository
from smsc.smpp.gateway import EsmeAccount, SmppConfig, SmppGateway
from smsc.smpp.server import SmppFactory
from smsc.store import BatchWriter, open_engine
from tests.scrape import key, parse
from txkit.lockout import Lockout
from txkit.prometheus import exposition

# -- the rules ----------------------------------------------------------------------------


def test_free_failures_then_a_lock_that_doubles_up_to_a_ceiling() -> None:
    guard = Lockout(free=3, base=1.0, longest=8.0, answer_delay=5.0)
    delays = [guard.failed("esme", "10.0.0.1", now=0.0) for _ in range(8)]
    assert delays == [0.0, 0.0, 0.0, 1.0, 2.0, 4.0, 5.0, 5.0]  # locks 1, 2, 4, 8, 8 s
    assert guard.check("esme", "10.0.0.1", now=7.0).locked
    assert not guard.check("esme", "10.0.0.1", now=8.0).locked
    assert guard.locked(now=1.0) == 2  # the system_id and the address


def test_the_system_id_lock_holds_every_address_but_those_that_bound_before() -> None:
    guard = Lockout(free=0)
    guard.succeeded("esme", "10.0.0.1")  # the ESME's own host
    guard.failed("esme", "10.6.6.6", now=0.0)  # a stranger, failing on purpose
    assert guard.check("esme", "10.6.6.6", now=0.5).locked
    assert guard.check("esme", "10.0.0.2", now=0.5).locked  # the stranger's friend
    assert not guard.check("esme", "10.0.0.1", now=0.5).locked


def test_an_address_lock_holds_only_those_unknown_there() -> None:
    """An attacker on a shared address (127.0.0.1, a NAT) locks the address for
    strangers, and the pair it guesses, but not a client known there."""
    guard = Lockout(free=0)
    guard.succeeded("alice", "127.0.0.1")
    guard.succeeded("bob", "127.0.0.1")
    guard.failed("bob", "127.0.0.1", now=0.0)  # guessing bob's password from there
    assert guard.check("bob", "127.0.0.1", now=0.5).locked  # the pair guessed
    assert not guard.check("alice", "127.0.0.1", now=0.5).locked  # known there
    assert guard.check("carol", "127.0.0.1", now=0.5).locked  # a stranger there
    assert guard.check("bob", "10.0.0.9", now=0.5).locked  # bob from elsewhere
    guard.succeeded("bob", "127.0.0.1")
    assert not guard.check("bob", "127.0.0.1", now=0.5).locked


def test_a_success_clears_and_old_failures_are_forgotten() -> None:
    guard = Lockout(free=1, forget=60.0)
    guard.failed("esme", "10.0.0.1", now=0.0)
    guard.succeeded("esme", "10.0.0.1")
    assert guard.failed("esme", "10.0.0.1", now=1.0) == 0.0  # the free one again
    assert guard.failed("esme", "10.0.0.1", now=100.0) == 0.0  # 99 s later: forgotten
    assert guard.failed("esme", "10.0.0.1", now=101.0) > 0.0


# -- the SMPP door ------------------------------------------------------------------------

ACCOUNTS = [EsmeAccount("tester", "pw"), EsmeAccount("lab", "pw2", allow=("10.0.0.0/8",))]


def gateway(tmp_path: Path) -> tuple[Clock, SmppGateway]:
    clock = Clock()
    clock.advance(1_800_000_000)
    writer = BatchWriter(open_engine(f"sqlite:///{tmp_path / 'smsc.sqlite3'}"), threaded=False)
    smsc = Smsc(SqlQueueRepository(writer), clock, SmscConfig())
    gw = SmppGateway(smsc.esme_door, SmppConfig(accounts=ACCOUNTS), clock)
    smsc.esme = gw
    return clock, gw


class Esme:
    """One TCP connection from ``host``, its bytes in a StringTransport."""

    def __init__(self, gw: SmppGateway, host: str) -> None:
        self.protocol = SmppFactory(gw).buildProtocol(None)
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", host, 40000))
        self.protocol.makeConnection(self.transport)
        self.reader = p.PduReader()

    def bind(self, system_id: str, password: str) -> None:
        pdu = p.BindTransmitter(sequence_number=1, system_id=system_id, password=password)
        self.protocol.dataReceived(p.encode(pdu))

    def answers(self) -> list[int]:
        got = self.reader.feed(self.transport.value())
        self.transport.clear()
        return [r.command_status for r in got if isinstance(r, p.BindTransmitterResp)]


def test_guessing_is_slowed_then_locked_and_counted(tmp_path: Path) -> None:
    clock, gw = gateway(tmp_path)
    answers: list[int] = []
    for guess in range(3):  # three typos: answered at once
        esme = Esme(gw, "127.0.0.9")
        esme.bind("tester", f"guess{guess}")
        answers += esme.answers()
    assert answers == [S.ESME_RINVPASWD] * 3
    esme = Esme(gw, "127.0.0.9")
    esme.bind("tester", "guess3")
    assert esme.answers() == []  # the fourth waits for its answer...
    # ... and locks: meanwhile even the right password, from another address and
    # on another connection, is refused unchecked.
    late = Esme(gw, "127.0.0.10")
    late.bind("tester", "pw")
    clock.advance(1.0)
    assert esme.answers() == [S.ESME_RINVPASWD]
    assert late.answers() == [S.ESME_RBINDFAIL]
    # A guess every 5 s: failures 5 to 8 lock for 2, 4, 8 and 16 s, and a guess
    # that meets a lock is refused unchecked: half of them are never tried.
    statuses = []
    for guess in range(4, 12):
        esme = Esme(gw, "127.0.0.9")
        esme.bind("tester", f"guess{guess}")
        clock.advance(5.0)
        statuses += esme.answers()
    fail, wrong = S.ESME_RBINDFAIL, S.ESME_RINVPASWD
    assert statuses == [wrong, wrong, wrong, fail, wrong, fail, fail, fail]
    again = Esme(gw, "127.0.0.10")
    again.bind("tester", "pw")
    assert again.answers() == [S.ESME_ROK]
    samples, _ = parse(exposition(gw.metrics.registry).decode())
    name = "smsemu_smpp_bind_failures_total"
    assert samples[key(name, reason="ESME_RINVPASWD")] == 8.0
    assert samples[key(name, reason="locked")] == 5.0
    assert samples[key("smsemu_smpp_bind_lockouts")] == 0.0  # both locks ran out


def test_the_esme_that_bound_before_is_not_locked_out_by_a_stranger(tmp_path: Path) -> None:
    clock, gw = gateway(tmp_path)
    own = Esme(gw, "127.0.0.1")
    own.bind("tester", "pw")
    assert own.answers() == [S.ESME_ROK]
    for _ in range(6):
        stranger = Esme(gw, "127.0.0.66")
        stranger.bind("tester", "nope")
        clock.advance(5.0)
    back = Esme(gw, "127.0.0.1")  # the ESME reconnects while the stranger is locked out
    back.bind("tester", "pw")
    assert back.answers() == [S.ESME_ROK]


def test_an_account_binds_only_from_the_addresses_it_allows(tmp_path: Path) -> None:
    _, gw = gateway(tmp_path)
    outside = Esme(gw, "127.0.0.1")
    outside.bind("lab", "pw2")
    assert outside.answers() == [S.ESME_RBINDFAIL]
    inside = Esme(gw, "10.1.2.3")
    inside.bind("lab", "pw2")
    assert inside.answers() == [S.ESME_ROK]


def test_a_connection_gone_while_its_answer_waits_is_forgotten(tmp_path: Path) -> None:
    clock, gw = gateway(tmp_path)
    for _ in range(3):
        Esme(gw, "127.0.0.9").bind("tester", "x")
    esme = Esme(gw, "127.0.0.9")
    esme.bind("tester", "x")
    waiting = len(clock.getDelayedCalls())
    esme.protocol.connectionLost(None)
    assert len(clock.getDelayedCalls()) == waiting - 2  # its bind answer and its bind timer
    clock.advance(5.0)  # nothing is written to the gone connection
    assert esme.answers() == []
