"""Read receipts end to end (docs/read-receipts.md): the real SMSC, the real IP server and
real phones, each on its own SQLite file, over TCP on 127.0.0.1.  Nothing is
faked; every wait is on an event, never on the clock."""

from __future__ import annotations

import json
import socket
import sqlite3
import struct
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import create_engine, select
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from handset.conversation import OutState
from handset.ip_client import IpClient, IpError, connect_ip
from handset.phone import Phone
from handset.service import Credentials, HandsetService
from handset.store import Settings
from pdu.message_number import MARKER, Carrier
from receipt_server.models import Feedback as FeedbackRow
from receipt_server.server import ReceiptServerService
from receipt_server.store import sqlite_url as receipt_sqlite_url
from smsc.service import SmscService
from smsemu.network import provision
from smsemu.subscribers import provision_handset

from .netfix import start_smsc, stop

A, B, C = "+4915112345678", "+15551234567", "+447700900123"
FOX = "the quick brown fox jumps over the lazy dog; "
#: Three parts each: 418 GSM 7-bit characters (153 a part); the inline marker
#: forces UCS2 (67 a part), where 170 characters and the marker take three.
LONG = {
    Carrier.UDH: "Three parts: " + FOX * 9,
    Carrier.INLINE: "Three parts: " + FOX * 3 + "x" * 22,
}


@pytest.fixture
def smsc(tmp_path: Path) -> Iterator[SmscService]:
    service = start_smsc(f"sqlite:///{tmp_path / 'smsc.sqlite3'}")
    yield service
    stop(service)


class Network:
    """The IP server and the phones of one test, restartable on their files."""

    def __init__(self, root: Path, smsc: SmscService) -> None:
        self.root = root
        self.smsc = smsc
        self.ip: ReceiptServerService | None = None
        self.ip_port = 0
        self.phones: dict[str, HandsetService] = {}
        self.events: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._counting: list[tuple[str, str, int, Deferred[None]]] = []

    def start_ip(self) -> ReceiptServerService:
        """Start the IP server; a restart takes the port it had, where the
        phones that stayed up look for it."""
        self.ip = ReceiptServerService(
            receipt_sqlite_url(self.root),
            address=f"tcp:{self.ip_port}",
            rate=1000,
            burst=1000,
        )
        self.ip.startService()
        self.ip_port = self.ip.port
        return self.ip

    async def stop_ip(self) -> None:
        assert self.ip is not None
        await self.ip.stopService()
        self.ip = None

    async def credentials(self, msisdn: str) -> Credentials:
        assert self.ip is not None and self.ip.store is not None
        return await provision(self.ip.store, msisdn, self.root / msisdn)

    async def phone(self, msisdn: str, settings: Settings | None = None) -> Phone:
        """Start (or restart) the phone ``msisdn``; fires once it is attached and
        logged in."""
        assert self.ip is not None
        await provision_handset(self.smsc, self.root / msisdn, msisdn)  # its SIM
        service = HandsetService(
            msisdn,
            self.root / msisdn,
            smsc=("127.0.0.1", self.smsc.link_port),
            ip_server=("127.0.0.1", self.ip.port),
            credentials=await self.credentials(msisdn),
            settings=settings,
            watchers=[self.watcher(msisdn)],
        )
        service.startService()
        self.phones[msisdn] = service
        return await service.ready

    async def stop_phone(self, msisdn: str) -> None:
        await self.phones.pop(msisdn).stopService()

    async def close(self) -> None:
        for msisdn in list(self.phones):
            await self.stop_phone(msisdn)
        if self.ip is not None:
            await self.stop_ip()

    def watcher(self, owner: str) -> Callable[[str, dict[str, Any]], None]:
        """Records what happens to ``owner``, across its restarts."""
        events = self.events.setdefault(owner, [])

        def saw(kind: str, details: dict[str, Any]) -> None:
            events.append((kind, details))
            for waiting in list(self._counting):
                who, what, count, done = waiting
                if (who, what) == (owner, kind) and self.count(owner, kind) >= count:
                    self._counting.remove(waiting)
                    done.callback(None)

        return saw

    def count(self, msisdn: str, kind: str) -> int:
        return sum(1 for k, _ in self.events.get(msisdn, []) if k == kind)

    def counted(self, owner: str, kind: str, count: int = 1) -> Deferred[None]:
        """Fires once ``owner`` has seen ``count`` events ``kind`` in all (at
        once if it has): the event, whether it comes before or after the call."""
        done: Deferred[None] = Deferred()
        if self.count(owner, kind) >= count:
            done.callback(None)
        else:
            self._counting.append((owner, kind, count, done))
        return done

    def store_did(
        self,
        monkeypatch: pytest.MonkeyPatch,
        name: str,
        when: Callable[..., bool] = lambda *args: True,
    ) -> Deferred[None]:
        """Fires once the IP server's store has done its next call ``name``
        whose arguments ``when`` accepts (committed it), and the server has
        acted on the outcome: the reactor's next turn."""
        assert self.ip is not None and self.ip.store is not None
        store = self.ip.store
        call = getattr(store, name)
        done: Deferred[None] = Deferred()

        def finished(result: object) -> object:
            if not done.called:
                reactor.callLater(0, lambda: None if done.called else done.callback(None))
            return result

        def watched(*args: Any, **kwargs: Any) -> Any:
            d = call(*args, **kwargs)
            return d.addBoth(finished) if when(*args, **kwargs) else d

        monkeypatch.setattr(store, name, watched)
        return done


