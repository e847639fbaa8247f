"""TLS on every listener (issue 18, docs/tls.md): the self-signed certificate
of ``--tls auto``, then real processes served to real TLS clients: smpplib
over an SSL socket, Python's ``ssl`` on the radio link and the IP wire,
``http.client`` and ``openssl s_client`` on the HTTP APIs, and ``smsemu``'s
own clients (handsets in ``up`` and ``handset run``, the CLI) verifying it.
A plain-TCP client is hung up on without a word in the log, and a client
that does not trust the certificate refuses it.  Every wait is on an event
(a log line, a PDU), never a sleep."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import socket
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import smpplib.client
import smpplib.consts
from cryptography import x509
from twisted.internet.endpoints import serverFromString

from ipwire import wire
from smsemu.config import ConfigError, load
from txkit.tls import TlsError, TlsFiles, auto_certificate, fingerprint, secured, trusted_of

from .rig import TIMEOUT, Log, Rig, SmscProcess

A, B = "+15550001001", "+15550001002"
IMSI_B = "001010000000002"
CLOCK = r"^\d\d:\d\d:\d\d "


def trusting(cert: Path) -> ssl.SSLContext:
    """A client that trusts ``cert`` only, as strict as Python 3.13's default."""
    context = ssl.create_default_context(cafile=str(cert))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


def line(log: Log, pattern: str) -> re.Match[str]:
    found = re.search(pattern, log.wait_until(lambda text: re.search(pattern, text), pattern))
    assert found is not None
    return found


# -- the certificate ------------------------------------------------------------------


