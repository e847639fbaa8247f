"""Two cluster nodes' cores in one process, on a ``task.Clock`` and a real
PostgreSQL (smsc.node): a node refusing unknown numbers looks up in the shared
table a subscriber first seen on the other node, and a node whose last
receiving bind of an ESME ends gives what waits for that ESME to a node where
it is bound.  The storage writers run each statement at once (``threaded``
off) and no LISTEN runs: what a NOTIFY would make a node do is called here,
and the NOTIFY itself is read on a connection of the test's own."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as Pending
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, Engine, select, update
from twisted.internet.task import Clock

from radiolink import rp
from radiolink.ms import Refused
from smpp34 import pdu as p
from smsc import cluster
from smsc.core import Smsc, SmscConfig
from smsc.models import MESSAGE, MessageKind, MessageState
from smsc.node import ClusterNode, _keys
from smsc.queued import Queued
from smsc.repository import SqlQueueRepository
from smsc.smpp.faults import FaultRule
from smsc.smpp.gateway import EsmeAccount, SmppConfig, SmppGateway
from smsc.store import BatchWriter, open_engine
from smsc.submitted_rows import settle_if_ended
from storage.pgnotify import conninfo

from .rig import TIMEOUT
from .test_smpp_gateway import FakeConnection, owed, texts
from .test_smsc_core import EPOCH, SMSC_ADDRESS, A, B, C, Handset, accepted, incoming, sms, text_of

on_postgres = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@dataclass
class Node:
    smsc: Smsc
    node: ClusterNode
    gateway: SmppGateway

    def bind(self, connection: FakeConnection) -> None:
        """A receiver of ``tester`` binds here, as the SMPP door tells it."""
        self.gateway.bound(connection)
        self.smsc.watchers.emit("bound", system_id="tester")

    def unbind(self, connection: FakeConnection) -> None:
        """Its connection goes: what it had in flight goes back to the outbox."""
        self.smsc.watchers.emit("unbound", system_id="tester")
        self.gateway.gone(connection, list(connection.sent.values()))
        connection.sent.clear()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    clock = Clock()
    clock.advance(EPOCH)
    return clock


def start(engine: Engine, url: str, name: str, clock: Clock) -> Node:
    writer = BatchWriter(engine, threaded=False)
    writer.start()
    store = SqlQueueRepository(writer)
    smsc = Smsc(store, clock, SmscConfig(address=SMSC_ADDRESS, unknown_recipient="reject"))
    gateway = SmppGateway(smsc.esme_door, SmppConfig(accounts=[EsmeAccount("tester", "pw")]), clock)
    smsc.esme = gateway
    node = ClusterNode(smsc, writer, name, url, clock)
    smsc.cluster, store.place = node, node.place
    node.lease.join()  # its lease is not renewed, nor its LISTEN run, here
    node.ids.start()
    smsc.load()
    return Node(smsc, node, gateway)


@pytest.fixture
def nodes(engine: Engine, database_url: str, clock: Clock) -> Iterator[tuple[Node, Node]]:
    n1 = start(engine, database_url, "n1", clock)
    n2 = start(engine, database_url, "n2", clock)
    try:
        yield n1, n2
    finally:
        for n in (n1, n2):
            n.smsc.stop()
            n.gateway.stop()


@pytest.fixture
def told(database_url: str) -> Iterator[psycopg.Connection[object]]:
    """A connection listening on both nodes' channels."""
    conn = psycopg.connect(conninfo(database_url), autocommit=True)
    for name in ("n1", "n2"):
        conn.execute(f"LISTEN {cluster.channel(name)}")
    conn.execute(f"LISTEN {SENTINEL}")
    yield conn
    conn.close()


#: A channel ``notes`` notifies itself on, after what it waits for.
SENTINEL = "test_sentinel"


def notes(conn: psycopg.Connection[object]) -> list[tuple[str, list[str]]]:
    """What was notified so far: the commits that notified are done, so a
    NOTIFY committed now comes after all of theirs (PostgreSQL delivers in
    commit order), and everything before it is what they sent."""
    conn.execute(f"NOTIFY {SENTINEL}")
    got: list[tuple[str, list[str]]] = []
    for n in conn.notifies(timeout=TIMEOUT):
        if n.channel == SENTINEL:
            return got
        got.append((n.channel, _keys(n.payload)))
    raise AssertionError(f"no NOTIFY {SENTINEL} back within {TIMEOUT} s; got {got}")


def holders(engine: Engine) -> dict[int, str | None]:
    with engine.connect() as conn:
        return dict(conn.execute(select(MESSAGE.c.id, MESSAGE.c.node)).all())


def rows(engine: Engine) -> list[tuple[int, str, str, str | None]]:
    """(id, kind, state, holder) of every message, in id order."""
    m = MESSAGE
    with engine.connect() as conn:
        return [
            (r.id, r.kind, r.state, r.node)
            for r in conn.execute(select(m.c.id, m.c.kind, m.c.state, m.c.node).order_by(m.c.id))
        ]


