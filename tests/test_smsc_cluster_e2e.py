"""Two SMSC nodes (``smsemu smsc --node``) as real processes on one real
PostgreSQL: handsets on different nodes message each other; an ESME's submit
and receipt cross nodes, and so do its MO and receipts when its only receiver
is bound on the other node; its query_sm, cancel_sm and replace_sm on one node
reach a message the other node holds or delivered; the queue of a node killed
with -9 reaches its subscriber on the other node once the dead node's lease
ran out; nodes that refuse unknown numbers know the subscribers first seen on
the other node; the receipts a node held for an ESME follow its receiver to the
other node; a message whose parts move one by one gets one receipt.  Every
wait is on an event (a frame, a PDU, a log line)."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import smpplib.client
import smpplib.consts
import smpplib.smpp

from pdu import Address, SmsDeliver, SmsSubmit, UserData, encode
from radiolink.ms import Acked, Incoming, Refused
from radiolink.rp import RpCause
from smpp34 import pdu as p
from smsc.smpp import receipt

from .rig import TIMEOUT, Log, Rig, SmscProcess

A, B = "+15550001001", "+15550002002"
on_postgres = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


SHORT_CODE, SYSTEM_ID, PASSWORD = "12345", "gw", "pw123"


def node(tmp_path: Path, url: str, name: str, *extra: str, smsc: str = "") -> SmscProcess:
    """Node ``name``; ``smsc``: the body of its config's ``[smsc]`` table."""
    config = tmp_path / f"smsc-{name}.toml"
    config.write_text(
        f"[smsc]\n{smsc}\n"
        f'[[smpp.esme]]\nsystem_id = "{SYSTEM_ID}"\npassword = "{PASSWORD}"\n'
        f'routes = ["{SHORT_CODE}"]\n'
    )
    return SmscProcess(
        ["--database-url", url, "--node", name, "--lease", "2", "--data-dir", str(tmp_path),
         "--config", str(config), *extra],
        stderr=subprocess.PIPE,
    )  # fmt: skip


class Esme:
    """An ESME on smpplib, blocking (no reactor in this process), bound as ``bind``."""

    def __init__(self, port: int, bind: str) -> None:
        self.client = smpplib.client.Client(
            "127.0.0.1", port, timeout=TIMEOUT, allow_unknown_opt_params=True
        )
        self.client.connect()
        resp = getattr(self.client, f"bind_{bind}")(system_id=SYSTEM_ID, password=PASSWORD)
        assert resp.status == 0
        self.kept: list[p.DeliverSm] = []
        self._seq = 10_000  # ours, apart from smpplib's

    def seq(self) -> int:
        self._seq += 1
        return self._seq

    def until(self, command: str, *, answer: bool = True) -> Any:
        """The next PDU ``command``; a deliver_sm is answered as it is read
        (``answer`` False: left unanswered, as by an ESME that went away)."""
        while True:
            pdu = self.client.read_pdu()
            if pdu.command == "deliver_sm" and answer:
                resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=self.client)
                resp.sequence = pdu.sequence
                self.client.send_pdu(resp)
            if pdu.command == command:
                return pdu

    def submit(self, to: str, text: str, status: int = 0) -> str:
        """A submit_sm asking for a receipt, answered with ``status``; its message_id."""
        self.client.send_message(
            source_addr_ton=0, source_addr=SHORT_CODE, dest_addr_ton=1,
            destination_addr=to[1:], short_message=text.encode(), registered_delivery=1,
        )  # fmt: skip
        resp = self.until("submit_sm_resp")
        assert resp.status == status
        mid = resp.message_id
        return str(mid.decode() if isinstance(mid, bytes) else mid)

    def deliver_sm(self) -> Any:
        return self.until("deliver_sm")

    def unbind(self) -> None:
        """unbind, leaving the deliver_sms read meanwhile unanswered."""
        self.client.send_pdu(smpplib.smpp.make_pdu("unbind", client=self.client))
        self.until("unbind_resp", answer=False)

    def query(self, mid: str) -> Any:
        self.client.query_message(
            message_id=mid, source_addr_ton=0, source_addr_npi=1, source_addr=SHORT_CODE
        )
        return self.until("query_sm_resp")

    def call(self, request: p.Pdu) -> p.Pdu:
        """``request`` (smpp34's: smpplib has no cancel_sm or replace_sm) and
        its response; a deliver_sm on the way is answered and kept (``kept``)."""
        self.client._socket.sendall(p.encode(request))
        while True:
            pdu = self.read()
            if isinstance(pdu, p.DeliverSm):
                self.kept.append(pdu)
                continue
            if pdu.sequence_number == request.sequence_number:
                return pdu

    def read(self) -> p.Pdu:
        """The next PDU, read with smpp34 (a deliver_sm answered)."""
        head = self.client._recv_exact(4)
        pdu = p.decode(head + self.client._recv_exact(int.from_bytes(head, "big") - 4))
        if isinstance(pdu, p.DeliverSm):
            resp = p.DeliverSmResp(sequence_number=pdu.sequence_number)
            self.client._socket.sendall(p.encode(resp))
        return pdu

    def receipt(self) -> dict[str, str]:
        """The next delivery receipt (kept by ``call`` or read now), parsed."""
        while not self.kept:
            if isinstance(pdu := self.read(), p.DeliverSm):
                self.kept.append(pdu)
        return receipt.parse(self.kept.pop(0).short_message.decode())

    def close(self) -> None:
        self.client.disconnect()


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


