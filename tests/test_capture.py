"""Issue 17: the network in Wireshark.  ``smsemu smsc --pcap F --gsmtap H:P`` as
a real process, handsets on the radio link (the blocking rig) and smpplib as
the ESME; tshark (Wireshark's own dissectors: gsmtap, gsm_a.dtap, gsm_a.rp,
gsm_sms, smpp) reads the file while the SMSC still runs, and what a UDP
listener received live, field by field."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dpkt
import pytest
import smpplib.client
import smpplib.smpp

from pdu import Address, SmsStatusReport, SmsSubmit
from pdu import encode as encode_tpdu
from pdu.concat import split
from radiolink.ms import Refused
from txkit import pcapng

from .capture_tools import assert_clean, fields, tshark
from .rig import TIMEOUT, Rig, SmscProcess

ALICE, BOB, NOBODY = "+15551230001", "+15551230002", "+19995550000"
LOOPBACK = bytes((127, 0, 0, 1))
LONG = "Wireshark reassembles this long message from its two parts, " * 3


def _submit(rig: Rig, to: str, text: str, *, srr: bool = False, ref: int = 0) -> list[int]:
    """Each part of ``text`` as an SMS-SUBMIT; the RP-MR of each."""
    parts = split(text, ref=ref).parts
    return [
        rig.submit(encode_tpdu(SmsSubmit(tp_da=Address.parse(to), tp_mr=i, tp_ud=ud, tp_srr=srr)))
        for i, ud in enumerate(parts)
    ]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """Where the SMSC sends GSMTAP: a UDP socket on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(TIMEOUT)
    yield sock
    sock.close()


def _network(tmp_path: Path, listener: socket.socket) -> tuple[SmscProcess, Path]:
    config = tmp_path / "smsc.toml"
    config.write_text(
        '[smsc]\nunknown_recipient = "reject"\n'
        '[[smpp.esme]]\nsystem_id = "lab"\npassword = "pw123"\n'
    )
    pcap = tmp_path / "net.pcapng"
    port = listener.getsockname()[1]
    args = [
        "--data-dir",
        str(tmp_path / "data"),
        "--config",
        str(config),
        "--pcap",
        str(pcap),
        "--gsmtap",
        f"127.0.0.1:{port}",
    ]
    return SmscProcess(args), pcap


def test_every_leg_is_decoded_by_wireshark_down_to_the_text(
    tmp_path: Path, listener: socket.socket
) -> None:
    smsc, pcap = _network(tmp_path, listener)
    alice, bob = smsc.rig(ALICE, "001010000000001"), smsc.rig(BOB, "001010000000002")
    esme = smpplib.client.Client(
        "127.0.0.1", smsc.smpp_port, timeout=TIMEOUT, allow_unknown_opt_params=True
    )
    try:
        alice.attach()
        bob.attach()
        # A short message with a status report, a long one, one nobody can take.
        (mr,) = _submit(alice, BOB, "Hello Bob", srr=True)
        alice.answer(mr)
        assert bob.receive().tp_ud.body == "Hello Bob"  # type: ignore[union-attr]
        assert isinstance(alice.receive(), SmsStatusReport)
        for mr in _submit(alice, BOB, LONG, ref=42):
            alice.answer(mr)
        bob.receive(), bob.receive()
        (mr,) = _submit(alice, NOBODY, "Anyone?")
        refused = alice.answer(mr)
        assert isinstance(refused, Refused) and refused.cause == 1
        # The SMPP leg: submit_sm with a delivery receipt, the phone's deliver.
        esme.connect()
        esme.bind_transceiver(system_id="lab", password="pw123")
        esme.send_message(
            source_addr_ton=1,
            source_addr="4930123456",
            dest_addr_ton=1,
            destination_addr=ALICE[1:],
            short_message=b"From the lab",
            registered_delivery=1,
        )
        assert alice.receive().tp_ud.body == "From the lab"  # type: ignore[union-attr]
        while (pdu := esme.read_pdu()).command != "deliver_sm":
            pass
        resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=esme)
        resp.sequence = pdu.sequence
        esme.send_pdu(resp)
        # The deliver_sm came once the phone's RP-ACK was read: every RP message
        # is in the file, which is read while the SMSC still runs (flushed as it goes).
        _check_radio(pcap)
        sent = len(fields(pcap, "gsmtap", "gsmtap.uplink"))
        datagrams = [listener.recv(65536) for _ in range(sent)]
        _check_smpp(pcap)
        assert_clean(pcap)
    finally:
        esme.disconnect()
        alice.close()
        bob.close()
        assert smsc.terminate() == 0
    _check_live(tmp_path, datagrams)
    assert_clean(pcap)  # and once it is closed


