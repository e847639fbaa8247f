"""The TS 27.005 §3.4-§3.5 message commands: list, read, delete, send, store
and send from storage.  Each asks the owner (requests.py) and shows its
answer (show.py)."""

from __future__ import annotations

from pdu import Address, Direction, PDUError, SmsDeliver, SmsStatusReport, SmsSubmit, decode_sca

from . import charset, show, textmode
from .requests import (
    ALL,
    STAT_NAMES,
    STO_UNSENT,
    DeleteMessages,
    ListMessages,
    QueryStorage,
    ReadMessage,
    SendMessage,
    SendStored,
    StoredMessage,
    StoreMessage,
)
from .results import CMS_INVALID_INDEX, CMS_INVALID_PDU, CMS_INVALID_TEXT, CmeError, CmsError
from .rules import Await, Outcome, Prompt, Rules, arg, int_arg, max_args, ok, str_arg
from .state import Session
from .syntax import Command

#: TPDU octets of the longest SMS-SUBMIT (TS 23.040 §9.2.2.2).
MAX_TPDU = 164
_INDEX = range(65536)


def typed_pdu(typed: str, length: int) -> tuple[bytes, bytes]:
    """(SMSC address field, TPDU) of what the TE typed after the prompt of
    AT+CMGS=<length> / AT+CMGW=<length> (TS 27.005 §3.5.1): hex, with the
    SMSC address field or without it, the TPDU exactly <length> octets."""
    try:
        octets = charset.from_hex("".join(typed.split()))
    except CmeError:
        raise CmsError(CMS_INVALID_PDU) from None
    if len(octets) == length:
        return b"\x00", octets
    if octets and len(octets) == length + 1 + octets[0]:
        return octets[: 1 + octets[0]], octets[1 + octets[0] :]
    raise CmsError(CMS_INVALID_PDU)


def _checked(sca: bytes, tpdu: bytes, direction: Direction, kinds: tuple[type, ...]) -> None:
    try:
        _, decoded = decode_sca(sca + tpdu, direction)
    except PDUError:
        raise CmsError(CMS_INVALID_PDU) from None
    if not isinstance(decoded, kinds):
        raise CmsError(CMS_INVALID_PDU)


def _cmgs(s: Session, cmd: Command) -> Outcome:
    """+CMGS (§3.5.1): the prompt, then the SMS-SUBMIT goes to the owner;
    ``+CMGS: <mr>`` once the SMSC acknowledged it."""
    if s.settings.cmgf:
        max_args(cmd, 2)
        da = textmode.destination(str_arg(cmd, 0), int_arg(cmd, 1, range(256), 0), s.settings.cscs)

        def send_text(typed: str) -> Outcome:
            tpdu = textmode.build_submit(s.settings.csmp, da, typed, s.settings.cscs)
            return Await(SendMessage(tpdu, None), lambda mr: [f"+CMGS: {mr}"])

        return Prompt(send_text)
    max_args(cmd, 1)
    length = int_arg(cmd, 0, range(1, MAX_TPDU + 1), None)

    def send_pdu(typed: str) -> Outcome:
        sca, tpdu = typed_pdu(typed, length)
        _checked(sca, tpdu, Direction.MO, (SmsSubmit,))
        address, _ = decode_sca(sca + tpdu, Direction.MO)
        return Await(SendMessage(tpdu, address), lambda mr: [f"+CMGS: {mr}"])

    return Prompt(send_pdu)


def _cmss(s: Session, cmd: Command) -> Outcome:
    """+CMSS (§3.5.2): send a stored SMS-SUBMIT, to a new <da> if given."""
    max_args(cmd, 3)
    index = int_arg(cmd, 0, _INDEX, None)
    da = None
    if arg(cmd, 1) is not None:
        da = textmode.destination(str_arg(cmd, 1), int_arg(cmd, 2, range(256), 0), s.settings.cscs)
    return Await(SendStored(index, da), lambda mr: [f"+CMSS: {mr}"])


def _stored(index: int) -> Outcome:
    return [f"+CMGW: {index}"]


def _text_stat(value: object, default: int, allowed: range) -> int:
    if value is None:
        return default
    if isinstance(value, str) and value.upper() in STAT_NAMES[: allowed.stop]:
        stat = STAT_NAMES.index(value.upper())
        if stat in allowed:
            return stat
    raise CmsError(CMS_INVALID_TEXT)