@pytest.fixture
def logs(nodes: tuple[SmscProcess, SmscProcess]) -> tuple[Log, Log]:
    """The nodes' stderr, read as it comes (a pipe left unread would stall them)."""
    return Log(nodes[0].proc.stderr), Log(nodes[1].proc.stderr)


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
    # Either node's admin API shows the whole cluster.
    for n in (n1, n2):
        url = f"http://127.0.0.1:{n.admin_port}/cluster"
        with urllib.request.urlopen(n.request(url), timeout=TIMEOUT) as response:
            got = json.loads(response.read())
        seen = {row["name"]: row for row in got["nodes"]}
        assert seen["n1"]["subscribers"] == [A] and seen["n2"]["subscribers"] == [B]
        assert seen["n1"]["alive"] and seen["n2"]["alive"]
        assert seen[None]["queued"] == 0
        url = f"http://127.0.0.1:{n.admin_port}/metrics"
        with urllib.request.urlopen(n.request(url), timeout=TIMEOUT) as response:
            metrics = response.read().decode()
        name, delivered = ("n1", 1) if n is n1 else ("n2", 2)
        assert f'smsemu_delivered_total{{node="{name}"}} {delivered}' in metrics


@on_postgres
def test_a_killed_nodes_queue_reaches_its_subscriber_on_the_other_node(
    nodes: tuple[SmscProcess, SmscProcess], logs: tuple[Log, Log]
) -> None:
    n1, n2 = nodes
    a, b = n1.rig(A), n2.rig(B)
    a.attach()
    b.attach()
    count = 1000
    for i in range(count):  # b does not answer: n2 holds them, one in flight
        send(a, B, f"m{i}", i % 256)
    n2.kill()
    b.close()
    # The handset comes back on the live node (the same SIM: its SQN moves on).
    b = Rig(n1.link_port, B, b.imsi, b.ms.keys, b.ms.sqn)
    b.attach()
    got: set[str] = set()
    while len(got) < count:
        got.add(text(b))
    assert got == {f"m{i}" for i in range(count)}
    logs[0].wait_for("reaped dead node(s) n2")


@on_postgres
def test_an_esme_on_node_1_reaches_a_handset_on_node_2_and_gets_its_receipt(
    nodes: tuple[SmscProcess, SmscProcess],
) -> None:
    n1, n2 = nodes
    b = n2.rig(B)
    b.attach()
    esme = Esme(n1.smpp_port, "transceiver")
    try:
        mid = esme.submit(B, "to n2")
        assert text(b) == "to n2"
        pdu = esme.deliver_sm()  # through n1, where the ESME is bound
        assert pdu.esm_class & 0x3C == 0x04  # a delivery receipt
        got = receipt.parse(pdu.short_message.decode())
        assert (got["id"], got["stat"]) == (mid, "DELIVRD")
    finally:
        esme.close()