def _check_radio(pcap: Path) -> None:
    submits = fields(
        pcap,
        "gsm_sms.tp-mti == 1 && gsmtap.uplink == 1",
        "gsm_sms.tp-da",
        "gsm_sms.sms_text",
        "gsm_a.dtap.ti_flag",
        "gsm_a.rp.msg_type",
    )
    assert submits[0] == ["15551230002", "Hello Bob", "0", "0x00"]
    assert submits[-1] == ["19995550000", "Anyone?", "0", "0x00"]
    delivers = fields(
        pcap,
        "gsm_sms.tp-mti == 0 && gsmtap.uplink == 0 && gsm_a.rp.msg_type == 1",
        "gsm_sms.tp-oa",
        "gsm_sms.sms_text",
    )
    assert delivers[0] == ["15551230001", "Hello Bob"]
    assert ["4930123456", "From the lab"] in delivers
    # The long message: two parts with the concatenation IE (ref 42), reassembled.
    parts = fields(
        pcap,
        "gsm_sms.ie_identifier == 0x00 && gsmtap.uplink == 1",
        "gsm_sms.udh.mm.msg_id",
        "gsm_sms.udh.mm.msg_parts",
        "gsm_sms.udh.mm.msg_part",
    )
    assert parts == [["42", "2", "1"], ["42", "2", "2"]]
    texts = tshark(
        "-r",
        str(pcap),
        "-Y",
        "gsm_sms.ie_identifier == 0x00 && gsmtap.uplink == 1",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=|",
        "-e",
        "gsm_sms.sms_text",
    )
    assert texts.splitlines()[-1].replace("|", "") == LONG  # the second part, reassembled
    assert fields(pcap, "gsm_sms.tp-mti == 2", "gsm_sms.tp-ra") == [["15551230002"]]
    report = tshark("-r", str(pcap), "-Y", "gsm_sms.tp-mti == 2", "-V")
    assert (
        "TP-MTI: SMS-STATUS REPORT (2)" in report and "Short message received by the SME" in report
    )
    # RP-ACK both ways, and the RP-ERROR with its cause (1: unassigned number).
    assert fields(pcap, "gsm_a.rp.msg_type == 0x05", "gsm_a.rp.cause") == [["1"]]
    acks_up = fields(pcap, "gsm_a.rp.msg_type == 0x02", "gsm_a.dtap.ti_flag")
    assert acks_up and all(row == ["1"] for row in acks_up)  # MT transactions: answered
    # Every CP-DATA answered by a CP-ACK, the other way, same TI, the other flag.
    cp = fields(
        pcap,
        "gsmtap",
        "gsm_a.dtap.msg_sms_type",
        "gsm_a.dtap.tio",
        "gsm_a.dtap.ti_flag",
        "gsmtap.uplink",
    )
    assert len(cp) == 36  # 18 RP messages
    for data, ack in zip(cp[0::2], cp[1::2], strict=True):
        assert (data[0], ack[0]) == ("0x01", "0x04")
        assert ack[1] == data[1] and ack[2] != data[2] and ack[3] != data[3]


def _check_smpp(pcap: Path) -> None:
    submits = fields(
        pcap,
        "smpp.command_id == 0x00000004",
        "smpp.source_addr",
        "smpp.destination_addr",
        "smpp.message",
    )
    assert len(submits) == 1
    assert submits[0][:2] == ["4930123456", "15551230001"]
    assert bytes.fromhex(submits[0][2].replace(":", "")) == b"From the lab"
    delivers = fields(
        pcap,
        "smpp.command_id == 0x00000005",
        "smpp.source_addr",
        "smpp.message_state",
        "smpp.receipted_message_id",
    )
    assert len(delivers) == 1 and delivers[0][:2] == ["15551230001", "2"]  # DELIVERED
    assert delivers[0][2]  # the receipt names the message it is for
    commands = fields(pcap, "smpp", "smpp.command_id")
    assert ["0x80000004"] in commands and ["0x80000005"] in commands


