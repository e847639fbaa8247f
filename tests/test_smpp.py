"""The SMPP door with smpplib (an independent client from PyPI) as the ESME,
over real TCP on 127.0.0.1 against the real SMSC on an SQLite file, with
handsets attached over the radio link: binds, submits in every alphabet and
length, the handset's text, delivery receipts, MO, query_sm and cancel_sm,
every fault rule, and bad input."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.threads import deferToThread

from handset.link_client import LinkClient, SubmitRefused
from handset.service import HandsetService
from pdu import Address, SmsDeliver, SmsStatusReport, SmsSubmit
from pdu import encode as encode_tpdu
from pdu.concat import reassemble, split
from receipt_server.server import ReceiptServerService
from receipt_server.store import sqlite_url as receipt_sqlite_url
from smpp34 import pdu as smpp_pdu
from smsc.core import Smsc, SmscConfig
from smsc.idblocks import IdsExhausted
from smsc.service import SmscService
from smsc.smpp import receipt
from smsc.smpp.faults import FaultRule
from smsc.smpp.gateway import EsmeAccount, SmppConfig
from smsemu.network import provision, report_reads
from smsemu.subscribers import provision_handset

from .netfix import ClockedReactor, clock_at_now, handset, stop

PHONE, OTHER = "+4915112345678", "+15551234567"
SHORT_CODE = "12345"
TESTER = EsmeAccount("tester", "secret", routes=(SHORT_CODE,))
SLOW = EsmeAccount("slow", "secret", rate=2)


def start(
    tmp_path: Path,
    *faults: FaultRule,
    read_receipts: bool = False,
    reactor: Any = None,
    admin: str | None = None,
    **config: Any,
) -> SmscService:
    """The SMSC with its SMPP door (and its admin API if ``admin`` says where);
    on the real reactor, or on ``reactor`` (a ``ClockedReactor``: its delays
    and rate limits then keep a test's clock)."""
    smpp = SmppConfig(
        accounts=[TESTER, SLOW], faults=list(faults), seed=1, read_receipts=read_receipts
    )
    service = SmscService(
        SmscConfig(**config),
        f"sqlite:///{tmp_path / 'smsc.sqlite3'}",
        link="tcp:0",
        admin=admin,
        smpp="tcp:0",
        smpp_config=smpp,
        reactor=reactor,
    )
    service.startService()
    return service


@pytest.fixture
def smsc(tmp_path: Path) -> Iterator[SmscService]:
    service = start(tmp_path)
    yield service
    stop(service)


@pytest.fixture
def clock() -> Clock:
    return clock_at_now()


@pytest.fixture
def smsc_on_a_clock(tmp_path: Path, clock: Clock) -> Iterator[SmscService]:
    """The SMSC whose time is ``clock``: real sockets, time only as the test says."""
    service = start(tmp_path, reactor=ClockedReactor(clock))
    yield service
    stop(service)


def next_event(smsc: Smsc, kind: str) -> Deferred[dict[str, Any]]:
    """Fires with the details of the SMSC's next event ``kind``."""
    done: Deferred[dict[str, Any]] = Deferred()

    def watcher(event: str, details: dict[str, Any]) -> None:
        if event == kind and not done.called:
            done.callback(details)

    smsc.watch(watcher)
    return done


class Esme:
    """An smpplib client, its blocking calls run on a thread."""

    def __init__(self, port: int) -> None:
        self.client = smpplib.client.Client(
            "127.0.0.1", port, timeout=20, allow_unknown_opt_params=True
        )
        self.client.connect()

    def close(self) -> None:
        self.client.disconnect()

    async def bind(self, kind: str = "transceiver", system_id: str = "tester") -> Any:
        method = getattr(self.client, f"bind_{kind}")
        return await deferToThread(method, system_id=system_id, password="secret")

    async def read(self) -> Any:
        """The next PDU; a deliver_sm is answered ESME_ROK as it is read."""
        pdu = await deferToThread(self.client.read_pdu)
        if pdu.command == "deliver_sm":
            resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=self.client)
            resp.sequence = pdu.sequence
            self.client.send_pdu(resp)
        return pdu

    async def until(self, command: str) -> Any:
        while (pdu := await self.read()).command != command:
            pass
        return pdu

    def send(self, **fields: Any) -> Any:
        """A submit_sm to the phone, not waiting for its response (pipelined)."""
        args = {
            "source_addr_ton": 1,
            "source_addr": "4930123456",
            "dest_addr_ton": 1,
            "destination_addr": PHONE[1:],
        }
        args.update(fields)
        return self.client.send_message(**args)

    async def submit(self, **fields: Any) -> Any:
        self.send(**fields)
        return await self.until("submit_sm_resp")