@on_postgres
def test_an_esme_bound_as_receiver_only_on_node_2_gets_its_mo_and_receipts(
    nodes: tuple[SmscProcess, SmscProcess],
) -> None:
    n1, n2 = nodes
    a = n1.rig(A)
    a.attach()
    receiver = Esme(n2.smpp_port, "receiver")
    transmitter = Esme(n1.smpp_port, "transmitter")
    try:
        send(a, SHORT_CODE, "JOIN", 7)  # an MO on n1 for the ESME
        mo = receiver.deliver_sm()
        assert (mo.source_addr.decode(), mo.short_message.decode()) == (A[1:], "JOIN")
        mid = transmitter.submit(A, "welcome")  # on n1, to a handset on n1
        assert text(a) == "welcome"
        pdu = receiver.deliver_sm()  # its receipt: on n2, the only receiver
        got = receipt.parse(pdu.short_message.decode())
        assert (got["id"], got["stat"]) == (mid, "DELIVRD")
    finally:
        receiver.close()
        transmitter.close()


@on_postgres
def test_a_subscriber_that_moves_between_live_nodes_takes_its_queue_along(
    nodes: tuple[SmscProcess, SmscProcess], logs: tuple[Log, Log]
) -> None:
    n1, n2 = nodes
    a, b = n1.rig(A), n2.rig(B)
    a.attach()
    b.attach()
    for i in range(5):  # b does not answer: n2 holds them
        send(a, B, f"m{i}", i)
    b.close()  # and comes back on n1, n2 alive
    b = Rig(n1.link_port, B, b.imsi, b.ms.keys, b.ms.sqn)
    b.attach()
    got: set[str] = set()
    while len(got) < 5:
        got.add(text(b))
    assert got == {f"m{i}" for i in range(5)}
    logs[1].wait_for("queued messages of subscribers that moved")


@on_postgres
def test_a_message_whose_parts_move_one_by_one_gets_one_receipt(
    nodes: tuple[SmscProcess, SmscProcess], logs: tuple[Log, Log]
) -> None:
    n1, n2 = nodes
    b = n2.rig(B)
    b.attach()
    esme = Esme(n1.smpp_port, "transceiver")
    try:
        mid = esme.submit(B, "x" * 200)  # two parts, both n2's
        held_back(b)  # the first in flight on n2, unanswered
        # B attaches on n1 with its link on n2 still open: n2 closes it and
        # gives up the waiting part at once, the one in flight as it closes.
        # n1 claims both in one go or each on its own (as the releases and
        # NOTIFYs fall; then each claim takes up the message with part of
        # it, which is settled by the rows): one receipt either way.
        moved = Rig(n1.link_port, B, b.imsi, b.ms.keys, b.ms.sqn)
        moved.attach()
        assert b.closed(TIMEOUT)
        assert [len(text(moved)) for _ in range(2)] in ([153, 47], [47, 153])
        got = esme.receipt()
        assert (got["id"], got["sub"], got["dlvrd"], got["stat"]) == (mid, "002", "002", "DELIVRD")
        logs[1].wait_for("queued messages of subscribers that moved")
    finally:
        esme.close()


@pytest.fixture
def rejecting(tmp_path: Path, database_url: str) -> Iterator[tuple[SmscProcess, SmscProcess]]:
    """Two nodes with ``unknown_recipient = "reject"``."""
    reject = 'unknown_recipient = "reject"'
    n1 = node(tmp_path, database_url, "n1", smsc=reject)
    n2 = node(tmp_path, database_url, "n2", smsc=reject)
    try:
        yield n1, n2
    finally:
        for n in (n1, n2):
            if n.proc.poll() is None:
                n.terminate()