@pytest_twisted.async_yield_fixture
async def net(tmp_path: Path, smsc: SmscService) -> AsyncIterator[Network]:
    network = Network(tmp_path, smsc)
    network.start_ip()
    try:
        yield network
    finally:
        await network.close()


def marks(views: list[Any]) -> list[str | None]:
    return [v.mark.value if v.mark else None for v in views]


async def send_and_receive(sender: Phone, receiver: Phone, text: str) -> tuple[int, int]:
    """(the sender's message id, the receiver's) once it is delivered, status report included."""
    received = receiver.wait_for("received", peer=sender.msisdn, text=text)
    message_id = await sender.send(receiver.msisdn, text)
    delivered = sender.wait_for("state", id=message_id, state="delivered")
    got = await received
    await delivered
    return message_id, got["id"]


async def read_and_see(sender: Phone, receiver: Phone, sender_id: int, receiver_id: int) -> None:
    """The receiver opens the message; fires once the sender shows it read and
    the receiver's response has been accepted."""
    waits = [
        sender.wait_for("state", id=sender_id, state="read"),
        sender.wait_for("feedback", id=sender_id),
        receiver.wait_for("response", id=receiver_id),
    ]
    await receiver.read(receiver_id)
    for d in waits:
        await d


@pytest.mark.parametrize("carrier", [Carrier.UDH, Carrier.INLINE])
@pytest_twisted.ensureDeferred
async def test_the_whole_flow_in_both_carrier_modes(net: Network, carrier: Carrier) -> None:
    a = await net.phone(A, Settings(carrier=carrier))
    b = await net.phone(B)
    one_id, one_rx = await send_and_receive(a, b, "first")
    three_id, three_rx = await send_and_receive(a, b, LONG[carrier])

    inbox = {v.id: v for v in await b.inbox()}
    assert inbox[one_rx].text == "first" and inbox[one_rx].number == 0
    assert inbox[three_rx].text == LONG[carrier] and inbox[three_rx].number == 1
    assert inbox[three_rx].parts == 3
    assert MARKER not in inbox[three_rx].text and not inbox[three_rx].read

    await read_and_see(a, b, three_id, three_rx)
    views = await a.conversation(B)
    assert [v.state.value if v.state else None for v in views] == ["delivered", "read"]
    assert marks(views) == ["Sent", "Read"]  # 1 is the newest not yet read
    await read_and_see(a, b, one_id, one_rx)
    # Reading an older message does not move "Read" back.
    assert marks(await a.conversation(B)) == [None, "Read"]
    assert (await b.message(three_rx)).read


@pytest_twisted.ensureDeferred
async def test_read_and_sent_marks_move_as_the_demo_shows(net: Network) -> None:
    a, b = await net.phone(A), await net.phone(B)
    sent = [await send_and_receive(a, b, f"message {i}") for i in range(3)]
    assert marks(await a.conversation(B)) == [None, None, "Sent"]
    await read_and_see(a, b, *sent[1])
    assert marks(await a.conversation(B)) == [None, "Read", "Sent"]
    await read_and_see(a, b, *sent[2])
    assert marks(await a.conversation(B)) == ["Sent", None, "Read"]
    await read_and_see(a, b, *sent[0])
    assert marks(await a.conversation(B)) == [None, None, "Read"]


