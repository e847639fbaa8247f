"""The sessions python-gsmmodem 0.13 and Gammu 1.42 open, command by command
as their sources send them, each answer checked against what their parsers
expect (the regular expressions below are the ones their sources match).
The real clients against a real pty come with the port itself."""

from __future__ import annotations

import re

from atcmd import MessageArrived

from .atfake import FakeHandset, deliver_pdu

# python-gsmmodem: what ends a response, and what it parses.
RESPONSE_TERM = re.compile(r"^OK|ERROR|(\+CM[ES] ERROR: \d+)|(COMMAND NOT SUPPORT)$")
CSCA = re.compile(r'\+CSCA:\s*"([^,]+)",(\d+)$')
CMTI = re.compile(r'^\+CMTI:\s*"([^"]+)",\s*(\d+)$')
CMGR_PDU = re.compile(r'^\+CMGR:\s*(\d*),\s*"{0,1}([^"]*)"{0,1},\s*(\d+)$')
CMGL_PDU = re.compile(r"^\+CMGL:\s*(\d+),\s*(\d+),.*$")
COPS = re.compile(r'^\+COPS: (\d),(\d),"(.+)",{0,1}\d*$')
CSQ = re.compile(r"^\+CSQ:\s*(\d+),")
CNUM = re.compile(r'^\+CNUM:\s*".*?","(\+{0,1}\d+)",(\d+).*$')


def lines_of(answer: bytes) -> list[str]:
    """python-gsmmodem's reader: lines split at CR LF, empty ones dropped."""
    return [line for line in answer.decode().split("\r\n") if line]


def gsmmodem(phone: FakeHandset, command: str) -> list[str]:
    answer = lines_of(phone.command(command))
    assert RESPONSE_TERM.match(answer[-1]), (command, answer)
    return answer


def test_python_gsmmodem_connect_send_receive() -> None:
    phone = FakeHandset()
    # ATZ with echo still on: the echoed line comes first.
    assert lines_of(phone.command("ATZ")) == ["ATZ\r", "OK"]
    assert lines_of(phone.command("ATE0")) == ["ATE0\r", "OK"]
    assert int(gsmmodem(phone, "AT+CFUN?")[0][7:]) == 1
    assert gsmmodem(phone, "AT+CMEE=1") == ["OK"]
    assert gsmmodem(phone, "AT+CPIN?")[0] == "+CPIN: READY"
    commands = [c.removeprefix("AT") for c in gsmmodem(phone, "AT+CLAC")[:-1]]
    assert "+CSCS" in commands and "+WIND" not in commands and "+ZPAS" not in commands
    assert gsmmodem(phone, "AT+CGMI")[0] == "smsemu"
    assert gsmmodem(phone, "AT+ZPAS?") == ["ERROR"]
    assert gsmmodem(phone, "AT+COPS=3,0") == ["OK"]
    assert gsmmodem(phone, "AT+CMGF=0") == ["OK"]
    match = CSCA.match(gsmmodem(phone, "AT+CSCA?")[0])
    assert match and match.group(1) == "+15550000000"
    assert gsmmodem(phone, "AT+CSMP=49,167,0,0") == ["OK"]
    cpms = gsmmodem(phone, "AT+CPMS=?")[0]
    slots = cpms.split(" ", 1)[1].split("),(")
    chosen = [next(m for m in ('"ME"', '"SM"', '"SR"') if m in slot) for slot in slots]
    assert gsmmodem(phone, "AT+CPMS=" + ",".join(chosen))[-1] == "OK"
    for command in ["AT+CNMI=2,1,0,2", "AT+CLIP=1", "AT+CRC=1", "AT+CVHU=0"]:
        assert gsmmodem(phone, command) == ["OK"], command
    # Properties it reads later.
    assert CSQ.match(gsmmodem(phone, "AT+CSQ")[0])
    assert CNUM.match(gsmmodem(phone, "AT+CNUM")[0])
    assert gsmmodem(phone, "AT+CSCS=?")[0].startswith("+CSCS: (")
    assert gsmmodem(phone, 'AT+CSCS="UCS2"') == ["OK"]
    assert gsmmodem(phone, 'AT+CSCS="GSM"') == ["OK"]
    # sendSms in PDU mode: the prompt is "> " after CR LF, then +CMGS: <mr>.
    submit = "0011000B915155100020F00000A705E8329BFD06"
    assert phone.command(f"AT+CMGS={len(submit) // 2 - 1}") == b"\r\n> "
    sent = lines_of(phone.send(submit.encode() + b"\x1a"))
    assert sent == ["+CMGS: 0", "OK"]
    # A new message: +CMTI, then AT+CMGR and AT+CMGD.
    index = phone.put(0, deliver_pdu())
    phone.modem.deliver(MessageArrived(index, deliver_pdu()))
    cmti = CMTI.match(lines_of(phone.modem.data_to_send())[0])
    assert cmti and cmti.groups() == ("SM", str(index))
    read = gsmmodem(phone, f"AT+CMGR={index}")
    header = CMGR_PDU.match(read[0])
    assert header and header.group(1) == "0" and read[1] == deliver_pdu().hex().upper()
    assert gsmmodem(phone, f"AT+CMGD={index},0") == ["OK"]
    listing = gsmmodem(phone, "AT+CMGL=4")
    assert listing == ["OK"]