def _cmgw(s: Session, cmd: Command) -> Outcome:
    """+CMGW (§3.5.3): the prompt, then the message is stored; ``+CMGW:
    <index>``.  PDU mode stores a SUBMIT (stat 2, 3) or a DELIVER (0, 1)."""
    if s.settings.cmgf:
        max_args(cmd, 3)
        da = None
        if arg(cmd, 0) is not None:
            toda = int_arg(cmd, 1, range(256), 0)
            da = textmode.destination(str_arg(cmd, 0), toda, s.settings.cscs)
        stat = _text_stat(arg(cmd, 2), STO_UNSENT, range(2, 4))

        def store_text(typed: str) -> Outcome:
            tpdu = textmode.build_submit(s.settings.csmp, da or Address(""), typed, s.settings.cscs)
            return Await(StoreMessage(b"\x00" + tpdu, stat), _stored)

        return Prompt(store_text)
    max_args(cmd, 2)
    length = int_arg(cmd, 0, range(1, MAX_TPDU + 1), None)
    stat = int_arg(cmd, 1, range(4), STO_UNSENT)

    def store_pdu(typed: str) -> Outcome:
        sca, tpdu = typed_pdu(typed, length)
        if stat < 2:
            _checked(sca, tpdu, Direction.MT, (SmsDeliver, SmsStatusReport))
        else:
            _checked(sca, tpdu, Direction.MO, (SmsSubmit,))
        return Await(StoreMessage(sca + tpdu, stat), _stored)

    return Prompt(store_pdu)


def _list_stat(s: Session, cmd: Command) -> int:
    """<stat> of +CMGL: 0-4 in PDU mode, the names in text mode; REC UNREAD
    when left out (§3.4.2)."""
    max_args(cmd, 1)
    if s.settings.cmgf:
        return _text_stat(arg(cmd, 0), 0, range(5))
    return int_arg(cmd, 0, range(5), 0)


def _cmgl(s: Session, cmd: Command) -> Outcome:
    """+CMGL (§3.4.2): every message with that <stat>, each as show.listed."""
    stat = _list_stat(s, cmd)

    def listing(messages: list[StoredMessage]) -> Outcome:
        return [line for m in messages for line in show.listed(m, s.settings)]

    return Await(ListMessages(stat), listing)


def _cmgl_test(s: Session, _cmd: Command) -> Outcome:
    if s.settings.cmgf:
        return ["+CMGL: (" + ",".join(f'"{n}"' for n in STAT_NAMES) + ")"]
    return [f"+CMGL: (0-{ALL})"]


def _cmgr(s: Session, cmd: Command) -> Outcome:
    """+CMGR (§3.4.3): one message; an empty index is +CMS ERROR 321."""
    max_args(cmd, 1)
    index = int_arg(cmd, 0, _INDEX, None)

    def reading(message: StoredMessage | None) -> Outcome:
        if message is None:
            raise CmsError(CMS_INVALID_INDEX)
        return show.read(message, s.settings)

    return Await(ReadMessage(index), reading)


def _cmgd(s: Session, cmd: Command) -> Outcome:
    """+CMGD=<index>[,<delflag>] (§3.5.4)."""
    max_args(cmd, 2)
    index = int_arg(cmd, 0, _INDEX, None)
    flag = int_arg(cmd, 1, range(5), 0)
    return Await(DeleteMessages(index, flag), lambda _r: [])


def _cmgd_test(s: Session, _cmd: Command) -> Outcome:
    """``+CMGD: (1-<total>),(0-4)``: the locations there are, and the flags."""
    return Await(QueryStorage(), lambda st: [f"+CMGD: (1-{st.total}),(0-4)"])


RULES: dict[str, Rules] = {
    "+CMGS": Rules(set=_cmgs, test=ok, sim=True, sms=True),
    "+CMSS": Rules(set=_cmss, test=ok, sim=True, sms=True),
    "+CMGW": Rules(action=_cmgw, set=_cmgw, test=ok, sim=True, sms=True),
    "+CMGL": Rules(action=_cmgl, set=_cmgl, test=_cmgl_test, sim=True, sms=True),
    "+CMGR": Rules(set=_cmgr, test=ok, sim=True, sms=True),
    "+CMGD": Rules(set=_cmgd, test=_cmgd_test, sim=True, sms=True),
}
