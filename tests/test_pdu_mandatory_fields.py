"""Every mandatory field of a decoded TPDU shows in its JSON, even when its
value is 0: TP-PI of the two reports, TP-CDL of SMS-COMMAND (TS 23.040 §9.2.2)."""

from __future__ import annotations

import json

from pdu import Direction
from pdu.jsonview import decode_json, to_json
from pdu.tpdu import decode

from .test_cli import smsemu

SCTS = "99309251619580"  # 1999-03-29 15:16:59 +02:00
DA = "0B917228732143F5"  # +27823712345


def test_submit_report_with_nothing_optional_shows_tp_pi_zero() -> None:
    view = decode_json(bytes.fromhex("0100" + SCTS), Direction.MT, rp_error=False)
    assert view["tp_mti"] == "SMS-SUBMIT-REPORT"
    assert view["tp_pi"] == 0
    assert view["tp_pid"] is None and view["tp_cdl"] is None


def test_deliver_report_shows_tp_pi_as_it_stood() -> None:
    # RP-ERROR form: TP-FCS D2 (error in MS), TP-PI 01 (TP-PID follows), TP-PID 00.
    view = decode_json(bytes.fromhex("00D20100"), Direction.MO, rp_error=True)
    assert view["tp_mti"] == "SMS-DELIVER-REPORT"
    assert (view["tp_fcs"], view["tp_pi"], view["tp_pid"]) == (0xD2, 1, 0)


def test_command_with_no_data_shows_tp_cdl_zero() -> None:
    # TP-MR 05, TP-PID 00, TP-CT 01 (cancel status report request), TP-MN 07.
    view = decode_json(bytes.fromhex("0205000107" + DA + "00"), Direction.MO)
    assert view["tp_mti"] == "SMS-COMMAND"
    assert (view["tp_cdl"], view["tp_cd"], view["tp_pi"]) == (0, "", None)


def test_command_data_length_counts_octets() -> None:
    view = decode_json(bytes.fromhex("0205000107" + DA + "03AABBCC"), Direction.MO)
    assert (view["tp_cdl"], view["tp_cd"]) == (3, "aabbcc")


def test_status_report_without_parameters_has_no_tp_pi() -> None:
    view = decode_json(bytes.fromhex("0605" + DA + SCTS + SCTS + "00"), Direction.MT)
    assert view["tp_mti"] == "SMS-STATUS-REPORT" and view["tp_pi"] is None
    with_pi = decode_json(bytes.fromhex("0605" + DA + SCTS + SCTS + "0000"), Direction.MT)
    assert with_pi["tp_pi"] == 0


def test_tp_pi_implied_by_the_fields_without_a_trace() -> None:
    # SMS-SUBMIT-REPORT, TP-PI 01, TP-SCTS, TP-PID 7F (SIM data download).
    tpdu = decode(bytes.fromhex("0101" + SCTS + "7F"), Direction.MT, rp_error=False)
    assert to_json(tpdu)["tp_pi"] == 1


def test_cli_prints_the_fields() -> None:
    out = smsemu("pdu", "decode", "0205000107" + DA + "00", "--mo", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["tp_cdl"] == 0
    plain = smsemu("pdu", "decode", "0100" + SCTS, "--mt")
    assert "tp_pi: 0" in plain.stdout.splitlines()
