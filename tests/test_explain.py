"""The explanation accounts for every octet, once, in order."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from pdu import Address, Direction, SmsStatusReport, Tpdu, encode, encode_sca, from_hex
from pdu.explain import explain, render

from .strategies import tpdus


@given(tpdus, st.booleans())
def test_every_octet_is_explained_once(tpdu: Tpdu, sca: bool) -> None:
    octets = encode_sca(tpdu, None) if sca else encode(tpdu)
    expl = explain(octets, tpdu.direction, sca=sca)
    assert expl.error is None
    assert expl.tpdu == tpdu
    covered = b"".join(row.raw for row in expl.rows if not row.bits)
    assert covered == octets
    offsets = [row.offset for row in expl.rows if not row.bits]
    assert offsets == sorted(offsets)


def test_status_report_fields_are_named() -> None:
    when = datetime(2026, 11, 22, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    report = SmsStatusReport(
        tp_mr=6, tp_ra=Address.parse("+15551234567"), tp_scts=when, tp_dt=when, tp_st=0x46
    )
    table = render(explain(encode(report), Direction.MT))
    for name in ("SMS-STATUS-REPORT", "TP-MR", "TP-RA", "TP-SCTS", "TP-DT", "TP-ST"):
        assert name in table
    assert "SM validity period expired" in table


def test_a_broken_pdu_is_explained_up_to_the_error() -> None:
    expl = explain(from_hex("040B915155214365"), Direction.MT)
    assert expl.error is not None
    assert [r.field for r in expl.rows if not r.bits][:2] == ["first octet", "TP-OA Address-Length"]
    assert render(expl).splitlines()[-1].startswith("error: at octet")
