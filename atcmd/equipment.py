"""The TS 27.007 commands a handset answers: identification (§5), the SIM
lock and functionality (§8), the network (§7) and the few call settings
clients set on connect even when they never call (§6)."""

from __future__ import annotations

import contextlib

from . import charset
from .requests import SetFunctionality
from .results import (
    CME_INCORRECT_PASSWORD,
    CME_NOT_ALLOWED,
    CME_NOT_SUPPORTED,
    CmeError,
)
from .rules import Await, Outcome, Rules, answer, int_arg, max_args, ok, str_arg
from .state import Session
from .syntax import Command

# <stat> of +CREG (§7.2).
NOT_REGISTERED, REGISTERED_HOME = 0, 1
_LAC, _CI = "0001", "0001"


def _value(pick: str) -> Rules:
    """+CGMI, +CGMM, +CGMR, +CGSN (§5.1-§5.4) and +CIMI (§5.6): the value
    alone, without a "+CGMI: " prefix."""
    return Rules(action=lambda s, _c: [getattr(s.identity, pick)], test=ok)


def _setting(name: str, attr: str, allowed: range, test: str) -> Rules:
    """A command whose set form stores one number that its read form shows."""

    def set_(s: Session, cmd: Command) -> Outcome:
        max_args(cmd, 1)
        setattr(s.settings, attr, int_arg(cmd, 0, allowed, 0))
        return []

    def read(s: Session, _cmd: Command) -> Outcome:
        return [f"{name}: {getattr(s.settings, attr)}"]

    return Rules(set=set_, read=read, test=answer(f"{name}: {test}"))


def _cmee_set(s: Session, cmd: Command) -> Outcome:
    """+CMEE (§9.1): 0 plain ERROR, 1 numeric, 2 verbose +CME ERROR."""
    max_args(cmd, 1)
    s.settings.format.cmee = int_arg(cmd, 0, range(3), 0)
    return []


def _cfun_set(s: Session, cmd: Command) -> Outcome:
    """+CFUN=<fun>[,<rst>] (§8.2); the handset attaches or detaches."""
    max_args(cmd, 2)
    fun = int_arg(cmd, 0, (0, 1, 4), None)
    reset = int_arg(cmd, 1, range(2), 0)

    def done(_result: object) -> Outcome:
        s.device.fun = fun
        if reset:
            s.reset()
        return []

    return Await(SetFunctionality(fun), done)


def _cpin_read(s: Session, _cmd: Command) -> Outcome:
    """+CPIN? (§8.3): READY, or SIM PIN while the PIN is owed."""
    return ["+CPIN: SIM PIN" if s.device.sim_locked else "+CPIN: READY"]


def _cpin_set(s: Session, cmd: Command) -> Outcome:
    max_args(cmd, 2)
    pin = str_arg(cmd, 0)
    if not s.device.sim_locked:
        raise CmeError(CME_NOT_ALLOWED)
    if pin != s.identity.pin:
        raise CmeError(CME_INCORRECT_PASSWORD)
    s.device.sim_locked = False
    return []


def registration(s: Session) -> int:
    """The +CREG <stat>: the owner's, and never registered with the radio off."""
    return s.device.registration if s.device.fun == 1 else NOT_REGISTERED


def creg_line(s: Session, stat: int, read: bool) -> str:
    """``+CREG: [<n>,]<stat>[,<lac>,<ci>]`` (§7.2): the read form carries <n>,
    the unsolicited one does not; <lac> and <ci> with n=2 while registered."""
    n = s.settings.creg
    head = f"{n},{stat}" if read else str(stat)
    tail = f',"{_LAC}","{_CI}"' if n == 2 and stat in (1, 5) else ""
    return f"+CREG: {head}{tail}"


def _creg_read(s: Session, _cmd: Command) -> Outcome:
    return [creg_line(s, registration(s), read=True)]


def _csq(s: Session, _cmd: Command) -> Outcome:
    """+CSQ (§8.5): <rssi> 20 (-73 dBm) while registered, 99 unknown if not."""
    return ["+CSQ: 20,99" if registration(s) in (1, 5) else "+CSQ: 99,99"]


def _operator(s: Session) -> str:
    who = s.identity
    return (who.operator, who.operator_short, who.operator_numeric)[s.settings.cops_format]


