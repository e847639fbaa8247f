"""Two IP-server nodes in real processes on one real PostgreSQL (issue 22):
devices on different nodes reach each other live, through NOTIFY."""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from ipwire import wire
from ipwire.device_session import DeviceSession, Event
from ipwire.sealed import DeviceKey
from receipt_server.devices import Registration
from receipt_server.store import ReceiptStore

from .rig import TIMEOUT, Log

M = TypeVar("M")
ALICE, BOB = "+15550001111", "+15550002222"


class Node:
    """``smsemu ip-server run --node NAME`` on ``listen`` (a free port); its
    live log in a file, or every line of it (debug) in ``log`` after "NAME: "."""

    def __init__(
        self, name: str, url: str, data_dir: Path, listen: str = "127.0.0.1:0",
        log: Log | None = None,
    ) -> None:  # fmt: skip
        args = ["ip-server", "run", "--listen", listen, "--database-url", url,
                "--node", name, "--node-lease", "3", "--data-dir", str(data_dir)]  # fmt: skip
        if log is not None:
            args += ["--log-level", "debug"]
        stderr = subprocess.PIPE if log is not None else (data_dir.parent / f"{name}.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "smsemu", *args],
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
        if log is not None:
            log.follow(self.proc.stderr, f"{name}: ")
        assert self.proc.stdout is not None
        self.port = 0
        for line in self.proc.stdout:
            if m := re.search(r"ip server: on [\d.]+:(\d+)", line):
                self.port = int(m.group(1))
            if f"node {name} of the cluster" in line:
                break
        if not self.port:
            self.proc.kill()
            raise RuntimeError(f"node {name} did not start")

    def stop(self, sig: int = signal.SIGINT) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(TIMEOUT)


class Device:
    """A device on a real TCP connection, its events read on a thread so the
    test waits for each as for an event."""

    def __init__(self, port: int, reg: Registration, *, push: bool = False) -> None:
        self.session = DeviceSession()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.events: queue.Queue[Event | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        start = self.session.push_subscribe if push else self.session.login
        self.sock.sendall(start(reg.device_id, reg.secret)[1])
        challenge = self.expect(wire.Challenge)
        proof = self.session.answer(challenge)
        assert proof is not None
        self.sock.sendall(proof)
        self.expect(wire.LoginOk)

    def _read(self) -> None:
        try:
            while data := self.sock.recv(65536):
                for event in self.session.receive(data):
                    self.events.put(event)
        except OSError:
            pass
        self.events.put(None)

    def expect(self, kind: type[M]) -> M:
        """The next event of ``kind`` (others the server sends are passed over)."""
        while True:
            event = self.events.get(timeout=TIMEOUT)
            assert event is not None, f"connection closed waiting for {kind.__name__}"
            if isinstance(event, kind):
                return event

    def send(self, make: object) -> int:
        rid, data = self.session.request(make)  # type: ignore[arg-type]
        self.sock.sendall(data)
        return rid

    def close(self) -> None:
        self.sock.close()


@contextmanager
def ip_database(postgres_url: str, tmp_path: Path) -> Iterator[tuple[str, ReceiptStore]]:
    """A fresh database on the session's PostgreSQL for IP-server nodes: its
    URL, and a store on it to register devices with."""
    name = f"ipc_{tmp_path.name[-12:]}".replace("-", "_").lower()
    from sqlalchemy import create_engine, text

    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    store = ReceiptStore.open(url, threaded=False)
    try:
        yield url, store
    finally:
        store.close()
        store.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def cluster(postgres_url: str, tmp_path: Path) -> Iterator[tuple[str, ReceiptStore, list[Node]]]:
    with ip_database(postgres_url, tmp_path) as (url, store):
        nodes = [Node(f"n{i}", url, tmp_path / f"n{i}") for i in (1, 2)]
        try:
            yield url, store, nodes
        finally:
            for node in nodes:
                node.stop()


def register(
    store: ReceiptStore, msisdn: str, device_id: str, kind: str = "phone", account: str = ALICE
) -> Registration:
    key = DeviceKey.generate()
    d = store.register_device(msisdn, account, kind, device_id=device_id, public_key=key.public)
    got: list[Registration] = []
    d.addCallback(got.append)
    _registered[device_id] = got[0]
    return got[0]


#: Each device's credentials, to log in again (the store answers at once).
_registered: dict[str, Registration] = {}


def test_a_read_on_one_node_gives_the_sender_on_the_other_its_feedback_live(
    cluster: tuple[str, ReceiptStore, list[Node]],
) -> None:
    _, store, (n1, n2) = cluster
    alice = Device(n1.port, register(store, ALICE, "alice"))
    bob = Device(n2.port, register(store, BOB, "bob", account=BOB))
    bob.send(lambda rid: wire.Response(rid, BOB, ALICE, 7, 1))
    assert isinstance(bob.expect(wire.Ok), wire.Ok)
    feedback = alice.expect(wire.Feedback)
    assert (feedback.receiver, feedback.message_number, feedback.status) == (BOB, 7, 1)
    alice.close()
    bob.close()


def test_a_query_asked_on_one_node_is_answered_on_the_other(
    cluster: tuple[str, ReceiptStore, list[Node]],
) -> None:
    _, store, (n1, n2) = cluster
    desktop = Device(n1.port, register(store, ALICE, "desktop", "companion"))
    phone = Device(n2.port, register(store, ALICE, "phone"))
    desktop.send(lambda rid: wire.Query(rid, text="hello", timeout=60.0))
    opened = desktop.expect(wire.QueryOpen)
    assert opened.devices == 1
    request = phone.expect(wire.QueryRequest)
    assert request.query_id == opened.query_id
    phone.send(lambda rid: wire.QueryAnswer(rid, request.query_id, 0, wire.b64(b"sealed")))
    phone.expect(wire.Ok)
    ready = desktop.expect(wire.ResultsReady)
    assert (ready.query_id, ready.status, ready.answered) == (request.query_id, "not_found", 1)
    desktop.close()
    phone.close()


def test_a_push_channel_on_the_other_node_gets_the_login_indication(
    cluster: tuple[str, ReceiptStore, list[Node]],
) -> None:
    _, store, (n1, n2) = cluster
    tablet_reg = register(store, ALICE, "tablet", "companion")
    desktop = Device(n1.port, register(store, ALICE, "desktop", "companion"))
    tablet = Device(n2.port, tablet_reg, push=True)
    desktop.send(lambda rid: wire.Query(rid, text="hello", timeout=60.0))
    desktop.expect(wire.QueryOpen)
    assert tablet.expect(wire.LoginIndication).reason == "history_query"
    # It logs in, on node 2: the open query is forwarded to it there.
    tablet_session = Device(n2.port, tablet_reg)
    request = tablet_session.expect(wire.QueryRequest)
    tablet_session.send(lambda rid: wire.QueryAnswer(rid, request.query_id, 0, wire.b64(b"x")))
    assert desktop.expect(wire.ResultsReady).status == "not_found"
    for d in (desktop, tablet, tablet_session):
        d.close()


def test_a_node_killed_mid_query_leaves_the_other_to_answer_partial(
    cluster: tuple[str, ReceiptStore, list[Node]],
) -> None:
    _, store, (n1, n2) = cluster
    desktop = Device(n1.port, register(store, ALICE, "desktop", "companion"))
    phone = Device(n2.port, register(store, ALICE, "phone"))
    register(store, ALICE, "tablet", "companion")  # never connects
    # The asker's node holds the query's timer, the answering node mirrors it.
    desktop.send(lambda rid: wire.Query(rid, text="hello", timeout=2.0))
    desktop.expect(wire.QueryOpen)
    request = phone.expect(wire.QueryRequest)
    n1.stop(signal.SIGKILL)
    phone.send(lambda rid: wire.QueryAnswer(rid, request.query_id, 1, wire.b64(b"sealed")))
    phone.expect(wire.Ok)
    # The asker reconnects to the live node: the deadline closed it there, partial.
    again = Device(n2.port, _registered["desktop"])
    ready = again.expect(wire.ResultsReady)
    assert (ready.query_id, ready.status, ready.answered, ready.expected) == (
        request.query_id,
        "partial",
        1,
        2,
    )
    again.close()
    phone.close()


def test_a_node_started_while_a_query_is_open_relays_it_from_the_table(
    cluster: tuple[str, ReceiptStore, list[Node]], tmp_path: Path
) -> None:
    url, store, (n1, _) = cluster
    desktop = Device(n1.port, register(store, ALICE, "desktop", "companion"))
    phone_reg = register(store, ALICE, "phone")
    desktop.send(lambda rid: wire.Query(rid, text="hello", timeout=60.0))
    opened = desktop.expect(wire.QueryOpen)
    late = Node("n3", url, tmp_path / "n3")
    cluster[2].append(late)
    phone = Device(late.port, phone_reg)
    request = phone.expect(wire.QueryRequest)
    assert request.query_id == opened.query_id and request.text == "hello"
    phone.send(lambda rid: wire.QueryAnswer(rid, request.query_id, 0, wire.b64(b"sealed")))
    phone.expect(wire.Ok)
    assert desktop.expect(wire.ResultsReady).status == "not_found"
    desktop.close()
    phone.close()


def test_the_ip_path_reaches_a_recipient_logged_in_on_the_other_node(
    cluster: tuple[str, ReceiptStore, list[Node]],
) -> None:
    _, store, (n1, n2) = cluster
    alice = Device(n1.port, register(store, ALICE, "alice"))
    carol = "+15550003333"
    alice.send(lambda rid: wire.IpSubmit(rid, carol, "ab" * 16, 3, "hi", 1_700_000_000_000))
    assert alice.expect(wire.Error).code == wire.ErrorCode.RECIPIENT_OFFLINE
    bob = Device(n2.port, register(store, BOB, "bob", account=BOB))
    # A round trip through node 2's database thread, which commits in order:
    # bob's presence, written at its login, is committed when this is answered.
    bob.send(lambda rid: wire.FetchResults(rid, "ef" * 16))
    assert bob.expect(wire.Error).code == wire.ErrorCode.NOT_OPEN
    alice.send(lambda rid: wire.IpSubmit(rid, BOB, "cd" * 16, 4, "hello", 1_700_000_000_000))
    alice.expect(wire.Ok)
    got = bob.expect(wire.IpMessage)
    assert (got.sender, got.message_number, got.text) == (ALICE, 4, "hello")
    alice.close()
    bob.close()


def test_a_node_on_sqlite_is_one_clear_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smsemu", "ip-server", "run", "--node", "n1",
         "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --node: a cluster node needs a postgresql+psycopg:// --database-url"
    ]
