"""Handsets through the SMSC over real TCP on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pytest_twisted

from pdu import Address, DataCodingScheme, SmsDeliver, SmsStatusReport, SmsSubmit, UserData
from pdu.concat import reassemble, split
from smsc.service import SmscService

from .netfix import handset, smsc_fixture

A, B = "+4915112345678", "+15551234567"


@pytest.fixture
def smsc(database_url: str) -> Iterator[SmscService]:
    yield from smsc_fixture(database_url)


def _submit(text: str, to: str = B, srr: bool = False) -> list[SmsSubmit]:
    plan = split(text, ref=7)
    dcs = DataCodingScheme.general(plan.alphabet)
    return [
        SmsSubmit(tp_da=Address.parse(to), tp_mr=i, tp_dcs=dcs, tp_ud=ud, tp_srr=srr)
        for i, ud in enumerate(plan.parts)
    ]


@pytest_twisted.ensureDeferred
async def test_single_part_gsm7(smsc: SmscService) -> None:
    a, b = await handset(smsc, A), await handset(smsc, B)
    arrived = b.next_message()
    report = await a.submit(_submit("hello B")[0])
    assert report is not None and report.tp_scts.tzinfo is not None
    deliver = await arrived
    assert isinstance(deliver, SmsDeliver)
    assert str(deliver.tp_oa) == A
    assert deliver.tp_ud == UserData("hello B")
    assert not deliver.tp_sri


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("text", ["Grüße! " * 40, "Привет, мир! " * 12 + "😀"])
async def test_multi_part_with_status_report(smsc: SmscService, text: str) -> None:
    a, b = await handset(smsc, A), await handset(smsc, B)
    parts = _submit(text, srr=True)
    assert len(parts) > 1
    waits = [b.next_message() for _ in parts]
    reports = [a.next_message() for _ in parts]
    for tpdu in parts:
        await a.submit(tpdu)
    delivered = [await w for w in waits]
    assert all(isinstance(d, SmsDeliver) and d.tp_sri for d in delivered)
    whole = reassemble(d.tp_ud for d in delivered if isinstance(d, SmsDeliver))
    assert whole.complete and whole.body == text
    got = [await r for r in reports]
    assert sorted(r.tp_mr for r in got if isinstance(r, SmsStatusReport)) == list(range(len(parts)))
    for r in got:
        assert isinstance(r, SmsStatusReport)
        assert r.tp_st == 0x00
        assert str(r.tp_ra) == B
        assert r.tp_dt >= r.tp_scts