def _check_live(tmp_path: Path, datagrams: list[bytes]) -> None:
    """What the UDP listener received, as a capture of its port, decodes alike."""
    live = tmp_path / "live.pcapng"
    with live.open("wb") as out:
        writer = pcapng.PcapngWriter(out)
        lo = writer.interface("lo")
        for i, payload in enumerate(datagrams):
            writer.packet(
                lo, i / 1000, pcapng.udp(b"\x7f\0\0\1", 40000, b"\x7f\0\0\1", 4729, payload)
            )
    texts = fields(live, "gsm_sms.tp-mti == 1", "gsm_sms.sms_text")
    assert texts[0] == ["Hello Bob"]
    cp = fields(live, "gsmtap", "gsm_a.dtap.msg_sms_type")
    assert [row[0] for row in cp].count("0x04") == len(datagrams) // 2
    assert_clean(live)


def test_the_admin_api_streams_a_pcapng_of_what_comes_next(tmp_path: Path) -> None:
    """GET /capture?seconds=N&packets=M on an SMSC started without capture: the
    response starts at once (a pcapng header), carries the next M packets and
    ends; tshark decodes it.  A bad ``seconds`` is one JSON line, status 400."""
    smsc = SmscProcess(["--data-dir", str(tmp_path / "data")])
    alice, bob = smsc.rig(ALICE, "001010000000001"), smsc.rig(BOB, "001010000000002")
    base = f"http://127.0.0.1:{smsc.admin_port}/capture"
    try:
        with pytest.raises(urllib.error.HTTPError) as bad:
            urllib.request.urlopen(smsc.request(f"{base}?seconds=forever"), timeout=TIMEOUT)
        assert bad.value.code == 400 and "seconds" in json.load(bad.value)["error"]
        alice.attach()
        bob.attach()
        # 4 RP messages: RP-DATA up, RP-ACK down, RP-DATA down, RP-ACK up; 2 CP each.
        grab = smsc.request(f"{base}?seconds=600&packets=8")
        with urllib.request.urlopen(grab, timeout=TIMEOUT) as stream:
            assert stream.headers["content-type"] == "application/x-pcapng"
            (mr,) = _submit(alice, BOB, "Caught in the act")
            alice.answer(mr)
            assert bob.receive().tp_ud.body == "Caught in the act"  # type: ignore[union-attr]
            body = stream.read()
    finally:
        alice.close()
        bob.close()
        assert smsc.terminate() == 0
    grabbed = tmp_path / "grabbed.pcapng"
    grabbed.write_bytes(body)
    rows = fields(grabbed, "gsmtap", "gsm_a.dtap.msg_sms_type", "gsm_sms.sms_text")
    assert [row[0] for row in rows] == ["0x01", "0x04"] * 4
    assert [row[1] for row in rows if row[1]] == ["Caught in the act"] * 2
    assert_clean(grabbed)