@on_postgres
def test_nodes_refusing_unknown_numbers_know_subscribers_first_seen_on_the_other(
    rejecting: tuple[SmscProcess, SmscProcess],
) -> None:
    n1, n2 = rejecting
    a, b = n1.rig(A), n2.rig(B)  # each first seen on its node, after both started
    a.attach()
    b.attach()
    # A note to self: its RP-ACK comes once the subscriber row its attach
    # wrote is committed too (one storage queue, in order).
    send(a, A, "note to self", 1)
    assert text(a) == "note to self"
    send(b, B, "note to self", 1)
    assert text(b) == "note to self"
    send(a, B, "from n1", 2)  # n1 looks B up in the shared table
    assert text(b) == "from n1"
    send(b, A, "from n2", 2)
    assert text(a) == "from n2"
    esme = Esme(n1.smpp_port, "transceiver")
    try:
        mid = esme.submit(B, "from the ESME on n1")
        assert text(b) == "from the ESME on n1"
        got = receipt.parse(esme.deliver_sm().short_message.decode())
        assert (got["id"], got["stat"]) == (mid, "DELIVRD")
        nobody = "+15550003003"  # a number no node has seen: still refused
        esme.submit(nobody, "anyone?", status=smpplib.consts.SMPP_ESME_RINVDSTADR)
    finally:
        esme.close()
    refused = a.answer(a.submit(encode(SmsSubmit(tp_da=Address.parse(nobody), tp_mr=3,
                                                 tp_ud=UserData("anyone?")))))  # fmt: skip
    assert isinstance(refused, Refused) and refused.cause == RpCause.UNASSIGNED_NUMBER


@on_postgres
def test_receipts_held_for_an_esme_follow_its_receiver_to_the_other_live_node(
    nodes: tuple[SmscProcess, SmscProcess], logs: tuple[Log, Log]
) -> None:
    n1, n2 = nodes
    a = n1.rig(A)
    a.attach()
    first = Esme(n1.smpp_port, "receiver")
    transmitter = Esme(n2.smpp_port, "transmitter")
    second: Esme | None = None
    try:
        mids = [transmitter.submit(A, f"m{i}") for i in range(3)]
        assert [text(a) for _ in mids] == ["m0", "m1", "m2"]
        # Their receipts, made on n1 and held there for its receiver, which
        # reads them and answers none.
        for _ in mids:
            first.until("deliver_sm", answer=False)
        second = Esme(n2.smpp_port, "receiver")  # the ESME binds on n2 as well...
        first.unbind()  # ...and ends its bind on n1, which lives on
        logs[0].wait_for("released 3 queued deliver_sm of ESMEs no longer bound here")
        got = [receipt.parse(second.deliver_sm().short_message.decode()) for _ in mids]
        assert sorted((r["id"], r["stat"]) for r in got) == sorted((m, "DELIVRD") for m in mids)
    finally:
        for esme in (first, transmitter, second):
            if esme is not None:
                esme.close()


# -- query_sm, cancel_sm and replace_sm across nodes ----------------------------------------


def cancel(esme: Esme, mid: str) -> int:
    request = p.CancelSm(
        sequence_number=esme.seq(), message_id=mid, source_addr=SHORT_CODE, source_addr_npi=1
    )
    response = esme.call(request)
    assert isinstance(response, p.CancelSmResp)
    return response.command_status


def replace(esme: Esme, mid: str, text: str) -> int:
    request = p.ReplaceSm(
        sequence_number=esme.seq(), message_id=mid, source_addr=SHORT_CODE,
        source_addr_npi=1, short_message=text.encode(),
    )  # fmt: skip
    response = esme.call(request)
    assert isinstance(response, p.ReplaceSmResp)
    return response.command_status


def held_back(rig: Rig) -> Incoming:
    """The next message the network sends ``rig``, not answered yet: its
    node holds what follows, waiting."""
    event = rig.expect(Incoming)
    assert isinstance(event, Incoming)
    return event


@on_postgres
def test_query_sm_on_the_submitting_node_sees_the_other_node_deliver(
    nodes: tuple[SmscProcess, SmscProcess],
) -> None:
    n1, n2 = nodes
    b = n2.rig(B)
    b.attach()
    esme = Esme(n1.smpp_port, "transceiver")
    try:
        mid = esme.submit(B, "to n2")
        assert text(b) == "to n2"
        assert esme.receipt()["stat"] == "DELIVRD"  # made once n2 committed the delivery
        got = esme.query(mid)
        assert got.status == 0 and got.message_state == p.MessageState.DELIVERED
        final = got.final_date.decode() if isinstance(got.final_date, bytes) else got.final_date
        assert final  # the date n2 delivered it
    finally:
        esme.close()