@pytest_twisted.async_yield_fixture
async def phone(smsc: SmscService) -> Any:
    client: LinkClient = await handset(smsc, PHONE)
    yield client
    client.close()
    await client.lost


@pytest_twisted.async_yield_fixture
async def esme(smsc: SmscService) -> Any:
    e = Esme(smsc.smpp_port)
    yield e
    e.close()


def message_id(resp: Any) -> str:
    raw = resp.message_id
    return raw.decode() if isinstance(raw, bytes) else str(raw)


# -- binds -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["transmitter", "receiver", "transceiver"])
@pytest_twisted.ensureDeferred
async def test_each_bind_kind_is_accepted(smsc: SmscService, kind: str) -> None:
    esme = Esme(smsc.smpp_port)
    try:
        resp = await esme.bind(kind)
        assert resp.command == f"bind_{kind}_resp" and resp.status == 0
        assert resp.system_id in (b"smsemu", "smsemu")
    finally:
        esme.close()


@pytest_twisted.ensureDeferred
async def test_wrong_credentials_are_refused_and_the_connection_may_try_again(
    smsc: SmscService,
) -> None:
    esme = Esme(smsc.smpp_port)
    try:
        with pytest.raises(smpplib.exceptions.PDUError) as caught:
            await deferToThread(esme.client.bind_transmitter, system_id="tester", password="nope")
        assert caught.value.args[1] == smpplib.consts.SMPP_ESME_RINVPASWD
        with pytest.raises(smpplib.exceptions.PDUError) as caught:
            await deferToThread(esme.client.bind_transmitter, system_id="who", password="x")
        assert caught.value.args[1] == smpplib.consts.SMPP_ESME_RINVSYSID
        assert (await esme.bind("transmitter")).status == 0
    finally:
        esme.close()


# -- submit_sm to a handset ----------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_gsm_message_reaches_the_handset_and_its_receipt_the_esme(
    smsc: SmscService, phone: LinkClient, esme: Esme
) -> None:
    await esme.bind()
    arriving = phone.next_message()
    # GSM 03.38 unpacked: "Hi @ €" (@ is 0x00, € the escape 0x1B 0x65).
    resp = await esme.submit(short_message=b"Hi \x00 \x1be", data_coding=0, registered_delivery=1)
    assert resp.status == 0
    got = await arriving
    assert isinstance(got, SmsDeliver) and got.tp_ud.body == "Hi @ €"
    assert got.tp_oa == Address("4930123456")
    dlr = await esme.until("deliver_sm")
    assert dlr.esm_class == 0x04
    fields = receipt.parse(dlr.short_message.decode())
    assert fields["id"] == message_id(resp) and fields["stat"] == "DELIVRD"
    assert dlr.receipted_message_id in (message_id(resp), message_id(resp).encode())
    assert dlr.message_state == 2  # DELIVERED


@pytest_twisted.ensureDeferred
async def test_the_submit_sm_and_deliver_sm_events_carry_the_octets_that_crossed(
    smsc: SmscService, phone: LinkClient, esme: Esme
) -> None:
    """What the console's inspector shows of an SMPP leg: the submit_sm as it
    came, the deliver_sm as it went, with the sequence numbers of the wire."""
    assert smsc.smsc is not None
    await esme.bind()
    submitted = next_event(smsc.smsc, "submit_sm")
    delivering = next_event(smsc.smsc, "deliver_sm")
    arriving = phone.next_message()
    resp = await esme.submit(short_message=b"octets", data_coding=0, registered_delivery=1)
    await arriving
    came = smpp_pdu.decode(bytes((await submitted)["pdu"]))
    assert isinstance(came, smpp_pdu.SubmitSm) and came.short_message == b"octets"
    assert came.sequence_number == resp.sequence
    dlr = await esme.until("deliver_sm")
    went = smpp_pdu.decode(bytes((await delivering)["pdu"]))
    assert isinstance(went, smpp_pdu.DeliverSm) and went.sequence_number == dlr.sequence
    assert went.short_message == dlr.short_message and went.esm_class == dlr.esm_class