def test_smsemu_demo_pcap_shows_every_message_and_ip_frame_decoded(tmp_path: Path) -> None:
    """Issue 17's "done when": ``smsemu demo --pcap f.pcapng``, then tshark shows
    every message of the demo down to its text, the IP server's frames through
    the Lua dissector, and nothing malformed."""
    pcap = tmp_path / "demo.pcapng"
    done = subprocess.run([sys.executable, "-m", "smsemu", "demo", "--pcap", str(pcap)],
                          capture_output=True, text=True, timeout=240, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    submits = fields(pcap, "gsm_sms.tp-mti == 1 && gsmtap.uplink == 1", "gsm_sms.sms_text")
    delivers = fields(pcap, "gsm_a.rp.msg_type == 1", "gsm_sms.tp-mti", "gsm_sms.sms_text")
    submitted = {row[0].split(",")[0] for row in submits}
    delivered = {row[1].split(",")[0] for row in delivers if row[0] == "0"}
    assert "Are you there?" in submitted and submitted <= delivered
    assert all(row[1] for row in delivers if row[0] == "0")  # every SMS-DELIVER has its text
    assert any(row[0] == "2" for row in delivers)  # and the status reports are there
    # A segment may carry several frames (a read's response and read sync go together).
    rows = fields(pcap, "smsemu_ip", "smsemu_ip.type")
    types = {t for row in rows if row[0] for t in row[0].split(",")}
    assert {
        "login",
        "challenge",
        "login_proof",
        "login_ok",
        "history_put",
        "response",
        "feedback",
    } <= types
    assert_clean(pcap)


@pytest.mark.parametrize(
    ("args", "status", "said"),
    [
        (["smsc", "--gsmtap", "127.0.0.1:99999"], 2, "--gsmtap: expected HOST or HOST:PORT"),
        (["smsc", "--gsmtap", "no-such-host.invalid"], 2, "--gsmtap: no-such-host.invalid: "),
        (["smsc", "--pcap", "/nonexistent/dir/f.pcapng"], 1, "/nonexistent/dir/f.pcapng: No such"),
        (["demo", "--pcap", "/nonexistent/dir/f.pcapng"], 1, "--pcap: /nonexistent/dir/f.pcapng"),
        (["smsc", "--pcap-max", "5"], 2, "--pcap-max: only with --pcap FILE"),
    ],
)
def test_a_capture_option_that_will_not_do_is_one_line(
    tmp_path: Path, args: list[str], status: int, said: str
) -> None:
    ports = ["--data-dir", str(tmp_path), "--link", "127.0.0.1:0", "--admin", "127.0.0.1:0"]
    command = [sys.executable, "-m", "smsemu", *args, *(ports if args[0] == "smsc" else [])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == status
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0], done.stderr


def test_smsemu_up_pcap_names_an_interface_per_leg(tmp_path: Path) -> None:
    pcap = tmp_path / "up.pcapng"
    up = SmscProcess(["--data-dir", str(tmp_path / "data"), "--pcap", str(pcap)], "up")
    assert up.terminate() == 0
    names = tshark("-r", str(pcap), "-T", "fields", "-e", "frame.interface_name").split()
    assert set(names) <= {"radio", "smpp", "ip"}
    with pcap.open("rb") as f:  # a second reader agrees on the packets
        assert len(list(dpkt.pcapng.Reader(f))) == len(names)
    declared = tshark("-r", str(pcap), "-q", "-z", "io,stat,0")  # reads every block
    assert "Interval" in declared
    head = pcap.read_bytes()[:600]  # the interface descriptions come first, one per leg
    assert all(leg in head for leg in (b"radio", b"smpp", b"ip"))
    assert_clean(pcap)


def test_a_rotated_capture_is_whole_pcapng_files_each_readable(tmp_path: Path) -> None:
    """``--pcap-max``: a full file moves to FILE.1 (and on), a new one starts with
    its own header and interfaces; every file reads clean on its own, and
    together they hold every packet once."""
    from twisted.internet.task import Clock

    from pdu import Address as Addr
    from radiolink import rp
    from smsc.capture import Capture

    clock = Clock()
    capture = Capture(clock)
    path = tmp_path / "r.pcapng"
    capture.open_file(path, max_bytes=4000)
    smsc = Addr.parse("+15550000000")
    for mr in range(60):
        clock.advance(0.001)
        submit = SmsSubmit(tp_da=Address.parse(BOB), tp_mr=mr, tp_ud=split(f"part {mr}").parts[0])
        capture.radio("alice", rp.encode_rp(rp.RpData.mo(mr, smsc, encode_tpdu(submit))), True)
        capture.radio("alice", rp.NetworkEncoder.ack(mr), False)
        capture.smpp("esme", b"\0\0\0\x10\0\0\0\x15\0\0\0\0" + mr.to_bytes(4, "big"), True,
                     (("127.0.0.1", 50000), ("127.0.0.1", 2775)))  # fmt: skip
    capture.close()
    files = sorted(tmp_path.glob("r.pcapng*"))
    assert len(files) > 3 and all(f.stat().st_size < 4000 + 1000 for f in files)
    texts: list[str] = []
    for f in files:
        assert_clean(f)
        texts += [row[0] for row in fields(f, "gsm_sms.tp-mti == 1", "gsm_sms.sms_text")]
    assert len(files) <= 10 and len(set(texts)) == len(texts)  # nothing twice
    kept = {f"part {mr}" for mr in range(60)}
    assert set(texts) <= kept and "part 59" in texts  # the newest are kept
