"""``smsemu demo``: the main job of the README's first command.

It runs the network in this process (an SMSC on free loopback ports over an
SQLite file in a temporary directory), attaches two handsets, and sends a long
message with a status report requested, printing each PDU decoded and every
state the message passes through; then it does it again with the recipient
switched off, to show store and forward; then the read receipts (docs/read-receipts.md):
Alice's phone sends Bob three numbered messages, Bob opens two of them, and
Alice's conversation list shows "Read" and "Sent" move; and last the history
query (docs/history-query.md): Alice's desktop searches for "test message", which neither it
nor the IP server's window holds, and her phone answers with five messages,
sealed to the desktop's key.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred, ensureDeferred, succeed

from handset.link_client import LinkClient, connect
from handset.phone import Phone
from handset.service import HandsetService
from pdu import (
    Address,
    DataCodingScheme,
    Direction,
    SmsDeliver,
    SmsStatusReport,
    SmsSubmit,
    Tpdu,
    encode,
    to_hex,
)
from pdu.concat import reassemble, split
from pdu.explain import MEANING_AT, explain, render
from pdu.status import describe_st
from pdu.udh import find_concat
from receipt_server.server import ReceiptServerService
from receipt_server.store import Retention
from receipt_server.store import sqlite_url as receipt_sqlite_url
from smsc.capture import SmscTap
from smsc.core import SmscConfig, zone_of_now
from smsc.service import SmscService
from smsc.store import sqlite_url

from .capture_opts import capture_settings
from .errors import CommandError
from .handset_cmd import render_conversation
from .network import provision
from .subscribers import provision_handset
from .terminal import columns, say

ALICE, BOB = "+4915112345678", "+15551234567"
#: The IP server's history window in the demo: the newest five messages.
WINDOW = Retention(timedelta(days=30), 5)
TEXT = (
    "Hello Bob! This message is longer than one SMS, so Alice's handset splits it into "
    "concatenated parts, each with a User Data Header that says which part it is. "
    "Characters from the extension table like [brackets] and the € sign cost two "
    "septets. The SMSC stores every part before it acknowledges it."
)


def _heading(title: str) -> None:
    rule = min(columns(), 76) - len(title) - 4
    say(f"\n== {title}" + (" " + "=" * rule if rule >= 3 else ""))


def _describe(tpdu: Tpdu) -> str:
    if isinstance(tpdu, SmsDeliver):
        concat = find_concat(tpdu.tp_ud.udh)
        part = f", part {concat.seq}/{concat.total} ref {concat.ref}" if concat else ""
        return (
            f"SMS-DELIVER TP-OA {tpdu.tp_oa} TP-SCTS {tpdu.tp_scts.isoformat()} "
            f"TP-SRI {int(tpdu.tp_sri)} TP-MMS {'more' if tpdu.tp_mms else 'no more'}{part}: "
            f"{tpdu.tp_ud.body!r}"
        )
    if isinstance(tpdu, SmsStatusReport):
        return (
            f"SMS-STATUS-REPORT TP-MR {tpdu.tp_mr} TP-RA {tpdu.tp_ra} "
            f"TP-DT {tpdu.tp_dt.isoformat()} TP-ST {describe_st(tpdu.tp_st)}"
        )
    return tpdu.name


#: Whether the SMSC's and the phones' events are printed.
_NARRATE = {"network": True}
#: The SMSC's events the demo prints.
_SHOWN = ("attached", "detached", "accepted", "delivering", "delivered", "expired", "failed",
          "refused")  # fmt: skip


class SmscEvents:
    """The SMSC's events: printed while narrating, and counted by ``key`` (a
    delivery by its kind, sms or report; an attach or detach by its number),
    so a section can wait for the ones it caused before the next begins."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._waits: list[tuple[str, int, Deferred[None]]] = []

    @staticmethod
    def key(event: str, details: dict[str, Any]) -> str:
        if event == "delivered":
            return f"delivered {details.get('kind')}"
        if event in ("attached", "detached"):
            return f"{event} {details.get('msisdn')}"
        return event

    def __call__(self, event: str, details: dict[str, Any]) -> None:
        key = self.key(event, details)
        self.counts[key] += 1
        if _NARRATE["network"] and event in _SHOWN:
            fields = " ".join(f"{k}={v}" for k, v in details.items())
            say(f"   smsc: {event:<10} {fields}")
        done = [w for w in self._waits if self.counts[w[0]] >= w[1]]
        for w in done:
            self._waits.remove(w)
            w[2].callback(None)

    def until(self, key: str, count: int) -> Deferred[None]:
        """Fires once ``count`` events of ``key`` have happened."""
        if self.counts[key] >= count:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._waits.append((key, count, d))
        return d


