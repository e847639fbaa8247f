"""The AT interpreter's TS 27.005 side: sending with the prompt, storage,
listing and reading in PDU and text mode, indications and their buffering,
a TE that goes away mid-prompt."""

from __future__ import annotations

from io import StringIO

import pytest
from smspdudecoder.fields import SMSSubmit

from atcmd import (
    DeleteMessages,
    ListMessages,
    MessageArrived,
    ReadMessage,
    ReportArrived,
    SendMessage,
    SendStored,
)
from pdu import (
    Address,
    Direction,
    SmsStatusReport,
    SmsSubmit,
    UserData,
    decode,
    decode_sca,
    encode_sca,
)
from pdu import encode as encode_tpdu
from pdu.dcs import UCS2

from .atfake import SMSC, WHEN, FakeHandset, deliver_pdu

SUBMIT = encode_tpdu(SmsSubmit(tp_da=Address("15550001002"), tp_ud=UserData("hi there")))
REPORT = encode_sca(
    SmsStatusReport(tp_mr=3, tp_ra=Address("15550001002"), tp_scts=WHEN, tp_dt=WHEN, tp_st=0),
    SMSC,
)


@pytest.fixture
def phone() -> FakeHandset:
    p = FakeHandset()
    assert p.command("ATE0") == b"ATE0\r\r\nOK\r\n"
    p.command("AT+CMEE=1")
    return p


def test_cmgs_pdu_without_and_with_the_smsc_prefix(phone: FakeHandset) -> None:
    n = len(SUBMIT)
    assert phone.command(f"AT+CMGS={n}") == b"\r\n> "
    assert phone.send(SUBMIT.hex().encode() + b"\x1a") == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    assert phone.command(f"AT+CMGS={n}") == b"\r\n> "
    assert phone.send(b"00" + SUBMIT.hex().upper().encode() + b"\x1a") == (
        b"\r\n+CMGS: 1\r\n\r\nOK\r\n"
    )
    phone.command(f"AT+CMGS={n}")
    assert phone.send(b"07915155000000F0" + SUBMIT.hex().encode() + b"\x1a").endswith(b"OK\r\n")
    sent = [(r.tpdu, r.sca) for r in phone.sent if isinstance(r, SendMessage)]
    assert sent == [(SUBMIT, None), (SUBMIT, None), (SUBMIT, Address("15550000000"))]


def test_cmgs_answers_only_when_the_owner_completes(phone: FakeHandset) -> None:
    modem = phone.modem
    assert modem.receive_data(f"AT+CMGS={len(SUBMIT)}\r".encode()) is None
    request = modem.receive_data(SUBMIT.hex().encode() + b"\x1a")
    assert isinstance(request, SendMessage) and request.tpdu == SUBMIT
    assert modem.data_to_send() == b"\r\n> "
    # Input while the send runs waits, unechoed and unanswered.
    assert modem.receive_data(b"AT+CGMI\r") is None
    assert modem.data_to_send() == b""
    assert modem.complete(request, 42) is None
    assert modem.data_to_send() == b"\r\n+CMGS: 42\r\n\r\nOK\r\n\r\nsmsemu\r\n\r\nOK\r\n"


def test_cmgs_failure_is_the_rp_cause(phone: FakeHandset) -> None:
    modem = phone.modem
    modem.receive_data(f"AT+CMGS={len(SUBMIT)}\r".encode())
    request = modem.receive_data(SUBMIT.hex().encode() + b"\x1a")
    assert request is not None
    modem.fail(request, 41)
    assert modem.data_to_send() == b"\r\n> \r\n+CMS ERROR: 41\r\n"
    modem.receive_data(b"AT+CMEE=2\r")
    modem.receive_data(f"AT+CMGS={len(SUBMIT)}\r".encode())
    request = modem.receive_data(SUBMIT.hex().encode() + b"\x1a")
    assert request is not None
    modem.fail(request, 21)
    assert modem.data_to_send().endswith(b"\r\n+CMS ERROR: short message transfer rejected\r\n")


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param(SUBMIT[:-1].hex(), id="one octet short"),
        pytest.param(SUBMIT.hex() + "00", id="one octet long"),
        pytest.param("", id="ctrl-z alone"),
        pytest.param(SUBMIT.hex()[:-1], id="odd hex"),
        pytest.param("ZZ" + SUBMIT.hex()[2:], id="not hex"),
        pytest.param("0011", id="not a submit"),
    ],
)
def test_cmgs_bad_pdu_is_cms_304(phone: FakeHandset, typed: str) -> None:
    phone.command(f"AT+CMGS={len(SUBMIT)}")
    assert phone.send(typed.encode() + b"\x1a") == b"\r\n+CMS ERROR: 304\r\n"
    assert phone.sent == []
    assert phone.command("AT") == b"\r\nOK\r\n"


