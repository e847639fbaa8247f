"""The AT interpreter's V.250 and TS 27.007 side, octet by octet: echo,
result code forms, errors, the line syntax and its limits, identification."""

from __future__ import annotations

import dataclasses

import pytest

from atcmd import Modem, RegistrationChanged

from .atfake import IDENTITY, FakeHandset


@pytest.fixture
def phone() -> FakeHandset:
    return FakeHandset()


def quiet(phone: FakeHandset) -> FakeHandset:
    assert phone.command("ATE0") == b"ATE0\r\r\nOK\r\n"
    return phone


def test_echo_is_on_at_first_and_echoes_the_line_as_typed(phone: FakeHandset) -> None:
    assert phone.command("AT") == b"AT\r\r\nOK\r\n"
    assert phone.send(b"a") == b"a"
    assert phone.send(b"t\r") == b"t\r\r\nOK\r\n"


def test_echo_off_and_on(phone: FakeHandset) -> None:
    quiet(phone)
    assert phone.command("AT") == b"\r\nOK\r\n"
    assert phone.command("ATE1") == b"\r\nOK\r\n"
    assert phone.command("AT") == b"AT\r\r\nOK\r\n"
    assert phone.command("ATE") == b"ATE\r\r\nOK\r\n"  # E alone is E0
    assert phone.command("AT") == b"\r\nOK\r\n"


def test_numeric_result_codes(phone: FakeHandset) -> None:
    quiet(phone)
    assert phone.command("ATV0") == b"0\r"
    assert phone.command("AT") == b"0\r"
    assert phone.command("AT+NOPE") == b"4\r"
    assert phone.command("AT+CGMI") == b"smsemu\r\n0\r"
    assert phone.command("ATV1") == b"\r\nOK\r\n"


def test_quiet_keeps_information_text(phone: FakeHandset) -> None:
    quiet(phone)
    assert phone.command("ATQ1") == b""
    assert phone.command("AT+CGMM") == b"\r\nsmsemu handset\r\n"
    assert phone.command("AT+NOPE") == b""
    assert phone.command("ATQ0") == b"\r\nOK\r\n"


def test_cmee_modes(phone: FakeHandset) -> None:
    quiet(phone)
    assert phone.command("AT+CMEE?") == b"\r\n+CMEE: 0\r\n\r\nOK\r\n"
    assert phone.command('AT+CSCS="KOI8"') == b"\r\nERROR\r\n"
    assert phone.command("AT+CMEE=1") == b"\r\nOK\r\n"
    assert phone.command('AT+CSCS="KOI8"') == b"\r\n+CME ERROR: 4\r\n"
    assert phone.command("AT+CMEE=2") == b"\r\nOK\r\n"
    assert phone.command('AT+CSCS="KOI8"') == b"\r\n+CME ERROR: operation not supported\r\n"
    assert phone.command("AT+CMEE=?") == b"\r\n+CMEE: (0-2)\r\n\r\nOK\r\n"
    assert phone.command("AT+CMEE=3") == b"\r\nERROR\r\n"


def test_cms_errors_are_numeric_unless_cmee_2(phone: FakeHandset) -> None:
    quiet(phone)
    assert phone.command("AT+CMGR=7") == b"\r\n+CMS ERROR: 321\r\n"
    phone.command("AT+CMEE=2")
    assert phone.command("AT+CMGR=7") == b"\r\n+CMS ERROR: invalid memory index\r\n"
    phone.command("ATV0")
    assert phone.command("AT+CMGR=7") == b"+CMS ERROR: invalid memory index\r"