@pytest_twisted.ensureDeferred
async def test_number_256_wraps_to_0_and_its_feedback_marks_the_newest_0(net: Network) -> None:
    a, b = await net.phone(A), await net.phone(B)
    received = [b.wait_for("received", peer=A, text=f"m{i}") for i in range(257)]
    ids = [await a.send(B, f"m{i}") for i in range(257)]
    got = [await d for d in received]
    assert [g["number"] for g in got] == [*range(256), 0]
    newest_zero = a.wait_for("state", id=ids[256], state="read")
    await b.read(got[256]["id"])
    await newest_zero
    views = {v.id: v for v in await a.conversation(B)}
    assert views[ids[256]].state == OutState.READ
    assert views[ids[0]].state != OutState.READ


@pytest_twisted.ensureDeferred
async def test_an_offline_sender_gets_the_feedback_once_across_restarts(
    net: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await net.phone(A), await net.phone(B)
    a_id, b_id = await send_and_receive(a, b, "are you there?")
    await net.stop_phone(A)  # A is offline when B reads

    responded = b.wait_for("response", id=b_id)
    await b.read(b_id)
    await responded  # the IP server has committed the feedback for A
    # Both the IP server and A restart before A comes back.
    await net.stop_phone(B)
    await net.stop_ip()
    ip = net.start_ip()
    assert ip.store is not None
    store = ip.store
    acknowledged = net.store_did(monkeypatch, "ack", lambda msisdn, _: msisdn == A)
    a = await net.phone(A)
    await net.counted(A, "feedback")  # the feedback at A
    await acknowledged  # A's acknowledgement of it, committed
    assert not await store.pending_for(A)
    assert (await a.message(a_id)).read
    # A restarts once more: nothing is pushed again.  The next feedback is the
    # barrier: the server pushes what is pending on login before anything new.
    await net.stop_phone(A)
    a = await net.phone(A)
    b = await net.phone(B)
    await read_and_see(a, b, *await send_and_receive(a, b, "and now?"))
    assert net.count(A, "feedback") == 2


@pytest_twisted.ensureDeferred
async def test_with_receipts_off_no_feedback_ever_arrives(net: Network, tmp_path: Path) -> None:
    a = await net.phone(A)
    b = await net.phone(B, Settings(receipts=False))
    first = await send_and_receive(a, b, "one")
    second = await send_and_receive(a, b, "two")
    await b.read(first[1])
    assert not (await b.message(first[1])).response_pending
    # Receipts on again: the next read is reported, and is the only one, for the
    # phone sends its responses in order.
    await b.configure(receipts=True)
    await read_and_see(a, b, *second)
    assert not (await a.message(first[0])).read
    assert net.count(A, "feedback") == 1
    assert net.count(B, "response") == 1
    engine = create_engine(receipt_sqlite_url(tmp_path))
    with engine.connect() as conn:
        rows = conn.execute(select(FeedbackRow.message_number)).all()
    engine.dispose()
    assert [r[0] for r in rows] == [1]


@pytest_twisted.ensureDeferred
async def test_a_forged_response_is_refused_and_changes_nothing(net: Network) -> None:
    a, b = await net.phone(A), await net.phone(B)
    a_id, b_id = await send_and_receive(a, b, "for B's eyes")
    # C, a device of its own, claims B read it.
    forger = await net.credentials(C)
    assert net.ip is not None
    client = await connect_ip(
        reactor, "127.0.0.1", net.ip.port, forger.device_id, forger.secret, None
    )
    with pytest.raises(IpError) as refused:
        await client.send_response(B, A, 0)
    assert refused.value.code == "forbidden"
    # A malformed frame before a login is refused and closes that connection
    # (only login frames are read then); the server and the sessions go on.
    raw = socket.create_connection(("127.0.0.1", net.ip.port))
    try:
        raw.sendall(struct.pack(">I", 5) + b"{oops")
        raw.sendall(frame({"type": "ping", "id": 7}))
        # A blocking read, on a thread: the server runs on this reactor.
        replies = await deferToThread(read_frames, raw, 2)
    finally:
        raw.close()
    assert len(replies) == 1  # then the server hung up: the ping was not read
    assert replies[0]["type"] == "error" and replies[0]["code"] == "unauthenticated"
    await client.ping()
    client.close()
    # Nothing changed at A; B's own read still works.
    assert not (await a.message(a_id)).read
    assert net.count(A, "feedback") == 0
    await read_and_see(a, b, a_id, b_id)
    assert net.count(A, "feedback") == 1


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body


def read_frames(sock: socket.socket, count: int) -> list[dict[str, Any]]:
    """``count`` frames from a plain, blocking socket."""
    sock.settimeout(10)
    buf = b""
    out: list[dict[str, Any]] = []
    while len(out) < count:
        while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
            n = struct.unpack(">I", buf[:4])[0]
            out.append(json.loads(buf[4 : 4 + n]))
            buf = buf[4 + n :]
        if len(out) >= count:
            break
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    return out


@pytest_twisted.ensureDeferred
async def test_a_response_owed_while_the_ip_server_is_down_survives_a_receiver_restart(
    net: Network,
) -> None:
    a, b = await net.phone(A), await net.phone(B)
    a_id, b_id = await send_and_receive(a, b, "read me later")
    await net.stop_ip()
    down = b.wait_for("ip down")
    if b.online:
        await down
    await b.read(b_id)  # the IP server is down: the response is owed
    assert (await b.message(b_id)).response_pending
    await net.stop_phone(B)  # and B restarts before the server is back
    net.start_ip()
    seen = a.wait_for("state", id=a_id, state="read")
    b = await net.phone(B)
    await seen  # A reconnected by itself; B sent what it owed once logged in
    assert not (await b.message(b_id)).response_pending


@pytest_twisted.ensureDeferred
async def test_a_plain_phone_numbers_nothing_and_talks_with_a_numbering_one(net: Network) -> None:
    """``carrier = "none"``: a phone without the feature.  What it sends has no
    number, so nothing is answered; what it receives from a numbering phone is
    answered as usual (its receipts are on), and its counters never moved."""
    a = await net.phone(A, Settings(carrier=Carrier.NONE))
    b = await net.phone(B)
    plain_id, plain_rx = await send_and_receive(a, b, "plain")
    got = await b.message(plain_rx)
    assert (got.text, got.number, got.carrier) == ("plain", None, None)
    await b.read(plain_rx)
    assert not (await b.message(plain_rx)).response_pending
    # The other way, the numbering phone gets its "Read".
    await read_and_see(b, a, *await send_and_receive(b, a, "numbered"))
    assert net.count(B, "response") == 0 and net.count(A, "feedback") == 0
    sent = await a.message(plain_id)
    assert sent.number is None and sent.state == OutState.DELIVERED
    # Numbering switched on later starts this conversation at 0.
    await a.configure(carrier="udh")
    _, rx = await send_and_receive(a, b, "now numbered")
    assert (await b.message(rx)).number == 0


@pytest_twisted.ensureDeferred
async def test_a_crash_after_the_response_went_loses_no_receipt_and_repeats_none(
    net: Network, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A response goes only once its read is committed, and what the server
    took is recorded lazily (it shares a later commit): the receiver's file as
    a crash would leave it when the response goes (an online backup, taken
    then) shows the message read and the response owed; the receiver
    restarted on it sends the response again, and the sender, which has
    it read already, applies the repeat as nothing new."""
    a, b = await net.phone(A), await net.phone(B)
    a_id, b_id = await send_and_receive(a, b, "crash after this")
    crash = tmp_path / "crash.sqlite3"
    send_response = IpClient.send_response

    def snapshot_then_send(client: IpClient, *args: Any, **kwargs: Any) -> Deferred[None]:
        with (
            sqlite3.connect(net.root / B / "handset.sqlite3") as live,
            sqlite3.connect(crash) as image,
        ):
            live.backup(image)
        return send_response(client, *args, **kwargs)

    monkeypatch.setattr(IpClient, "send_response", snapshot_then_send)
    await read_and_see(a, b, a_id, b_id)
    monkeypatch.undo()
    with sqlite3.connect(crash) as image:
        row = image.execute(
            "SELECT read, response_pending FROM handset_message WHERE id = ?", (b_id,)
        ).fetchone()
    assert row == (1, 1)  # read committed, response owed: nothing lost in a crash now
    await net.stop_phone(B)
    for leftover in ("-wal", "-shm"):
        (net.root / B / f"handset.sqlite3{leftover}").unlink(missing_ok=True)
    crash.replace(net.root / B / "handset.sqlite3")
    again = net.counted(A, "feedback", 2)
    b = await net.phone(B)
    await again  # the response sent again after the "crash", its feedback at A
    repeat = [d for k, d in net.events[A] if k == "feedback"][-1]
    assert repeat["id"] is None  # a repeat: A's message was read already
    assert sum(1 for k, d in net.events[A] if k == "state" and d.get("state") == "read") == 1
    assert (await a.message(a_id)).read
    responded = b.wait_for("response", id=b_id)  # the server took it (committed)
    if (await b.message(b_id)).response_pending:
        await responded
    assert not (await b.message(b_id)).response_pending