def test_deliver_is_no_submit(phone: FakeHandset) -> None:
    pdu = deliver_pdu()
    phone.command(f"AT+CMGS={len(pdu) - 1 - pdu[0]}")
    assert phone.send(pdu.hex().encode() + b"\x1a") == b"\r\n+CMS ERROR: 304\r\n"


def test_escape_cancels_and_the_prompt_echoes(phone: FakeHandset) -> None:
    phone.command("ATE1")
    assert phone.send(b"AT+CMGS=5\r") == b"AT+CMGS=5\r\r\n> "
    assert phone.send(b"0011\x1b") == b"0011\r\nOK\r\n"
    assert phone.sent == []
    assert phone.command("AT+CMGS=0") == b"AT+CMGS=0\r\r\nERROR\r\n"
    assert phone.command("AT+CMGS=?") == b"AT+CMGS=?\r\r\nOK\r\n"


def test_a_te_that_vanishes_mid_prompt(phone: FakeHandset) -> None:
    modem = phone.modem
    modem.receive_data(f"AT+CMGS={len(SUBMIT)}\r".encode() + SUBMIT.hex().encode()[:10])
    modem.connection_lost()
    # The next TE finds a fresh port: echo on, command state, nothing sent.
    assert modem.receive_data(b"AT\r") is None
    assert modem.data_to_send() == b"AT\r\r\nOK\r\n"
    assert phone.sent == []


def test_a_completion_after_the_te_left_is_ignored(phone: FakeHandset) -> None:
    modem = phone.modem
    modem.receive_data(f"AT+CMGS={len(SUBMIT)}\r".encode())
    request = modem.receive_data(SUBMIT.hex().encode() + b"\x1a")
    assert request is not None
    modem.connection_lost()
    assert modem.complete(request, 5) is None
    assert modem.fail(request, 41) is None
    assert modem.data_to_send() == b""
    assert modem.receive_data(b"AT\r") is None
    assert modem.data_to_send() == b"AT\r\r\nOK\r\n"


def _decoded_submit(request: object) -> SmsSubmit:
    assert isinstance(request, SendMessage)
    tpdu = decode(request.tpdu, Direction.MO)
    assert isinstance(tpdu, SmsSubmit)
    theirs = SMSSubmit.decode(StringIO("00" + request.tpdu.hex().upper()))
    assert theirs["recipient"]["number"] == tpdu.tp_da.number
    assert theirs["user_data"]["data"] == tpdu.tp_ud.body
    return tpdu


def test_text_mode_send_builds_the_submit_from_csmp(phone: FakeHandset) -> None:
    phone.command("AT+CMGF=1")
    assert phone.command("AT+CSMP?") == b"\r\n+CSMP: 17,167,0,0\r\n\r\nOK\r\n"
    assert phone.command('AT+CMGS="+15550001002"') == b"\r\n> "
    assert phone.send(b"Hello @ home\r") == b"\r\n> "  # CR: more text follows
    assert phone.send(b"line 2\x1a") == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    tpdu = _decoded_submit(phone.sent[0])
    assert tpdu.tp_da == Address("15550001002")
    assert tpdu.tp_ud.body == "Hello @ home\rline 2"
    assert tpdu.tp_vp is not None and tpdu.tp_dcs.value == 0
    assert phone.command("AT+CSMP=49,167,0,0") == b"\r\nOK\r\n"  # + status report
    phone.command('AT+CMGS="5550001002",129')
    phone.send(b"\x1a")  # Ctrl-Z with no text: an empty message, as modems send
    tpdu = _decoded_submit(phone.sent[1])
    assert tpdu.tp_srr and tpdu.tp_ud.body == "" and tpdu.tp_da.ton == 0