async def _scenario(reactor: Any, data_dir: Path, **capture: Any) -> int:
    service = SmscService(
        SmscConfig(zone=zone_of_now()),
        sqlite_url(data_dir),
        link="tcp:0",
        admin="tcp:0",
        reactor=reactor,
        **capture,
    )
    service.startService()
    assert service.smsc is not None
    seen = SmscEvents()
    service.smsc.watch(seen)
    ok = True
    try:
        _heading("1. The network")
        say(
            f"SMSC {service.config.address}: radio link on 127.0.0.1:{service.link_port}, "
            f"admin API on {service.admin_url}, database in {data_dir}"
        )
        # Their SIMs, in the SMSC's subscriptions and in the phones' directories.
        a_sim = await provision_handset(service, data_dir / "alice", ALICE, "001010000000001")
        b_sim = await provision_handset(service, data_dir / "bob", BOB, "001010000000002")
        alice: LinkClient = await connect(
            reactor, "127.0.0.1", service.link_port, a_sim.imsi, ALICE, keys=a_sim.keys
        )
        bob: LinkClient = await connect(
            reactor, "127.0.0.1", service.link_port, b_sim.imsi, BOB, keys=b_sim.keys
        )
        say(f"Alice {ALICE} and Bob {BOB} attached")
        bob.on_receive.append(lambda t: say(f"   bob  <- {_describe(t)}"))
        alice.on_receive.append(lambda t: say(f"   alice <- {_describe(t)}"))

        _heading("2. Alice sends a long message, status report requested")
        plan = split(TEXT, ref=0x2A)
        dcs = DataCodingScheme.general(plan.alphabet)
        parts = [
            SmsSubmit(tp_da=Address.parse(BOB), tp_mr=i, tp_dcs=dcs, tp_ud=ud, tp_srr=True)
            for i, ud in enumerate(plan.parts)
        ]
        say(f"{len(TEXT)} characters -> {len(parts)} parts in {plan.alphabet.value}")
        say("part 1, octet by octet:")
        # Too narrow for a meaning column: each meaning whole, wrapped under its row.
        room = columns() - MEANING_AT
        say(render(explain(encode(parts[0]), Direction.MO), room if room >= 20 else 10**4))
        arriving = [bob.next_message() for _ in parts]
        reports = [alice.next_message() for _ in parts]
        for tpdu in parts:
            say(f"   alice -> SMS-SUBMIT TP-MR {tpdu.tp_mr}: {to_hex(encode(tpdu))}")
            report = await alice.submit(tpdu)
            scts = report.tp_scts.isoformat() if report else "?"
            say(f"   alice <- RP-ACK, SMS-SUBMIT-REPORT TP-SCTS {scts}")
        delivered = [await d for d in arriving]
        for d in reports:
            await d
        await _settled(seen, sms=len(parts), reports=len(parts))
        whole = reassemble(t.tp_ud for t in delivered if isinstance(t, SmsDeliver))
        say(f"Bob's handset reassembles: complete={whole.complete}\n   {whole.body!s}")
        ok = ok and whole.body == TEXT

        _heading("3. Bob switches off; Alice sends again; Bob comes back")
        bob.close()
        await bob.lost
        await seen.until(f"detached {BOB}", 1)
        queued = alice.submit(
            SmsSubmit(
                tp_da=Address.parse(BOB),
                tp_mr=9,
                tp_ud=split("Are you there?").parts[0],
                tp_srr=True,
            )
        )
        await queued
        say(f"   messages queued for Bob: {len(service.smsc.stations[BOB].queue)}")
        final_report = alice.next_message()
        bob = await connect(
            reactor, "127.0.0.1", service.link_port, b_sim.imsi, BOB, keys=b_sim.keys
        )
        bob.on_receive.append(lambda t: say(f"   bob  <- {_describe(t)}"))
        say("Bob attached again")
        got = await bob.next_message()
        final = await final_report
        ok = ok and isinstance(got, SmsDeliver) and isinstance(final, SmsStatusReport)
        ok = ok and isinstance(final, SmsStatusReport) and final.tp_st == 0
        await _settled(seen, sms=len(parts) + 1, reports=len(parts) + 1)
        alice.close()
        bob.close()
        await alice.lost
        await bob.lost
        await seen.until(f"detached {ALICE}", 1)
        await seen.until(f"detached {BOB}", 2)
        m = service.smsc.metrics
        _heading("4. What the SMSC counted")
        commits = service.writer.batches if service.writer else 0
        to_phones, to_senders = seen.counts["delivered sms"], seen.counts["delivered report"]
        say(f"messages:       {m.submits_accepted} accepted, {to_phones} delivered")
        say(f"status reports: {m.reports_made} made, {to_senders} delivered")
        say(f"database commits: {commits}")
        ok = ok and to_phones == m.submits_accepted == m.reports_made == to_senders
        tap = SmscTap(service.smsc)  # the IP server's frames in --pcap too
        ok = await _receipts(reactor, data_dir, service.link_port, tap) and ok
    finally:
        await service.stopService()
    say(
        "\ndemo: " + ("all messages delivered, reported and read" if ok else "SOMETHING WENT WRONG")
    )
    return 0 if ok else 1


