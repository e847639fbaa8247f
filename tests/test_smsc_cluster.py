"""The SMSC cluster's tables on a real PostgreSQL (smsc.cluster, smsc.claims,
smsc.idblocks): id blocks no two nodes share, leases and the reaping of a dead
node, claims two nodes never both win, and the admin API's view of it all.
Times are passed in: no test waits on the wall clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import Connection, Engine, func, select
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from smsc import claims, cluster
from smsc.idblocks import ID_BLOCK, IdBlocks, IdsExhausted
from smsc.lease import NodeLease
from smsc.models import MESSAGE, MessageKind, MessageState
from smsc.store import BatchWriter, open_engine

T0 = datetime(2026, 12, 5, 12, 0, 0)
on_postgres = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_engine(database_url)
    yield engine
    engine.dispose()


def queue(
    conn: Connection,
    id: int,
    recipient: str,
    *,
    kind: MessageKind = MessageKind.SMS,
    esme: str | None = None,
    node: str | None = None,
) -> None:
    conn.execute(
        MESSAGE.insert().values(
            id=id,
            kind=kind.value,
            originator="447700900001",
            recipient=recipient,
            tp_mr=None,
            tp_srr=False,
            tpdu=b"\x04",
            state=MessageState.QUEUED.value,
            attempts=0,
            submitted_at=T0,
            expires_at=T0 + timedelta(days=1),
            done_at=None,
            error=None,
            report_for=None,
            esme=esme,
            node=node,
        )
    )


@on_postgres
def test_id_blocks_are_disjoint_across_nodes(engine: Engine) -> None:
    with engine.begin() as a, engine.begin() as b:
        starts = [cluster.id_block(a), cluster.id_block(b), cluster.id_block(a)]
    assert len({s // ID_BLOCK for s in starts}) == 3
    assert sorted(starts) == [starts[0], starts[0] + ID_BLOCK, starts[0] + 2 * ID_BLOCK]


def test_ids_never_straddle_blocks_and_never_block() -> None:
    starts = iter(range(1, 10_000, 100))
    pending: list[Deferred[int]] = []

    def fetch() -> Deferred[int]:
        start = next(starts)
        if start >= 201:  # the third block on are slow to come
            pending.append(Deferred())
            return pending[-1]
        return succeed(start)

    ids = IdBlocks(fetch, size=100)
    ids.start()
    assert ids.take(95) == 1
    assert ids.take(6) == 101  # a 6-part message: contiguous, from the spare block
    assert ids.take(94) == 107
    with pytest.raises(IdsExhausted):
        ids.take(1)
    pending[0].callback(201)
    assert ids.take(1) == 201
    assert len(pending) == 2  # the next spare is on its way


@on_postgres
def test_a_live_name_is_refused_and_a_dead_node_is_reaped(engine: Engine) -> None:
    n1, n2 = cluster.Lease("n1", T0, 3.0), cluster.Lease("n2", T0, 3.0)
    with engine.begin() as conn:
        cluster.join(conn, n1, T0)
        cluster.join(conn, n2, T0)
        cluster.locate(conn, "447700900101", "n1", T0)
        cluster.locate(conn, "447700900102", "n2", T0)
        cluster.bound(conn, "acme", "n1", 1)
        queue(conn, 1, "447700900101", node="n1")
        queue(conn, 2, "447700900102", node="n2")
    with engine.begin() as conn, pytest.raises(cluster.NodeNameTaken, match="n1"):
        cluster.join(conn, cluster.Lease("n1", T0 + timedelta(seconds=1), 3.0), T0)
    with engine.begin() as conn:
        assert cluster.reap(conn, T0 + timedelta(seconds=2)) == []
        assert cluster.heartbeat(conn, n2, T0 + timedelta(seconds=2))
        assert cluster.where(conn, "447700900101", T0) == "n1"
        assert cluster.receivers(conn, "acme", T0) == ["n1"]
    later = T0 + timedelta(seconds=4)
    with engine.begin() as conn:
        # n1's lease ran out: its location and bind no longer count, even unreaped
        assert cluster.where(conn, "447700900101", later) is None
        assert cluster.receivers(conn, "acme", later) == []
        assert cluster.reap(conn, later) == ["n1"]
        held = dict(conn.execute(select(MESSAGE.c.id, MESSAGE.c.node)).all())
        assert held == {1: None, 2: "n2"}
        assert not cluster.heartbeat(conn, n1, later)  # n1 learns it lost its claims
        assert cluster.live(conn, later) == ["n2"]
    with engine.begin() as conn:  # n1 comes back under its name once it is dead
        cluster.join(conn, cluster.Lease("n1", later, 3.0), later)


@on_postgres
def test_two_nodes_never_claim_one_message(engine: Engine) -> None:
    with engine.begin() as conn:
        for i in range(1, 4):
            queue(conn, i, "447700900101")
        queue(conn, 4, "447700900102")
        queue(conn, 5, "acme", kind=MessageKind.ESME, esme="acme")
    with engine.connect() as a, engine.connect() as b:
        with a.begin():
            won = claims.for_subscribers(a, "n1", ["447700900101"])
            with b.begin():  # while n1's claim is not committed: skipped, not waited on
                assert claims.for_subscribers(b, "n2", ["447700900101"]) == []
        with b.begin():
            assert claims.for_subscribers(b, "n2", ["447700900101"]) == []
            esme = claims.for_esmes(b, "n2", ["acme"])
    assert [r.id for r in won] == [1, 2, 3] and {r.node for r in won} == {"n1"}
    assert [r.id for r in esme] == [5]
    with engine.begin() as conn:
        assert claims.release(conn, "n1", [1, 2]) == 2
        assert [r.id for r in claims.for_subscribers(conn, "n2", ["447700900101"])] == [1, 2]


@on_postgres
def test_the_view_shows_the_whole_cluster(engine: Engine) -> None:
    with engine.begin() as conn:
        for name in ("n1", "n2"):
            cluster.join(conn, cluster.Lease(name, T0, 3.0), T0, f"http://{name}")
        cluster.locate(conn, "447700900101", "n1", T0)
        cluster.locate(conn, "447700900101", "n2", T0)  # it moved: the last attach wins
        cluster.bound(conn, "acme", "n1", 2)
        cluster.bound(conn, "acme", "n2", 1)
        cluster.bound(conn, "acme", "n1", 1)
        cluster.bound(conn, "acme", "n2", 0)
        queue(conn, 1, "447700900101", node="n2")
        queue(conn, 2, "447700900101")
        view = cluster.view(conn, T0)
        assert conn.execute(select(func.count()).select_from(MESSAGE)).scalar() == 2
    assert view == [
        {
            "name": "n1",
            "started_at": "2026-12-05T12:00:00Z",
            "lease_until": "2026-12-05T12:00:03Z",
            "alive": True,
            "admin_url": "http://n1",
            "subscribers": [],
            "binds": [{"system_id": "acme", "bind_type": "receiver", "binds": 1}],
            "queued": 0,
        },
        {
            "name": "n2",
            "started_at": "2026-12-05T12:00:00Z",
            "lease_until": "2026-12-05T12:00:03Z",
            "alive": True,
            "admin_url": "http://n2",
            "subscribers": ["447700900101"],
            "binds": [],
            "queued": 1,
        },
        {"name": None, "queued": 1},
    ]


@on_postgres
def test_a_lease_service_reaps_a_silent_node_which_then_learns_it(engine: Engine) -> None:
    writer = BatchWriter(engine, threaded=False)
    writer.start()
    clocks = {name: Clock() for name in ("n1", "n2")}
    for clock in clocks.values():
        clock.advance(T0.replace(tzinfo=UTC).timestamp())
    lost: list[str] = []
    reaped: list[list[str]] = []
    nodes = {
        name: NodeLease(
            writer, name, clock, seconds=3.0, interval=1.0,
            lost=partial(lost.append, name), reaped=reaped.append,
        )
        for name, clock in clocks.items()
    }  # fmt: skip
    for node in nodes.values():
        node.join()
        node.startService()
    with engine.begin() as conn:
        queue(conn, 1, "447700900101", node="n1")
    for _ in range(5):  # n1 is silent (stalled, or killed) while n2 beats on
        clocks["n2"].advance(1.0)
    assert reaped == [["n1"]] and lost == []
    with engine.begin() as conn:
        assert conn.execute(select(MESSAGE.c.node)).scalar() is None
    clocks["n1"].advance(1.0)  # n1 wakes up: its row is gone, its claims too
    assert lost == ["n1"]
    nodes["n2"].stopService()
    with engine.begin() as conn:
        assert cluster.live(conn, T0) == []
    with pytest.raises(ValueError, match="lapse"):
        NodeLease(writer, "n3", Clock(), seconds=1.0, interval=1.0)


@on_postgres
def test_a_commit_batch_tells_each_node_once_and_one_claim_takes_it_all(
    engine: Engine, database_url: str
) -> None:
    """Many messages for subscribers on other nodes, committed in one batch:
    one NOTIFY per node naming them all, and the node's one claim statement
    takes every message, in order (the cross-node path of smsc.node)."""
    import psycopg

    from smsc import node as smsc_node
    from storage.pgnotify import conninfo

    on_n2 = [f"4477009002{i:02d}" for i in range(40)]
    with engine.begin() as conn:
        for name in ("n1", "n2", "n3"):
            cluster.join(conn, cluster.Lease(name, T0, 3.0), T0)
        for msisdn in on_n2:
            cluster.locate(conn, msisdn, "n2", T0)
        cluster.locate(conn, "447700900301", "n3", T0)
        cluster.bound(conn, "acme", "n3", 1)
    listener = psycopg.connect(conninfo(database_url), autocommit=True)
    try:
        for name in ("n2", "n3"):
            listener.execute(f"LISTEN {cluster.channel(name)}")
        keys: list[str] = []
        with engine.begin() as conn:
            ids = iter(range(1, 1000))
            for _ in range(5):  # five messages to each, interleaved
                for msisdn in [*on_n2, "447700900301", "447700900999"]:  # ...999: nowhere
                    queue(conn, next(ids), msisdn)
                    keys.append("s:" + msisdn)
            queue(conn, next(ids), "acme", kind=MessageKind.ESME, esme="acme")
            keys.append("e:acme")
            smsc_node.tell(conn, list(dict.fromkeys(keys)), T0)
        notes = list(listener.notifies(timeout=5.0, stop_after=2))
    finally:
        listener.close()
    told = {n.channel: smsc_node._keys(n.payload) for n in notes}
    assert told == {
        cluster.channel("n2"): ["s:" + m for m in on_n2],
        cluster.channel("n3"): ["s:447700900301", "e:acme"],
    }
    with engine.begin() as conn:
        taken = claims.for_subscribers(conn, "n2", [k[2:] for k in told[cluster.channel("n2")]])
    expected = [i for i in range(1, 211) if (i - 1) % 42 < 40]
    assert [r.id for r in taken] == expected and {r.node for r in taken} == {"n2"}


def test_payloads_split_at_the_limit_and_keep_the_order() -> None:
    from smsc.node import _keys, payloads

    keys = [f"s:4477009{i:05d}" for i in range(1000)] + ['e:we"ird\nid']
    parts = payloads(keys, limit=200)
    assert len(parts) > 1 and all(len(p.encode()) <= 200 for p in parts)
    assert [k for p in parts for k in _keys(p)] == keys
    assert _keys("m:447700900101") == ["m:447700900101"]