@pytest_twisted.ensureDeferred
async def test_a_node_ahead_of_its_id_blocks_asks_both_doors_to_try_again(
    smsc: SmscService, phone: LinkClient, esme: Esme, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster node that used up its ids before the next block came back
    (smsc.idblocks) refuses for now, never blocks: ESME_RTHROTTLED to an ESME,
    RP-ERROR cause 42 (congestion) to a handset; both may send it again."""
    assert smsc.smsc is not None
    await esme.bind()

    def exhausted(count: int = 1) -> int:
        raise IdsExhausted("no message ids left: waiting for a block of 10000")

    monkeypatch.setattr(smsc.smsc, "new_id", exhausted)
    resp = await esme.submit(short_message=b"later", data_coding=0)
    assert resp.status == smpplib.consts.SMPP_ESME_RTHROTTLED
    submit = SmsSubmit(tp_da=Address.parse("+15550009999"), tp_mr=3, tp_ud=split("x").parts[0])
    with pytest.raises(SubmitRefused) as refused:
        await phone.submit(encode_tpdu(submit))
    assert refused.value.cause == 42
    monkeypatch.undo()  # the block is back: the same messages go
    assert (await esme.submit(short_message=b"later", data_coding=0)).status == 0
    assert await phone.submit(encode_tpdu(submit)) is not None


@pytest_twisted.ensureDeferred
async def test_a_receipt_waits_for_an_id_when_a_cluster_node_has_none(
    smsc: SmscService, phone: LinkClient, esme: Esme, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delivery receipt of a node out of id blocks is made once the next
    block is there (smsc.idblocks.ID_RETRY later), not lost."""
    assert smsc.smsc is not None
    given = smsc.smsc.new_id
    asked: list[str] = []

    def second_is_out(count: int = 1) -> int:
        asked.append("out" if len(asked) == 1 else "id")
        if asked[-1] == "out":  # the receipt's first try: the next block is not back
            raise IdsExhausted("no message ids left")
        return given(count)

    monkeypatch.setattr(smsc.smsc, "new_id", second_is_out)
    await esme.bind()
    arriving = phone.next_message()
    resp = await esme.submit(short_message=b"receipt later", data_coding=0, registered_delivery=1)
    assert resp.status == 0
    await arriving
    dlr = await esme.until("deliver_sm")
    assert asked == ["id", "out", "id"]  # the submit's, the receipt's two tries
    assert receipt.parse(dlr.short_message.decode())["id"] == message_id(resp)


def gsm_unpacked(octets: bytes) -> str:
    """GSM 03.38 text of one septet per octet, read with smpplib's own table
    (an implementation that is not ours)."""
    return "".join(smpplib.gsm.GSM_CHARACTER_TABLE[b] for b in octets)


@pytest_twisted.ensureDeferred
async def test_a_receipt_in_data_coding_0_is_gsm_like_every_data_coding_0(
    smsc: SmscService, phone: LinkClient, esme: Esme
) -> None:
    """data_coding 0 is GSM 03.38 in this SMSC, for a receipt's text too: the
    '@' of the message must not come out as the '¡' of ASCII 0x40."""
    await esme.bind()
    # "a@b_$" in GSM 03.38 unpacked: @ is 0x00, _ is 0x11, $ is 0x02.
    resp = await esme.submit(short_message=b"a\x00b\x11\x02", registered_delivery=1)
    assert resp.status == 0
    dlr = await esme.until("deliver_sm")
    assert dlr.data_coding == 0
    fields = receipt.parse(gsm_unpacked(dlr.short_message))
    assert fields["id"] == message_id(resp) and fields["text"] == "a@b_$"


@pytest_twisted.ensureDeferred
async def test_ucs2_and_long_messages_arrive_whole(
    smsc: SmscService, phone: LinkClient, esme: Esme
) -> None:
    await esme.bind("transmitter")
    # UCS2 in one part.
    arriving = phone.next_message()
    await esme.submit(short_message="Привет 👋".encode("utf-16-be"), data_coding=8)
    got = await arriving
    assert isinstance(got, SmsDeliver) and got.tp_ud.body == "Привет 👋"
    # A long one in message_payload: the SMSC splits it.
    long_text = "The quick brown fox jumps over the lazy dog. " * 8
    arriving_parts = [phone.next_message() for _ in split(long_text).parts]
    resp = await esme.submit(short_message=b"", message_payload=long_text.encode(), data_coding=1)
    assert resp.status == 0
    parts = [await d for d in arriving_parts]
    assert reassemble(p.tp_ud for p in parts if isinstance(p, SmsDeliver)).body == long_text
    # A long one the ESME split itself, with UDH, via smpplib's own splitter.
    pieces, encoding, esm_class = smpplib.gsm.make_parts("Ünïcode long message " * 6)
    arriving_parts = [phone.next_message() for _ in pieces]
    for piece in pieces:
        assert (
            await esme.submit(short_message=piece, data_coding=encoding, esm_class=esm_class)
        ).status == 0
    parts = [await d for d in arriving_parts]
    whole = reassemble(p.tp_ud for p in parts if isinstance(p, SmsDeliver))
    assert whole.complete and whole.body == "Ünïcode long message " * 6
    # And with the sar_* TLVs instead of a UDH.
    halves = ["first half, ", "second half"]
    arriving_parts = [phone.next_message() for _ in halves]
    for seq, half in enumerate(halves, 1):
        resp = await esme.submit(
            short_message=half.encode(),
            data_coding=1,
            sar_msg_ref_num=0x1234,
            sar_total_segments=2,
            sar_segment_seqnum=seq,
        )
        assert resp.status == 0
    parts = [await d for d in arriving_parts]
    whole = reassemble(p.tp_ud for p in parts if isinstance(p, SmsDeliver))
    assert whole.complete and whole.body == "".join(halves)


# -- MO to the ESME ------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_an_mo_to_a_short_code_reaches_the_esme(
    smsc: SmscService, phone: LinkClient, esme: Esme
) -> None:
    await esme.bind("receiver")
    submit = SmsSubmit(
        tp_da=Address(SHORT_CODE, 0x81 >> 4 & 0x07, 1),
        tp_mr=5,
        tp_ud=split("STOP all").parts[0],
        tp_srr=True,
    )
    await phone.submit(encode_tpdu(submit))
    report = phone.next_message()
    mo = await esme.until("deliver_sm")
    assert mo.source_addr in (PHONE[1:], PHONE[1:].encode())
    assert mo.destination_addr in (SHORT_CODE, SHORT_CODE.encode())
    assert mo.esm_class & 0x04 == 0 and mo.short_message == b"STOP all"  # GSM 03.38: ASCII here
    got = await report  # the deliver_sm_resp is the delivery: the phone gets its report
    assert isinstance(got, SmsStatusReport) and got.tp_st == 0


