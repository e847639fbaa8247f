"""The multi-device history query (docs/history-query.md) and the IP message path
(docs/read-receipts.md §Routing) end to end: the real SMSC, the real IP server and real phones and
companion devices, each on its own SQLite file, over TCP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twisted.internet.task import Clock

from handset.conversation import OutState
from handset.phone import Phone
from handset.service import Credentials, HandsetService
from handset.store import HistoryQuery as LocalQuery
from handset.store import IpPath, Settings
from ipwire import wire
from ipwire.sealed import DeviceKey
from receipt_server.models import HistoryCopy, HistoryQuery, IpDelivery, QueryResult
from receipt_server.server import ReceiptServerService
from receipt_server.store import Retention
from receipt_server.store import sqlite_url as receipt_sqlite_url
from smsc.service import SmscService
from smsemu.network import provision

from .netfix import ClockedReactor, clock_at_now
from .test_receipts_e2e import Network, send_and_receive, smsc

__all__ = ["smsc"]  # the fixture, used by name

A, B, C = "+4915112345678", "+15551234567", "+447700900123"
#: The server keeps the newest three messages of an account.
WINDOW = Retention(timedelta(days=30), 3)
#: The longest deadline a query may have: a search whose devices all answer
#: ends when they have, so this only bounds one that would otherwise fail.
PATIENT = 60


class Accounts(Network):
    """The network of test_receipts_e2e, with a history window on the IP server
    and companion devices; given a ``clock``, the IP server and the companions
    keep their time (the queries' deadlines) on it."""

    def __init__(self, root: Path, smsc: SmscService, clock: Clock | None = None) -> None:
        super().__init__(root, smsc)
        self.clock = clock

    def start_ip(self) -> ReceiptServerService:
        self.ip = ReceiptServerService(
            receipt_sqlite_url(self.root),
            address=f"tcp:{self.ip_port}",
            rate=1000,
            burst=1000,
            retention=WINDOW,
            reactor=ClockedReactor(self.clock) if self.clock is not None else None,
        )
        self.ip.startService()
        self.ip_port = self.ip.port
        return self.ip

    async def companion(self, msisdn: str, name: str, *, auto_login: bool = True) -> Phone:
        assert self.ip is not None and self.ip.store is not None
        owner = f"{name}@{msisdn}"
        directory = self.root / owner
        credentials = await provision(self.ip.store, msisdn, directory, companion=name)
        service = HandsetService(
            msisdn,
            directory,
            smsc=None,
            ip_server=("127.0.0.1", self.ip.port),
            credentials=credentials,
            companion=name,
            watchers=[self.watcher(owner)],
            # The time a search gives the server past its deadline is the
            # device's own: on the clock too.
            reactor=ClockedReactor(self.clock) if self.clock is not None else None,
        )
        service.startService()
        self.phones[owner] = service
        phone = await service.ready
        phone.auto_login = auto_login
        return phone

    def credentials_of(self, owner: str) -> Credentials:
        credentials = self.phones[owner].credentials
        assert credentials is not None
        return credentials

    def rows(self, model: Any) -> int:
        assert self.ip is not None and self.ip.store is not None
        with Session(self.ip.store.engine) as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)

    async def synced(self) -> None:
        """Wait until the server has a copy of what every device has stored
        (it prunes as it takes them)."""
        for service in self.phones.values():
            assert service.phone is not None
            await service.phone.sync_history()

    async def out_of_window(self, a: Phone, b: Phone, text: str) -> None:
        """Push the messages holding ``text`` out of the server's window:
        three newer ones; once the server has their copies, it has pruned them."""
        for n in range(WINDOW.max_count):
            await send_and_receive(a, b, f"filler {n}")
        await self.synced()
        gone = await a.store.call(a.store.repo.search, LocalQuery(text=text))
        assert gone and not set(self.window_uids(a.msisdn)) & {i.uid for i in gone}

    def window_uids(self, account: str) -> list[str]:
        """The uids of the account's copies on the server, newest first."""
        assert self.ip is not None and self.ip.store is not None
        with Session(self.ip.store.engine) as s:
            query = select(HistoryCopy.uid).where(HistoryCopy.account == account)
            return list(s.scalars(query.order_by(HistoryCopy.at.desc())))

    async def history_holds(self, account: str, count: int) -> None:
        await self.synced()
        assert self.ip is not None and self.ip.store is not None
        held = await self.ip.store.history_count(account)
        assert held == count, f"{held} copies of {account}'s messages on the server, not {count}"


