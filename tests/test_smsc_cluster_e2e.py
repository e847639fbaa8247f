"""Two SMSC nodes (``smsemu smsc --node``) as real processes on one real
PostgreSQL: handsets on different nodes message each other, and the queue of a
node killed with -9 reaches its subscriber on the other node once the dead
node's lease ran out.  Every wait is on an event (a frame, a log line)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pdu import Address, SmsDeliver, SmsSubmit, UserData, encode
from radiolink.ms import Acked

from .rig import Log, Rig, SmscProcess

A, B = "+15550001001", "+15550002002"
on_postgres = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def node(tmp_path: Path, url: str, name: str) -> SmscProcess:
    return SmscProcess(
        ["--database-url", url, "--node", name, "--lease", "2", "--data-dir", str(tmp_path)],
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def nodes(tmp_path: Path, database_url: str) -> Iterator[tuple[SmscProcess, SmscProcess]]:
    n1 = node(tmp_path, database_url, "n1")
    n2 = node(tmp_path, database_url, "n2")
    try:
        yield n1, n2
    finally:
        for n in (n1, n2):
            if n.proc.poll() is None:
                n.terminate()


def send(rig: Rig, to: str, text: str, mr: int) -> None:
    submit = SmsSubmit(tp_da=Address.parse(to), tp_mr=mr, tp_ud=UserData(text))
    assert isinstance(rig.answer(rig.submit(encode(submit))), Acked)


def text(rig: Rig) -> str:
    tpdu = rig.receive()
    assert isinstance(tpdu, SmsDeliver)
    body = tpdu.tp_ud.body
    assert isinstance(body, str)
    return body


@on_postgres
def test_handsets_on_two_nodes_message_each_other(
    nodes: tuple[SmscProcess, SmscProcess],
) -> None:
    n1, n2 = nodes
    a, b = n1.rig(A), n2.rig(B)
    a.attach()
    b.attach()
    send(a, B, "from n1", 1)
    assert text(b) == "from n1"
    send(b, A, "from n2", 1)
    assert text(a) == "from n2"
    send(a, B, "again", 2)
    assert text(b) == "again"


@on_postgres
def test_a_killed_nodes_queue_reaches_its_subscriber_on_the_other_node(
    nodes: tuple[SmscProcess, SmscProcess],
) -> None:
    n1, n2 = nodes
    a, b = n1.rig(A), n2.rig(B)
    a.attach()
    b.attach()
    count = 20
    for i in range(count):  # b does not answer: n2 holds them, one in flight
        send(a, B, f"m{i}", i % 256)
    n1_log = Log(n1.proc.stderr)
    n2.kill()
    b.close()
    # The handset comes back on the live node (the same SIM: its SQN moves on).
    b = Rig(n1.link_port, B, b.imsi, b.ms.keys, b.ms.sqn)
    b.attach()
    got: set[str] = set()
    while len(got) < count:
        got.add(text(b))
    assert got == {f"m{i}" for i in range(count)}
    n1_log.wait_for("reaped dead node(s) n2")
