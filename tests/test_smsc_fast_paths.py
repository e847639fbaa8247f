"""The SMSC's fast paths give exactly what the general codecs give.

The SMSC builds each SMS-DELIVER by copying octets out of the SMS-SUBMIT, sends
RP messages through a pre-encoded SMSC address, decodes repeated addresses from
a cache and writes through statements compiled once: each is checked here
against the slow, general path it stands in for.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import pytest_twisted
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from twisted.internet import reactor

from pdu import (
    Address,
    Alphabet,
    DataCodingScheme,
    Direction,
    PDUError,
    SmsDeliver,
    SmsSubmit,
    UserData,
    decode,
    encode,
    gsm7,
)
from pdu.address import encode_address
from pdu.dcs import GSM7
from pdu.timestamp import encode_timestamp
from pdu.tpdu import deliver_from_submit
from radiolink import rp
from smsc import store
from smsc.models import MESSAGE, SUBSCRIBER
from smsc.repository import SqlQueueRepository
from smsc.smpp.convert import REPLY_PATH, delivers
from smsc.store import BatchWriter, open_engine
from smsc.submitted_rows import naive_utc

from .strategies import addresses, gsm7_text, numeric_address, octet, sms_submit, timestamps


@given(sms_submit(), addresses, timestamps, st.binary(max_size=3))
def test_deliver_from_submit_is_the_deliver_the_codec_would_build(
    submit: SmsSubmit, tp_oa: Address, tp_scts: datetime, trailing: bytes
) -> None:
    raw = encode(submit) + trailing  # octets after TP-UD are ignored, not forwarded
    fast = deliver_from_submit(raw, encode_address(tp_oa), encode_timestamp(tp_scts))
    slow = SmsDeliver(
        tp_oa=tp_oa,
        tp_scts=tp_scts,
        tp_pid=submit.tp_pid,
        tp_dcs=submit.tp_dcs,
        tp_ud=submit.tp_ud,
        tp_sri=submit.tp_srr,
        tp_rp=submit.tp_rp,
    )
    assert decode(fast, Direction.MT) == slow
    assert len(fast) == len(encode(slow))


def test_deliver_from_submit_refuses_what_is_not_a_submit() -> None:
    deliver = encode(
        SmsDeliver(
            tp_oa=Address("1"),
            tp_scts=datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
            tp_pid=0,
            tp_dcs=GSM7,
        )
    )
    with pytest.raises(PDUError, match="not an SMS-SUBMIT"):
        deliver_from_submit(deliver, b"\x01\x91\xf1", bytes(7))
    with pytest.raises(PDUError, match="too short"):
        deliver_from_submit(bytes((0x11, 0, 4, 0x91, 0x21, 0x43)), b"\x01\x91\xf1", bytes(7))


@given(numeric_address.filter(lambda a: len(a.number) <= 20), octet, st.binary(min_size=1))
def test_network_encoder_matches_encode_rp(smsc: Address, mr: int, tpdu: bytes) -> None:
    try:
        rp.RpData.mt(mr, smsc, tpdu[: rp.MAX_TPDU])
    except rp.RPError:
        with pytest.raises(rp.RPError):
            rp.NetworkEncoder(smsc).data(mr, tpdu[: rp.MAX_TPDU])
        return
    encoder = rp.NetworkEncoder(smsc)
    tpdu = tpdu[: rp.MAX_TPDU]
    assert encoder.data(mr, tpdu) == rp.encode_rp(rp.RpData.mt(mr, smsc, tpdu))
    assert encoder.ack(mr) == rp.encode_rp(rp.RpAck.mt(mr))
    assert encoder.ack(mr, tpdu) == rp.encode_rp(rp.RpAck.mt(mr, tpdu))
    assert encoder.error(mr, 22) == rp.encode_rp(rp.RpError.mt(mr, 22))


@given(sms_submit())
def test_cached_address_decoding_gives_the_same_tpdu_every_time(submit: SmsSubmit) -> None:
    raw = encode(submit)
    assert decode(raw, Direction.MO) == decode(raw, Direction.MO) == submit


def test_a_truncated_address_is_an_error_even_after_the_whole_one_was_cached() -> None:
    raw = encode(SmsSubmit(tp_da=Address("447700900123"), tp_mr=1, tp_dcs=GSM7))
    decode(raw, Direction.MO)  # now cached
    with pytest.raises(PDUError) as caught:
        decode(raw[:6], Direction.MO)
    assert caught.value.offset is not None


def test_the_writer_stores_what_sqlalchemy_would_store(database_url: str) -> None:
    """The compiled statements go through each column's own bind processor:
    reading back through SQLAlchemy gives the values written, datetimes and
    blobs included."""
    engine = open_engine(database_url)
    writer = BatchWriter(engine, threaded=False)
    when = datetime(2026, 12, 1, 10, 0, 0, 123456)
    row = {
        "id": 7,
        "kind": "sms",
        "originator": "+1555",
        "recipient": "+1556",
        "tp_mr": 3,
        "tp_srr": True,
        "tpdu": b"\x00\xff\x01",
        "state": "queued",
        "attempts": 0,
        "submitted_at": when,
        "expires_at": when,
        "done_at": None,
        "error": None,
        "report_for": None,
        "esme": "tester",
        "node": None,
    }
    writer.insert(MESSAGE, row)
    writer.update(MESSAGE, 7, {"state": "delivered", "done_at": when})
    with engine.connect() as conn:
        got = conn.execute(select(MESSAGE)).one()._asdict()
    assert got == {**row, "state": "delivered", "done_at": when}


@given(st.datetimes() | st.datetimes(timezones=st.just(UTC)) | st.dates() | st.none())
def test_the_writers_sqlite_times_are_sqlalchemys_text(value: datetime | date | None) -> None:
    """The writer's own SQLite DATETIME processor (isoformat for a naive
    time) makes SQLAlchemy's very text, microseconds of 0 and years below
    1000 included; what it does not take it hands to SQLAlchemy's."""
    dialect = sqlite.dialect()
    impl = MESSAGE.c.done_at.type.dialect_impl(dialect)
    ours = store._faster(impl, dialect)
    sqlalchemys = impl.bind_processor(dialect)
    assert ours is not None and ours.__qualname__.startswith("_faster")
    assert sqlalchemys is not None
    assert ours(value) == sqlalchemys(value)


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(UTC) | st.timezones(),
    )
)
def test_a_stored_time_is_the_naive_utc_of_the_time(value: datetime) -> None:
    """``naive_utc``'s shortcut gives what converting and dropping the zone gives."""
    got = naive_utc(value)
    assert got.tzinfo is None
    assert got == value.astimezone(UTC).replace(tzinfo=None)


