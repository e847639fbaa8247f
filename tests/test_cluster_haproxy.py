"""Two SMSC nodes behind a real HAProxy in ``mode tcp`` with ``send-proxy``,
laid out as contrib/haproxy/smsemu.cfg lays them out: handsets and an ESME
know one address; the nodes see the clients' own addresses; a node killed
with -9 leaves its handset to reconnect to the same address and reach the
other node."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .rig import TIMEOUT, Rig, SmscProcess
from .sims import imsi_for
from .test_smsc_cluster_e2e import A, B, Esme, node, on_postgres, send, text

SAMPLE = Path(__file__).parent.parent / "contrib" / "haproxy" / "smsemu.cfg"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample_config(ports: dict[int, int]) -> str:
    """contrib/haproxy/smsemu.cfg with its ports replaced by ``ports`` (keyed by
    the sample's own port numbers); the sample stays the one source of truth."""
    text = SAMPLE.read_text()
    for old, new in ports.items():
        text, n = re.subn(rf"127\.0\.0\.1:{old}\b", f"127.0.0.1:{new}", text)
        assert n == 1, f"port {old} is not in {SAMPLE} once"
    return text


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
    link, smpp = _free_port(), _free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        sample_config({
            7101: link, 2775: smpp, 7102: _free_port(),
            17101: n1.link_port, 27101: n2.link_port,
            12775: n1.smpp_port, 22775: n2.smpp_port,
            17102: _free_port(), 27102: _free_port(),  # no IP-server nodes here
        })
    )  # fmt: skip
    haproxy = subprocess.Popen(
        [haproxy_binary, "-db", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while True:  # HAProxy is up once its frontend accepts
            if haproxy.poll() is not None:
                assert haproxy.stderr is not None
                pytest.fail(f"haproxy ended: {haproxy.stderr.read()}", pytrace=False)
            try:
                socket.create_connection(("127.0.0.1", smpp), timeout=TIMEOUT).close()
                break
            except ConnectionRefusedError:
                continue
        yield n1, n2, link, smpp
    finally:
        haproxy.terminate()
        haproxy.wait(TIMEOUT)
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
