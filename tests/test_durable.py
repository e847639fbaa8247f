"""Durability and duplicates (issue 19), on ``smsemu smsc`` as a real process
killed with SIGKILL, on SQLite and PostgreSQL: a long SMPP message keeps its
one receipt and its id across the kill; the SMSC delivers again exactly what
it delivered before (the same TP-SCTS, so the handset knows it); and an
SMS-SUBMIT sent again with TP-RD is refused as a duplicate while the first
copy is held (TS 23.040 §9.2.3.25), as Wireshark decodes it too."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import smpplib.client
import smpplib.smpp

from pdu import Address, Direction, SmsDeliver, SmsSubmit, SmsSubmitReport, UserData, decode, encode
from pdu.concat import reassemble
from radiolink import frames as lk
from radiolink import rp
from radiolink.ms import Acked, Incoming, Refused
from smsc.smpp import receipt

from .capture_tools import fields
from .rig import TIMEOUT, Log, Rig, SmscProcess
from .test_smpp import cancel_sm, exchange

A, B, C = "+4915112345678", "+15551234567", "+33612345678"
IMSI_A, IMSI_B = "001010000000001", "001010000000002"
LONG = "A long message an ESME sends, which the SMSC splits into parts. " * 5


def _start(database_url: str, tmp_path: Path, *extra: str) -> tuple[SmscProcess, Log, str]:
    """The SMSC, its log, and the generated password of its ESME account."""
    args = ["--data-dir", str(tmp_path / "data"), "--database-url", database_url, *extra]
    smsc = SmscProcess(args, stderr=subprocess.PIPE)
    (line,) = [x for x in smsc.lines if x.startswith("smpp: ESME system_id 'esme'")]
    password = re.search(r"password '([^']+)'", line)
    assert password, line
    return smsc, Log(smsc.proc.stderr), password.group(1)


def _get(smsc: SmscProcess, path: str) -> Any:
    request = smsc.request(f"http://127.0.0.1:{smsc.admin_port}{path}")
    with urllib.request.urlopen(request, timeout=TIMEOUT) as r:
        return json.loads(r.read().decode())


class Esme:
    """smpplib, blocking: there is no reactor in this process."""

    def __init__(self, port: int, password: str) -> None:
        self.client = smpplib.client.Client(
            "127.0.0.1", port, timeout=30, allow_unknown_opt_params=True
        )
        self.client.connect()
        self.client.bind_transceiver(system_id="esme", password=password)

    def until(self, command: str) -> Any:
        """The next PDU ``command``; a deliver_sm is answered as it is read."""
        while True:
            pdu = self.client.read_pdu()
            if pdu.command == "deliver_sm":
                resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=self.client)
                resp.sequence = pdu.sequence
                self.client.send_pdu(resp)
            if pdu.command == command:
                return pdu

    def submit_long(self, to: str) -> str:
        """A long message in message_payload, with a receipt asked for; its id."""
        self.client.send_message(
            source_addr_ton=1,
            source_addr="4930123456",
            dest_addr_ton=1,
            destination_addr=to[1:],
            short_message=b"",
            message_payload=LONG.encode(),
            data_coding=1,
            registered_delivery=1,
        )
        resp = self.until("submit_sm_resp")
        assert resp.status == 0
        mid = resp.message_id
        return str(mid.decode() if isinstance(mid, bytes) else mid)

    def receipt(self) -> dict[str, str]:
        pdu = self.until("deliver_sm")
        assert pdu.esm_class & 0x3C == 0x04  # SMSC delivery receipt
        return receipt.parse(pdu.short_message.decode())

    def close(self) -> None:
        self.client.disconnect()


def _fate(got: dict[str, str]) -> tuple[str, ...]:
    return got["id"], got["sub"], got["dlvrd"], got["stat"]


def test_kill_9_in_the_middle_of_a_long_smpp_message(database_url: str, tmp_path: Path) -> None:
    """Part 1 delivered, part 2 in flight, the SMSC killed: after the restart
    the ESME gets one receipt for the whole message, and cancels another long
    message by the id it was given before the kill."""
    smsc, log, password = _start(database_url, tmp_path)
    try:
        esme = Esme(smsc.smpp_port, password)
        b = smsc.rig(B, IMSI_B)
        b.attach()
        mid = esme.submit_long(B)
        later = esme.submit_long(C)  # C never attaches: it waits
        first = b.receive()  # acknowledged
        log.wait_for(f"delivered #{int(mid)} ")
        # The admin API reads through the same writer, after the update: committed.
        assert _get(smsc, f"/messages/{int(mid)}")["state"] == "delivered"
        in_flight = b.expect(Incoming)  # part 2, never acknowledged
        assert isinstance(in_flight, Incoming)
        smsc.kill()
    finally:
        if smsc.proc.poll() is None:
            smsc.kill()
    esme.close()
    b.close()

    smsc, log, password = _start(database_url, tmp_path)
    try:
        b = smsc.rig(B, IMSI_B)
        b.attach()
        again, third = b.receive(), b.receive()
        assert isinstance(first, SmsDeliver) and isinstance(again, SmsDeliver)
        assert isinstance(third, SmsDeliver)
        # The very part delivered before the kill (TP-MMS aside: what waits differs).
        before = decode(in_flight.tpdu, Direction.MT)
        assert isinstance(before, SmsDeliver)
        assert replace(again, tp_mms=True) == replace(before, tp_mms=True)
        assert reassemble([first.tp_ud, again.tp_ud, third.tp_ud]).body == LONG

        esme = Esme(smsc.smpp_port, password)
        assert _fate(esme.receipt()) == (mid, "003", "003", "DELIVRD")
        cancel = cancel_sm(50, later, "4930123456", C[1:])
        assert exchange(esme.client._socket, cancel) == (0x80000008, 0, 50)
        assert _fate(esme.receipt()) == (later, "003", "000", "DELETED")
        receipts = _get(smsc, "/messages?kind=esme&limit=100")
        assert sorted(r["report_for"] for r in receipts) == [int(mid), int(later)]
        esme.close()
    finally:
        assert smsc.terminate() == 0


def _submit(rig: Rig, mr: int, *, rd: bool) -> Acked | Refused:
    """A's SMS-SUBMIT to C (who never attaches: it is held) with TP-MR ``mr``."""
    submit = SmsSubmit(tp_da=Address.parse(C), tp_mr=mr, tp_rd=rd, tp_ud=UserData("once"))
    return rig.answer(rig.submit(encode(submit)))


