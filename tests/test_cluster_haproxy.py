"""Two SMSC nodes behind a real HAProxy in ``mode tcp`` with ``send-proxy``,
laid out as contrib/haproxy/smsemu.cfg lays them out: handsets and an ESME
know one address; the nodes see the clients' own addresses; a node killed
with -9 leaves its handset to reconnect to the same address and reach the
other node."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipwire import wire
from receipt_server.store import ReceiptStore

from .haproxy import free_port, running, sample_config
from .rig import TIMEOUT, Log, Rig, SmscProcess
from .sims import imsi_for
from .test_ip_cluster import ALICE, BOB, Device, ip_database, register
from .test_ip_cluster import Node as IpNode
from .test_smsc_cluster_e2e import A, B, Esme, node, on_postgres, send, text


def cluster_view(n: SmscProcess) -> dict[str, Any]:
    url = f"http://127.0.0.1:{n.admin_port}/cluster"
    with urllib.request.urlopen(n.request(url), timeout=TIMEOUT) as response:
        return dict(json.loads(response.read()))


def network_view(n: SmscProcess) -> dict[str, Any]:
    url = f"http://127.0.0.1:{n.admin_port}/network"
    with urllib.request.urlopen(n.request(url), timeout=TIMEOUT) as response:
        return dict(json.loads(response.read()))


def placed(n: SmscProcess, numbers: set[str]) -> dict[str, str]:
    """Which node each of ``numbers`` is attached on, as ``n``'s cluster view
    says once it knows all of them (a location row is committed after the
    attach is answered)."""
    while True:
        nodes = cluster_view(n)["nodes"]
        where = {m: row["name"] for row in nodes if row["name"] for m in row["subscribers"]}
        if numbers <= set(where):
            return {m: where[m] for m in numbers}


@pytest.fixture
def proxied(
    tmp_path: Path, database_url: str, haproxy_binary: str
) -> Iterator[tuple[SmscProcess, SmscProcess, int, int]]:
    """Two nodes listening ``haproxy:`` and HAProxy before them: (n1, n2, the
    radio link's address, SMPP's address)."""
    behind = ("--link", "haproxy:tcp:0", "--smpp", "haproxy:tcp:0")
    n1 = node(tmp_path, database_url, "n1", *behind)
    n2 = node(tmp_path, database_url, "n2", *behind)
    link, smpp = free_port(), free_port()
    config = sample_config({
        7101: link, 2775: smpp,
        17101: n1.link_port, 27101: n2.link_port,
        12775: n1.smpp_port, 22775: n2.smpp_port,
    })  # fmt: skip
    try:
        with running(haproxy_binary, config, tmp_path, smpp):
            yield n1, n2, link, smpp
    finally:
        for n in (n1, n2):
            if n.proc.poll() is None:
                n.terminate()


def through(port: int, msisdn: str, provisioned_by: SmscProcess) -> Rig:
    """A handset dialling HAProxy's address, its SIM provisioned in the AuC
    (one database: any node's admin API provisions for all)."""
    return Rig(port, msisdn, imsi_for(msisdn), provisioned_by.provision(msisdn))


@on_postgres
def test_two_nodes_behind_haproxy_carry_messages_see_clients_and_survive_a_kill(
    proxied: tuple[SmscProcess, SmscProcess, int, int],
) -> None:
    n1, n2, link, smpp = proxied
    a = through(link, A, n1)
    a.attach()
    b = through(link, B, n1)
    b.attach()
    # leastconn: the second handset goes to the node the first did not.
    where = placed(n1, {A, B})
    assert where[A] != where[B]
    send(a, B, "through haproxy", 1)
    assert text(b) == "through haproxy"
    send(b, A, "and back", 1)
    assert text(a) == "and back"

    # The node an ESME reached sees the ESME's own address (the PROXY
    # header's), not HAProxy's connection to it.
    esme = Esme(smpp, "transceiver")
    try:
        host, port = esme.client._socket.getsockname()[:2]
        mine = f"{host}:{port}"
        peers = [e["peer"] for n in (n1, n2) for e in network_view(n)["esmes"]]
        assert peers == [mine]
    finally:
        esme.close()

    # kill -9 of A's node: A dials the same address again and reaches the other.
    dead, alive = (n1, n2) if where[A] == "n1" else (n2, n1)
    dead.kill()
    a.close()
    a = Rig(link, A, a.imsi, a.ms.keys, a.ms.sqn)
    a.attach()
    send(b, A, "after the kill", 2)
    assert text(a) == "after the kill"
    assert where[B] == ("n2" if dead is n1 else "n1")  # B never moved
    assert placed(alive, {A, B}) == {A: where[B], B: where[B]}


@pytest.fixture
def ip_proxied(
    tmp_path: Path, postgres_url: str, haproxy_binary: str
) -> Iterator[tuple[ReceiptStore, Log, int, list[IpNode]]]:
    """Two IP-server nodes (i1, i2) listening ``haproxy:`` and HAProxy before
    them as the sample lays them out: (a store to register devices, both
    nodes' live logs in one, HAProxy's IP-server address, the nodes)."""
    log = Log()
    with ip_database(postgres_url, tmp_path) as (url, store):
        nodes: list[IpNode] = []
        try:
            for name in ("i1", "i2"):
                nodes.append(IpNode(name, url, tmp_path / name, "haproxy:tcp:0", log))
            front = free_port()
            config = sample_config({7102: front, 17102: nodes[0].port, 27102: nodes[1].port})
            with running(haproxy_binary, config, tmp_path, front):
                yield store, log, front, nodes
        finally:
            for n in nodes:
                n.stop()


def test_two_ip_server_nodes_behind_haproxy_carry_a_message_and_its_read_receipt(
    ip_proxied: tuple[ReceiptStore, Log, int, list[IpNode]],
) -> None:
    store, log, front, (i1, _) = ip_proxied
    alice = Device(front, register(store, ALICE, "alice"))
    bob = Device(front, register(store, BOB, "bob", account=BOB))
    # Each node logs a login with the device's own address (the PROXY
    # header's), not HAProxy's connection to it; leastconn: bob is on the
    # node alice is not.
    where = {}
    for device, name, msisdn in ((alice, "alice", ALICE), (bob, "bob", BOB)):
        host, port = device.sock.getsockname()[:2]
        line = log.wait_for(f"{name} ({msisdn}) from {host}:{port}")
        where[name] = line.split(":", 1)[0]
    assert sorted(where.values()) == ["i1", "i2"]

    # bob's presence, written at its login, is committed once this is answered
    # (its node's database thread commits in order).
    bob.send(lambda rid: wire.FetchResults(rid, "ef" * 16))
    assert bob.expect(wire.Error).code == wire.ErrorCode.NOT_OPEN
    alice.send(
        lambda rid: wire.IpSubmit(rid, BOB, "cd" * 16, 4, "through haproxy", 1_700_000_000_000)
    )
    alice.expect(wire.Ok)
    got = bob.expect(wire.IpMessage)
    assert (got.sender, got.message_number, got.text) == (ALICE, 4, "through haproxy")
    # bob reads it: the read receipt crosses back to alice's node, live.
    bob.send(lambda rid: wire.Response(rid, BOB, ALICE, 4, 1))
    bob.expect(wire.Ok)
    feedback = alice.expect(wire.Feedback)
    assert (feedback.receiver, feedback.message_number, feedback.status) == (BOB, 4, 1)
    alice.close()
    bob.close()

    # A connection that bypasses HAProxy and says something else first: one
    # line in the node's log, and it is closed.
    with socket.create_connection(("127.0.0.1", i1.port), timeout=TIMEOUT) as stray:
        stray.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert stray.recv(100) == b""
        host, port = stray.getsockname()[:2]
    log.wait_for(f"no PROXY header from {host}:{port} (starts b'GET / ', not PROXY): closed")