class Behind(NamedTuple):
    """b attached on n2 and the ESME bound on n1, whose first message to b n2
    is delivering, held back (b does not answer it): what the ESME submits
    next waits on n2, queued behind it."""

    b: Rig
    esme: Esme
    in_flight: Incoming
    first: str


@pytest.fixture
def behind(nodes: tuple[SmscProcess, SmscProcess], logs: tuple[Log, Log]) -> Iterator[Behind]:
    n1, n2 = nodes
    b = n2.rig(B)
    b.attach()
    esme = Esme(n1.smpp_port, "transceiver")
    try:
        first = esme.submit(B, "first")
        in_flight = held_back(b)
        logs[1].wait_for("node n2: claimed 1 queued messages")  # the first
        yield Behind(b, esme, in_flight, first)
    finally:
        esme.close()


def queued_behind(behind: Behind, logs: tuple[Log, Log], text: str, parts: int) -> str:
    """The ESME's next message to b, once n2 holds its ``parts``; its id."""
    mid = behind.esme.submit(B, text)
    logs[1].wait_for(f"node n2: claimed {parts} queued messages")
    return mid


@on_postgres
def test_cancel_sm_on_node_1_cancels_what_node_2_holds(
    behind: Behind, logs: tuple[Log, Log]
) -> None:
    b, esme, in_flight, first = behind
    second = queued_behind(behind, logs, "second " * 30, 2)  # two parts
    assert cancel(esme, first) == smpplib.consts.SMPP_ESME_RCANCELFAIL  # being delivered
    assert cancel(esme, second) == 0
    logs[1].wait_for(f"cancel_sm of gw's message {int(second)} for node n1: done")
    got = esme.receipt()  # one for the whole message
    assert (got["id"], got["sub"], got["stat"]) == (second, "002", "DELETED")
    assert esme.query(second).message_state == p.MessageState.DELETED
    assert cancel(esme, second) == smpplib.consts.SMPP_ESME_RCANCELFAIL  # ended already
    b.send(b.ms.ack(in_flight.rp_mr))
    esme.submit(B, "third")
    assert text(b) == "third"  # never the second


@on_postgres
def test_replace_sm_on_node_1_replaces_the_text_node_2_delivers(
    behind: Behind, logs: tuple[Log, Log]
) -> None:
    b, esme, in_flight, _ = behind
    second = queued_behind(behind, logs, "as sent", 1)
    assert replace(esme, second, "as replaced") == 0
    logs[1].wait_for(f"replace_sm of gw's message {int(second)} for node n1: done")
    b.send(b.ms.ack(in_flight.rp_mr))
    assert text(b) == "as replaced"
    receipts = {r["id"]: r for r in (esme.receipt(), esme.receipt())}
    assert receipts[second]["stat"] == "DELIVRD"
    assert receipts[second]["text"] == "as replaced"


@on_postgres
def test_what_no_node_holds_is_cancelled_or_replaced_by_the_node_asked(
    nodes: tuple[SmscProcess, SmscProcess], logs: tuple[Log, Log]
) -> None:
    n1, n2 = nodes
    esme = Esme(n1.smpp_port, "transceiver")
    try:
        # b is attached nowhere yet: its messages wait unclaimed.
        gone = esme.submit(B, "cancelled")
        kept = esme.submit(B, "as sent")
        assert cancel(esme, gone) == 0  # n1 claims it and ends it
        assert replace(esme, kept, "as replaced") == 0  # n1 claims it and holds it
        assert esme.receipt()["stat"] == "DELETED"
        b = n2.rig(B)
        b.attach()  # on n2, which asks n1 for what n1 holds for b
        assert text(b) == "as replaced"
        logs[0].wait_for("queued messages of subscribers that moved")
        esme.submit(B, "after")
        assert text(b) == "after"  # never the cancelled one
    finally:
        esme.close()
