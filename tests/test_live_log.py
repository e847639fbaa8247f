"""The live traffic log of ``smsemu up`` and ``smsemu smsc`` (issue 15):
real processes, real handsets on the radio link, a real SMPP client; each
test waits on the line itself (the process's stderr, read as it comes),
never on a sleep."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import smpplib.client

from pdu import Address, SmsStatusReport, SmsSubmit, UserData, encode

from .rig import TIMEOUT, Log, SmscProcess

A, B = "+15550001001", "+15550001002"
IMSI_A, IMSI_B = "001010000000001", "001010000000002"
CLOCK = r"^\d\d:\d\d:\d\d "
#: The words of traffic lines: the second column of the text form.
TRAFFIC = re.compile(CLOCK + r"(attach|detach|submit|deliver|delivered|report|read|bind|unbind) ")


def start(tmp_path: Path, *args: str, command: str = "smsc") -> tuple[SmscProcess, Log]:
    process = SmscProcess(
        ["--data-dir", str(tmp_path / "data"), *args], command, stderr=subprocess.PIPE
    )
    return process, Log(process.proc.stderr)


def line(log: Log, pattern: str) -> re.Match[str]:
    """The next line of the text log that matches ``pattern``."""
    found = re.search(pattern, log.wait_until(lambda text: re.search(pattern, text), pattern))
    assert found is not None
    return found


def event(log: Log, name: str, **fields: Any) -> dict[str, Any]:
    """The next JSON line of event ``name`` whose fields include ``fields``."""

    def match(text: str) -> bool:
        o = json.loads(text)
        return bool(o.get("event") == name and all(o.get(k) == v for k, v in fields.items()))

    found: dict[str, Any] = json.loads(log.wait_until(match, f"{name} {fields}"))
    return found


def journey(smsc: SmscProcess) -> None:
    """A sends B a message asking for a status report; B gets it, A gets the
    report; then B's link goes down."""
    a, b = smsc.rig(A, IMSI_A), smsc.rig(B, IMSI_B)
    a.attach()
    b.attach()
    tpdu = SmsSubmit(tp_da=Address.parse(B), tp_mr=7, tp_srr=True, tp_ud=UserData("hello"))
    a.answer(a.submit(encode(tpdu)))
    assert b.receive().tp_ud.body == "hello"  # type: ignore[union-attr]
    assert isinstance(a.receive(), SmsStatusReport)
    b.close()
    a.close()


def test_a_message_journey_in_text(tmp_path: Path) -> None:
    smsc, log = start(tmp_path)
    try:
        journey(smsc)
        line(log, CLOCK + rf"attach   \{A} \(IMSI {IMSI_A}, 0 queued\)$")
        line(log, CLOCK + rf"attach   \{B} \(IMSI {IMSI_B}, 0 queued\)$")
        mid = line(log, CLOCK + rf"submit   #(\d+) \{A} -> \{B} \(1 part\)$")[1]
        line(log, CLOCK + rf"deliver  #{mid} -> \{B} \(attempt 1\)$")
        line(log, CLOCK + rf"delivered #{mid} -> \{B}$")
        rid = line(log, CLOCK + rf"report   #(\d+) -> \{A}: #{mid} delivered$")[1]
        line(log, CLOCK + rf"delivered #{rid} -> \{A} \(status report\)$")
        line(log, CLOCK + rf"detach   \{B}$")
    finally:
        assert smsc.terminate() == 0
    assert not [text for text in log.rest() if "Traceback" in text]


def test_a_message_journey_in_json(tmp_path: Path) -> None:
    smsc, log = start(tmp_path, "--log-format", "json")
    try:
        journey(smsc)
        attach = event(log, "attach", msisdn=A)
        assert attach["imsi"] == IMSI_A and attach["level"] == "info"
        assert attach["logger"] == "smsemu.traffic" and attach["time"].endswith("+00:00")
        event(log, "attach", msisdn=B, imsi=IMSI_B)
        submit = event(log, "submit", src=A, dst=B)
        mid = submit["message_id"]
        assert isinstance(mid, int) and submit["message"] == f"#{mid} {A} -> {B} (1 part)"
        event(log, "deliver", message_id=mid, dst=B, attempt=1)
        event(log, "delivered", message_id=mid, dst=B)
        report = event(log, "report", about=mid, dst=A, tp_st=0)
        event(log, "delivered", message_id=report["message_id"], dst=A, kind="report")
        event(log, "detach", msisdn=B)
    finally:
        assert smsc.terminate() == 0
    # Every line on stderr, traffic or not, is one JSON object.
    assert all(isinstance(json.loads(text), dict) for text in log.rest())


def test_quiet_prints_no_traffic_line(tmp_path: Path) -> None:
    smsc, log = start(tmp_path, "--quiet")
    try:
        journey(smsc)
    finally:
        assert smsc.terminate() == 0
    lines = log.rest()
    assert not [text for text in lines if TRAFFIC.match(text)], lines


def test_the_migrations_and_twisted_speak_at_debug_level_only(tmp_path: Path) -> None:
    smsc, log = start(tmp_path / "info")
    assert smsc.terminate() == 0
    quiet = log.rest()
    assert not [text for text in quiet if "alembic" in text or "Running upgrade" in text], quiet
    assert not [text for text in quiet if "twisted" in text], quiet

    smsc, log = start(tmp_path / "debug", "--log-level", "debug")
    try:
        log.wait_for("debug    alembic.runtime.migration: Running upgrade  -> 0001")
        log.wait_for("debug    twisted: ")
    finally:
        assert smsc.terminate() == 0