def test_a_tp_rd_duplicate_is_refused_while_the_first_is_held(
    database_url: str, tmp_path: Path
) -> None:
    """The handset resends after a lost RP-ACK (here: the SMSC was killed
    before it went): with TP-RD 1 the copy is refused, RP-ERROR carrying
    TP-FCS 0xC5, decoded as such by tshark; with TP-RD 0 it is accepted, as
    TS 23.040 §9.2.3.25 says; another TP-MR is another message."""
    smsc, _, _ = _start(database_url, tmp_path)
    try:
        a = smsc.rig(A, IMSI_A)
        a.attach()
        assert isinstance(_submit(a, 42, rd=False), Acked)
        smsc.kill()
    finally:
        if smsc.proc.poll() is None:
            smsc.kill()
    a.close()

    pcap = tmp_path / "rd.pcapng"
    smsc, _, _ = _start(database_url, tmp_path, "--pcap", str(pcap))
    try:
        a = smsc.rig(A, IMSI_A)
        a.attach()
        refused = _submit(a, 42, rd=True)
        assert isinstance(refused, Refused) and refused.cause == 21
        assert refused.rp_ud is not None
        report = decode(refused.rp_ud, Direction.MT, rp_error=True)
        assert isinstance(report, SmsSubmitReport) and report.tp_fcs == 0xC5
        assert isinstance(_submit(a, 43, rd=True), Acked)  # another TP-MR: another message
        assert isinstance(_submit(a, 42, rd=False), Acked)  # duplicates accepted, as asked
        held = _get(smsc, f"/messages?originator=%2B{A[1:]}&state=queued")
        assert [m["tp_mr"] for m in held] == [42, 43, 42]
        a.close()
    finally:
        assert smsc.terminate() == 0
    # Wireshark's gsm_sms dissector, independent of our codec, reads the same.
    rows = fields(pcap, "gsm_a.rp.msg_type == 0x05", "gsm_a.rp.cause", "gsm_sms.tp-fcs")
    assert rows == [["21", "0xc5"]], rows
    uplink = "gsm_sms.tp-mti == 1 && gsmtap.uplink == 1"
    submits = fields(pcap, uplink, "gsm_sms.tp-mr", "gsm_sms.tp-rd")
    assert submits == [["42", "1"], ["43", "1"], ["42", "0"]]