@pytest_twisted.ensureDeferred
async def test_a_tp_rd_resend_of_an_mo_still_waiting_for_its_esme_is_refused(
    smsc: SmscService, phone: LinkClient
) -> None:
    """No ESME is bound, so the MO waits for it: the phone's resend with TP-RD
    (same TP-MR, same TP-DA) is refused as a duplicate, TP-FCS 0xC5."""
    submit = SmsSubmit(tp_da=Address(SHORT_CODE, 0, 1), tp_mr=9, tp_ud=split("JOIN").parts[0])
    await phone.submit(encode_tpdu(submit))
    with pytest.raises(SubmitRefused) as refused:
        await phone.submit(encode_tpdu(replace(submit, tp_rd=True)))
    assert refused.value.duplicate and refused.value.cause == 21
    # Another TP-MR is another message, TP-RD or not.
    assert await phone.submit(encode_tpdu(replace(submit, tp_mr=10, tp_rd=True))) is not None


# -- query_sm and cancel_sm -----------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_query_and_cancel_a_pending_message(smsc: SmscService, esme: Esme) -> None:
    await esme.bind()
    resp = await esme.submit(
        destination_addr=OTHER[1:], short_message=b"later", registered_delivery=1
    )
    mid = message_id(resp)
    esme.client.query_message(
        message_id=mid, source_addr_ton=1, source_addr_npi=1, source_addr="4930123456"
    )
    q = await esme.until("query_sm_resp")
    assert q.status == 0 and q.message_state == 1  # ENROUTE: no handset has attached
    # smpplib has no cancel_sm: the PDU is written octet by octet (SMPP 3.4
    # §4.9.1) on its socket, and its cancel_sm_resp read the same way.
    cancel = cancel_sm(20, mid, "4930123456", OTHER[1:])
    assert await deferToThread(exchange, esme.client._socket, cancel) == (0x80000008, 0, 20)
    dlr = await esme.until("deliver_sm")
    assert receipt.parse(dlr.short_message.decode())["stat"] == "DELETED"
    esme.client.query_message(
        message_id=mid, source_addr_ton=1, source_addr_npi=1, source_addr="4930123456"
    )
    q = await esme.until("query_sm_resp")
    assert q.message_state == 4  # DELETED, read back from the database
    again = await deferToThread(
        exchange, esme.client._socket, cancel_sm(21, mid, "4930123456", OTHER[1:])
    )
    assert again == (0x80000008, smpplib.consts.SMPP_ESME_RCANCELFAIL, 21)