def test_text_mode_ucs2(phone: FakeHandset) -> None:
    phone.command("AT+CMGF=1")
    phone.command('AT+CSCS="UCS2"')
    phone.command("AT+CSMP=17,167,0,8")
    # In UCS2 the number may come in UCS2 too; with TP-DCS UCS2 the text is hex.
    assert phone.command('AT+CMGS="002B00310035003500350030003000300031003000300032"') == (
        b"\r\n> "
    )
    phone.send("Grüße €".encode("utf-16-be").hex().encode() + b"\x1a")
    tpdu = _decoded_submit(phone.sent[0])
    assert tpdu.tp_dcs == UCS2 and tpdu.tp_ud.body == "Grüße €"
    assert str(tpdu.tp_da) == "+15550001002"
    # TP-DCS GSM 7-bit with the TE set UCS2: UCS2 hex in, GSM 7-bit out.
    phone.command("AT+CSMP=17,167,0,0")
    phone.command('AT+CMGS="+15550001002"')
    phone.send("€uro".encode("utf-16-be").hex().encode() + b"\x1a")
    assert _decoded_submit(phone.sent[1]).tp_ud.body == "€uro"
    # Not GSM 7-bit text while TP-DCS says it must be.
    phone.command('AT+CMGS="+15550001002"')
    assert phone.send("日本".encode("utf-16-be").hex().encode() + b"\x1a") == (
        b"\r\n+CMS ERROR: 305\r\n"
    )


def test_text_mode_rejects_what_it_cannot_type(phone: FakeHandset) -> None:
    phone.command("AT+CMGF=1")
    assert phone.command('AT+CMGS="nobody"') == b"\r\n+CMS ERROR: 305\r\n"
    assert phone.command("AT+CSMP=25,167,0,0") == b"\r\n+CMS ERROR: 303\r\n"  # absolute VP
    phone.command('AT+CMGS="+15550001002"')
    assert phone.send(b"x" * 161 + b"\x1a") == b"\r\n+CMS ERROR: 305\r\n"
    phone.command('AT+CMGS="+15550001002"')
    assert phone.send(b"caf\xe9\x1a") == b"\r\n+CMS ERROR: 305\r\n"  # not IRA
    phone.command('AT+CSCS="8859-1"')
    phone.command('AT+CMGS="+15550001002"')
    assert phone.send(b"caf\xe9\x1a") == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    assert _decoded_submit(phone.sent[-1]).tp_ud.body == "café"


def test_cmgl_and_cmgr_in_pdu_mode(phone: FakeHandset) -> None:
    unread = phone.put(0, deliver_pdu("one"))
    sent = phone.put(3, b"\x00" + SUBMIT)
    one = deliver_pdu("one").hex().upper().encode()
    assert phone.command("AT+CMGL=?") == b"\r\n+CMGL: (0-4)\r\n\r\nOK\r\n"
    listing = phone.command("AT+CMGL=4")
    assert listing == (
        b"\r\n+CMGL: 1,0,,22\r\n"
        + one
        + b"\r\n+CMGL: 2,3,,"
        + str(len(SUBMIT)).encode()
        + b"\r\n00"
        + SUBMIT.hex().upper().encode()
        + b"\r\n\r\nOK\r\n"
    )
    # Listing made the unread message read (TS 27.005 §3.4.2).
    assert phone.command("AT+CMGL") == b"\r\nOK\r\n"
    assert phone.command(f"AT+CMGR={unread}") == b"\r\n+CMGR: 1,,22\r\n" + one + b"\r\n\r\nOK\r\n"
    assert phone.command("AT+CMGL=3").startswith(f"\r\n+CMGL: {sent},3,,".encode())
    assert phone.command("AT+CMGR=9") == b"\r\n+CMS ERROR: 321\r\n"
    sca, tpdu = decode_sca(bytes.fromhex(one.decode()), Direction.MT)
    assert sca == SMSC and tpdu.tp_ud.body == "one"  # type: ignore[union-attr]