def submit(
    node: Node, to: str, text: bytes, *, receipt: bool = True, seq: int = 1
) -> list[p.Pdu | None]:
    """submit_sm of ``tester`` on ``node`` (its text as message_payload: a
    long one goes in parts); the responses, once due."""
    request = p.SubmitSm(
        sequence_number=seq,
        source_addr="12345",
        destination_addr=to.lstrip("+"),
        dest_addr_ton=1,
        dest_addr_npi=1,
        data_coding=1,
        registered_delivery=1 if receipt else 0,
        tlvs=p.Tlvs(message_payload=text),
    )
    responses: list[p.Pdu | None] = []
    node.gateway.submits.submit(FakeConnection(), "tester", request, responses.append)
    return responses


@on_postgres
def test_a_node_refusing_unknown_numbers_finds_one_first_seen_on_the_other(
    nodes: tuple[Node, Node], engine: Engine, told: psycopg.Connection[object]
) -> None:
    n1, n2 = nodes
    a = Handset(n1.smsc, A)
    a.attach()
    b = Handset(n2.smsc, B)  # B attaches on n2 after n1 started: n1 never read it
    b.attach()
    assert not n1.smsc.delivery.station(B).imsi
    notes(told)

    accepted(a, sms(B, "across"))
    assert n1.smsc.delivery.station(B).imsi == b.ms.imsi  # remembered
    assert list(holders(engine).values()) == [None]  # for n2 to claim, told by NOTIFY
    assert notes(told) == [(cluster.channel("n2"), ["s:" + B])]
    n2.node.claim([B], [])  # what the NOTIFY makes n2 do
    assert text_of(incoming(b.events())) == "across"

    # An ESME's submit on n1 to the same number, and to numbers nobody has seen.
    outcomes: list[list[Queued] | BaseException] = []
    door = n1.smsc.esme_door
    door.submit_from_esme("tester", "12345", B, [b"\x04"], outcomes.append, receipt=False)
    assert isinstance(outcomes[0], list) and outcomes[0][0].recipient == B
    door.submit_from_esme("tester", "12345", C, [b"\x04"], outcomes.append, receipt=False)
    assert isinstance(outcomes[1], ValueError) and str(outcomes[1]) == f"no subscriber {C}"
    mr, events = a.submit(sms(C, "nobody"))
    assert events == [Refused(mr, rp.RpCause.UNASSIGNED_NUMBER)]
    assert len(holders(engine)) == 2
    assert not n1.smsc.delivery.station(C).imsi


@on_postgres
def test_deliver_sms_follow_an_esme_that_binds_on_another_live_node(
    nodes: tuple[Node, Node], engine: Engine, clock: Clock
) -> None:
    n1, n2 = nodes
    first = FakeConnection(window=5)
    n1.bind(first)
    clock.advance(0)
    r1, r2, r3 = (owed(n1.smsc, text).id for text in (b"r1", b"r2", b"r3"))
    assert texts(first) == [b"r1", b"r2", b"r3"]  # claimed by n1 as made, sent
    first.answer(n1.gateway, 1)  # r1 delivered; r2, r3 go unanswered
    n1.unbind(first)
    clock.advance(0)
    assert holders(engine) == {r1: "n1", r2: None, r3: None}  # released, for any node
    second = FakeConnection(window=5)
    n2.bind(second)
    clock.advance(0)
    assert texts(second) == [b"r2", b"r3"]
    for seq in list(second.sent):
        second.answer(n2.gateway, seq)
    assert (n1.smsc.metrics.delivered, n2.smsc.metrics.delivered) == (1, 2)


@on_postgres
def test_an_esme_bound_elsewhere_first_is_told_and_a_rebind_here_takes_them_back(
    nodes: tuple[Node, Node], engine: Engine, clock: Clock, told: psycopg.Connection[object]
) -> None:
    n1, n2 = nodes
    first = FakeConnection(window=1)
    n1.bind(first)
    clock.advance(0)
    owed(n1.smsc, b"x1")
    owed(n1.smsc, b"x2")
    assert texts(first) == [b"x1"]  # x2 waits for room
    # The ESME drops its bind on n1 and binds on it again at once: the release
    # and the claim run in that order, nothing is lost or doubled.
    n1.unbind(first)
    clock.advance(0)
    again = FakeConnection(window=5)
    n1.bind(again)
    clock.advance(0)
    assert texts(again) == [b"x1", b"x2"]
    assert set(holders(engine).values()) == {"n1"}
    # Bound on n2 as well, then gone from n1: n2 is told, and claims.
    elsewhere = FakeConnection(window=5)
    n2.bind(elsewhere)
    clock.advance(0)
    assert elsewhere.sent == {}  # n1 holds them
    notes(told)
    n1.unbind(again)
    clock.advance(0)
    assert notes(told) == [(cluster.channel("n2"), ["e:tester"])]
    n2.node.claim([], ["tester"])  # what the NOTIFY makes n2 do
    assert texts(elsewhere) == [b"x1", b"x2"]
    assert set(holders(engine).values()) == {"n2"}


