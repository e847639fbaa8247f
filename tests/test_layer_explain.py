"""``smsemu pdu explain --layer rp|smpp``: RP messages (TS 24.011 §7.3) and SMPP
PDUs (SMPP 3.4 §4) field by field, in the rows a TPDU's explanation uses.

The SMPP octets come from smpplib, an independent implementation; the RP
octets from our encoder, checked against a hand-assembled message."""

from __future__ import annotations

import subprocess
import sys

import smpplib.smpp
from hypothesis import given
from hypothesis import strategies as st

from pdu import Address, from_hex
from pdu.explain import render
from pdu.tpdu import Direction
from radiolink.explain import explain_rp
from radiolink.rp import RpData, RpError, RpMti, encode_rp
from smpp34.explain import explain_smpp
from smsc.pdu_layers import detect_layer, explain_layer

SUBMIT = "0100 0B915155001000F1 0000 0AE8329BFD4697D9EC37".replace(" ", "")
# RP-DATA MS->N, RP-MR 5, no RP-OA, RP-DA +447700900000, RP-User Data: SUBMIT.
RP_DATA = "00 05 00 07 91447700090000 16".replace(" ", "") + SUBMIT


def covered(expl: object) -> bytes:
    return b"".join(r.raw for r in expl.rows if not r.bits)  # type: ignore[attr-defined]


def test_rp_data_is_explained_with_its_tpdu_in_place() -> None:
    data = from_hex(RP_DATA)
    assert encode_rp(RpData.mo(5, Address("447700900000", 0x91), from_hex(SUBMIT))) == data
    expl = explain_rp(data)
    assert expl.error is None and expl.what == "RP-DATA (MS to network)"
    assert covered(expl) == data
    fields = {r.field: r for r in expl.rows}
    assert fields["RP-Message Reference"].raw == b"\x05"
    assert fields["RP-DA Address-Value"].meaning == "'+447700900000'"
    assert fields["first octet"].offset == 12  # the TPDU's, counted from the RP message
    assert fields["TP-DA Address-Value"].meaning == "'+15550001001'"
    assert expl.tpdu is not None and expl.tpdu.name == "SMS-SUBMIT"


def test_rp_error_names_its_cause() -> None:
    expl = explain_rp(from_hex("05070116"))
    assert expl.error is None
    assert [(r.field, r.meaning) for r in expl.rows][-1] == (
        "RP-Cause",
        "22 (memory capacity exceeded)",
    )
    assert RpError(7, 22, mti=RpMti.ERROR_N_TO_MS).name in expl.what


def test_a_broken_rp_message_is_explained_up_to_the_error() -> None:
    expl = explain_rp(from_hex(RP_DATA[:12]))
    assert expl.error is not None
    assert render(expl).splitlines()[-1].startswith("error: at octet")
    assert [r.field for r in expl.rows][:2] == ["RP-MTI", "RP-Message Reference"]


def test_submit_sm_from_smpplib_is_explained_field_by_field() -> None:
    pdu = smpplib.smpp.make_pdu(
        "submit_sm", sequence=7, source_addr="ESME1", destination_addr="15550001001",
        short_message=b"hello", registered_delivery=1,
    )  # fmt: skip
    pdu.sequence = 7
    data = pdu.generate()
    assert detect_layer(data) == "smpp"
    layer, expl = explain_layer(data, "auto", Direction.MT)
    assert layer == "smpp" and expl.what == "submit_sm" and expl.error is None
    assert covered(expl) == data
    fields = {r.field: r.meaning for r in expl.rows}
    assert fields["command_id"] == "submit_sm"
    assert fields["sequence_number"].startswith("7")
    assert fields["destination_addr"] == "'15550001001'"
    assert fields["registered_delivery"].startswith("1")
    assert fields["sm_length"] == "5 octets follow"


def test_a_tlv_and_a_status_are_named() -> None:
    pdu = smpplib.smpp.make_pdu(
        "deliver_sm", sequence=3, source_addr="15550001001", destination_addr="ESME1",
        short_message=b"", receipted_message_id="ab12", message_state=2,
    )  # fmt: skip
    pdu.sequence = 3
    expl = explain_smpp(pdu.generate())
    assert expl.error is None
    fields = {r.field: r.meaning for r in expl.rows}
    assert fields["receipted_message_id tag"] == "optional parameter 0x001e"
    assert fields["message_state"] == "2"
    resp = explain_smpp(from_hex("00000010 80000004 0000000B 00000003".replace(" ", "")))
    assert resp.what == "submit_sm_resp" and resp.error is None
    assert {r.field: r.meaning for r in resp.rows}["command_status"].startswith("ESME_RINVDSTADR")


@given(st.binary(max_size=80))
def test_any_octets_are_explained_without_an_exception(data: bytes) -> None:
    for layer in ("rp", "smpp", "auto"):
        _, expl = explain_layer(data, layer, Direction.MO)
        start = 0
        for row in expl.rows:
            if row.raw:
                assert data[row.offset : row.offset + len(row.raw)] == row.raw
                assert row.offset >= start
                start = row.offset
        render(expl)


def test_the_command_takes_a_layer() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "smsemu", "pdu", "explain", "--layer", "rp", RP_DATA],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "RP-DA Address-Value" in run.stdout and "TP-DA Address-Value" in run.stdout
    broken = subprocess.run(
        [sys.executable, "-m", "smsemu", "pdu", "explain", "--layer", "smpp", "0000001000000004"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert broken.returncode == 2
    assert broken.stderr.count("\n") == 1 and broken.stderr.startswith("error: ")