@pytest_twisted.ensureDeferred
async def test_a_later_part_is_not_cancelled_alone_and_an_id_that_is_no_number_is_invalid(
    smsc: SmscService, esme: Esme
) -> None:
    """A long message goes whole or not at all: the id of its second part
    names no message to cancel or replace.  A message_id that is not a
    number is ESME_RINVMSGID for all three (SMPP 3.4 §5.1.3)."""
    await esme.bind()
    resp = await esme.submit(
        destination_addr=OTHER[1:], short_message=b"", message_payload=b"long " * 60,
        registered_delivery=1,
    )  # fmt: skip
    mid = message_id(resp)
    second = str(int(mid) + 1).zfill(len(mid))  # its second part's id

    async def call(request: smpp_pdu.Pdu) -> tuple[int, int, int]:
        got: tuple[int, int, int] = await deferToThread(
            exchange, esme.client._socket, smpp_pdu.encode(request)
        )
        return got

    def cancel(seq: int, mid: str) -> smpp_pdu.CancelSm:
        return smpp_pdu.CancelSm(
            sequence_number=seq, message_id=mid, source_addr_ton=1, source_addr="4930123456"
        )

    def replace(seq: int, mid: str) -> smpp_pdu.ReplaceSm:
        return smpp_pdu.ReplaceSm(
            sequence_number=seq, message_id=mid, source_addr_ton=1,
            source_addr="4930123456", short_message=b"other",
        )  # fmt: skip

    consts = smpplib.consts
    assert await call(cancel(30, second)) == (0x80000008, consts.SMPP_ESME_RCANCELFAIL, 30)
    assert await call(replace(31, second)) == (0x80000007, consts.SMPP_ESME_RREPLACEFAIL, 31)
    invalid = smpplib.consts.SMPP_ESME_RINVMSGID
    assert await call(cancel(32, "not-a-number")) == (0x80000008, invalid, 32)
    assert await call(replace(33, "not-a-number")) == (0x80000007, invalid, 33)
    # Both parts still wait: the message is cancelled whole, one receipt.
    assert await call(cancel(34, mid)) == (0x80000008, 0, 34)
    dlr = receipt.parse((await esme.until("deliver_sm")).short_message.decode())
    assert (dlr["id"], dlr["sub"], dlr["stat"]) == (mid, "002", "DELETED")


# -- bad input ---------------------------------------------------------------------------------