async def _settled(seen: SmscEvents, sms: int, reports: int) -> None:
    """Wait for the SMSC to tell of what the handsets saw already (each
    delivery ends when the recipient's RP-ACK reaches it), so that its lines
    stay in the section that caused them."""
    await seen.until("delivered sms", sms)
    await seen.until("delivered report", reports)


async def _receipts(reactor: Any, data_dir: Path, link_port: int, tap: SmscTap) -> bool:
    """Read receipts (docs/read-receipts.md): numbered messages, a read on
    Bob's phone, the feedback on Alice's."""
    _heading("5. Read receipts: Alice's and Bob's phones, and the IP server")
    ip = ReceiptServerService(
        receipt_sqlite_url(data_dir),
        address="tcp:0",
        retention=WINDOW,
        reactor=reactor,
    )
    ip.startService()
    assert ip.store is not None and ip.listening is not None
    ip.listening.factory.tap = tap
    say(f"IP server on 127.0.0.1:{ip.port}")
    services: list[HandsetService] = []
    try:
        phones: list[Phone] = []
        for name, msisdn in (("alice", ALICE), ("bob", BOB)):
            directory = data_dir / name
            service = HandsetService(
                msisdn,
                directory,
                smsc=("127.0.0.1", link_port),
                ip_server=("127.0.0.1", ip.port),
                credentials=await provision(ip.store, msisdn, directory),
                reactor=reactor,
            )
            service.startService()
            services.append(service)
            phones.append(await service.ready)
        alice_phone, bob_phone = phones
        alice_phone.watch(_phone_watch("alice"))
        bob_phone.watch(_phone_watch("bob"))
        say("both phones attached to the SMSC and logged in to the IP server")

        texts = ["Lunch at noon?", "The usual place", "Bring the report"]
        delivered = [alice_phone.wait_for("state", number=n, state="delivered") for n in range(3)]
        received = [bob_phone.wait_for("received", number=n) for n in range(3)]
        for text in texts:
            await alice_phone.send(BOB, text)
        ids = [(await d)["id"] for d in received]
        for d in delivered:
            await d

        async def read(index: int) -> None:
            say(f"\nBob opens message {index + 1} ({texts[index]!r})")
            seen = alice_phone.wait_for("state", number=index, state="read")
            await bob_phone.read(ids[index])
            await seen

        async def screen() -> list[dict[str, Any]]:
            views = [v.as_dict() for v in await alice_phone.conversation(BOB)]
            say("Alice's screen:")
            say("\n".join("   " + line for line in render_conversation(BOB, views)))
            return views

        await read(1)
        first = await screen()
        await read(2)
        second = await screen()
        await _at_session(bob_phone)
        # "Sent" moves to message 1, the newest Bob has not read
        # (docs/read-receipts.md §Conversations).
        marks_ok = [m["mark"] for m in first] == [None, "Read", "Sent"] and [
            m["mark"] for m in second
        ] == ["Sent", None, "Read"]
        desktop = await _companion(reactor, data_dir, ip, "desktop")
        services.append(desktop)
        alice_device = services[0].credentials.device_id if services[0].credentials else ""
        return await _search(alice_phone, alice_device, bob_phone, desktop, ip) and marks_ok
    finally:
        for service in reversed(services):
            await service.stopService()
        await ip.stopService()


async def _at_session(phone: Phone) -> None:
    """A few lines on Bob's AT port (docs/at.md): the modem shows his own store."""
    import re

    from twisted.internet.defer import Deferred

    from handset.at_port import AtPort
    from handset.sim import Sim

    say("\nBob's phone is also a modem (docs/at.md); a terminal on its AT port:")
    final = re.compile(rb"(OK|ERROR|\+CM[ES] ERROR: \d+)\r\n$")
    port, out, waiting = AtPort(phone, Sim()), bytearray(), list[Deferred[None]]()

    def write(data: bytes) -> None:
        out.extend(data)
        if final.search(out) and waiting:
            waiting.pop().callback(None)

    port.connect(write)
    for line in ("ATE0", "AT+CMGF=1", 'AT+CMGL="REC READ"'):
        out.clear()
        answered: Deferred[None] = Deferred()
        waiting.append(answered)
        port.data_received(line.encode() + b"\r")
        await answered
        shown = [x for x in out.decode("latin-1").replace("\r", "").split("\n") if x]
        say("   " + line + "".join("\n      " + x for x in shown if x != line))
    port.disconnect()


