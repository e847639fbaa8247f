"""``smsemu up --workers 2`` as a real process: its own throwaway PostgreSQL,
two SMSC and two IP-server node processes on shared ports, its handsets
attached and messaging across the cluster, the cluster view on the admin API,
a killed node told in one line, and nothing left running once it stopped;
then the same on TLS (``--tls auto``): the shared ports serve one certificate
made by ``up``, and a plain-TCP client gets no answer in the clear; and
``--pcap``: a capture file per SMSC node."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import dpkt
import pytest

from ipwire import wire
from radiolink.ms import MsLink
from txkit.tls import auto_certificate, fingerprint

from .capture_tools import assert_clean, fields, tshark
from .rig import TIMEOUT, Log, SmscProcess
from .test_handset_cli import waiting
from .test_tls import trusting

A, B = "+15550001001", "+15550001002"


def descendants(pid: int) -> set[int]:
    """The processes under ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def postmaster(port: int) -> tuple[int, Path]:
    """The throwaway server listening on ``port``: its PID and directory."""
    for pidfile in Path(tempfile.gettempdir()).glob("smsemu-pg-*/data/postmaster.pid"):
        lines = pidfile.read_text().splitlines()
        if len(lines) > 3 and lines[3] == str(port):
            return int(lines[0]), pidfile.parent.parent
    raise AssertionError(f"no temporary PostgreSQL on port {port}")


def test_up_with_two_workers_runs_a_cluster_and_stops_clean(tmp_path: Path) -> None:
    up = SmscProcess(
        ["--workers", "2", "--data-dir", str(tmp_path / "data"), "--at", "off"],
        command="up",
        stderr=subprocess.PIPE,
    )
    log = Log(up.proc.stderr)
    try:
        assert up.handsets == [A, B]  # listed once attached and logged in
        nodes = descendants(up.proc.pid)
        assert len(nodes) >= 4
        db = next(line for line in up.lines if line.startswith("up: 2 SMSC nodes"))
        pid, directory = postmaster(int(re.findall(r"@127\.0\.0\.1:(\d+)/", db)[0]))
        # The shared radio link and IP server: the handsets message each other.
        received = waiting(up, B, "received", text="across the cluster")
        send(up, A, B, "across the cluster")
        assert received.result(TIMEOUT)["peer"] == A
        # The console's admin API shows both nodes and where each handset is.
        url = f"http://127.0.0.1:{up.admin_port}/cluster"
        with urllib.request.urlopen(up.request(url), timeout=TIMEOUT) as response:
            view = {row["name"]: row for row in json.loads(response.read())["nodes"]}
        assert view["smsc-1"]["alive"] and view["smsc-2"]["alive"]
        assert sorted(view["smsc-1"]["subscribers"] + view["smsc-2"]["subscribers"]) == [A, B]
        # A node that dies is told, once, and the others keep serving.
        smsc2 = next(p for p in nodes if "--node\0smsc-2" in cmdline(p))
        os.kill(smsc2, 9)
        assert "not restarted" in log.wait_for("up: node smsc-2 ended (killed by signal 9)")
        assert up.proc.poll() is None
    finally:
        status = up.terminate()
    assert status == 0
    left = [p for p in [*nodes, pid] if running(p)]
    assert left == [], [cmdline(p) for p in left]
    assert not directory.exists()