def test_the_auto_certificate_is_made_once_private_and_for_loopback(tmp_path: Path) -> None:
    files = auto_certificate(tmp_path)
    assert (files.cert, files.key) == (tmp_path / "tls/cert.pem", tmp_path / "tls/key.pem")
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alt.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(a) for a in alt.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    # openssl, not our code, says what its fingerprint is.
    shown = subprocess.run(
        ["openssl", "x509", "-in", str(files.cert), "-noout", "-fingerprint", "-sha256"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert shown.strip().endswith("=" + fingerprint(files.cert))
    before = files.cert.read_bytes()
    assert auto_certificate(tmp_path) == files  # a later start reuses it
    assert files.cert.read_bytes() == before


def test_a_half_made_pair_is_made_anew(tmp_path: Path) -> None:
    """A start stopped between the key and the certificate leaves a key alone:
    the next start makes both again (no client can trust a certificate that
    was never written)."""
    files = auto_certificate(tmp_path)
    files.cert.unlink()
    again = auto_certificate(tmp_path)
    assert again.cert.exists() and stat.S_IMODE(again.key.stat().st_mode) == 0o600


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    files = auto_certificate(tmp_path)
    files.key.chmod(0o644)
    with pytest.raises(TlsError, match="readable by others"):
        auto_certificate(tmp_path)


def test_a_broken_certificate_is_one_line_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    auto_certificate(data)
    (data / "tls" / "cert.pem").write_text("not a certificate\n")
    done = subprocess.run(
        [sys.executable, "-m", "smsemu", "smsc", "--tls", "auto", "--data-dir", str(data),
         "--link", "0", "--admin", "0", "--smpp", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert "cert.pem: no PEM certificate in it" in done.stderr


def test_secured_endpoints_name_their_files_as_twisted_reads_them(tmp_path: Path) -> None:
    odd = tmp_path / "a:b=c"
    files = auto_certificate(odd)
    spec = secured("tcp:0:interface=127.0.0.1", files)
    assert spec.startswith("ssl:0:interface=127.0.0.1:")
    assert trusted_of(spec) == files.cert
    endpoint = serverFromString(object(), spec)  # parses, and loads both files
    assert endpoint._interface == "127.0.0.1"
    with pytest.raises(TlsError, match="only a tcp: listener"):
        secured("unix:/tmp/s", files)


def test_a_tls_table_is_checked_when_the_config_is_read(tmp_path: Path) -> None:
    files = auto_certificate(tmp_path)
    path = tmp_path / "net.toml"
    path.write_text(f'[smpp]\ntls = {{ cert = "{files.cert}", key = "{files.key}" }}\n')
    assert load(path).smsc.smpp_tls == TlsFiles(files.cert, files.key)
    path.write_text(f'[control]\ntls = {{ cert = "{files.cert}", key = "missing.pem" }}\n')
    with pytest.raises(ConfigError, match=r"control\.tls: missing.pem: cannot read the TLS key"):
        load(path)
    path.write_text(f'[ip_server]\ntls = {{ cert = "{files.cert}" }}\n')
    with pytest.raises(ConfigError, match=r"ip_server\.tls\.key: missing"):
        load(path)


# -- smsemu smsc --tls auto -----------------------------------------------------------


@pytest.fixture
def smsc(tmp_path: Path) -> Iterator[tuple[SmscProcess, Log, Path]]:
    data = tmp_path / "data"
    process = SmscProcess(["--tls", "auto", "--data-dir", str(data)], stderr=subprocess.PIPE)
    log = Log(process.proc.stderr)
    yield process, log, data / "tls" / "cert.pem"
    assert process.terminate() == 0
    assert not [x for x in log.rest() if "Traceback" in x or "Unhandled" in x]


def test_smsc_serves_smpp_radio_link_and_admin_api_on_tls(
    smsc: tuple[SmscProcess, Log, Path], tmp_path: Path
) -> None:
    process, _, cert = smsc
    context = trusting(cert)
    assert f"tls: certificate {cert} (SHA-256 {fingerprint(cert)})" in process.lines
    assert any(f":{process.link_port} (TLS)" in x for x in process.lines)
    assert any(x.endswith(f":{process.smpp_port} (TLS)") for x in process.lines)
    admin = f"smsc: admin API on https://127.0.0.1:{process.admin_port}/?token="
    assert any(x.startswith(admin) for x in process.lines)

    b = process.rig(B, IMSI_B, tls=context)  # radio link: ATTACH answered
    b.attach()
    received: list[bytes] = []
    # smpplib wraps its socket without server_hostname: the certificate is
    # verified against the trusted one, but not matched to a name.
    esme_context = trusting(cert)
    esme_context.check_hostname = False
    client = smpplib.client.Client(
        "127.0.0.1", process.smpp_port, timeout=TIMEOUT, ssl_context=esme_context,
        allow_unknown_opt_params=True,
    )  # fmt: skip
    client.set_message_sent_handler(lambda **_: None)
    client.set_message_received_handler(lambda pdu, **_: received.append(pdu.short_message))
    try:
        client.connect()
        secret = (cert.parent.parent / "esme-password").read_text().strip()
        assert client.bind_transceiver(system_id="esme", password=secret).status == 0
        client.send_message(source_addr="12345", destination_addr=B[1:], dest_addr_ton=1,
                            short_message=b"hi over TLS", registered_delivery=1)  # fmt: skip
        client.read_once()  # submit_sm_resp
        assert b.receive().tp_ud.body == "hi over TLS"  # type: ignore[union-attr]
        while not received:  # deliver_sm: the delivery receipt
            client.read_once()
        assert b"stat:DELIVRD" in received[0]
        client.unbind()
    finally:
        client.disconnect()
        b.close()

    https = http.client.HTTPSConnection("127.0.0.1", process.admin_port, context=context)
    https.request("GET", "/metrics")
    assert https.getresponse().status == 200
    https.close()
    s_client = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{process.admin_port}", "-CAfile",
         str(cert), "-verify_return_error", "-verify_ip", "127.0.0.1", "-brief"],
        input="", capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert s_client.returncode == 0 and "Verification: OK" in s_client.stderr, s_client.stderr


def test_plain_and_untrusting_clients_are_refused_cleanly(
    smsc: tuple[SmscProcess, Log, Path],
) -> None:
    process, log, cert = smsc
    ports = (process.link_port, process.smpp_port, process.admin_port)
    # What each would send in the clear: an ATTACH frame, a bind, a request.
    rig_attach = Rig.__new__(Rig)
    from radiolink.ms import MsLink

    rig_attach.ms = MsLink(IMSI_B, B)
    plain = (rig_attach.ms.attach(), bytes.fromhex("0000001000000009000000000000000100"),
             b"GET /metrics HTTP/1.0\r\n\r\n")  # fmt: skip
    for port, data in zip(ports, plain, strict=True):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
            s.sendall(data)
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
            assert not answer.startswith(b"HTTP") and len(answer) < 64  # no answer in the clear
    for port in ports:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            ssl.create_default_context().wrap_socket(s, server_hostname="127.0.0.1")
    # The server still serves a client that trusts it, and logged no traceback
    # (the fixture reads the rest of the log at the end).
    rig = process.rig(B, IMSI_B, tls=trusting(cert))
    rig.attach()
    rig.close()
    line(log, CLOCK + rf"attach   \{B} ")


def test_handset_run_attaches_over_tls_trusting_the_data_dirs_certificate(
    smsc: tuple[SmscProcess, Log, Path], tmp_path: Path
) -> None:
    process, log, cert = smsc
    number = "+15550001003"
    provisioned = subprocess.run(  # its SIM: in the SMSC's database and the handset's dir
        [sys.executable, "-m", "smsemu", "subscriber", "add", "--msisdn", number,
         "--data-dir", str(process.data_dir), "--handset-dir", str(tmp_path / "h3")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert provisioned.returncode == 0, provisioned.stderr
    run = subprocess.Popen(
        [sys.executable, "-m", "smsemu", "handset", "run", "--msisdn", number,
         "--smsc", f"tls:127.0.0.1:{process.link_port}", "--ca", str(cert), "--data-dir",
         str(tmp_path / "h3"), "--control", "127.0.0.1:0", "--at", "off", "--tls", "auto"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert run.stdout is not None
        printed: list[str] = []
        for printed_line in run.stdout:
            if printed_line.startswith("press Ctrl-C"):
                break
            printed.append(printed_line)
        assert any("SMSC on TLS" in x for x in printed), printed
        assert any(re.search(r"control API on https://", x) for x in printed), printed
        line(log, CLOCK + rf"attach   \{number} ")
    finally:
        run.send_signal(2)
        run.wait(TIMEOUT)
    # A handset that trusts another certificate refuses this SMSC, and says why.
    other = auto_certificate(tmp_path / "other").cert
    wary = subprocess.Popen(
        [sys.executable, "-m", "smsemu", "handset", "run", "--msisdn", number,
         "--smsc", f"tls:127.0.0.1:{process.link_port}", "--ca", str(other), "--data-dir",
         str(tmp_path / "h3"), "--control", "127.0.0.1:0", "--at", "off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        Log(wary.stderr).wait_for("radio link: radio link lost before the attach was "
                                  "answered (TLS: certificate verify failed)")  # fmt: skip
    finally:
        wary.send_signal(2)
        wary.wait(TIMEOUT)


# -- smsemu up --tls auto -------------------------------------------------------------


def test_up_with_tls_auto_two_handsets_exchange_an_sms(tmp_path: Path) -> None:
    """The quick start with ``--tls auto``: the handsets attach and log in
    over TLS, the CLI drives them over https trusting ./smsemu-data's
    certificate with no option, and a message goes from one to the other."""
    up = SmscProcess(["--tls", "auto", "--at", "off"], "up", stderr=subprocess.PIPE,
                     cwd=str(tmp_path))  # fmt: skip
    log = Log(up.proc.stderr)
    cert = tmp_path / "smsemu-data" / "tls" / "cert.pem"
    api = f"https://127.0.0.1:{up.control_port}"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "smsemu", "handset", *args], cwd=tmp_path,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    try:
        assert sum(1 for x in up.lines if x.startswith("tls: certificate")) == 1
        assert any(x.endswith(f":{up.ip_port} (TLS)") for x in up.lines)
        line(log, CLOCK + rf"attach   \{A} ")
        line(log, CLOCK + rf"attach   \{B} ")
        sent = cli("send", "--api", api, A, B, "Hello over TLS")
        assert sent.returncode == 0, sent.stderr
        line(log, CLOCK + rf"delivered #\d+ -> \{B}$")
        inbox = cli("inbox", "--api", api, "--json", B)
        assert inbox.returncode == 0, inbox.stderr
        assert [m["text"] for m in json.loads(inbox.stdout)] == ["Hello over TLS"]

        # The IP wire over TLS: a login frame, answered by a challenge; a
        # wrong proof, by an error frame.
        with (
            socket.create_connection(("127.0.0.1", up.ip_port), timeout=TIMEOUT) as raw,
            trusting(cert).wrap_socket(raw, server_hostname="127.0.0.1") as s,
        ):
            reader = wire.FrameReader(wire.SERVER_MESSAGES)

            def answer(frame: wire.Message) -> wire.Message | wire.WireError:
                s.sendall(wire.encode(frame))
                answers: list[wire.Message | wire.WireError] = []
                while not answers:
                    answers = reader.feed(s.recv(4096))
                return answers[0]

            nonce = base64.b64encode(os.urandom(18)).decode()
            assert isinstance(answer(wire.Login(1, "phone-nobody", nonce)), wire.Challenge)
            wrong = answer(wire.LoginProof(1, base64.b64encode(bytes(32)).decode()))
            assert isinstance(wrong, wire.Error)
            assert wrong.code == wire.ErrorCode.BAD_CREDENTIALS

        https = http.client.HTTPSConnection("127.0.0.1", up.control_port, context=trusting(cert))
        https.request("GET", "/handsets", headers={"Authorization": f"Bearer {up.token}"})
        listed = https.getresponse()
        assert listed.status == 200
        assert {h["handset"] for h in json.loads(listed.read())} == {A, B}
        https.close()

        other = auto_certificate(tmp_path / "other").cert
        refused = cli("list", "--api", api, "--ca", str(other))
        assert refused.returncode == 1
        assert refused.stderr.startswith(f"error: the certificate of {api} is not trusted")
        assert refused.stderr.count("\n") == 1
        plain = cli("list", "--api", api.replace("https", "http"))
        assert plain.returncode == 1 and "try --api https://" in plain.stderr, plain.stderr
    finally:
        assert up.terminate() == 0
    assert not [x for x in log.rest() if "Traceback" in x]
    assert os.stat(cert.parent / "key.pem").st_mode & 0o077 == 0