async def _companion(
    reactor: Any, data_dir: Path, ip: ReceiptServerService, name: str
) -> HandsetService:
    """Alice's companion device: IP only, bound to her account with its own key."""
    assert ip.store is not None
    directory = data_dir / f"alice-{name}"
    service = HandsetService(
        ALICE,
        directory,
        smsc=None,
        ip_server=("127.0.0.1", ip.port),
        credentials=await provision(ip.store, ALICE, directory, companion=name),
        companion=name,
        reactor=reactor,
    )
    service.startService()
    await service.ready
    return service


async def _search(
    alice: Phone,
    alice_device: str,
    bob: Phone,
    desktop_service: HandsetService,
    ip: ReceiptServerService,
) -> bool:
    """The history query (docs/history-query.md): the desktop misses locally
    and on the server; the phone has them."""
    _heading("6. History query: Alice's desktop searches for 'test message'")
    desktop = desktop_service.phone
    assert desktop is not None and ip.store is not None
    phone_device = alice_device
    say(
        f"Alice's desktop ({desktop.owner}) is a companion device of her account; the IP "
        f"server keeps the newest {WINDOW.max_count} messages of an account, no older"
    )
    texts = [f"test message {n}: the draft, page {n}" for n in range(1, 6)]
    texts += [f"see you at {h}" for h in (5, 6, 7, 8, 9)]
    _NARRATE["network"] = False  # the SMSC's and the phones' events are known by now
    for text in texts:
        received = bob.wait_for("received", text=text)
        await alice.send(BOB, text)
        await received
    await alice.sync_history()
    say(f"Alice's phone sent Bob {len(texts)} more messages; the server's copy holds "
          f"{await ip.store.history_count(ALICE)} (the newest)")  # fmt: skip
    desktop.watch(_desktop_watch)
    alice.watch(_alice_answers)
    result = await desktop.search("test message", timeout=5)
    say(f"the desktop shows {len(result.items)} results ({result.status}):")
    for found in result.items:
        where = ", ".join("Alice's phone" if s == phone_device else s for s in found.sources)
        say(f"   {found.item.at:%H:%M:%S}  -> {found.item.peer}  {found.item.text}  [{where}]")
    left = await ip.store.query_rows()
    say(f"the IP server's temporary copy of the results: {left} rows left")
    return result.status == "complete" and len(result.items) == 5 and left == 0


def _desktop_watch(event: str, details: dict[str, Any]) -> None:
    if event == "search missed":
        where = "in its own store" if details["where"] == "local" else "in the server's window"
        say(f"   desktop: not found {where}")
    elif event == "search relayed":
        say(f"   IP server: query relayed to the account's {details['devices']} other device(s)")
    elif event == "searched":
        say(f"   desktop: results fetched, opened and acknowledged ({details['status']})")


def _alice_answers(event: str, details: dict[str, Any]) -> None:
    if event == "query answered":
        say(f"   Alice's phone: found {details['results']}, sealed them to the desktop's key")


def _phone_watch(name: str) -> Any:
    def watch(event: str, details: dict[str, Any]) -> None:
        if _NARRATE["network"] and event in ("state", "received", "response", "feedback"):
            shown = {k: v for k, v in details.items() if k not in ("peer", "old")}
            fields = " ".join(f"{k}={getattr(v, 'value', v)}" for k, v in shown.items())
            say(f"   {name}: {event:<9} {fields}")

    return watch


def run(args: argparse.Namespace) -> int:
    result: list[int] = []
    capture = capture_settings(args)
    if capture["pcap"] is not None:
        try:  # a file that cannot be written is told before the network starts
            open(capture["pcap"], "wb").close()
        except OSError as exc:
            raise CommandError(f"--pcap: {exc.filename}: {exc.strerror}") from None

    async def main(reactor: Any) -> None:
        with tempfile.TemporaryDirectory(prefix="smsemu-demo-") as tmp:
            result.append(await _scenario(reactor, Path(tmp), **capture))

    try:
        task.react(lambda r: ensureDeferred(main(r)))
    except SystemExit as exc:
        if exc.code not in (0, None):
            return int(exc.code) if isinstance(exc.code, int) else 1
    return result[0] if result else 1