def test_cmgr_marks_read(phone: FakeHandset) -> None:
    modem = phone.modem
    index = phone.put(0, deliver_pdu())
    request = modem.receive_data(f"AT+CMGR={index}\r".encode())
    assert isinstance(request, ReadMessage) and request.index == index
    phone.answer(request)
    assert modem.data_to_send().startswith(b"\r\n+CMGR: 0,,")  # the status it had
    assert phone.store[index].stat == 1
    assert phone.command(f"AT+CMGR={index}").startswith(b"\r\n+CMGR: 1,,")


def test_text_mode_listing_and_reading(phone: FakeHandset) -> None:
    phone.put(0, deliver_pdu("Hi @ you"))
    phone.put(2, b"\x00" + SUBMIT)
    phone.put(1, REPORT)
    phone.command("AT+CMGF=1")
    assert phone.command('AT+CMGL="ALL"') == (
        b'\r\n+CMGL: 1,"REC UNREAD","+15550001002",,"24/01/02,10:11:12+04"\r\n'
        b"Hi @ you\r\n"
        b'+CMGL: 2,"STO UNSENT","+15550001002",,\r\n'
        b"hi there\r\n"
        b'+CMGL: 3,"REC READ",6,3,"+15550001002",145,'
        b'"24/01/02,10:11:12+04","24/01/02,10:11:12+04",0\r\n'
        b"\r\nOK\r\n"
    )
    assert phone.command("AT+CMGR=1") == (
        b'\r\n+CMGR: "REC READ","+15550001002",,"24/01/02,10:11:12+04"\r\nHi @ you\r\n\r\nOK\r\n'
    )
    assert phone.command("AT+CMGR=2") == (
        b'\r\n+CMGR: "STO UNSENT","+15550001002",\r\nhi there\r\n\r\nOK\r\n'
    )
    assert phone.command('AT+CMGL="REC UNREAD"') == b"\r\nOK\r\n"
    assert phone.command('AT+CMGL="NEW"') == b"\r\n+CMS ERROR: 305\r\n"
    assert phone.command("AT+CMGL=?") == (
        b'\r\n+CMGL: ("REC UNREAD","REC READ","STO UNSENT","STO SENT","ALL")\r\n\r\nOK\r\n'
    )
    phone.command('AT+CSCS="UCS2"')
    assert phone.command("AT+CMGR=1") == (
        b'\r\n+CMGR: "REC READ","002B00310035003500350030003000300031003000300032",,'
        b'"24/01/02,10:11:12+04"\r\n004800690020004000200079006F0075\r\n\r\nOK\r\n'
    )


def test_cmgd_and_its_flags(phone: FakeHandset) -> None:
    for stat in (0, 1, 2, 3):
        phone.put(stat, deliver_pdu() if stat < 2 else b"\x00" + SUBMIT)
    assert phone.command("AT+CMGD=?") == b"\r\n+CMGD: (1-30),(0-4)\r\n\r\nOK\r\n"
    modem = phone.modem
    request = modem.receive_data(b"AT+CMGD=1\r")
    assert isinstance(request, DeleteMessages) and (request.index, request.flag) == (1, 0)
    phone.answer(request)
    assert modem.data_to_send() == b"\r\nOK\r\n"
    assert phone.command("AT+CMGD=1,2") == b"\r\nOK\r\n"
    assert sorted(phone.store) == [3]
    assert phone.command("AT+CMGD=0,4") == b"\r\nOK\r\n"
    assert phone.store == {}
    assert phone.command("AT+CMGD=1,5") == b"\r\nERROR\r\n"