@on_postgres
def test_a_message_a_fault_fails_on_submit_is_ended_by_its_node_never_claimed(
    nodes: tuple[Node, Node], engine: Engine
) -> None:
    n1, n2 = nodes
    b = Handset(n2.smsc, B)  # B is n2's: an ordinary message to it goes unclaimed
    b.attach()
    n1.gateway.submits.faults.rules.append(FaultRule(action="fail_delivery", content="DOOMED"))
    (resp,) = submit(n1, B, b"DOOMED")
    assert isinstance(resp, p.SubmitSmResp) and resp.command_status == 0
    # Inserted claimed by n1, which ended it: n2 never had it to claim.
    (part, receipt) = rows(engine)
    assert part[1:] == (MessageKind.SMS.value, MessageState.FAILED.value, "n1")
    assert receipt[1:3] == (MessageKind.ESME.value, MessageState.QUEUED.value)
    assert n1.node._unclaimed == set() and n1.node._kept == set()
    assert n2.node.claim([B], []).result == 0
    assert b.events() == []


def receipts_for(engine: Engine, message_id: int) -> int:
    """How many receipts were made of ``message_id`` (on any node)."""
    with engine.connect() as conn:
        return len(
            conn.execute(select(MESSAGE.c.id).where(MESSAGE.c.report_for == message_id)).all()
        )


@on_postgres
@pytest.mark.parametrize("first", ["old node", "new node"])
def test_a_message_whose_parts_end_on_two_nodes_gets_one_receipt(
    nodes: tuple[Node, Node], engine: Engine, first: str
) -> None:
    n1, n2 = nodes
    b1 = Handset(n1.smsc, B)
    b1.attach()
    (resp,) = submit(n1, B, b"x" * 200)  # two parts, both n1's
    assert isinstance(resp, p.SubmitSmResp)
    message = n1.gateway.receipts.format.parse_message_id(resp.message_id)
    assert message is not None
    part1 = incoming(b1.events())  # in flight on n1
    # B attaches on n2; n1, told (what the NOTIFY makes it do), closes its
    # link and gives up the part still waiting, which n2 claims and delivers.
    b2 = Handset(n2.smsc, B)
    b2.attach()
    n1.node._give_up([B])
    assert n2.node.claim([B], []).result == 1
    part2 = incoming(b2.events())
    assert holders(engine) == {message: "n1", message + 1: "n2"}
    # The part in flight on n1 is answered all the same: each node ends one.
    ends = [lambda: b1.ack(part1.rp_mr), lambda: b2.ack(part2.rp_mr)]
    for end in ends if first == "old node" else reversed(ends):
        assert receipts_for(engine, message) == 0
        end()
    assert receipts_for(engine, message) == 1
    assert n1.gateway.receipts.submitted == {} and n2.gateway.receipts.submitted == {}


def blocked(engine: Engine, pid: int, running: Future[Any]) -> None:
    """Wait until backend ``pid`` waits for a lock another holds (or ``running``
    ended without waiting)."""
    with engine.connect() as conn:
        while not conn.exec_driver_sql(f"SELECT pg_blocking_pids({pid})").scalar():
            try:
                running.exception(timeout=0.05)
            except Pending:
                continue
            return  # it did not wait: what it read says why


@on_postgres
def test_of_two_nodes_ending_a_messages_last_parts_at_once_one_settles_it(
    nodes: tuple[Node, Node], engine: Engine
) -> None:
    n1, _ = nodes
    Handset(n1.smsc, B).attach()
    (resp,) = submit(n1, B, b"x" * 200)  # two parts, queued in the rows
    assert isinstance(resp, p.SubmitSmResp)
    message = n1.gateway.receipts.format.parse_message_id(resp.message_id)
    assert message is not None
    when = datetime(2027, 1, 1)

    def end(conn: Connection, part: int) -> None:
        values = {"state": MessageState.DELIVERED.value, "done_at": when}
        conn.execute(update(MESSAGE).where(MESSAGE.c.id == part).values(values))

    delivered = (MessageState.DELIVERED, None)
    with engine.connect() as a, engine.connect() as b:
        end(a, message)  # each node ends one part, neither committed yet
        end(b, message + 1)
        assert settle_if_ended(a, message, when) is None  # b's end is not committed
        with ThreadPoolExecutor(1) as pool:
            # b waits for a's lock on the message, then reads what a committed.
            pid = int(b.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
            later = pool.submit(settle_if_ended, b, message, when)
            blocked(engine, pid, later)
            a.commit()
            assert later.result(timeout=60) == {message: delivered, message + 1: delivered}
        b.commit()
        assert settle_if_ended(a, message, when) is None  # settled once