def test_reset_restores_the_factory_profile(phone: FakeHandset) -> None:
    quiet(phone)
    phone.command("ATV0")
    phone.command("AT+CMEE=1")
    phone.command("AT+CMGF=1")
    assert phone.command("ATZ") == b"\r\nOK\r\n"  # in the restored format
    assert phone.command("AT+CMEE?;+CMGF?") == (
        b"AT+CMEE?;+CMGF?\r\r\n+CMEE: 0\r\n\r\n+CMGF: 0\r\n\r\nOK\r\n"
    )
    phone.command("ATE0")
    assert phone.command("AT&F") == b"\r\nOK\r\n"
    assert phone.command("AT") == b"AT\r\r\nOK\r\n"


def test_identification(phone: FakeHandset) -> None:
    quiet(phone)
    assert phone.command("AT+CGMI") == b"\r\nsmsemu\r\n\r\nOK\r\n"
    assert phone.command("AT+CGMM") == b"\r\nsmsemu handset\r\n\r\nOK\r\n"
    assert phone.command("AT+CGMR") == b"\r\n1.0\r\n\r\nOK\r\n"
    assert phone.command("AT+CGSN") == b"\r\n490154203237518\r\n\r\nOK\r\n"
    assert phone.command("AT+CIMI") == b"\r\n001010000001001\r\n\r\nOK\r\n"
    assert phone.command("AT+CNUM") == b'\r\n+CNUM: "","+15550001001",145\r\n\r\nOK\r\n'
    assert phone.command("ATI") == b"\r\nsmsemu\r\nsmsemu handset\r\nRevision: 1.0\r\n\r\nOK\r\n"
    assert phone.command("AT+GCAP") == b"\r\n+GCAP: +CGSM\r\n\r\nOK\r\n"
    assert phone.command("AT+CGMI=?") == b"\r\nOK\r\n"


def test_network_follows_the_owner(phone: FakeHandset) -> None:
    quiet(phone)
    assert phone.command("AT+CREG?") == b"\r\n+CREG: 0,0\r\n\r\nOK\r\n"
    assert phone.command("AT+COPS?") == b"\r\n+COPS: 0\r\n\r\nOK\r\n"
    assert phone.command("AT+CSQ") == b"\r\n+CSQ: 99,99\r\n\r\nOK\r\n"
    phone.command("AT+CREG=2")
    phone.modem.deliver(RegistrationChanged(1))
    assert phone.modem.data_to_send() == b'\r\n+CREG: 1,"0001","0001"\r\n'
    assert phone.command("AT+CREG?") == b'\r\n+CREG: 2,1,"0001","0001"\r\n\r\nOK\r\n'
    assert phone.command("AT+COPS?") == b'\r\n+COPS: 0,0,"smsemu",0\r\n\r\nOK\r\n'
    assert phone.command("AT+COPS=3,2;+COPS?") == b'\r\n+COPS: 0,2,"00101",0\r\n\r\nOK\r\n'
    assert phone.command("AT+CSQ") == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    phone.modem.deliver(RegistrationChanged(1))  # no change, no code
    assert phone.modem.data_to_send() == b""
    phone.command("AT+CREG=1")
    phone.modem.deliver(RegistrationChanged(0))
    assert phone.modem.data_to_send() == b"\r\n+CREG: 0\r\n"
    assert phone.command("AT+CREG=?") == b"\r\n+CREG: (0-2)\r\n\r\nOK\r\n"


def test_cfun_asks_the_handset(phone: FakeHandset) -> None:
    quiet(phone)
    phone.modem.deliver(RegistrationChanged(1))
    assert phone.command("AT+CFUN?") == b"\r\n+CFUN: 1\r\n\r\nOK\r\n"
    assert phone.command("AT+CFUN=4") == b"\r\nOK\r\n"
    assert phone.functionality == [4]
    assert phone.command("AT+CFUN?;+CREG?") == b"\r\n+CFUN: 4\r\n\r\n+CREG: 0,0\r\n\r\nOK\r\n"
    assert phone.command("AT+CFUN=2") == b"\r\nERROR\r\n"
    assert phone.command("AT+CFUN=1,1") == b"\r\nOK\r\n"  # reset: echo is back
    assert phone.command("AT+CFUN=?") == b"AT+CFUN=?\r\r\n+CFUN: (0,1,4),(0,1)\r\n\r\nOK\r\n"