def test_up_with_two_workers_on_tls_auto_shares_tls_ports(tmp_path: Path) -> None:
    up = SmscProcess(
        ["--workers", "2", "--tls", "auto", "--data-dir", str(tmp_path / "data"), "--at", "off"],
        command="up",
        stderr=subprocess.PIPE,
    )
    log = Log(up.proc.stderr)
    cert = up.data_dir / "tls" / "cert.pem"
    tls = trusting(cert)  # what the handsets of up verify, and nothing else
    try:
        # The handsets attached and logged in over TLS, on the shared ports.
        assert up.handsets == [A, B]
        assert [x for x in up.lines if x.startswith("tls: certificate")] == [
            f"tls: certificate {cert} (SHA-256 {fingerprint(cert)})"
        ]  # made once, by up: the nodes are given its files, they make none
        for port in (up.link_port, up.smpp_port, up.ip_port):
            assert any(f":{port} (TLS) (shared by the 2" in x for x in up.lines), up.lines
        assert up.admin_scheme == "https"
        nodes = descendants(up.proc.pid)
        assert sum(str(cert) in cmdline(p) for p in nodes) == 4  # 2 SMSC, 2 IP-server nodes
        # A message across the cluster, sent and seen over the control API's https.
        received = waiting(up, B, "received", tls=tls, text="across on TLS")
        send = urllib.request.Request(
            f"https://127.0.0.1:{up.control_port}/handsets/{A}/send",
            data=json.dumps({"to": B, "text": "across on TLS"}).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {up.token}", "content-type": "application/json"},
        )
        with urllib.request.urlopen(send, timeout=TIMEOUT, context=tls) as response:
            assert response.status == 202
        assert received.result(TIMEOUT)["peer"] == A
        url = f"https://127.0.0.1:{up.admin_port}/cluster"
        with urllib.request.urlopen(up.request(url), timeout=TIMEOUT, context=tls) as response:
            view = {row["name"]: row for row in json.loads(response.read())["nodes"]}
        assert sorted(view["smsc-1"]["subscribers"] + view["smsc-2"]["subscribers"]) == [A, B]
        # A client that does not speak TLS is hung up on, answered nothing in
        # the clear: an ATTACH, an SMPP bind, an IP login.
        login = wire.encode(wire.Login(1, "phone-nobody", base64.b64encode(bytes(18)).decode()))
        plain = {up.link_port: MsLink("001010000000002", B).attach(),
                 up.smpp_port: bytes.fromhex("0000001000000009000000000000000100"),
                 up.ip_port: login}  # fmt: skip
        for port, data in plain.items():
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
                s.sendall(data)
                answer = b""
                while chunk := s.recv(4096):
                    answer += chunk
                assert len(answer) < 64, answer  # at most a TLS alert
                assert answer[:1] in (b"", b"\x15"), answer  # 0x15: a TLS alert record
    finally:
        status = up.terminate()
    assert status == 0
    assert not [x for x in log.rest() if "Traceback" in x or "Unhandled" in x]


def test_up_with_two_workers_serves_a_tables_tls_on_its_listeners_only(tmp_path: Path) -> None:
    """``[smsc] tls`` without ``--tls auto``: the shared radio link and the
    admin APIs on TLS with those files, SMPP and the IP server plain; the
    ``[ip_server]`` table's ``query_timeout`` given to every IP-server node."""
    files = auto_certificate(tmp_path / "own")
    config = tmp_path / "net.toml"
    config.write_text(
        f'[smsc]\ntls = {{ cert = "{files.cert}", key = "{files.key}" }}\n'
        "[ip_server]\nquery_timeout = 2.5\n"
    )
    up = SmscProcess(
        ["--workers", "2", "--config", str(config), "--data-dir", str(tmp_path / "data"),
         "--at", "off"],
        command="up",
    )  # fmt: skip
    try:
        assert up.handsets == [A, B]  # attached over TLS, trusting the table's certificate
        assert any(f":{up.link_port} (TLS) (shared" in x for x in up.lines), up.lines
        assert any(f":{up.smpp_port} (shared" in x for x in up.lines), up.lines
        assert any(f":{up.ip_port} (shared" in x for x in up.lines), up.lines
        assert up.admin_scheme == "https"
        assert not (up.data_dir / "tls").exists()  # no --tls auto: no certificate made
        ip_nodes = [c for c in map(cmdline, descendants(up.proc.pid)) if "\0ip-server\0" in c]
        assert len(ip_nodes) == 2 and all("\0--query-timeout\x002.5\0" in c for c in ip_nodes)
    finally:
        assert up.terminate() == 0


