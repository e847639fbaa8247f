"""What a restart finds of a message an ESME submitted (``esme_message``), at
each point a crash can leave it: every part ended but its receipt not made,
its receipt made but not settled, a read still to come.  Each "run" is an
SMSC on the same SQLite file with a synchronous writer, on ``task.Clock``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet.task import Clock

from pdu import Address
from smpp34 import pdu as p
from smsc.core import Smsc, SmscConfig
from smsc.models import MessageKind, MessageState
from smsc.queued import Queued
from smsc.repository import MessageQuery, SqlQueueRepository
from smsc.smpp import receipt
from smsc.smpp.convert import delivers
from smsc.smpp.delivery_receipts import USER_ACK
from smsc.smpp.gateway import EsmeAccount, SmppConfig, SmppGateway
from smsc.store import BatchWriter, open_engine
from smsc.submitted import Submitted

from .test_handset_phone import now

ESME, SOURCE, PHONE = "tester", Address("4930123456"), "+15551234567"
TEXT = "a message long enough to go in three parts " * 8


def run(tmp_path: Path, **config: Any) -> Smsc:
    """An SMSC with its SMPP door on the database in ``tmp_path``, its backlog taken up."""
    clock = Clock()
    clock.advance(1_800_000_000)
    writer = BatchWriter(open_engine(f"sqlite:///{tmp_path / 'smsc.sqlite3'}"), threaded=False)
    smsc = Smsc(SqlQueueRepository(writer), clock, SmscConfig())
    smpp = SmppConfig(accounts=[EsmeAccount(ESME, "pw")], **config)
    smsc.esme = SmppGateway(smsc.esme_door, smpp, clock)
    smsc.load()
    return smsc


def submitted(smsc: Smsc, *, number: int | None = None) -> tuple[list[Queued], Submitted]:
    """A three-part message from the ESME, committed as submit_sm leaves it."""
    tpdus = delivers(
        source=SOURCE,
        data_coding=0,
        esm_class=0,
        protocol_id=0,
        payload=TEXT.encode(),
        tp_scts=smsc.local(smsc.now()),
        ref=7,
    )
    assert len(tpdus) == 3
    sub = Submitted(ESME, (), 1, smsc.now(), TEXT, 0, SOURCE, 0, number=number)
    told: list[Any] = []  # committed at once: the writer is synchronous
    smsc.esme_door.submit_from_esme(
        ESME, str(SOURCE), PHONE, tpdus, told.append, receipt=True, sub=sub
    )
    [items] = told
    gateway = smsc.esme
    assert isinstance(gateway, SmppGateway)
    gateway.receipts.note(sub)  # as submit_sm does once committed
    assert [i.id for i in items] == list(sub.ids) == list(range(sub.id, sub.id + 3))
    return items, sub


def receipts(smsc: Smsc) -> list[Any]:
    return now(smsc.store.messages(MessageQuery(kind=MessageKind.ESME.value)))


def text_of(row: Any) -> dict[str, str]:
    deliver = p.decode(row.tpdu)
    assert isinstance(deliver, p.DeliverSm)
    return receipt.parse(deliver.short_message.decode())


def test_a_message_whose_parts_all_ended_before_the_crash_gets_its_receipt_at_start(
    tmp_path: Path,
) -> None:
    smsc = run(tmp_path)
    items, sub = submitted(smsc)
    # The last run committed each part's end, and died before the receipt.
    for item in items:
        smsc.store.finish(item, MessageState.DELIVERED, smsc.now(), None)
    assert receipts(smsc) == []

    smsc = run(tmp_path)
    [made] = receipts(smsc)
    assert made.report_for == sub.id
    fields = text_of(made)
    assert (fields["sub"], fields["dlvrd"], fields["stat"]) == ("003", "003", "DELIVRD")
    smsc = run(tmp_path)  # settled: not made again
    assert len(receipts(smsc)) == 1


def test_a_receipt_made_just_before_the_crash_is_not_made_again(tmp_path: Path) -> None:
    smsc = run(tmp_path)
    items, sub = submitted(smsc)
    for item in items[:2]:
        smsc.finish(item, MessageState.DELIVERED, 0)
    assert receipts(smsc) == []
    smsc = run(tmp_path)  # two parts ended, one queued: the message waits for it
    assert receipts(smsc) == []
    [last] = [i for i in smsc.esme_door.from_esmes.values() if i.id == items[2].id]
    smsc.delivery.station(PHONE).queue.remove(last)
    smsc.finish(last, MessageState.FAILED, 0x41, 27)
    [made] = receipts(smsc)
    assert made.report_for == sub.id and text_of(made)["stat"] == "UNDELIV"
    # As if the crash came between the receipt's commit and the settling.
    engine = smsc.store.writer.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE esme_message SET done_at = NULL")
    smsc = run(tmp_path)
    assert len(receipts(smsc)) == 1


def test_a_read_after_a_restart_still_reaches_the_esme_once(tmp_path: Path) -> None:
    smsc = run(tmp_path, read_receipts=True)
    items, _ = submitted(smsc, number=5)
    for item in items:
        smsc.finish(item, MessageState.DELIVERED, 0)
    assert len(receipts(smsc)) == 1  # the delivery receipt

    smsc = run(tmp_path, read_receipts=True)
    gateway = smsc.esme
    assert isinstance(gateway, SmppGateway)
    gateway.read(str(SOURCE), PHONE, 5, 1)
    gateway.read(str(SOURCE), PHONE, 5, 1)  # the same feedback again changes nothing
    rows = receipts(smsc)
    assert len(rows) == 2
    read = p.decode(rows[1].tpdu)
    assert isinstance(read, p.DeliverSm) and read.esm_class == USER_ACK
    assert text_of(rows[1])["stat"] == "READ" and text_of(rows[1])["sub"] == "003"

    smsc = run(tmp_path, read_receipts=True)  # read already: nothing more after a restart
    gateway = smsc.esme
    assert isinstance(gateway, SmppGateway)
    gateway.read(str(SOURCE), PHONE, 5, 1)
    assert len(receipts(smsc)) == 2