@pytest_twisted.async_yield_fixture
async def net(tmp_path: Path, smsc: SmscService) -> AsyncIterator[Accounts]:
    network = Accounts(tmp_path, smsc)
    network.start_ip()
    try:
        yield network
    finally:
        await network.close()


@pytest.fixture
def clock() -> Clock:
    return clock_at_now()


@pytest_twisted.async_yield_fixture
async def net_on_a_clock(
    tmp_path: Path, smsc: SmscService, clock: Clock
) -> AsyncIterator[Accounts]:
    """``net`` whose IP server and companions keep their time on ``clock``."""
    network = Accounts(tmp_path, smsc, clock)
    network.start_ip()
    try:
        yield network
    finally:
        await network.close()


async def five_test_messages_then_three_others(a: Phone, b: Phone) -> None:
    """What the demo sends: the server's window (3) keeps only the others."""
    for n in range(1, 6):
        await send_and_receive(a, b, f"test message {n}")
    for n in range(1, 4):
        await send_and_receive(a, b, f"something else {n}")


@pytest_twisted.ensureDeferred
async def test_the_desktop_finds_on_the_phone_what_it_and_the_server_lack(net: Accounts) -> None:
    a, b = await net.phone(A), await net.phone(B)
    desktop = await net.companion(A, "desktop")
    await five_test_messages_then_three_others(a, b)
    await net.history_holds(A, 3)
    result = await desktop.search("test message", timeout=PATIENT)
    assert (result.status, result.source) == ("complete", "devices")
    assert sorted(f.item.text for f in result.items) == [f"test message {n}" for n in range(1, 6)]
    phone_device = net.credentials_of(A).device_id
    assert all(f.sources == (phone_device,) for f in result.items)
    assert all(f.item.peer == B and f.item.direction.value == "out" for f in result.items)
    # Fetched: the server's temporary copy is gone.
    assert net.rows(QueryResult) == 0 and net.rows(HistoryQuery) == 0
    # The phone itself finds them locally.  The window holds the others, but
    # cannot read them: a text search goes to the phone all the same.
    assert (await a.search("test message")).source == "local"
    text_hit = await desktop.search("something else", timeout=PATIENT)
    assert (text_hit.status, text_hit.source) == ("complete", "devices")
    assert all(f.sources == (phone_device,) for f in text_hit.items)


@pytest.mark.parametrize("ip_path", [IpPath.NEVER, IpPath.WHEN_POSSIBLE])
@pytest_twisted.ensureDeferred
async def test_an_empty_message_reaches_the_window_and_the_next_still_does(
    net: Accounts, ip_path: IpPath
) -> None:
    """An empty SMS is a legal SMS: its copy, and every copy after it, reach the server."""
    a, b = await net.phone(A, Settings(ip_path=ip_path)), await net.phone(B)
    desktop = await net.companion(A, "desktop")
    for text in ("opening", "", "after the empty one"):
        received = b.wait_for("received", peer=A, text=text)
        await a.send(B, text)
        got = await received
        assert got["via"] == ("ip" if ip_path is IpPath.WHEN_POSSIBLE else "sms")
        if text == "opening":
            # The first copy opens the account's window: it covers what comes after.
            await net.history_holds(A, 1)
    await net.history_holds(A, 3)
    # The newest two of the conversation: the window holds them, and answers.
    found = await desktop.search(peer=B, limit=2)
    assert (found.status, found.source) == ("found", "server")
    assert [f.item.text for f in found.items] == ["after the empty one", ""]


@pytest_twisted.ensureDeferred
async def test_a_logged_out_phone_is_woken_by_the_login_indication(net: Accounts) -> None:
    a, b = await net.phone(A), await net.phone(B)
    desktop = await net.companion(A, "desktop")
    await send_and_receive(a, b, "test message in the night")
    await net.out_of_window(a, b, "in the night")
    await a.logout()
    assert not a.online and a.logged_out
    indication = a.wait_for("login indication")
    result = await desktop.search("in the night", timeout=PATIENT)
    await indication
    assert result.status == "complete"
    assert [f.item.text for f in result.items] == ["test message in the night"]
    assert a.online  # it logged in to answer


