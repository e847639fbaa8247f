"""/metrics of the SMPP door and of the IP server, scraped over real HTTP and
read by prometheus_client's parser, after real clients did what the metrics
count: smpplib ESMEs bind, submit, get throttled, get and hold deliver_sms;
devices log in, answer, query.  And ``smsemu ip-server run --metrics``."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest_twisted
import smpplib.smpp
from twisted.internet import reactor
from twisted.internet.defer import DeferredQueue
from twisted.internet.threads import deferToThread

from handset.ip_client import IpError, connect_ip
from ipwire import wire
from ipwire.sealed import DeviceKey
from pdu import Address, SmsSubmit
from pdu import encode as encode_tpdu
from pdu.concat import split
from receipt_server.jobs import to_millis
from receipt_server.server import ReceiptServerService
from receipt_server.store import Registration
from receipt_server.store import sqlite_url as receipt_sqlite_url

from .netfix import ClockedReactor, clock_at_now, handset
from .scrape import Key, Samples, key, scrape, value
from .test_history_relay import PATIENT, sealed
from .test_smpp import PHONE, SHORT_CODE, Esme, start

OK = "ESME_ROK"
SENT = "smsemu_smpp_deliver_sm_sent_total"


def _scrape(url: str) -> Any:
    """The page, read on a thread: the servers run on this test's reactor."""
    return deferToThread(scrape, url)


# -- the SMPP door, on the SMSC admin API -------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_the_smpp_door_counts_binds_submits_throttling_and_its_window(
    tmp_path: Path,
) -> None:
    service = start(tmp_path, reactor=ClockedReactor(clock_at_now()), admin="tcp:0")
    phone = await handset(service, PHONE)
    slow, tester = Esme(service.smpp_port), Esme(service.smpp_port)
    try:
        await slow.bind("transmitter", "slow")  # 2 submits a second; the clock stands still
        for _ in range(5):
            slow.send(source_addr="1", short_message=b"x")
        statuses = [(await slow.until("submit_sm_resp")).status for _ in range(5)]
        assert sorted(statuses) == [0, 0, 0x58, 0x58, 0x58]

        await tester.bind("transceiver")
        assert (await tester.submit(short_message=b"hi", registered_delivery=1)).status == 0
        assert (await tester.until("deliver_sm")).esm_class == 0x04  # the receipt, answered
        mo = SmsSubmit(tp_da=Address(SHORT_CODE, 0, 1), tp_mr=1, tp_ud=split("STOP").parts[0])
        await phone.submit(encode_tpdu(mo))
        held = await deferToThread(tester.client.read_pdu)  # the MO, not answered yet
        assert held.command == "deliver_sm"

        url = f"http://127.0.0.1:{service.admin_port}/metrics"
        samples, types = await _scrape(url)
        assert value(samples, "smsemu_smpp_window_outstanding", system_id="tester") == 1
        assert value(samples, "smsemu_smpp_window_size") == 64
        assert types["smsemu_smpp_window_outstanding"] == "gauge"

        resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=tester.client)
        resp.sequence = held.sequence
        tester.client.send_pdu(resp)
        # Its submit_sm_resp comes after the SMSC took the deliver_sm_resp sent before.
        assert (await tester.submit(short_message=b"barrier")).status == 0
        await deferToThread(slow.client.unbind)

        samples, types = await _scrape(url)
        expect: Samples = {
            key("smsemu_smpp_binds_total", system_id="slow", bind="transmitter"): 1,
            key("smsemu_smpp_binds_total", system_id="tester", bind="transceiver"): 1,
            key("smsemu_smpp_submits_total", system_id="slow", command="submit_sm"): 2,
            key("smsemu_smpp_submits_total", system_id="tester", command="submit_sm"): 2,
            key("smsemu_smpp_throttled_total", system_id="slow"): 3,
            _slow_response("submit_sm_resp", "ESME_RTHROTTLED"): 3,
            _slow_response("submit_sm_resp", "ESME_ROK"): 2,
            _slow_response("unbind_resp", "ESME_ROK"): 1,
            key("smsemu_smpp_unbinds_total", system_id="slow", by="esme"): 1,
            key(
                "smsemu_smpp_deliver_sm_sent_total", system_id="tester", kind="delivery_receipt"
            ): 1,
            key("smsemu_smpp_deliver_sm_sent_total", system_id="tester", kind="mo"): 1,
            key("smsemu_smpp_deliver_sm_answered_total", system_id="tester", command_status=OK): 2,
            key("smsemu_smpp_window_outstanding", system_id="tester"): 0,
            key("smsemu_smpp_bound_sessions", system_id="tester"): 1,
            # The radio side's names are kept: the handset's MO and the ESMEs' submits.
            key("smsemu_submits_accepted_total"): 5,
        }
        assert {k: samples.get(k) for k in expect} == expect
        assert types["smsemu_smpp_binds"] == "counter"
    finally:
        slow.close()
        tester.close()
        phone.close()
        await phone.lost
        await service.stopService()


