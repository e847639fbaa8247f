"""SIM authentication on the radio link, against real processes over real
sockets (issue 18): the number hijack of the issue fails against ``smsemu up``
with its default settings; a phone that roamed moves; the open mode keeps the
old attach for rigs that ask for it."""

from __future__ import annotations

import json
import re
import secrets
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from pdu import Address, SmsDeliver, SmsSubmit, UserData, encode
from radiolink import frames as lk
from radiolink.auth import Keys
from radiolink.ms import Detached, LinkFailure

from .rig import TIMEOUT, AttachFailed, Log, Rig, SmscProcess
from .sims import imsi_for, keys_for

A, B = "+15550001001", "+15550001002"  # the handsets smsemu up runs by default
C = "+15550003003"
ATTEMPTS = 20
REFUSAL = re.compile(r"attach of IMSI \d+ as \+\d+ refused|more attaches refused")


def _http(process: SmscProcess, port: int, method: str, path: str, body: Any = None) -> Any:
    """A call to ``process``'s admin or control API, with its token."""
    request = process.request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
    )
    request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return (
            json.loads(response.read())
            if "json" in response.headers["content-type"]
            else (response.read().decode())
        )


def _refused(metrics: str, reason: str) -> int:
    found = re.search(rf'smsemu_radio_attach_refused_total{{reason="{reason}"}} (\d+)', metrics)
    assert found is not None, metrics
    return int(found[1])


def _random_keys() -> Keys:
    return Keys(secrets.token_bytes(16), secrets.token_bytes(16))


def _answers_anything(port: int, imsi: str, msisdn: str) -> lk.Frame:
    """A thief with no SIM logic at all: it answers the challenge with a made-up
    RES; what the SMSC says to that."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        reader = lk.FrameReader()
        sock.sendall(lk.encode_frame(lk.Attach(imsi, msisdn)))
        while True:
            for frame in reader.feed(sock.recv(4096)):
                assert not isinstance(frame, lk.MalformedFrame)
                if isinstance(frame, lk.AuthRequest):
                    sock.sendall(lk.encode_frame(lk.AuthResponse(secrets.token_bytes(8))))
                else:
                    return frame


def test_a_hijacker_without_the_key_is_refused_and_the_victim_keeps_every_sms(
    tmp_path: Path,
) -> None:
    """The attack of issue 18: a process that attaches as +...5002 again and
    again, with the victim's IMSI but not its key, while +...5001 sends it
    messages.  Every attach is refused and counted, the log does not flood,
    and the victim's phone receives every message."""
    data = tmp_path / "data"
    up = SmscProcess(["--data-dir", str(data)], "up", stderr=subprocess.PIPE)
    log = Log(up.proc.stderr)
    started = time.monotonic()
    try:
        assert up.handsets == [A, B]
        sim = json.loads((data / "handsets" / B.lstrip("+") / "sim.json").read_text())
        victim_imsi = sim["imsi"]
        assert (data / "handsets" / B.lstrip("+") / "sim.json").stat().st_mode & 0o777 == 0o600
        for n in range(ATTEMPTS):
            thief = Rig(up.link_port, B, victim_imsi, _random_keys())
            with pytest.raises(AttachFailed) as refused:
                thief.attach()  # its SIM finds the network's MAC wrong: cause 20, refused
            assert refused.value.cause == lk.RejectCause.AUTHENTICATION_FAILED
            # Not attached: what it submits is not taken from it, nor as the victim.
            thief.send(lk.encode_frame(lk.Rp(bytes.fromhex("0001"))))
            failure = thief.expect(LinkFailure)
            assert isinstance(failure, LinkFailure) and failure.code == lk.ErrorCode.NOT_ATTACHED
            reply = _answers_anything(up.link_port, victim_imsi, B)
            assert reply == lk.AttachReject(lk.RejectCause.AUTHENTICATION_FAILED, "wrong RES")
            _http(up, up.control_port, "POST", f"/handsets/{A}/send", {"to": B, "text": f"m{n}"})
            thief.close()
        stranger = Rig(up.link_port, B, "001019999999999", _random_keys())
        with pytest.raises(AttachFailed) as unknown:
            stranger.attach()
        assert unknown.value.cause == lk.RejectCause.NOT_PROVISIONED
        stranger.close()

        for _ in range(ATTEMPTS):
            log.wait_until(lambda line: re.search(rf"delivered #\d+ -> \{B}$", line), "delivered")
        inbox = _http(up, up.control_port, "GET", f"/handsets/{B}/inbox?limit=100")
        assert sorted(m["text"] for m in inbox) == sorted(f"m{n}" for n in range(ATTEMPTS))
        assert all(m["peer"] == A for m in inbox)
        metrics = _http(up, up.admin_port, "GET", "/metrics")
        assert _refused(metrics, "authentication_failed") == 2 * ATTEMPTS
        assert _refused(metrics, "not_provisioned") == 1
        subscribers = _http(up, up.admin_port, "GET", "/subscribers")
        victim = next(s for s in subscribers if s["msisdn"] == B)
        assert victim["attached"] and victim["provisioned"] and victim["imsi"] == victim_imsi
        assert not any("k" in s or "opc" in s for s in subscribers)  # no secrets shown
    finally:
        assert up.terminate() == 0
    lines = [line for line in log.rest() if REFUSAL.search(line)]
    # One line at once, then at most one summary per 10 s: 41 refusals, a few lines.
    assert 1 <= len(lines) <= 2 + (time.monotonic() - started) / 10, lines
    assert "refused (authentication_failed)" in lines[0]