def test_up_with_two_workers_writes_a_pcap_file_per_smsc_node(tmp_path: Path) -> None:
    """``--pcap FILE`` with ``--workers 2``: each SMSC node writes its own
    pcapng (FILE's stem, ``-smsc-I``, its suffix), named at start; a message
    across the cluster is in them, its SMS-SUBMIT and SMS-DELIVER decoded by
    Wireshark's dissectors, and ``mergecap`` makes one timeline of them."""
    pcap = tmp_path / "cap.pcapng"
    up = SmscProcess(
        ["--workers", "2", "--pcap", str(pcap), "--data-dir", str(tmp_path / "data"),
         "--at", "off"],
        command="up",
    )  # fmt: skip
    files = [tmp_path / "cap-smsc-1.pcapng", tmp_path / "cap-smsc-2.pcapng"]
    try:
        assert up.handsets == [A, B]
        said = [x for x in up.lines if x.startswith("capture:")]
        assert said == [
            f"capture: a pcapng file per SMSC node, smsc-1 to {files[0]}, smsc-2 to {files[1]} "
            f"(one timeline: mergecap -w {pcap} {files[0]} {files[1]})"
        ]
        received = waiting(up, B, "received", text="captured across")
        send(up, A, B, "captured across")
        assert received.result(TIMEOUT)["peer"] == A
    finally:
        assert up.terminate() == 0
    assert not pcap.exists()  # no node writes FILE itself
    rp_data: list[list[str]] = []
    for file in files:
        names = tshark("-r", str(file), "-T", "fields", "-e", "frame.interface_name").split()
        with file.open("rb") as f:  # a second reader agrees on the packets
            assert len(list(dpkt.pcapng.Reader(f))) == len(names)
        assert_clean(file)
        rp_data += fields(
            file, "gsm_a.rp.msg_type <= 0x01", "gsm_a.rp.msg_type", "gsm_sms.sms_text"
        )
    # The RP-DATA up (the SMS-SUBMIT, on A's node) and down (the SMS-DELIVER, on B's).
    assert ["0x00", "captured across"] in rp_data and ["0x01", "captured across"] in rp_data
    merged = tmp_path / "merged.pcapng"
    subprocess.run(["mergecap", "-w", str(merged), *map(str, files)], check=True, timeout=TIMEOUT)
    texts = fields(merged, 'gsm_sms.sms_text == "captured across"', "gsm_a.rp.msg_type")
    assert texts == [["0x00"], ["0x01"]]  # submitted, then delivered


def send(up: SmscProcess, frm: str, to: str, text: str) -> None:
    """``frm`` sends ``text`` to ``to``, through the control API of ``up``."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{up.control_port}/handsets/{frm}/send",
        data=json.dumps({"to": to, "text": text}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {up.token}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        assert response.status == 202


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


@pytest.mark.parametrize(
    ("args", "error", "status"),
    [
        (["--database-url", "sqlite:///x.sqlite3"], "--database-url: --workers needs PostgreSQL",
         2),
        (["--link", "unix:/tmp/x.sock"], "--link: --workers shares TCP listeners (HOST:PORT;", 2),
        (["--pcap", "."], "--pcap: expected a file name, got '.'", 2),
        (["--pcap-max", "5"], "--pcap-max: only with --pcap FILE", 2),
        (["--pcap", "/nonexistent/dir/c.pcapng"],
         "--pcap: /nonexistent/dir/c-smsc-1.pcapng: No such file or directory", 1),
    ],
)  # fmt: skip
def test_what_a_cluster_cannot_share_is_one_line(
    tmp_path: Path, args: list[str], error: str, status: int
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smsemu", "up", "--workers", "2", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == status
    assert done.stderr.startswith(f"error: {error}") and done.stderr.count("\n") == 1, done.stderr


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_node_that_cannot_start_stops_up_with_its_reason(
    tmp_path: Path, database_url: str
) -> None:
    with socket.create_server(
        ("127.0.0.1", 0)
    ) as taken:  # no SO_REUSEPORT: the nodes cannot share it
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "smsemu", "up", "--workers", "2", "--database-url",
             database_url, "--link", f"127.0.0.1:{port}", "--admin", "127.0.0.1:0",
             "--smpp", "127.0.0.1:0", "--ip-server", "127.0.0.1:0", "--control", "127.0.0.1:0",
             "--at", "off"],
            cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT * 3,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert re.match(r"error: node smsc-1 ended before serving \(exit status \d+\): --link: ", last)