def test_cmgw_then_cmss(phone: FakeHandset) -> None:
    assert phone.command(f"AT+CMGW={len(SUBMIT)}") == b"\r\n> "
    assert phone.send(b"00" + SUBMIT.hex().encode() + b"\x1a") == b"\r\n+CMGW: 1\r\n\r\nOK\r\n"
    assert phone.store[1].stat == 2 and phone.store[1].pdu == b"\x00" + SUBMIT
    assert phone.command("AT+CMSS=1") == b"\r\n+CMSS: 0\r\n\r\nOK\r\n"
    assert phone.command('AT+CMSS=1,"+15550001003"') == b"\r\n+CMSS: 1\r\n\r\nOK\r\n"
    first, second = phone.sent
    assert isinstance(second, SendStored) and second.da == Address("15550001003")
    assert isinstance(first, SendStored) and (first.index, first.da) == (1, None)
    # A DELIVER can be stored as received (stat 0, 1), not as to send.
    deliver = deliver_pdu()
    length = len(deliver) - 1 - deliver[0]
    phone.command(f"AT+CMGW={length},1")
    assert phone.send(deliver.hex().encode() + b"\x1a") == b"\r\n+CMGW: 2\r\n\r\nOK\r\n"
    phone.command(f"AT+CMGW={length},2")
    assert phone.send(deliver.hex().encode() + b"\x1a") == b"\r\n+CMS ERROR: 304\r\n"
    phone.command("AT+CMGF=1")
    assert phone.command('AT+CMGW="+15550001002",145,"STO SENT"') == b"\r\n> "
    assert phone.send(b"kept\x1a") == b"\r\n+CMGW: 3\r\n\r\nOK\r\n"
    assert phone.store[3].stat == 3
    _sca, tpdu = decode_sca(phone.store[3].pdu, Direction.MO)
    assert isinstance(tpdu, SmsSubmit) and tpdu.tp_ud.body == "kept"


def test_storage_and_service_centre(phone: FakeHandset) -> None:
    phone.put(0, deliver_pdu())
    assert phone.command("AT+CPMS=?") == b'\r\n+CPMS: ("SM"),("SM"),("SM")\r\n\r\nOK\r\n'
    assert phone.command('AT+CPMS="SM","SM","SM"') == b"\r\n+CPMS: 1,30,1,30,1,30\r\n\r\nOK\r\n"
    assert phone.command('AT+CPMS="SM"') == b"\r\n+CPMS: 1,30,1,30,1,30\r\n\r\nOK\r\n"
    assert phone.command("AT+CPMS?") == (b'\r\n+CPMS: "SM",1,30,"SM",1,30,"SM",1,30\r\n\r\nOK\r\n')
    assert phone.command('AT+CPMS="ME"') == b"\r\n+CMS ERROR: 303\r\n"
    assert phone.command("AT+CSCA?") == b'\r\n+CSCA: "+15550000000",145\r\n\r\nOK\r\n'
    assert phone.command('AT+CSCA="+15559999999"') == b"\r\nOK\r\n"
    assert phone.command("AT+CSCA?") == b'\r\n+CSCA: "+15559999999",145\r\n\r\nOK\r\n'
    phone.modem.set_smsc(None)
    assert phone.command("AT+CSCA?") == b"\r\n+CMS ERROR: 330\r\n"
    assert phone.command("AT+CSMS=?;+CSMS?") == (
        b"\r\n+CSMS: (0,1)\r\n\r\n+CSMS: 0,1,1,1\r\n\r\nOK\r\n"
    )
    assert phone.command("AT+CSMS=1") == b"\r\n+CSMS: 1,1,1\r\n\r\nOK\r\n"
    assert phone.command("AT+CMGF=?;+CMGF?") == b"\r\n+CMGF: (0,1)\r\n\r\n+CMGF: 0\r\n\r\nOK\r\n"


