"""cancel_sm and replace_sm across the nodes of a cluster (smsc.recall): the
asking and answering between two nodes on ``task.Clock`` (the notifications
handed over directly, as the Listener would), and ``gather`` on a real
PostgreSQL: what a node claims of a message to act on it, and who holds the
rest."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, timedelta

import pytest
from sqlalchemy import Engine, select
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from pdu import Address
from smsc import cluster, recall
from smsc.models import ESME_MESSAGE, MESSAGE, MessageKind, MessageState
from smsc.recall import Recall, gather
from smsc.repository import MessageStatus, message_status
from smsc.store import open_engine
from smsc.submitted import Submitted
from smsc.submitted_rows import submitted_row

from .test_smsc_cluster import T0, queue

on_postgres = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

Acted = tuple[str, str, tuple[int, ...], bytes]


class Node:
    """A node's ``Recall``, its sends delivered to its peers on the clock's
    next turn (a NOTIFY arrives after the sender's commit), and what it is
    asked to do waiting on a Deferred the test fires."""

    def __init__(self, name: str, clock: Clock, cluster: dict[str, Node]) -> None:
        self.acted: list[tuple[Acted, Deferred[bool]]] = []
        self.sent: list[tuple[str, str]] = []
        self.recall = Recall(name, clock, self.send, self.act)
        self.clock = clock
        self.cluster = cluster
        cluster[name] = self

    def send(self, node: str, payload: str) -> None:
        self.sent.append((node, payload))
        if node in self.cluster:
            self.clock.callLater(0, self.cluster[node].recall.heard, payload)

    def act(self, command: str, esme: str, ids: tuple[int, ...], short: bytes) -> Deferred[bool]:
        d: Deferred[bool] = Deferred()
        self.acted.append(((command, esme, ids, short), d))
        return d


@pytest.fixture
def pair() -> tuple[Clock, Node, Node]:
    clock = Clock()
    cluster: dict[str, Node] = {}
    return clock, Node("n1", clock, cluster), Node("n2", clock, cluster)


def outcome(d: Deferred[bool]) -> list[bool]:
    got: list[bool] = []
    d.addCallback(got.append)
    return got


def test_the_holder_cancels_and_answers_once_done(pair: tuple[Clock, Node, Node]) -> None:
    clock, n1, n2 = pair
    got = outcome(n1.recall.ask("n2", "cancel_sm", "gw", [7, 8]))
    clock.advance(0)
    ((asked, done),) = n2.acted
    assert asked == ("cancel_sm", "gw", (7, 8), b"")
    clock.advance(1)
    assert got == []  # nothing until the holder's work is committed
    done.callback(True)
    clock.advance(0)
    assert got == [True]
    clock.advance(recall.TIMEOUT)  # the timer went with the answer
    assert got == [True]


def test_a_replace_carries_its_text_and_a_refusal_comes_back(
    pair: tuple[Clock, Node, Node],
) -> None:
    clock, n1, n2 = pair
    got = outcome(n1.recall.ask("n2", "replace_sm", "gw", [9], b"new \x00text"))
    clock.advance(0)
    ((asked, done),) = n2.acted
    assert asked == ("replace_sm", "gw", (9,), b"new \x00text")
    done.callback(False)  # delivered meanwhile
    clock.advance(0)
    assert got == [False]


def test_a_holder_whose_work_fails_answers_no(pair: tuple[Clock, Node, Node]) -> None:
    clock, n1, n2 = pair
    got = outcome(n1.recall.ask("n2", "cancel_sm", "gw", [3]))
    clock.advance(0)
    n2.acted[0][1].errback(RuntimeError("database gone"))
    clock.advance(0)
    assert got == [False]


def test_no_answer_in_time_is_a_failure_and_a_late_one_is_dropped(
    pair: tuple[Clock, Node, Node], caplog: pytest.LogCaptureFixture
) -> None:
    clock, n1, n2 = pair
    caplog.set_level(logging.INFO, "smsc.recall")
    got = outcome(n1.recall.ask("gone", "cancel_sm", "gw", [5]))  # a node that died
    clock.advance(recall.TIMEOUT - 0.5)
    assert got == []
    clock.advance(0.5)
    assert got == [False]
    assert "no answer from node gone to cancel_sm" in caplog.text
    # The holder answers after the asker gave up: nobody waits any more.
    late = outcome(n1.recall.ask("n2", "cancel_sm", "gw", [6]))
    clock.advance(0)
    clock.advance(recall.TIMEOUT)
    assert late == [False]
    n2.acted[0][1].callback(True)
    clock.advance(0)
    assert late == [False]
    assert "carried out after its timeout" in caplog.text  # the ESME was told otherwise


@pytest.mark.parametrize(
    "payload",
    [
        "c:not json",
        'c:{"rid":"x"}',
        'c:["x","n1","gw",[]]',
        'c:["x","n1","gw",["7"]]',
        'c:["x","n1"]',
        'c:["x","n1","gw",[7]]',  # no deadline
        'c:["x","n1","gw",[7],"soon"]',
        'c:["x","n1","gw",[7],true]',
        'r:["x","n1","gw",[7],9]',  # no text
        'r:["x","n1","gw",[7],9,"zz"]',  # not hex
        "a:[1,true]",
        'a:["x"]',
    ],
)
def test_a_bad_payload_is_one_line_and_nothing_else(
    pair: tuple[Clock, Node, Node], caplog: pytest.LogCaptureFixture, payload: str
) -> None:
    clock, _, n2 = pair
    with caplog.at_level(logging.WARNING):
        n2.recall.heard(payload)
    clock.advance(0)
    assert n2.acted == [] and n2.sent == []
    lines = [r for r in caplog.records if "bad recall payload" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None


def test_a_request_heard_past_its_deadline_is_refused_untouched(
    pair: tuple[Clock, Node, Node], caplog: pytest.LogCaptureFixture
) -> None:
    """The asker tells the ESME it failed after ``TIMEOUT``: a holder that
    hears the request later than the deadline in it (the asker's clock plus
    ``TIMEOUT`` less ``MARGIN``) does nothing, so it never acts on what the
    ESME was told failed."""
    clock, n1, n2 = pair
    caplog.set_level(logging.INFO, "smsc.recall")
    got = outcome(n1.recall.ask("n2", "cancel_sm", "gw", [7]))
    clock.advance(recall.TIMEOUT - recall.MARGIN + 0.5)  # the NOTIFY comes late
    assert n2.acted == []
    clock.advance(0)
    assert got == [False]  # refused, before the asker's own timeout
    assert "past its deadline" in caplog.text
    # One heard in time is acted on, however close to the deadline.
    again = outcome(n1.recall.ask("n2", "replace_sm", "gw", [8], b"new"))
    clock.advance(recall.TIMEOUT - recall.MARGIN)
    ((asked, done),) = n2.acted
    assert asked == ("replace_sm", "gw", (8,), b"new")
    done.callback(True)
    clock.advance(0)
    assert again == [True]


def test_stopping_fails_what_waits(pair: tuple[Clock, Node, Node]) -> None:
    clock, n1, _ = pair
    got = outcome(n1.recall.ask("n2", "cancel_sm", "gw", [1]))
    clock.advance(0)  # asked
    n1.recall.stop()
    assert got == [False]
    assert clock.getDelayedCalls() == []  # its timer went too


# -- gather, on PostgreSQL -----------------------------------------------------------------


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_engine(database_url)
    yield engine
    engine.dispose()


def submitted(engine: Engine, first: int, parts: int, esme: str = "gw") -> None:
    sub = Submitted(
        esme, tuple(range(first, first + parts)), 1, T0.replace(tzinfo=UTC), "hi", 0,
        Address("12345", 0, 1), 0, recipient="447700900101",
    )  # fmt: skip
    with engine.begin() as conn:
        conn.execute(ESME_MESSAGE.insert().values(**submitted_row(sub)))


@on_postgres
def test_gather_claims_what_no_node_holds_and_names_the_holders(engine: Engine) -> None:
    recipient = "447700900101"
    with engine.begin() as conn:
        for i in (1, 2):  # a two-part message no node holds (its recipient is away)
            queue(conn, i, recipient, esme="gw")
        queue(conn, 3, recipient, esme="gw", node="n2")  # one n2 holds
        queue(conn, 4, recipient)  # a handset's
    submitted(engine, 1, 2)
    submitted(engine, 3, 1)
    with engine.begin() as conn:
        parts = gather("n1", "gw", 1, T0, conn)
    assert parts is not None
    assert parts.ids == (1, 2) and parts.recipient == recipient and not parts.ended
    assert parts.holders == {1: "n1", 2: "n1"}
    assert [i.id for i in parts.claimed] == [1, 2]
    assert [s.ids for s in parts.subs] == [(1, 2)]
    with engine.begin() as conn:
        cluster.join(conn, cluster.Lease("n2", T0, 3.0), T0)
        held = gather("n1", "gw", 3, T0, conn)
        assert held is not None and held.holders == {3: "n2"} and held.claimed == []
        later = T0 + timedelta(seconds=4)  # n2's lease ran out: nobody answers for it
        dead = gather("n1", "gw", 3, later, conn)
        assert dead is not None and dead.holders == {3: None} and dead.claimed == []
        assert gather("n1", "other", 3, T0, conn) is None  # another ESME's
        assert gather("n1", "gw", 4, T0, conn) is None  # a handset's
        assert conn.execute(select(MESSAGE.c.node).where(MESSAGE.c.id == 4)).scalar() is None
        assert gather("n1", "gw", 99, T0, conn) is None  # none
        conn.execute(
            MESSAGE.update()
            .where(MESSAGE.c.id == 3)
            .values(state=MessageState.DELIVERED.value, done_at=T0 + timedelta(seconds=1))
        )
    with engine.begin() as conn:
        ended = gather("n1", "gw", 3, T0, conn)
        assert ended is not None and ended.ended
        assert conn.execute(select(MESSAGE.c.node).where(MESSAGE.c.id == 3)).scalar() == "n2"
        kinds = {r.kind for r in conn.execute(select(MESSAGE.c.kind))}
    assert kinds == {MessageKind.SMS.value}


@on_postgres
def test_gather_claims_nothing_of_what_it_refuses(engine: Engine) -> None:
    """Only a whole SMS of the ESME's own, named by its first part's id, is
    claimed: whatever else an id names (a later part of its own message,
    another ESME's, a handset's, a deliver_sm) is refused and left as it was."""
    recipient = "447700900101"
    with engine.begin() as conn:
        for i in (1, 2):
            queue(conn, i, recipient, esme="gw")
        for i in (3, 4):
            queue(conn, i, recipient, esme="other")
        queue(conn, 5, recipient)  # a handset's
        queue(conn, 6, "12345", kind=MessageKind.ESME, esme="gw")  # a deliver_sm to gw
    submitted(engine, 1, 2)
    submitted(engine, 3, 2, esme="other")
    with engine.begin() as conn:
        for number in (2, 3, 4, 5, 6):
            assert gather("n1", "gw", number, T0, conn) is None, number
    with engine.begin() as conn:
        held = conn.execute(select(MESSAGE.c.id).where(MESSAGE.c.node.is_not(None))).all()
    assert held == []


def test_a_long_message_is_final_once_every_part_is(engine: Engine) -> None:
    """query_sm of a message no longer waiting here (another node holds or
    ended it, or it ended) reads its rows: a long one is ENROUTE while any
    part waits, then its worst part's fate, as its receipt says.  On either
    database: a single SMSC reads them too."""
    recipient = "447700900101"
    with engine.begin() as conn:
        for i in (1, 2):
            queue(conn, i, recipient, esme="gw")
    submitted(engine, 1, 2)

    def end(i: int, state: MessageState, seconds: int, error: int | None = None) -> None:
        with engine.begin() as conn:
            conn.execute(
                MESSAGE.update()
                .where(MESSAGE.c.id == i)
                .values(state=state.value, done_at=T0 + timedelta(seconds=seconds), error=error)
            )

    def status(number: int) -> MessageStatus:
        with engine.begin() as conn:
            got = message_status(conn, number)
        assert got is not None
        return got

    end(1, MessageState.DELIVERED, 1)
    first = status(1)
    assert first.state is MessageState.QUEUED and first.done_at is None  # part 2 waits
    end(2, MessageState.FAILED, 2, error=27)
    whole = status(1)
    assert (whole.state, whole.error) == (MessageState.FAILED, 27)
    assert whole.done_at == (T0 + timedelta(seconds=2)).replace(tzinfo=UTC)  # the last part's
    assert status(2).state is MessageState.FAILED  # a part's id: that part
    with engine.begin() as conn:
        assert message_status(conn, 99) is None