@pytest_twisted.ensureDeferred
async def test_a_device_that_never_logs_in_leaves_the_answer_partial(
    net_on_a_clock: Accounts, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deadline on the IP server's clock: it passes once the phone has
    answered, however long the phone took."""
    net = net_on_a_clock
    a, b = await net.phone(A), await net.phone(B)
    tablet = await net.companion(A, "tablet", auto_login=False)
    desktop = await net.companion(A, "desktop")
    await send_and_receive(a, b, "only on the phone")
    await net.out_of_window(a, b, "only on the phone")
    await tablet.logout()
    phone = net.credentials_of(A).device_id
    phone_answered = net.store_did(
        monkeypatch, "add_answer", lambda _, who, *a: who.device_id == phone
    )
    searching = desktop.search("only on the phone", timeout=3)
    await phone_answered  # kept by the server
    clock.advance(3)  # the deadline: the tablet never logged in
    result = await searching
    assert result.status == "partial"
    assert [f.item.text for f in result.items] == ["only on the phone"]
    assert result.missing == [net.credentials_of(f"tablet@{A}").device_id]
    # And with nobody answering at all: nothing, but not "not found", since
    # the devices that may hold it were not heard; at the deadline, no hang.
    await a.logout()
    a.auto_login = False
    relayed = desktop.wait_for("search relayed")  # the server has set its deadline
    searching = desktop.search("only on the phone", timeout=0.5)
    await relayed
    clock.advance(0.5)
    nothing = await searching
    assert (nothing.status, nothing.items) == ("partial", [])
    tablet_id = net.credentials_of(f"tablet@{A}").device_id
    assert sorted(nothing.missing) == sorted([phone, tablet_id])


@pytest_twisted.ensureDeferred
async def test_overlapping_answers_are_merged_without_duplicates(net: Accounts) -> None:
    a, b = await net.phone(A), await net.phone(B)
    tablet = await net.companion(A, "tablet")
    desktop = await net.companion(A, "desktop")
    for n in (1, 2, 3):
        await send_and_receive(a, b, f"overlap {n}")
    await net.out_of_window(a, b, "overlap")
    # The tablet holds copies of two of them (same uids), as after a sync.
    held = await a.store.call(a.store.repo.search, LocalQuery(text="overlap"))
    copies = [i for i in held if i.text != "overlap 3"]
    assert await tablet.store.call(tablet.store.repo.import_history, copies) == 2
    result = await desktop.search("overlap", timeout=PATIENT)
    assert result.status == "complete"
    assert sorted(f.item.text for f in result.items) == ["overlap 1", "overlap 2", "overlap 3"]
    phone_id = net.credentials_of(A).device_id
    tablet_id = net.credentials_of(f"tablet@{A}").device_id
    sources = {f.item.text: set(f.sources) for f in result.items}
    assert sources == {
        "overlap 1": {phone_id, tablet_id},
        "overlap 2": {phone_id, tablet_id},
        "overlap 3": {phone_id},
    }


@pytest_twisted.ensureDeferred
async def test_the_ip_path_skips_the_smsc_and_still_gets_a_read_receipt(
    net: Accounts, smsc: SmscService
) -> None:
    ip_path = Settings(ip_path=IpPath.WHEN_POSSIBLE)
    a, b = await net.phone(A, ip_path), await net.phone(B, ip_path)
    assert smsc.smsc is not None
    before = smsc.smsc.metrics.submits_accepted
    received = b.wait_for("received", peer=A, text="over IP")
    message_id = await a.send(B, "over IP")
    sent = a.wait_for("state", id=message_id, state="sent")
    got = await received
    await sent
    assert got["via"] == "ip"
    assert smsc.smsc.metrics.submits_accepted == before  # the SMSC never saw it
    view = await b.message(got["id"])
    assert view.via == "ip" and view.number == (await a.message(message_id)).number
    read = a.wait_for("state", id=message_id, state="read")
    await b.read(got["id"])
    await read
    assert net.rows(IpDelivery) == 1


@pytest_twisted.ensureDeferred
async def test_an_offline_recipient_gets_the_message_by_sms(
    net: Accounts, smsc: SmscService
) -> None:
    ip_path = Settings(ip_path=IpPath.WHEN_POSSIBLE)
    a, b = await net.phone(A, ip_path), await net.phone(B, ip_path)
    await b.logout()
    assert smsc.smsc is not None
    before = smsc.smsc.metrics.submits_accepted
    fallback = a.wait_for("ip fallback")
    message_id, received_id = await send_and_receive(a, b, "by SMS after all")
    await fallback
    assert smsc.smsc.metrics.submits_accepted == before + 1
    view = await b.message(received_id)
    assert view.via == "sms"
    assert (await a.message(message_id)).state == OutState.DELIVERED


@pytest_twisted.ensureDeferred
async def test_a_phone_refuses_a_query_whose_asker_key_changed(net: Accounts) -> None:
    """Trust on first use: the desktop's key is pinned at its first query; a
    request in its name with another key (an IP server swapping in its own,
    to read the answer) gets no answer."""
    a, b = await net.phone(A), await net.phone(B)
    desktop = await net.companion(A, "desktop")
    await send_and_receive(a, b, "pinned")
    await net.out_of_window(a, b, "pinned")
    assert (await desktop.search("pinned", timeout=PATIENT)).status == "complete"
    forged = wire.QueryRequest(
        "f" * 32,
        net.credentials_of(f"desktop@{A}").device_id,
        wire.b64(DeviceKey.generate().public),
    )
    refused = a.wait_for("query refused")
    a._on_push(forged)
    assert (await refused)["reason"] == "the asking device's key changed"
    assert net.count(A, "query answered") == 1


@pytest_twisted.ensureDeferred
async def test_a_conversation_the_window_half_covers_comes_whole_with_its_sources(
    net: Accounts,
) -> None:
    """Four messages to B, then two to C: the window (3) holds one of B's.
    The server gives it and asks the phone for the rest; the desktop shows all
    four, once each, saying who had what; the newest two of C's, which the
    window holds, come from it alone; and "not found" is said only once every
    device has answered."""
    a, b, c = await net.phone(A), await net.phone(B), await net.phone(C)
    desktop = await net.companion(A, "desktop")
    for n in range(1, 5):
        await send_and_receive(a, b, f"to B {n}")
        if n == 1:  # the window holds the account from its first copy on
            await net.history_holds(A, 1)
    for n in range(1, 3):
        await send_and_receive(a, c, f"to C {n}")
    await net.history_holds(A, 3)
    phone = net.credentials_of(A).device_id
    relayed = desktop.wait_for("search relayed")
    result = await desktop.search(peer=B, timeout=PATIENT)
    await relayed
    assert (result.status, result.source, result.missing) == ("complete", "devices", [])
    assert [f.item.text for f in result.items] == [f"to B {n}" for n in (4, 3, 2, 1)]
    assert [set(f.sources) for f in result.items] == [{"server", phone}] + [{phone}] * 3
    assert set(result.answered) >= {"server", phone}
    # The newest two of C's conversation: the window holds them, nobody else is asked.
    answered = net.count(A, "query answered")
    newest = await desktop.search(peer=C, limit=2)
    assert (newest.status, newest.source) == ("found", "server")
    assert [f.item.text for f in newest.items] == ["to C 2", "to C 1"]
    assert net.count(A, "query answered") == answered
    # Nobody has it, and every device said so: "not found".
    nobody = await desktop.search(peer="+15550009999", timeout=PATIENT)
    assert (nobody.status, nobody.missing) == ("not_found", [])
    assert phone in nobody.answered


@pytest_twisted.ensureDeferred
async def test_the_servers_database_holds_no_text_of_its_copies(net: Accounts) -> None:
    a, b = await net.phone(A), await net.phone(B)
    await net.companion(A, "desktop")
    secret = "the vault code is 4711"
    await send_and_receive(a, b, secret)
    await net.history_holds(A, 1)
    await net.history_holds(B, 1)
    assert net.ip is not None and net.ip.store is not None
    with net.ip.store.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    files = list(net.root.glob("receipt_server.sqlite3*"))
    assert files
    for path in files:
        assert secret.encode() not in path.read_bytes(), path