def test_an_esme_bind_submit_and_unbind(tmp_path: Path) -> None:
    smsc, log = start(tmp_path, "--log-format", "json")
    b = smsc.rig(B, IMSI_B)
    b.attach()
    client = smpplib.client.Client(
        "127.0.0.1", smsc.smpp_port, timeout=TIMEOUT, allow_unknown_opt_params=True
    )
    client.set_message_sent_handler(lambda **_: None)
    try:
        client.connect()
        secret = (tmp_path / "data" / "esme-password").read_text().strip()
        assert client.bind_transceiver(system_id="esme", password=secret).status == 0
        bound = event(log, "bind", system_id="esme")
        assert bound["bind"] == "transceiver" and bound["peer"].startswith("127.0.0.1:")
        client.send_message(
            source_addr="12345", destination_addr=B[1:], dest_addr_ton=1, short_message=b"hi"
        )
        client.read_once()  # its submit_sm_resp
        submit = event(log, "submit_sm", system_id="esme")
        assert (submit["src"], submit["dst"], submit["parts"]) == ("12345", B, 1)
        assert b.receive().tp_ud.body == "hi"  # type: ignore[union-attr]
        event(log, "delivered", message_id=submit["message_id"])
        client.unbind()
        event(log, "unbind", system_id="esme", peer=bound["peer"])
    finally:
        client.disconnect()
        b.close()
        assert smsc.terminate() == 0


def test_up_shows_the_read_receipt(tmp_path: Path) -> None:
    """``smsemu up`` as the README's quick start runs it: a message sent with
    ``smsemu handset send``, opened with ``smsemu handset read``."""
    up, log = start(tmp_path, command="up")

    def handset(*args: str) -> None:
        api = ["--api", f"http://127.0.0.1:{up.control_port}", "--data-dir", str(up.data_dir)]
        done = subprocess.run(
            [sys.executable, "-m", "smsemu", "handset", args[0], *api, *args[1:]],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    try:
        line(log, CLOCK + rf"attach   \{A} ")
        line(log, CLOCK + rf"attach   \{B} ")
        handset("send", A, B, "Hello Bob")
        line(log, CLOCK + rf"submit   #\d+ \{A} -> \{B} \(1 part\)$")
        line(log, CLOCK + rf"delivered #\d+ -> \{B}$")
        handset("read", B, "1")
        line(log, CLOCK + rf"read     \{B} read message 0 of \{A} \(pushed\)$")
    finally:
        assert up.terminate() == 0


class Command:
    """``smsemu ARGS`` run until Ctrl-C: what it printed at start, its log."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "smsemu", *args], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.log = Log(self.proc.stderr)
        assert self.proc.stdout is not None
        self.lines: list[str] = []
        for printed in self.proc.stdout:
            self.lines.append(printed)
            if printed.startswith("press Ctrl-C"):
                break

    def printed(self, pattern: str) -> str:
        found = [m[1] for text in self.lines if (m := re.search(pattern, text))]
        assert found, self.lines
        return found[0]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(TIMEOUT) == 0


def test_handset_run_and_ip_server_run_log_their_own_events(tmp_path: Path) -> None:
    """The network as separate processes: each logs what it sees."""
    smsc, _ = start(tmp_path)
    commands: list[Command] = []
    try:
        ip = Command("ip-server", "run", "--data-dir", str(tmp_path / "ip"), "--listen", "0")
        commands.append(ip)
        address = ip.printed(r"ip server: on (\S+)")
        phones = {}
        for msisdn in (A, B):
            credentials = str(tmp_path / f"{msisdn}.json")
            register = ["--data-dir", str(tmp_path / "ip"), "--msisdn", msisdn]
            done = subprocess.run(
                [sys.executable, "-m", "smsemu", "ip-server", "register", *register,
                 "--out", credentials], capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            sim = ["--data-dir", str(tmp_path / "data"), "--handset-dir", str(tmp_path / msisdn)]
            done = subprocess.run(
                [sys.executable, "-m", "smsemu", "subscriber", "add", "--msisdn", msisdn, *sim],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            phone = Command(
                "handset", "run", "--msisdn", msisdn, "--smsc", f"127.0.0.1:{smsc.link_port}",
                "--ip-server", address, "--credentials", credentials,
                "--data-dir", str(tmp_path / msisdn), "--control", "127.0.0.1:0",
            )  # fmt: skip
            commands.append(phone)
            phones[msisdn] = (phone, phone.printed(r"control API on (\S+)"))

        def handset(*args: str) -> None:
            api = phones[args[1]][1]
            done = subprocess.run(
                [sys.executable, "-m", "smsemu", "handset", args[0], "--api", api, *args[1:]],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr

        alice, bob = phones[A][0].log, phones[B][0].log
        line(alice, CLOCK + rf"attach   \{A} to the SMSC ")
        line(bob, CLOCK + rf"attach   \{B} to the SMSC ")
        handset("send", A, B, "Hello Bob")
        line(alice, CLOCK + rf"send     #1 \{A} -> \{B} \(1 part\)$")
        line(bob, CLOCK + rf"receive  #1 \{A} -> \{B} \(via sms\)$")
        line(alice, CLOCK + rf"state    #1 to \{B}: delivered$")
        handset("read", B, "1")
        line(bob, CLOCK + rf"response read receipt for message 0 of \{A}$")
        line(ip.log, CLOCK + rf"read     \{B} read message 0 of \{A} \(pushed\)$")
        line(alice, CLOCK + rf"feedback \{B} read: message 0 \(#1\)$")
    finally:
        for command in reversed(commands):
            command.stop()
        assert smsc.terminate() == 0