def raw(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def header(length: int, command_id: int, status: int, seq: int) -> bytes:
    return struct.pack(">IIII", length, command_id, status, seq)


def read_one(sock: socket.socket) -> tuple[int, int, int, bytes]:
    head = b""
    while len(head) < 16:
        chunk = sock.recv(16 - len(head))
        if not chunk:
            raise ConnectionError("closed")
        head += chunk
    length, command_id, status, seq = struct.unpack(">IIII", head)
    body = b""
    while len(body) < length - 16:
        body += sock.recv(length - 16 - len(body))
    return command_id, status, seq, body


def cancel_sm(seq: int, message_id: str, source: str, destination: str) -> bytes:
    body = (
        b"\x00"  # service_type
        + message_id.encode()
        + b"\x00"
        + b"\x01\x01"
        + source.encode()
        + b"\x00"
        + b"\x01\x01"
        + destination.encode()
        + b"\x00"
    )
    return header(16 + len(body), 0x00000008, 0, seq) + body


def exchange(sock: socket.socket, request: bytes) -> tuple[int, int, int]:
    sock.sendall(request)
    return read_one(sock)[:3]


def _bad_input(port: int) -> list[tuple[int, int, int]]:
    sock = raw(port)
    out = []
    try:
        # submit_sm before a bind: ESME_RINVBNDSTS
        body = b"\x00" + b"\x00\x00" + b"1\x00" + b"\x01\x01" + b"49\x00" + bytes(10)
        sock.sendall(header(16 + len(body), 0x04, 0, 7) + body)
        out.append(read_one(sock)[:3])
        # an unknown command id: generic_nack ESME_RINVCMDID
        sock.sendall(header(16, 0x0000_0077, 0, 8))
        out.append(read_one(sock)[:3])
        # a truncated bind (its body cut short): generic_nack ESME_RINVCMDLEN
        sock.sendall(header(18, 0x02, 0, 9) + b"te")
        out.append(read_one(sock)[:3])
        # the session survives: enquire_link is answered
        sock.sendall(header(16, 0x15, 0, 10))
        out.append(read_one(sock)[:3])
    finally:
        sock.close()
    return out


@pytest_twisted.ensureDeferred
async def test_bad_input_gets_the_right_status_and_the_session_survives(
    smsc: SmscService,
) -> None:
    answers = await deferToThread(_bad_input, smsc.smpp_port)
    assert answers == [
        (0x80000004, smpplib.consts.SMPP_ESME_RINVBNDSTS, 7),
        (0x80000000, smpplib.consts.SMPP_ESME_RINVCMDID, 8),
        (0x80000000, smpplib.consts.SMPP_ESME_RINVCMDLEN, 9),
        (0x80000015, 0, 10),
    ]
    # and the SMSC still serves others
    esme = Esme(smsc.smpp_port)
    try:
        assert (await esme.bind()).status == 0
    finally:
        esme.close()


# -- fault injection ----------------------------------------------------------------------------

FAULTS = (
    FaultRule(action="status", content="REJECT", command_status=0x45),
    FaultRule(action="throttle", destination=OTHER),
    FaultRule(action="delay", content="SLOWLY", delay=2.0),
    FaultRule(action="drop", content="DROP"),
    FaultRule(action="unbind", content="GOODBYE"),
    FaultRule(action="reset", content="RESET"),
    FaultRule(action="fail_delivery", content="DOOMED", message_state=5, error=42),
    FaultRule(action="fail_delivery", content="SPAM", message_state=8),
)


async def open_faulty(tmp_path: Path, reactor: Any = None) -> tuple[SmscService, Esme, LinkClient]:
    service = start(tmp_path, *FAULTS, reactor=reactor)
    client: LinkClient = await handset(service, PHONE)
    esme = Esme(service.smpp_port)
    await esme.bind()
    return service, esme, client


async def close_faulty(service: SmscService, esme: Esme, client: LinkClient) -> None:
    esme.close()
    client.close()
    await client.lost
    await service.stopService()


@pytest_twisted.async_yield_fixture
async def faulty(tmp_path: Path) -> Any:
    service, esme, client = await open_faulty(tmp_path)
    yield esme, client
    await close_faulty(service, esme, client)


@pytest_twisted.async_yield_fixture
async def faulty_on_a_clock(tmp_path: Path, clock: Clock) -> Any:
    """``faulty`` whose SMSC keeps its time (the delay fault's) on ``clock``."""
    service, esme, client = await open_faulty(tmp_path, ClockedReactor(clock))
    yield esme, client
    await close_faulty(service, esme, client)


@pytest_twisted.ensureDeferred
async def test_a_status_fault_refuses_with_the_configured_status(faulty: Any) -> None:
    esme, _ = faulty
    assert (await esme.submit(short_message=b"REJECT this")).status == 0x45
    assert (await esme.submit(destination_addr=OTHER[1:], short_message=b"x")).status == 0x58
    assert (await esme.submit(short_message=b"fine")).status == 0


@pytest_twisted.ensureDeferred
async def test_what_this_smsc_does_not_offer_is_refused_clearly(esme: Esme) -> None:
    await esme.bind()
    later = await esme.submit(short_message=b"tomorrow", schedule_delivery_time="000001000000000R")
    assert later.status == smpplib.consts.SMPP_ESME_RINVSCHED
    nowhere = await esme.submit(
        destination_addr="not-a-number", dest_addr_ton=5, short_message=b"x"
    )
    assert nowhere.status == smpplib.consts.SMPP_ESME_RINVDSTADR


@pytest_twisted.ensureDeferred
async def test_delayed_and_dropped_responses(faulty_on_a_clock: Any, clock: Clock) -> None:
    esme, phone = faulty_on_a_clock
    arriving = [phone.next_message(), phone.next_message()]
    esme.send(source_addr="1", short_message=b"DROP me")
    first = esme.send(source_addr="1", short_message=b"SLOWLY")
    second = esme.send(source_addr="1", short_message=b"quick")
    # The SMSC answers in the order it committed them, each answer queued
    # behind the one before: the delay was set when "quick" is answered.
    answers = [(await esme.until("submit_sm_resp")).sequence]
    clock.advance(2.0)  # the delay of the rule SLOWLY matches
    answers.append((await esme.until("submit_sm_resp")).sequence)
    # The delayed answer comes after the one sent behind it; the dropped never.
    assert answers == [second.sequence, first.sequence]
    got = [await d for d in arriving]
    texts = sorted(str(t.tp_ud.body) for t in got if isinstance(t, SmsDeliver))
    assert texts == ["DROP me", "SLOWLY"]  # dropped responses still deliver
    # The dropped one left the window: the session goes on serving.
    for _ in range(3):
        assert (await esme.submit(short_message=b"more")).status == 0


@pytest_twisted.ensureDeferred
async def test_an_unbind_fault_answers_then_unbinds(faulty: Any) -> None:
    esme, _ = faulty
    assert (await esme.submit(short_message=b"GOODBYE")).status == 0
    unbind = await esme.read()
    assert unbind.command == "unbind"
    bye = smpplib.smpp.make_pdu("unbind_resp", client=esme.client)
    bye.sequence = unbind.sequence
    esme.client.send_pdu(bye)
    with pytest.raises((smpplib.exceptions.ConnectionError, OSError)):
        await esme.read()  # its unbind_resp closes the connection


@pytest_twisted.ensureDeferred
async def test_a_reset_fault_drops_the_connection(faulty: Any) -> None:
    esme, _ = faulty
    esme.send(source_addr="1", short_message=b"RESET")
    with pytest.raises((smpplib.exceptions.ConnectionError, OSError)):
        await esme.read()


@pytest_twisted.ensureDeferred
async def test_a_failed_delivery_fault_gives_an_undeliverable_receipt(faulty: Any) -> None:
    esme, _ = faulty
    resp = await esme.submit(short_message=b"DOOMED", registered_delivery=1)
    assert resp.status == 0
    dlr = await esme.until("deliver_sm")
    fields = receipt.parse(dlr.short_message.decode())
    assert (fields["id"], fields["stat"], fields["err"]) == (message_id(resp), "UNDELIV", "042")
    assert dlr.message_state == 5
    # A long one: one receipt for the message, naming it by its message_id.
    long = await esme.submit(
        short_message=b"", message_payload=b"DOOMED " * 60, data_coding=1, registered_delivery=1
    )
    dlr = await esme.until("deliver_sm")
    fields = receipt.parse(dlr.short_message.decode())
    assert (fields["id"], fields["sub"], fields["stat"]) == (message_id(long), "003", "UNDELIV")
    rejected = await esme.submit(short_message=b"SPAM", registered_delivery=1)
    dlr = await esme.until("deliver_sm")
    fields = receipt.parse(dlr.short_message.decode())
    assert (fields["id"], fields["stat"]) == (message_id(rejected), "REJECTD")
    assert dlr.message_state == 8
    fine = await esme.submit(short_message=b"fine", registered_delivery=1)
    dlr = await esme.until("deliver_sm")  # the next receipt is this one's, not another part's
    assert receipt.parse(dlr.short_message.decode())["id"] == message_id(fine)


@pytest_twisted.ensureDeferred
async def test_the_per_esme_rate_is_answered_with_throttled(smsc_on_a_clock: SmscService) -> None:
    esme = Esme(smsc_on_a_clock.smpp_port)
    try:
        await esme.bind("transmitter", "slow")  # 2 submits a second
        for _ in range(5):  # all five within one second: the SMSC's clock stands still
            esme.send(source_addr="1", short_message=b"x")
        statuses = [(await esme.until("submit_sm_resp")).status for _ in range(5)]
        assert statuses.count(0) == 2 and statuses.count(0x58) == 3
    finally:
        esme.close()


# -- smsemu smsc with an [smpp] config, as a real process ------------------------------------


def test_smsemu_smsc_prints_the_smpp_port_and_the_esme_credentials(tmp_path: Path) -> None:
    from .rig import SmscProcess

    config = tmp_path / "smsc.toml"
    config.write_text(
        '[[smpp.esme]]\nsystem_id = "gateway"\npassword = "pw123"\nroutes = ["12345", "+1555*"]\n'
        '[smpp.receipt]\nid = "hex"\n'
    )
    smsc = SmscProcess(["--data-dir", str(tmp_path / "data"), "--config", str(config)])
    try:
        assert smsc.smpp_port
        assert any("ESME system_id 'gateway' password 'pw123'" in line for line in smsc.lines)
        client = smpplib.client.Client(
            "127.0.0.1", smsc.smpp_port, timeout=10, allow_unknown_opt_params=True
        )
        client.connect()
        assert client.bind_transceiver(system_id="gateway", password="pw123").status == 0
        client.disconnect()
    finally:
        assert smsc.terminate() == 0


@pytest_twisted.ensureDeferred
async def test_an_mo_waits_for_its_esme_across_an_smsc_restart(tmp_path: Path) -> None:
    """Store and forward toward ESMEs too: the ESME is not bound when the MO
    comes; the SMSC restarts; the ESME binds and gets it once."""
    service = start(tmp_path)
    phone: LinkClient = await handset(service, PHONE)
    submit = SmsSubmit(tp_da=Address(SHORT_CODE, 0, 1), tp_mr=9, tp_ud=split("JOIN").parts[0])
    await phone.submit(encode_tpdu(submit))  # RP-ACK: committed
    phone.close()
    await phone.lost
    await service.stopService()
    service = start(tmp_path)
    assert service.smsc is not None
    delivered = next_event(service.smsc, "delivered")  # its deliver_sm_resp, taken
    esme = Esme(service.smpp_port)
    try:
        await esme.bind("receiver")
        mo = await esme.until("deliver_sm")
        assert mo.short_message == b"JOIN" and mo.source_addr in (PHONE[1:], PHONE[1:].encode())
        await delivered
        assert service.smsc.metrics.delivered == 1
    finally:
        esme.close()
        await service.stopService()


async def with_a_phone(
    tmp_path: Path,
) -> tuple[SmscService, ReceiptServerService, HandsetService]:
    """The SMSC (read receipts reported to ESMEs), the IP server, and a real
    phone attached to both (starting: wait on its ``ready``)."""
    service = start(tmp_path, read_receipts=True)
    ip = ReceiptServerService(receipt_sqlite_url(tmp_path), address="tcp:0")
    ip.startService()
    assert ip.store is not None and ip.listening is not None and service.gateway is not None
    report_reads(ip.listening.factory, service.gateway)
    await provision_handset(service, tmp_path / "phone", PHONE)  # its SIM
    phone_service = HandsetService(
        PHONE,
        tmp_path / "phone",
        smsc=("127.0.0.1", service.link_port),
        ip_server=("127.0.0.1", ip.port),
        credentials=await provision(ip.store, PHONE, tmp_path / "phone"),
    )
    phone_service.startService()
    return service, ip, phone_service


@pytest_twisted.ensureDeferred
async def test_a_read_on_the_handset_reaches_the_esme_as_a_read_receipt(tmp_path: Path) -> None:
    """Read receipts (docs/read-receipts.md) through the SMPP door: the ESME
    numbers its message with the message-number IE; the phone's user opens
    it; the IP server's feedback becomes a deliver_sm to the ESME (esm_class
    user acknowledgement, stat READ)."""
    service, ip, phone_service = await with_a_phone(tmp_path)
    esme = Esme(service.smpp_port)
    try:
        phone = await phone_service.ready
        await esme.bind()
        received = phone.wait_for("received", number=7)
        # UDH: the message-number IE (0x80, IEDL 2, number 7), then the text.
        resp = await esme.submit(
            short_message=b"\x04\x80\x02\x00\x07" + b"Read me",
            esm_class=0x40,
            registered_delivery=1,
        )
        got = await received
        assert got["text"] == "Read me"
        delivered = await esme.until("deliver_sm")
        assert receipt.parse(delivered.short_message.decode())["stat"] == "DELIVRD"
        await phone.read(got["id"])
        read = await esme.until("deliver_sm")
        assert read.esm_class == 0x10  # SME manual/user acknowledgement
        fields = receipt.parse(read.short_message.decode())
        assert (fields["id"], fields["stat"]) == (message_id(resp), "READ")
    finally:
        esme.close()
        await phone_service.stopService()
        await ip.stopService()
        await service.stopService()


@pytest_twisted.ensureDeferred
async def test_a_text_ending_like_a_marker_from_an_esme_is_not_a_number(tmp_path: Path) -> None:
    """An ESME that numbers nothing sends a text that ends in "□123": the phone
    shows it whole and answers nothing (docs/read-receipts.md §Carriers)."""
    service, ip, phone_service = await with_a_phone(tmp_path)
    esme = Esme(service.smpp_port)
    try:
        phone = await phone_service.ready
        await esme.bind()
        text = "Your code is \u25a1123"
        received = phone.wait_for("received", text=text)
        resp = await esme.submit(short_message=text.encode("utf-16-be"), data_coding=8)
        assert resp.status == 0
        got = await received
        assert got["number"] is None
        await phone.read(got["id"])
        assert not (await phone.message(got["id"])).response_pending
    finally:
        esme.close()
        await phone_service.stopService()
        await ip.stopService()
        await service.stopService()