def _cops_read(s: Session, _cmd: Command) -> Outcome:
    """+COPS? (§7.3): automatic mode; the operator while registered, AcT GSM."""
    if registration(s) not in (1, 5):
        return ["+COPS: 0"]
    return [f'+COPS: 0,{s.settings.cops_format},"{_operator(s)}",0']


def _cops_set(s: Session, cmd: Command) -> Outcome:
    """Only automatic selection (0) and setting the format (3) make sense."""
    max_args(cmd, 4)
    mode = int_arg(cmd, 0, range(5), 0)
    if mode not in (0, 3):
        raise CmeError(CME_NOT_ALLOWED)
    fmt = int_arg(cmd, 1, range(3), s.settings.cops_format)
    s.settings.cops_format = fmt
    return []


def _cops_test(s: Session, _cmd: Command) -> Outcome:
    who = s.identity
    return [
        f'+COPS: (2,"{who.operator}","{who.operator_short}","{who.operator_numeric}",0)'
        ",,(0-4),(0-2)"
    ]


def _cnum(s: Session, _cmd: Command) -> Outcome:
    """+CNUM (§7.1): the subscriber's number, type 145 (international)."""
    number = s.identity.msisdn
    plus = number if number.startswith("+") else "+" + number
    return [f'+CNUM: "","{plus}",145']


def _cscs_set(s: Session, cmd: Command) -> Outcome:
    """+CSCS (§5.5).  While the set is UCS2 the name may come in UCS2 too,
    as Gammu sends it ("00470053004D" is "GSM")."""
    max_args(cmd, 1)
    name = str_arg(cmd, 0)
    if name not in charset.CHARSETS and s.settings.cscs == "UCS2":
        with contextlib.suppress(CmeError):
            name = charset.decode(name, "UCS2")
    if name not in charset.CHARSETS:
        raise CmeError(CME_NOT_SUPPORTED)
    s.settings.cscs = name
    return []


RULES: dict[str, Rules] = {
    "+CMEE": Rules(
        set=_cmee_set,
        read=lambda s, _c: [f"+CMEE: {s.settings.format.cmee}"],
        test=answer("+CMEE: (0-2)"),
    ),
    "+CFUN": Rules(
        set=_cfun_set,
        read=lambda s, _c: [f"+CFUN: {s.device.fun}"],
        test=answer("+CFUN: (0,1,4),(0,1)"),
    ),
    "+CPIN": Rules(set=_cpin_set, read=_cpin_read, test=ok),
    "+CGMI": _value("manufacturer"),
    "+CGMM": _value("model"),
    "+CGMR": _value("revision"),
    "+CGSN": _value("imei"),
    "+GMI": _value("manufacturer"),
    "+GMM": _value("model"),
    "+GMR": _value("revision"),
    "+GSN": _value("imei"),
    "+GCAP": Rules(action=answer("+GCAP: +CGSM")),
    "+CIMI": Rules(action=lambda s, _c: [s.identity.imsi], test=ok, sim=True),
    "+CNUM": Rules(action=_cnum, test=ok, sim=True),
    "+CSQ": Rules(action=_csq, test=answer("+CSQ: (0-31,99),(0-7,99)")),
    "+CREG": Rules(
        set=_setting("+CREG", "creg", range(3), "").set,
        read=_creg_read,
        test=answer("+CREG: (0-2)"),
    ),
    "+COPS": Rules(set=_cops_set, read=_cops_read, test=_cops_test),
    "+CBC": Rules(action=answer("+CBC: 0,100"), test=answer("+CBC: (0-3),(0-100)")),
    "+CLIP": Rules(
        set=_setting("+CLIP", "clip", range(2), "").set,
        read=lambda s, _c: [f"+CLIP: {s.settings.clip},1"],
        test=answer("+CLIP: (0,1)"),
    ),
    "+CRC": _setting("+CRC", "crc", range(2), "(0,1)"),
    "+CVHU": _setting("+CVHU", "cvhu", range(3), "(0-2)"),
    "+CHUP": Rules(action=ok, test=ok),
    "+CSCS": Rules(
        set=_cscs_set,
        read=lambda s, _c: [f'+CSCS: "{s.settings.cscs}"'],
        test=answer("+CSCS: (" + ",".join(f'"{c}"' for c in charset.CHARSETS) + ")"),
    ),
}