@pytest_twisted.ensureDeferred
async def test_an_attach_storm_is_recorded_whole_in_one_batch(database_url: str) -> None:
    """Every attach of a storm is recorded: its subscriber row inserted, or
    refreshed (IMSI, last attach) with its first attach kept, the last attach of
    a number in a batch winning; all of them one batch, on the writer's thread."""
    engine = open_engine(database_url)
    writer = BatchWriter(engine, reactor)  # type: ignore[arg-type]
    store = SqlQueueRepository(writer)
    first, later = datetime(2026, 12, 1, 9, tzinfo=UTC), datetime(2026, 12, 1, 10, tzinfo=UTC)
    numbers = [f"+1555{i:07d}" for i in range(300)]
    writer.start()
    for n in numbers[:100]:  # attached before
        store.upsert_subscriber(n, "old-" + n, first)
    await writer.stop()
    writer = BatchWriter(engine, reactor)  # type: ignore[arg-type]
    store = SqlQueueRepository(writer)
    for n in numbers:  # queued before the thread starts: one batch
        store.upsert_subscriber(n, "stale-" + n, later)
    for n in numbers[::2]:  # attached again, with another SIM
        store.upsert_subscriber(n, "new-" + n, later)
    writer.start()
    await writer.stop()
    assert (writer.batches, writer.operations) == (1, 450)
    with engine.connect() as conn:
        rows = {r.msisdn: r for r in conn.execute(select(SUBSCRIBER))}
    engine.dispose()
    assert sorted(rows) == numbers
    for i, n in enumerate(numbers):
        row = rows[n]
        assert row.imsi == ("new-" if i % 2 == 0 else "stale-") + n
        assert row.first_attach == (first if i < 100 else later).replace(tzinfo=None)
        assert row.last_attach == later.replace(tzinfo=None)


@given(
    gsm7_text.filter(lambda t: gsm7.septet_count(t) <= 160),
    addresses,
    timestamps,
    octet,
    st.sampled_from([0, 0x10, 0x11, 0x12, 0x13, 0xF0, 0xF1, 0xF3]),
    st.sampled_from([0, REPLY_PATH]),
)
def test_a_single_part_gsm7_submit_sm_becomes_the_deliver_the_codec_would_build(
    text: str, source: Address, when: datetime, pid: int, data_coding: int, esm_class: int
) -> None:
    """The SMPP door's shortcut for one-part GSM 7-bit texts (a header
    encoded once a second, the septets packed behind it) is octet for octet
    the SMS-DELIVER of the general path."""
    [fast] = delivers(
        source=source,
        data_coding=data_coding,
        esm_class=esm_class,
        protocol_id=pid,
        payload=gsm7.encode(text),
        tp_scts=when,
    )
    dcs = DataCodingScheme.general(Alphabet.GSM7, data_coding & 0x03 if data_coding else None)
    general = SmsDeliver(
        tp_oa=source,
        tp_scts=when,
        tp_pid=pid,
        tp_dcs=dcs,
        tp_ud=UserData(text),
        tp_rp=bool(esm_class),
    )
    assert fast == encode(general)