def test_call_settings_clients_set_on_connect(phone: FakeHandset) -> None:
    quiet(phone)
    for line, answer in [
        ("AT+CLIP=1", b"\r\nOK\r\n"),
        ("AT+CLIP?", b"\r\n+CLIP: 1,1\r\n\r\nOK\r\n"),
        ("AT+CRC=1", b"\r\nOK\r\n"),
        ("AT+CRC?", b"\r\n+CRC: 1\r\n\r\nOK\r\n"),
        ("AT+CVHU=0", b"\r\nOK\r\n"),
        ("AT+CVHU?", b"\r\n+CVHU: 0\r\n\r\nOK\r\n"),
        ("AT+CVHU=?", b"\r\n+CVHU: (0-2)\r\n\r\nOK\r\n"),
        ("AT+CHUP", b"\r\nOK\r\n"),
        ("ATH", b"\r\nOK\r\n"),
        ("AT+CBC", b"\r\n+CBC: 0,100\r\n\r\nOK\r\n"),
        ("AT&D2&C1", b"\r\nOK\r\n"),
    ]:
        assert phone.command(line) == answer, line


def test_character_sets(phone: FakeHandset) -> None:
    quiet(phone)
    assert phone.command("AT+CSCS=?") == b'\r\n+CSCS: ("GSM","IRA","UCS2","8859-1")\r\n\r\nOK\r\n'
    assert phone.command("AT+CSCS?") == b'\r\n+CSCS: "IRA"\r\n\r\nOK\r\n'
    assert phone.command('AT+CSCS="UCS2"') == b"\r\nOK\r\n"
    # Gammu names the set in UCS2 while UCS2 is the set.
    assert phone.command('AT+CSCS="00470053004D"') == b"\r\nOK\r\n"
    assert phone.command("AT+CSCS?") == b'\r\n+CSCS: "GSM"\r\n\r\nOK\r\n'


def test_pin(phone: FakeHandset) -> None:
    locked = FakeHandset(Modem(dataclasses.replace(IDENTITY, pin="1234")))
    quiet(locked)
    locked.command("AT+CMEE=1")
    assert locked.command("AT+CPIN?") == b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
    assert locked.command("AT+CIMI") == b"\r\n+CME ERROR: 11\r\n"
    assert locked.command("AT+CMGL=4") == b"\r\n+CMS ERROR: 311\r\n"
    assert locked.command("AT+CGMI") == b"\r\nsmsemu\r\n\r\nOK\r\n"
    assert locked.command('AT+CPIN="0000"') == b"\r\n+CME ERROR: 16\r\n"
    assert locked.command('AT+CPIN="1234"') == b"\r\nOK\r\n"
    assert locked.command("AT+CPIN?") == b"\r\n+CPIN: READY\r\n\r\nOK\r\n"
    assert locked.command('AT+CPIN="1234"') == b"\r\n+CME ERROR: 3\r\n"
    locked.modem.connection_lost()  # the SIM stays unlocked
    assert locked.command("AT+CPIN?") == b"AT+CPIN?\r\r\n+CPIN: READY\r\n\r\nOK\r\n"
    quiet(phone)
    assert phone.command("AT+CPIN?") == b"\r\n+CPIN: READY\r\n\r\nOK\r\n"


def test_several_commands_in_one_line(phone: FakeHandset) -> None:
    quiet(phone)
    assert phone.command("ATE0V1Q0") == b"\r\nOK\r\n"
    assert phone.command("at+cgmi;+CGMM") == b"\r\nsmsemu\r\n\r\nsmsemu handset\r\n\r\nOK\r\n"
    assert phone.command("AT E0 + cmgf = 1 ; + CMGF?") == b"\r\n+CMGF: 1\r\n\r\nOK\r\n"
    assert phone.command("ATE0;+CMGF=0;+CMGF?") == b"\r\n+CMGF: 0\r\n\r\nOK\r\n"
    # The first failing command ends the line; what ran before it stays done.
    assert phone.command("AT+CMGF=1;+NOPE;+CMGF=0") == b"\r\nERROR\r\n"
    assert phone.command("AT+CMGF?") == b"\r\n+CMGF: 1\r\n\r\nOK\r\n"