def test_new_message_indications(phone: FakeHandset) -> None:
    modem = phone.modem
    pdu = deliver_pdu()
    modem.deliver(MessageArrived(1, pdu))  # <mt> 0: stored, not indicated
    assert modem.data_to_send() == b""
    assert phone.command("AT+CNMI=?") == b"\r\n+CNMI: (0-2),(0-3),(0),(0-2),(0,1)\r\n\r\nOK\r\n"
    assert phone.command("AT+CNMI=2,1,0,2") == b"\r\nOK\r\n"
    assert phone.command("AT+CNMI?") == b"\r\n+CNMI: 2,1,0,2,0\r\n\r\nOK\r\n"
    modem.deliver(MessageArrived(4, pdu))
    assert modem.data_to_send() == b'\r\n+CMTI: "SM",4\r\n'
    modem.deliver(ReportArrived(5, REPORT))
    assert modem.data_to_send() == b'\r\n+CDSI: "SM",5\r\n'
    phone.command("AT+CNMI=2,2,0,1")
    modem.deliver(MessageArrived(6, pdu))
    assert modem.data_to_send() == (b"\r\n+CMT: ,24\r\n" + pdu.hex().upper().encode() + b"\r\n")
    modem.deliver(ReportArrived(7, REPORT))
    assert modem.data_to_send() == b"\r\n+CDS: 25\r\n" + REPORT.hex().upper().encode() + b"\r\n"
    phone.command("AT+CMGF=1")
    modem.deliver(MessageArrived(8, pdu))
    assert modem.data_to_send() == (
        b'\r\n+CMT: "+15550001002",,"24/01/02,10:11:12+04"\r\nhello\r\n'
    )
    modem.deliver(ReportArrived(9, REPORT))
    assert modem.data_to_send() == (
        b'\r\n+CDS: 6,3,"+15550001002",145,"24/01/02,10:11:12+04","24/01/02,10:11:12+04",0\r\n'
    )


def test_indications_wait_while_a_command_runs(phone: FakeHandset) -> None:
    modem = phone.modem
    phone.command("AT+CNMI=2,1")
    request = modem.receive_data(b"AT+CMGL=4\r")
    assert isinstance(request, ListMessages)
    modem.deliver(MessageArrived(3, deliver_pdu()))
    assert modem.data_to_send() == b""
    modem.complete(request, [])
    assert modem.data_to_send() == b'\r\nOK\r\n\r\n+CMTI: "SM",3\r\n'
    # ... and while the prompt is open.
    modem.receive_data(b"AT+CMGS=3\r")
    modem.deliver(MessageArrived(4, deliver_pdu()))
    assert modem.data_to_send() == b"\r\n> "
    modem.receive_data(b"\x1b")
    assert modem.data_to_send() == b'\r\nOK\r\n\r\n+CMTI: "SM",4\r\n'


def test_cnmi_modes_0_and_1(phone: FakeHandset) -> None:
    modem = phone.modem
    phone.command("AT+CNMI=0,1")
    modem.deliver(MessageArrived(1, deliver_pdu()))
    modem.deliver(MessageArrived(2, deliver_pdu()))
    assert modem.data_to_send() == b""
    assert phone.command("AT") == b"\r\nOK\r\n"  # mode 0 keeps them
    assert phone.command("AT+CNMI=1,1,0,0,0") == (
        b'\r\nOK\r\n\r\n+CMTI: "SM",1\r\n\r\n+CMTI: "SM",2\r\n'
    )
    request = modem.receive_data(b"AT+CMGL\r")  # mode 1: dropped while busy
    modem.deliver(MessageArrived(3, deliver_pdu()))
    assert request is not None
    modem.complete(request, [])
    assert modem.data_to_send() == b"\r\nOK\r\n"
    phone.command("AT+CNMI=0,1")
    modem.deliver(MessageArrived(4, deliver_pdu()))
    assert phone.command("AT+CNMI=2,1,0,0,1") == b"\r\nOK\r\n"  # <bfr> 1: dropped
    assert phone.command("AT") == b"\r\nOK\r\n"


def test_cnma_under_csms_1(phone: FakeHandset) -> None:
    assert phone.command("AT+CNMA") == b"\r\n+CMS ERROR: 340\r\n"
    phone.command("AT+CSMS=1")
    phone.command("AT+CNMI=2,2")
    phone.modem.deliver(MessageArrived(1, deliver_pdu()))
    assert phone.modem.data_to_send().startswith(b"\r\n+CMT: ,")
    assert phone.command("AT+CNMA") == b"\r\nOK\r\n"
    assert phone.command("AT+CNMA") == b"\r\n+CMS ERROR: 340\r\n"
    assert phone.command("AT+CNMA=?") == b"\r\n+CNMA: (0-2)\r\n\r\nOK\r\n"


def test_long_prompt_text_is_refused(phone: FakeHandset) -> None:
    phone.command("AT+CMGS=20")
    assert phone.send(b"00" * 5000 + b"\x1a") == b"\r\n+CMS ERROR: 304\r\n"
    assert phone.command("AT") == b"\r\nOK\r\n"