def _slow_response(command: str, status: str) -> Key:
    return key(
        "smsemu_smpp_responses_total", system_id="slow", command=command, command_status=status
    )


# -- the IP server, on its own endpoint --------------------------------------------------


class Device:
    """A logged-in device: what is pushed to it, and its feedback, each put in
    a queue on the next turn of the reactor, after its acknowledgement went."""

    def __init__(self, reg: Registration, key: DeviceKey | None = None) -> None:
        self.reg, self.key = reg, key
        self.feedback: DeferredQueue[wire.Feedback] = DeferredQueue()
        self.pushed: DeferredQueue[wire.Message] = DeferredQueue()

    async def login(self, port: int) -> Device:
        self.client = await connect_ip(
            reactor, "127.0.0.1", port, self.reg.device_id, self.reg.secret,
            lambda f: self._later(self.feedback, f), lambda m: self._later(self.pushed, m),
        )  # fmt: skip
        return self

    @staticmethod
    def _later(queue: DeferredQueue[Any], item: Any) -> None:
        reactor.callLater(0, queue.put, item)

    async def next(self, kind: type[wire.Message]) -> Any:
        message = await self.pushed.get()
        assert isinstance(message, kind), message
        return message


@pytest_twisted.ensureDeferred
async def test_the_ip_server_counts_sessions_feedback_queries_and_its_rate_limit(
    tmp_path: Path,
) -> None:
    A, B, C = "+447700900123", "+4915112345678", "+15551234567"
    ELSEWHERE = "+19990000000"  # a sender nobody logs in as
    service = ReceiptServerService(
        receipt_sqlite_url(tmp_path),
        address="tcp:0",
        metrics_address="tcp:0",
        rate=0.001,
        burst=20,
    )
    service.startService()
    store = service.store
    assert store is not None and service.metrics_url is not None
    keys = [DeviceKey.generate() for _ in range(2)]
    phone_a = Device(await store.register_device(A, public_key=keys[0].public), keys[0])
    desktop = Device(
        await store.register_device(A, A, "companion", public_key=keys[1].public), keys[1]
    )
    phone_b = Device(await store.register_device(B))
    pinger = Device(await store.register_device(C))
    try:
        wrong = Device(Registration(phone_b.reg.device_id, "not-the-secret"))
        try:
            await wrong.login(service.port)
            raise AssertionError("a wrong secret logged in")
        except IpError as exc:
            assert exc.code == "bad_credentials"
        for device in (phone_a, desktop, phone_b, pinger):
            await device.login(service.port)

        # A read response, its feedback pushed and acknowledged; a forged one.
        await phone_b.client.send_response(B, A, 7)
        assert (await phone_a.feedback.get()).message_number == 7
        try:
            await phone_b.client.send_response(A, B, 8)  # B is not the receiver A
            raise AssertionError("a forged response was accepted")
        except IpError as exc:
            assert exc.code == "forbidden"
        # On A's connection after its acknowledgement: answered once that committed.
        await phone_a.client.send_response(A, ELSEWHERE, 0)

        # History: from the server's window, relayed and answered, relayed and timed out.
        # (The window took A's account a minute before: it covers the last 30 s.)
        clock = store.now
        store.now = lambda: clock() - timedelta(minutes=1)
        now = to_millis(datetime.now(UTC).replace(tzinfo=None))
        await phone_a.client.put_history([wire.HistoryEntry(f"{1:032x}", B, "in", "kept", now)])
        store.now = clock
        found = await desktop.client.query(peer=B, since=now - 30_000)
        assert isinstance(found, wire.QueryResult) and found.status == "found"
        opened = await desktop.client.query(text="elsewhere", timeout=PATIENT)
        assert isinstance(opened, wire.QueryOpen)
        request = await phone_a.next(wire.QueryRequest)
        entry = wire.HistoryEntry(f"{2:032x}", B, "in", "elsewhere", now)
        await phone_a.client.answer(
            request.query_id, 1, sealed(request, phone_a.reg.device_id, [entry])
        )
        assert (await desktop.next(wire.ResultsReady)).status == "complete"
        await desktop.client.query(text="nobody answers", timeout=0.1)
        await phone_a.next(wire.QueryRequest)  # phone A keeps it to itself
        # Phone A was not heard: not "not found" but "partial".
        assert (await desktop.next(wire.ResultsReady)).status == "partial"

        # Past its burst of 20, a device is told to wait.
        for _ in range(20):
            await pinger.client.ping()
        try:
            await pinger.client.ping()
            raise AssertionError("the 21st ping was served")
        except IpError as exc:
            assert exc.code == "rate_limited"

        samples, types = await _scrape(service.metrics_url)
        expect: Samples = {
            key("smsemu_ip_devices_logged_in"): 4,
            key("smsemu_ip_logins_total", kind="phone"): 3,
            key("smsemu_ip_logins_total", kind="companion"): 1,
            key("smsemu_ip_auth_failures_total"): 1,
            key("smsemu_ip_responses_total", outcome="accepted"): 2,
            key("smsemu_ip_responses_total", outcome="forbidden"): 1,
            key("smsemu_ip_feedback_pushed_total"): 1,
            key("smsemu_ip_feedback_pending"): 1,  # the one for ELSEWHERE
            key("smsemu_ip_history_queries_total"): 3,
            key("smsemu_ip_history_queries_from_window_total"): 1,
            key("smsemu_ip_history_queries_relayed_total"): 2,
            key("smsemu_ip_history_queries_finished_total", status="complete"): 1,
            key("smsemu_ip_history_queries_finished_total", status="partial"): 1,
            key("smsemu_ip_history_queries_timed_out_total"): 1,
            key("smsemu_ip_history_relay_seconds_count"): 2,
            key("smsemu_ip_history_relay_seconds_bucket", le="+Inf"): 2,
            key("smsemu_ip_rate_limited_total"): 1,
        }
        assert {k: samples.get(k) for k in expect} == expect
        assert types["smsemu_ip_history_relay_seconds"] == "histogram"
        assert value(samples, "smsemu_ip_history_relay_seconds_sum") >= 0.1  # the deadline's
    finally:
        for device in (phone_a, desktop, phone_b, pinger):
            if hasattr(device, "client"):
                device.client.close()
        await service.stopService()


# -- smsemu ip-server run --metrics, as a real process ------------------------------------


def test_ip_server_run_serves_its_metrics_where_asked(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "smsemu", "ip-server", "run", "--listen", "127.0.0.1:0",
         "--metrics", "127.0.0.1:0", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("press Ctrl-C"):
                break
        found = re.search(r"metrics on (http://127\.0\.0\.1:\d+/metrics)", "".join(lines))
        assert found is not None, lines
        samples, _ = scrape(found.group(1))
        assert value(samples, "smsemu_ip_devices_logged_in") == 0
        assert value(samples, "smsemu_ip_feedback_pending") == 0
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0


def test_ip_server_run_refuses_a_bad_metrics_address(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "smsemu", "ip-server", "run", "--metrics", "nowhere",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert out.stderr.startswith("error: --metrics: expected HOST:PORT")
    assert len(out.stderr.strip().splitlines()) == 1