class Relay:
    """A TCP relay between a handset and the SMSC's radio link that can lose
    the handset's next RP-ACK, as a radio link does: the SMSC never learns
    that the handset took the message.  ``upstream`` is where the SMSC is now."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lose_next_ack = threading.Event()
        self.lost = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                handset, _ = self.listener.accept()
            except OSError:
                return
            try:
                smsc = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:  # the SMSC is down: the handset tries again later
                handset.close()
                continue
            threading.Thread(target=self._uplink, args=(handset, smsc), daemon=True).start()
            threading.Thread(target=self._pipe, args=(smsc, handset), daemon=True).start()

    def _uplink(self, handset: socket.socket, smsc: socket.socket) -> None:
        reader = lk.FrameReader()
        try:
            while data := handset.recv(65536):
                for frame in reader.feed(data):
                    if isinstance(frame, lk.Rp) and self.lose_next_ack.is_set():
                        message = rp.decode_rp(frame.message, direction=Direction.MO)
                        if isinstance(message, rp.RpAck):
                            self.lose_next_ack.clear()
                            self.lost.set()
                            continue
                    smsc.sendall(lk.encode_frame(frame))  # type: ignore[arg-type]
        except OSError:
            pass
        finally:
            _close(handset, smsc)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source, sink)

    def close(self) -> None:
        self.listener.close()


def _close(*sockets: socket.socket) -> None:
    for s in sockets:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()


def test_a_message_delivered_again_after_a_crash_is_shown_once(tmp_path: Path) -> None:
    """The handset stores the message and acknowledges it; the RP-ACK is lost
    and the SMSC is killed.  After the restart it delivers the message again
    (the same TP-SCTS): the handset, a real ``smsemu handset run`` process,
    acknowledges it, and its inbox shows it once."""
    args = ["--data-dir", str(tmp_path / "data")]
    smsc = SmscProcess(args, stderr=subprocess.PIPE)
    relay = Relay(smsc.link_port)
    sim = ["--msisdn", B, "--imsi", IMSI_B, "--handset-dir", str(tmp_path / "b")]
    done = subprocess.run(
        [sys.executable, "-m", "smsemu", "subscriber", "add", *sim, *args],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr  # its SIM, in the SMSC and in the handset
    phone = subprocess.Popen(
        [sys.executable, "-m", "smsemu", "handset", "run", "--msisdn", B, "--imsi", IMSI_B,
         "--smsc", f"127.0.0.1:{relay.port}", "--data-dir", str(tmp_path / "b"),
         "--control", "127.0.0.1:0", "--at", "off", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert phone.stdout is not None
        printed = r"control API on (http://[^/\s]+)/handsets\?token=(\S+)"
        control, token = next(
            m.groups() for line in phone.stdout if (m := re.search(printed, line))
        )
        inbox = f"{control}/handsets/%2B{B[1:]}/inbox"
        Log(smsc.proc.stderr).wait_until(lambda x: " attach " in x and B in x, f"{B} attached")
        relay.lose_next_ack.set()
        a = smsc.rig(A, IMSI_A)
        a.attach()
        submit = SmsSubmit(tp_da=Address.parse(B), tp_mr=1, tp_ud=UserData("see you at 8"))
        assert isinstance(a.answer(a.submit(encode(submit))), Acked)
        assert relay.lost.wait(TIMEOUT)  # stored first, then acknowledged
        a.close()
        smsc.kill()

        smsc = SmscProcess(args, stderr=subprocess.PIPE)
        relay.upstream = smsc.link_port
        log = Log(smsc.proc.stderr)
        log.wait_until(lambda x: re.search(rf"delivered #\d+ -> \{B}$", x), "delivered again")
        request = urllib.request.Request(inbox, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as r:
            shown = json.loads(r.read().decode())
        assert [m["text"] for m in shown] == ["see you at 8"]
        assert "smsemu_queue_depth 0" in _metrics(smsc)
    finally:
        phone.send_signal(signal.SIGINT)
        phone.wait(TIMEOUT)
        relay.close()
        assert smsc.terminate() == 0


def _metrics(smsc: SmscProcess) -> str:
    request = smsc.request(f"http://127.0.0.1:{smsc.admin_port}/metrics")
    with urllib.request.urlopen(request, timeout=TIMEOUT) as r:
        return str(r.read().decode())
