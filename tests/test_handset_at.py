"""The AT port on the phone itself (handset.at_port): the interpreter of
``atcmd`` answered by a real ``Phone`` on a real SQLite file run inline, the
network's end of the radio link on a ``StringTransport`` and time on a
``MemoryReactorClock`` (see tests/test_handset_phone.py, whose rig this is).
The TE is the test, writing bytes and reading what comes back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
from twisted.internet.testing import MemoryReactorClock

from handset.at_port import SUBMIT_TIMEOUT, AtPort
from handset.phone import Phone
from handset.sim import Sim, imei_for, luhn_digit
from handset.store import HandsetStore, sqlite_url
from pdu import (
    Address,
    SmsStatusReport,
    SmsSubmit,
    SmsSubmitReport,
    UserData,
    decode_sca,
    encode,
    encode_sca,
)
from pdu.tpdu import Direction
from radiolink import rp

from .test_handset_phone import SCTS, SMSC, A, B, FakeIpServer, Radio, deliver_of, imsi, now


class Te:
    """The terminal on the port: bytes in, what the port wrote since."""

    def __init__(self, port: AtPort) -> None:
        self.port = port
        self.out = bytearray()
        assert port.connect(self.out.extend)

    def take(self) -> str:
        text = self.out.decode("latin-1")
        self.out.clear()
        return text

    def send(self, data: bytes) -> str:
        self.port.data_received(data)
        return self.take()

    def at(self, line: str) -> str:
        return self.send(line.encode("latin-1") + b"\r")


class MakePort(Protocol):
    def __call__(self, msisdn: str = A, *, capacity: int = 10, online: bool = True) -> AtPort: ...


@pytest.fixture
def clock() -> MemoryReactorClock:
    clock = MemoryReactorClock()
    clock.advance(1_790_000_000)
    return clock


@pytest.fixture
def ip() -> FakeIpServer:
    return FakeIpServer()


@pytest.fixture
def make_port(tmp_path: Path, clock: MemoryReactorClock, ip: FakeIpServer) -> Iterator[MakePort]:
    stores: list[HandsetStore] = []

    def make(msisdn: str = A, *, capacity: int = 10, online: bool = True) -> AtPort:
        url = sqlite_url(tmp_path / f"{msisdn[1:]}.sqlite3")
        store = HandsetStore.open(url, msisdn, threaded=False)
        stores.append(store)
        phone = Phone(imsi(msisdn), msisdn, store, None, clock, smsc=("127.0.0.1", 7101),
                      ip=ip.connector(msisdn) if online else None, capacity=capacity)  # fmt: skip
        phone.start()
        return AtPort(phone, Sim(capacity=capacity))

    yield make
    for store in stores:
        store.close()


def attached(clock: MemoryReactorClock) -> Radio:
    radio = Radio(clock)
    radio.accept_attach()
    return radio


def quiet(te: Te) -> None:
    """Echo off, numeric-free verbose codes, +CMTI / +CDSI indications."""
    assert te.at("ATE0") == "ATE0\r\r\nOK\r\n"
    assert te.at("AT+CNMI=2,1,0,2,0") == "\r\nOK\r\n"


def test_a_received_sms_is_indicated_stored_as_received_and_read_by_cmgr(
    clock: MemoryReactorClock, make_port: MakePort, ip: FakeIpServer
) -> None:
    port = make_port(B)
    radio = attached(clock)
    te = Te(port)
    quiet(te)
    [tpdu] = deliver_of("hi there", number=5, sender=A)
    mr = radio.deliver(tpdu)
    assert radio.messages() == [rp.RpAck.mo(mr)]
    assert te.take() == '\r\n+CMTI: "SM",1\r\n'
    stored = encode_sca(tpdu, Address.parse(SMSC))
    listed = te.at("AT+CMGL=4")
    assert listed == f"\r\n+CMGL: 1,0,,{len(encode(tpdu))}\r\n{stored.hex().upper()}\r\n\r\nOK\r\n"
    [message] = now(port.phone.inbox())
    assert message.read  # AT+CMGL of a REC UNREAD message is a read (TS 27.005 §3.4.2)
    assert ip.responses == [(B, A, 5, 1)]  # the read receipt went to the IP server
    assert te.at("AT+CMGR=1").startswith("\r\n+CMGR: 1,,")
    assert ip.responses == [(B, A, 5, 1)]  # once


def test_cmgr_opens_the_message_as_the_api_does_and_the_api_read_shows_on_the_port(
    clock: MemoryReactorClock, make_port: MakePort, ip: FakeIpServer
) -> None:
    port = make_port(B)
    radio = attached(clock)
    te = Te(port)
    quiet(te)
    radio.deliver(deliver_of("first", number=1, sender=A)[0])
    radio.deliver(deliver_of("second", number=2, sender=A, scts=SCTS.replace(minute=1))[0])
    te.take()
    second, first = now(port.phone.inbox())  # newest first
    assert te.at("AT+CMGR=1").startswith("\r\n+CMGR: 0,,")  # REC UNREAD, before this read
    assert now(port.phone.message(first.id)).read
    assert ip.responses == [(B, A, 1, 1)]
    now(port.phone.read(second.id))  # the control API's "open"
    assert te.at("AT+CMGF=1") == "\r\nOK\r\n"
    assert te.at('AT+CMGL="REC UNREAD"') == "\r\nOK\r\n"
    listed = te.at('AT+CMGL="REC READ"')
    assert listed.count("+CMGL:") == 2 and '"REC READ"' in listed


def test_the_parts_of_a_long_message_are_separate_entries_of_one_message(
    clock: MemoryReactorClock, make_port: MakePort, ip: FakeIpServer
) -> None:
    port = make_port(B)
    radio = attached(clock)
    te = Te(port)
    quiet(te)
    parts = deliver_of("a long story " * 30, number=17, sender=A)
    assert len(parts) == 3
    for tpdu in parts:
        radio.deliver(tpdu)
    assert te.take() == "".join(f'\r\n+CMTI: "SM",{i}\r\n' for i in (1, 2, 3))
    [message] = now(port.phone.inbox())
    assert (message.parts, message.read) == (3, False)
    for i, tpdu in enumerate(parts, 1):
        entry = now(port.phone.store.call(port.phone.store.repo.sms_entry, i))
        assert entry is not None and entry.message_id == message.id
        assert decode_sca(entry.pdu, Direction.MT) == (Address.parse(SMSC), tpdu)
    te.at("AT+CMGR=2")
    assert now(port.phone.message(message.id)).read
    assert ip.responses == [(B, A, 17, 1)]


def test_cmgs_answers_only_on_the_smscs_rp_ack_or_with_its_rp_cause(
    clock: MemoryReactorClock, make_port: MakePort
) -> None:
    port = make_port(A, online=False)
    radio = attached(clock)
    te = Te(port)
    quiet(te)
    submit = encode(SmsSubmit(tp_da=Address.parse(B), tp_mr=0, tp_ud=UserData("hello")))
    assert te.at(f"AT+CMGS={len(submit)}") == "\r\n> "
    assert te.send(b"00" + submit.hex().encode() + b"\x1a") == ""  # waits for the SMSC
    [(rp_mr, sent)] = radio.submits()
    assert sent.tp_ud.body == "hello" and str(sent.tp_da) == B
    radio.send(rp.RpAck.mt(rp_mr))
    assert te.take() == f"\r\n+CMGS: {sent.tp_mr}\r\n\r\nOK\r\n"

    te.at(f"AT+CMGS={len(submit)}")
    te.send(submit.hex().encode() + b"\x1a")  # the SMSC address left out: the TE may
    [(rp_mr, again)] = radio.submits()
    assert again.tp_mr == (sent.tp_mr + 1) % 256  # the handset numbers what it sends
    radio.send(rp.RpError.mt(rp_mr, rp.RpCause.CALL_BARRED))
    assert te.take() == "\r\n+CMS ERROR: 10\r\n"  # TS 27.005 §3.2.5: the RP-Cause

    # The SMSC's SMS-SUBMIT-REPORT says more than the RP-Cause: its TP-FCS (128-255).
    te.at(f"AT+CMGS={len(submit)}")
    te.send(b"00" + submit.hex().encode() + b"\x1a")
    [(rp_mr, _)] = radio.submits()
    report = encode(SmsSubmitReport(tp_scts=SCTS, tp_fcs=0xC5))
    radio.send(rp.RpError.mt(rp_mr, rp.RpCause.SHORT_MESSAGE_TRANSFER_REJECTED, rp_ud=report))
    assert te.take() == "\r\n+CMS ERROR: 197\r\n"  # SM rejected, duplicate SM

    te.at(f"AT+CMGS={len(submit)}")
    te.send(b"00" + submit.hex().encode() + b"\x1a")
    assert len(radio.submits()) == 1
    clock.advance(SUBMIT_TIMEOUT)
    assert te.take() == "\r\n+CMS ERROR: 332\r\n"  # network timeout

    radio.drop()
    te.at(f"AT+CMGS={len(submit)}")
    assert te.send(b"00" + submit.hex().encode() + b"\x1a") == "\r\n+CMS ERROR: 331\r\n"


def test_creg_follows_the_radio_link_and_cfun_detaches(
    clock: MemoryReactorClock, make_port: MakePort
) -> None:
    port = make_port(A, online=False)
    te = Te(port)
    quiet(te)
    assert te.at("AT+CREG?") == "\r\n+CREG: 0,0\r\n\r\nOK\r\n"
    assert te.at("AT+CREG=1") == "\r\nOK\r\n"
    radio = attached(clock)
    assert te.take() == "\r\n+CREG: 1\r\n"
    radio.drop()
    assert te.take() == "\r\n+CREG: 0\r\n"
    clock.advance(0.5)
    radio = attached(clock)
    assert te.take() == "\r\n+CREG: 1\r\n"
    assert te.at("AT+CFUN=4") == ""  # the radio off: detaching
    radio.drop()
    assert te.take() == "\r\nOK\r\n\r\n+CREG: 0\r\n"
    assert not port.phone.attached
    clock.advance(60)
    assert len(clock.tcpClients) == 2  # and it stays off
    assert te.at("AT+CFUN=1") == "\r\nOK\r\n"
    radio = attached(clock)
    assert te.take() == "\r\n+CREG: 1\r\n"


def test_cmgw_then_cmss_sends_the_stored_message(
    clock: MemoryReactorClock, make_port: MakePort
) -> None:
    port = make_port(A, online=False)
    radio = attached(clock)
    te = Te(port)
    quiet(te)
    te.at("AT+CMGF=1")
    assert te.at(f'AT+CMGW="{B}"') == "\r\n> "
    assert te.send(b"stored\x1a") == "\r\n+CMGW: 1\r\n\r\nOK\r\n"
    assert '"STO UNSENT"' in te.at("AT+CMGR=1")
    assert te.at('AT+CMSS=1,"+447700900123"') == ""
    [(rp_mr, sent)] = radio.submits()
    assert (sent.tp_ud.body, str(sent.tp_da)) == ("stored", "+447700900123")
    radio.send(rp.RpAck.mt(rp_mr))
    assert te.take() == f"\r\n+CMSS: {sent.tp_mr}\r\n\r\nOK\r\n"
    assert '"STO SENT"' in te.at("AT+CMGR=1")
    assert te.at("AT+CMSS=2") == "\r\n+CMS ERROR: 321\r\n"


def test_a_full_store_refuses_with_322_and_rp_error_22_then_owes_an_smma(
    clock: MemoryReactorClock, make_port: MakePort
) -> None:
    port = make_port(B, capacity=2, online=False)
    radio = attached(clock)
    te = Te(port)
    quiet(te)
    for i in range(2):
        radio.deliver(deliver_of(f"m{i}", number=i, sender=A)[0])
    radio.messages()
    assert te.take() == '\r\n+CMTI: "SM",1\r\n\r\n+CMTI: "SM",2\r\n'
    assert te.at("AT+CPMS?") == '\r\n+CPMS: "SM",2,2,"SM",2,2,"SM",2,2\r\n\r\nOK\r\n'
    mr = radio.deliver(deliver_of("no room", number=9, sender=A)[0])
    assert radio.messages() == [rp.RpError.mo(mr, rp.RpCause.MEMORY_CAPACITY_EXCEEDED)]
    assert len(now(port.phone.inbox())) == 2  # nothing of it kept
    te.at("AT+CMGF=1")
    te.at(f'AT+CMGW="{A}"')
    assert te.send(b"draft\x1a") == "\r\n+CMS ERROR: 322\r\n"

    # A restart keeps the store and what is owed: still full, no SMMA yet.
    radio.drop()
    port.phone.stop()
    port = make_port(B, capacity=2, online=False)
    radio = attached(clock)
    assert radio.frames() == []
    te = Te(port)
    quiet(te)
    assert te.at("AT+CMGD=1") == "\r\nOK\r\n"
    [smma] = radio.messages()
    assert isinstance(smma, rp.RpSmma)
    radio.send(rp.RpAck.mt(smma.rp_mr))
    assert not port.phone.store.repo.smma_due(2)
    assert te.at("AT+CMGD=2") == "\r\nOK\r\n"
    assert radio.messages() == []  # owed once only
    mr = radio.deliver(deliver_of("room now", number=9, sender=A)[0])
    assert radio.messages() == [rp.RpAck.mo(mr)]
    assert te.take() == '\r\n+CMTI: "SM",1\r\n'  # the lowest free index


def test_status_reports_are_kept_and_indicated_only_when_the_te_asks(
    clock: MemoryReactorClock, make_port: MakePort
) -> None:
    port = make_port(A, online=False)
    radio = attached(clock)
    te = Te(port)
    report = SmsStatusReport(tp_mr=3, tp_ra=Address.parse(B), tp_scts=SCTS, tp_dt=SCTS, tp_st=0)
    radio.deliver(report)
    assert te.take() == ""  # factory settings: AT+CNMI <ds> 0
    assert te.at("AT+CPMS?").startswith('AT+CPMS?\r\r\n+CPMS: "SM",0,10')
    quiet(te)  # <ds> 2
    radio.deliver(report)
    assert te.take() == '\r\n+CDSI: "SM",1\r\n'
    entry = now(port.phone.store.call(port.phone.store.repo.sms_entry, 1))
    assert entry is not None and decode_sca(entry.pdu, Direction.MT)[1] == report


def test_entries_keep_their_index_and_status_across_a_restart_and_one_te_at_a_time(
    clock: MemoryReactorClock, make_port: MakePort
) -> None:
    port = make_port(B, online=False)
    radio = attached(clock)
    te = Te(port)
    assert not port.connect(lambda _: None)  # a second TE: refused
    quiet(te)
    for i in range(3):
        radio.deliver(deliver_of(f"m{i}", number=i, sender=A, scts=SCTS.replace(minute=i))[0])
    te.at("AT+CMGR=2")
    te.at("AT+CMGD=1")
    radio.drop()
    port.phone.stop()
    port = make_port(B, online=False)
    te = Te(port)
    listed = te.at("AT+CMGL=4")
    assert listed.count("+CMGL:") == 2 and "+CMGL: 2,1," in listed and "+CMGL: 3,0," in listed
    assert te.at("ATE0;+CMGL=0") == "ATE0;+CMGL=0\r\r\nOK\r\n"  # listed: read now
    te.port.disconnect()
    te = Te(port)
    assert te.at("AT") == "AT\r\r\nOK\r\n"  # a new TE: the factory settings, echo on


def test_the_sim_profile() -> None:
    assert luhn_digit("49015420323751") == "8"  # the IMEI of TS 23.003's example
    imei = imei_for("+15550001001")
    assert len(imei) == 15 and luhn_digit(imei[:14]) == imei[14]
    for bad in [{"imei": "123"}, {"pin": "12a4"}, {"capacity": 0}]:
        with pytest.raises(ValueError):
            Sim(**bad)  # type: ignore[arg-type]