def test_repeat_last_line(phone: FakeHandset) -> None:
    quiet(phone)
    assert phone.command("AT+CGMI") == b"\r\nsmsemu\r\n\r\nOK\r\n"
    assert phone.send(b"A/") == b"\r\nsmsemu\r\n\r\nOK\r\n"
    assert phone.send(b"a/") == b"\r\nsmsemu\r\n\r\nOK\r\n"
    assert FakeHandset().send(b"A/") == b"A/\r\nERROR\r\n"  # nothing to repeat


def test_s_parameters(phone: FakeHandset) -> None:
    quiet(phone)
    assert phone.command("ATS3?") == b"\r\n013\r\n\r\nOK\r\n"
    assert phone.command("ATS0=2;S0?") == b"\r\n002\r\n\r\nOK\r\n"
    assert phone.command("ATS99?") == b"\r\nERROR\r\n"
    assert phone.command("ATS3=200") == b"\r\nERROR\r\n"
    assert phone.send(b"AT+CGMI\x08\x08\x08\x08CGMM\r") == b"\r\nsmsemu handset\r\n\r\nOK\r\n"


@pytest.mark.parametrize(
    "line",
    [
        "AT+WIND?",
        "AT+ZPAS?",
        "AT^SYSINFO",
        "AT^CVOICE=0",
        "AT+MODE=2",
        "AT+CLAC?",
        "AT+CGMI?",
        "ATX5",
        "ATD+15550001002;",
        "AT+",
        'AT+CSCA="unterminated',
        "AT+CMGF=0+CMGF?",
        "ATS3",
        "hello",
        "AT\xe9\xff",
        "\x80\x81AT",
        "AT+CMGF=\xc3\xa9",
    ],
)
def test_what_is_not_a_supported_command_is_error(phone: FakeHandset, line: str) -> None:
    quiet(phone)
    assert phone.command(line) == b"\r\nERROR\r\n"
    assert phone.command("AT") == b"\r\nOK\r\n"


def test_empty_lines_and_control_characters_get_no_answer(phone: FakeHandset) -> None:
    quiet(phone)
    assert phone.send(b"\r\r\n \r") == b""
    assert phone.send(b"\x1b\r") == b""  # Gammu's opening "escape the prompt"
    assert phone.send(b"A\x00T\x07\r") == b"\r\nOK\r\n"
    assert phone.send(b"AT\r\n") == b"\r\nOK\r\n"


def test_a_10k_line_is_one_error_and_the_port_keeps_working(phone: FakeHandset) -> None:
    quiet(phone)
    assert phone.send(b"AT+CMGF=" + b"1" * 10240 + b"\r") == b"\r\nERROR\r\n"
    assert phone.command("AT") == b"\r\nOK\r\n"
    echoing = FakeHandset()
    line = b"AT" + b"X" * 10240 + b"\r"
    assert echoing.send(line) == line + b"\r\nERROR\r\n"
    assert echoing.command("AT") == b"AT\r\r\nOK\r\n"


def test_clac_lists_the_commands(phone: FakeHandset) -> None:
    quiet(phone)
    listed = phone.command("AT+CLAC").decode().split("\r\n")
    assert listed[0] == "" and listed[-3:] == ["", "OK", ""]
    commands = listed[1:-3]
    assert {"AT+CMGS", "AT+CMGL", "AT+CSCS", "AT+CPMS", "ATE"} <= set(commands)
    assert not any(c.startswith(("AT+WIND", "AT+ZPAS", "AT^")) for c in commands)