def _sms(to: str, text: str) -> bytes:
    return encode(SmsSubmit(tp_da=Address.parse(to), tp_mr=0, tp_ud=UserData(text)))


def test_a_phone_that_roamed_moves_and_one_ahead_of_the_network_resynchronises(
    tmp_path: Path,
) -> None:
    smsc = SmscProcess(["--data-dir", str(tmp_path / "data")])
    try:
        here = smsc.rig(A)
        here.attach()
        # The same SIM on another connection (the phone roamed): it moves there.
        there = Rig(smsc.link_port, A, imsi_for(A), keys_for(A))
        there.attach()
        assert isinstance(here.expect(Detached), Detached)
        assert here.closed(timeout=TIMEOUT)
        sender = smsc.rig(C)
        sender.attach()
        sender.submit(_sms(A, "where are you?"))
        tpdu = there.receive()
        assert isinstance(tpdu, SmsDeliver) and tpdu.tp_ud.body == "where are you?"
        there.close()
        # A SIM that has seen SQNs far above the network's (a network restored
        # from an old backup): synch failure, AUTS, a new challenge, attached.
        ahead = Rig(smsc.link_port, A, imsi_for(A), keys_for(A), sqn=1_000_000)
        ahead.attach()
        assert ahead.ms.sqn > 1_000_000
        ahead.close()
        metrics = _http(smsc, smsc.admin_port, "GET", "/metrics")
        assert _refused(metrics, "authentication_failed") == 0
        assert "smsemu_radio_attaches_total 4" in metrics
    finally:
        assert smsc.terminate() == 0


def test_open_mode_attaches_anyone_and_says_so(tmp_path: Path) -> None:
    closed = SmscProcess(["--data-dir", str(tmp_path / "closed")])
    try:
        assert not any("WARNING" in line for line in closed.lines)
        with pytest.raises(AttachFailed):
            Rig(closed.link_port, A, imsi_for(A)).attach()  # no SIM: not attached
    finally:
        assert closed.terminate() == 0
    config = tmp_path / "open.toml"
    config.write_text("[smsc]\nopen_attach = true\n")
    for args in (["--open-attach"], ["--config", str(config)]):
        smsc = SmscProcess(["--data-dir", str(tmp_path / "open"), *args])
        try:
            assert any("WARNING: open attach" in line for line in smsc.lines), smsc.lines
            rig = Rig(smsc.link_port, A, imsi_for(A))  # a SIM without keys
            assert rig.attach() == "+15550000000"
            rig.close()
        finally:
            assert smsc.terminate() == 0
