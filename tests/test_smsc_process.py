"""``smsemu smsc`` as a real process on real TCP: durability across SIGKILL, bad
input, the admin API.  Each runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from pdu import Address, SmsDeliver, SmsSubmit, UserData, encode
from radiolink import frames as lk
from radiolink.ms import Acked, LinkFailure, Refused

from .rig import Rig, SmscProcess

A, B, C = "+4915112345678", "+15551234567", "+33612345678"


def _args(database_url: str, tmp_path: Path) -> list[str]:
    return ["--data-dir", str(tmp_path / "data"), "--database-url", database_url]


def _get(process: SmscProcess, path: str) -> Any:
    url = f"http://127.0.0.1:{process.admin_port}{path}"
    with urllib.request.urlopen(process.request(url), timeout=30) as r:
        body = r.read().decode()
    return body if path == "/metrics" else json.loads(body)


def _submit(text: str, to: str = B, mr: int = 0) -> bytes:
    return encode(SmsSubmit(tp_da=Address.parse(to), tp_mr=mr % 256, tp_ud=UserData(text)))


def test_kill_9_loses_nothing_and_delivers_exactly_once(database_url: str, tmp_path: Path) -> None:
    """Every message the SMSC acknowledged survives SIGKILL and arrives once."""
    n = 60
    smsc = SmscProcess(_args(database_url, tmp_path))
    try:
        a = smsc.rig(A, "001010000000001")
        a.attach()
        for i in range(n):
            mr = a.submit(_submit(f"message {i:03d}", mr=i))
            assert isinstance(a.answer(mr), Acked)
        smsc.kill()
    finally:
        if smsc.proc.poll() is None:
            smsc.kill()
    a.close()

    smsc = SmscProcess(_args(database_url, tmp_path))
    try:
        b = smsc.rig(B, "001010000000002")
        b.attach()
        texts = []
        for _ in range(n):
            tpdu = b.receive()
            assert isinstance(tpdu, SmsDeliver) and str(tpdu.tp_oa) == A
            texts.append(tpdu.tp_ud.body)
        assert texts == [f"message {i:03d}" for i in range(n)]
        delivered = _get(smsc, f"/messages?recipient=%2B{B[1:]}&state=delivered&limit=1000")
        assert len(delivered) == n
        # Nothing more is queued, so nothing more can come.
        assert "smsemu_queue_depth 0" in _get(smsc, "/metrics")
        assert [s["queued"] for s in _get(smsc, "/subscribers") if s["msisdn"] == B] == [0]
    finally:
        assert smsc.terminate() == 0


def test_bad_input_gets_its_error_and_others_are_served(database_url: str, tmp_path: Path) -> None:
    smsc = SmscProcess(_args(database_url, tmp_path))
    try:
        a, b = smsc.rig(A, "001010000000001"), smsc.rig(B, "001010000000002")
        a.attach()
        b.attach()

        # An RP-DATA whose TPDU is broken: RP-ERROR 96 with the same RP-MR.
        mr = a.submit(bytes.fromhex("0100"))
        refused = a.answer(mr)
        assert isinstance(refused, Refused) and refused.cause == 96

        # An unknown frame type and an empty frame: ERROR frames, link still up.
        a.send(b"\x00\x02\x77\x00" + b"\x00\x00")
        assert isinstance(a.expect(LinkFailure), LinkFailure)
        assert isinstance(a.expect(LinkFailure), LinkFailure)

        # An RP frame before ATTACH on a fresh connection: ERROR "not attached".
        stranger = Rig(smsc.link_port, C, "001010000000003")
        stranger.send(lk.encode_frame(lk.Rp(bytes.fromhex("0000"))))
        failure = stranger.expect(LinkFailure)
        assert isinstance(failure, LinkFailure) and failure.code == lk.ErrorCode.NOT_ATTACHED

        # Garbage whose length field is past the limit: ERROR, then the SMSC hangs up.
        garbage = Rig(smsc.link_port, C, "001010000000004")
        garbage.send(b"\xff\xff garbage")
        assert garbage.closed(timeout=30)

        # A truncated frame, then the peer goes away.
        half = Rig(smsc.link_port, C, "001010000000005")
        half.send(lk.encode_frame(lk.Attach("001010000000005", C))[:5])
        half.close()

        # Meanwhile A and B still talk, and the process is alive.
        mr = a.submit(_submit("still here"))
        assert isinstance(a.answer(mr), Acked)
        tpdu = b.receive()
        assert isinstance(tpdu, SmsDeliver) and tpdu.tp_ud.body == "still here"
        assert "smsemu_protocol_errors_total" in _get(smsc, "/metrics")
    finally:
        assert smsc.terminate() == 0


def test_admin_api_lists_messages_and_subscribers(database_url: str, tmp_path: Path) -> None:
    smsc = SmscProcess(_args(database_url, tmp_path))
    try:
        a = smsc.rig(A, "001010000000001")
        a.attach()
        mr = a.submit(_submit("for later", to=C))
        assert isinstance(a.answer(mr), Acked)
        queued = _get(smsc, "/messages?state=queued")
        assert [(m["originator"], m["recipient"], m["text"]) for m in queued] == [
            (A, C, "for later")
        ]
        one = _get(smsc, f"/messages/{queued[0]['id']}")
        assert one["state"] == "queued" and one["tp_mr"] == 0
        subscribers = {s["msisdn"]: s for s in _get(smsc, "/subscribers")}
        assert subscribers[A]["attached"] and subscribers[C]["queued"] == 1
        with pytest.raises(urllib.error.HTTPError) as info:
            _get(smsc, "/messages/999999")
        assert info.value.code == 404
        with pytest.raises(urllib.error.HTTPError) as info:
            _get(smsc, "/messages?state=nonsense")
        assert info.value.code == 400
        metrics = _get(smsc, "/metrics")
        assert "# TYPE smsemu_submits_accepted_total counter" in metrics
        assert "smsemu_submits_accepted_total 1" in metrics
    finally:
        assert smsc.terminate() == 0


def test_up_runs_the_network_on_the_embedded_default_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    """``smsemu up`` needs nothing installed: SQLite in the data directory."""
    up = SmscProcess(["--data-dir", str(tmp_path / "data")], command="up")
    try:
        a = up.rig(A, "001010000000001")
        assert a.attach() == "+15550000000"
        a.close()
    finally:
        assert up.terminate() == 0
    assert (tmp_path / "data" / "smsc.sqlite3").exists()