def gammu(phone: FakeHandset, command: str) -> list[str]:
    """Gammu's view: echo on, the reply's first line is the command it sent."""
    answer = phone.command(command).decode().split("\r\n")
    lines = [line for line in answer if line]
    assert lines[0] == command + "\r", (command, lines)
    return lines[1:]


def test_gammu_identify_and_sms_session() -> None:
    phone = FakeHandset()
    # "Escaping SMS mode" and the wake-up AT, whose answers it discards.
    assert phone.send(b"\x1b\r") == b"\x1b\r"
    phone.command("AT")
    assert gammu(phone, "ATE1") == ["OK"]
    assert gammu(phone, "AT+CMEE=1") == ["OK"]
    assert gammu(phone, "AT+CSCS?") == ['+CSCS: "IRA"', "OK"]
    assert gammu(phone, "AT+CSCS=?") == ['+CSCS: ("GSM","IRA","UCS2","8859-1")', "OK"]
    assert gammu(phone, 'AT+CSCS="GSM"') == ["OK"]
    assert gammu(phone, "AT+CGMM") == ["smsemu handset", "OK"]
    assert gammu(phone, "AT+CGMI") == ["smsemu", "OK"]
    assert gammu(phone, "AT+CGMR") == ["1.0", "OK"]
    assert gammu(phone, "AT+CGSN") == ["490154203237518", "OK"]
    assert gammu(phone, "AT+CIMI") == ["001010000001001", "OK"]
    assert gammu(phone, "AT+MODE=2") == ["ERROR"]
    # Its SMS calls: storage, mode, service centre, the listing gammu-smsd polls.
    assert gammu(phone, "AT+CPMS=?") == ['+CPMS: ("SM"),("SM"),("SM")', "OK"]
    phone.put(0, deliver_pdu())
    assert gammu(phone, 'AT+CPMS="SM"') == ["+CPMS: 1,30,1,30,1,30", "OK"]
    assert gammu(phone, "AT+CMGF=0") == ["OK"]
    assert gammu(phone, "AT+CSCA?") == ['+CSCA: "+15550000000",145', "OK"]
    listing = gammu(phone, "AT+CMGL=4")
    assert CMGL_PDU.match(listing[0]) and listing[1] == deliver_pdu().hex().upper()
    assert listing[2] == "OK"
    # Sending: the prompt line is exactly "> "; the echoed PDU, then +CMGS.
    submit = b"0011000B915155100020F00000A705E8329BFD06"
    assert phone.command("AT+CMGS=19") == b"AT+CMGS=19\r\r\n> "
    answer = phone.send(submit + b"\x1a").decode().split("\r\n")
    assert answer[0] == submit.decode() and answer[-3:] == ["", "OK", ""]
    assert answer[1] == "+CMGS: 0"
    assert gammu(phone, "AT+CMGD=1") == ["OK"]
    cops = COPS.match(gammu(phone, "AT+COPS?")[0])
    assert cops is None  # not registered: "+COPS: 0"
