"""The TS 27.005 §3.2-§3.4 settings: message service, storage, format,
service centre, text mode parameters, new message indications and their
acknowledgement."""

from __future__ import annotations

from pdu import Address, PDUError

from . import charset
from .requests import QueryStorage, StoreStatus
from .results import (
    CMS_NO_CNMA_EXPECTED,
    CMS_NOT_SUPPORTED,
    CMS_SMSC_UNKNOWN,
    CmsError,
    CommandError,
)
from .rules import Await, Outcome, Rules, answer, arg, int_arg, max_args, ok, str_arg
from .state import MEMORY, Cnmi, Session
from .syntax import Command


def _csms_set(s: Session, cmd: Command) -> Outcome:
    """+CSMS (§3.2.1): service 0 (the ME acknowledges) or 1 (+CNMA needed
    after +CMT and +CDS); MT, MO and broadcast are supported under both."""
    max_args(cmd, 1)
    s.settings.csms = int_arg(cmd, 0, range(2), None)
    return ["+CSMS: 1,1,1"]


def _usage(status: StoreStatus) -> str:
    return f"{status.used},{status.total}"


def _cpms_set(s: Session, cmd: Command) -> Outcome:
    """+CPMS (§3.2.2): every memory must be the one store there is."""
    max_args(cmd, 3)
    for i in range(max(1, len(cmd.args))):
        memory = arg(cmd, i)
        if i == 0 and memory is None:
            raise CommandError("+CPMS: <mem1> is mandatory")
        if memory is not None and str(memory).upper() != MEMORY:
            raise CmsError(CMS_NOT_SUPPORTED)
    return Await(QueryStorage(), lambda st: [f"+CPMS: {','.join([_usage(st)] * 3)}"])


def _cpms_read(s: Session, _cmd: Command) -> Outcome:
    def show(st: StoreStatus) -> Outcome:
        return ["+CPMS: " + ",".join([f'"{MEMORY}",{_usage(st)}'] * 3)]

    return Await(QueryStorage(), show)


def _csca_set(s: Session, cmd: Command) -> Outcome:
    """+CSCA (§3.3.1): the SMSC address sends use when the PDU names none."""
    max_args(cmd, 2)
    text = charset.decode_number(str_arg(cmd, 0), s.settings.cscs)
    tosca = int_arg(cmd, 1, range(256), 145 if text.startswith("+") else 129)
    digits = text.removeprefix("+")
    try:
        address = Address(digits, tosca >> 4 & 0x7, tosca & 0xF)
        if not digits or any(c not in "0123456789*#" for c in digits):
            raise PDUError("not a number")
    except PDUError:
        raise CommandError(f"{text!r} is not a service centre address") from None
    s.device.smsc = address
    return []


def _csca_read(s: Session, _cmd: Command) -> Outcome:
    """Unknown until the handset learns it or the TE sets it: +CMS ERROR 330,
    the one error python-gsmmodem tolerates here."""
    smsc = s.device.smsc
    if smsc is None:
        raise CmsError(CMS_SMSC_UNKNOWN)
    return [f'+CSCA: "{charset.encode(str(smsc), s.settings.cscs)}",{smsc.type_of_address}']


def _csmp_set(s: Session, cmd: Command) -> Outcome:
    """+CSMP (§3.3.2): <fo> of an SMS-SUBMIT with no or a relative TP-VP
    (text mode cannot type the 7-octet forms), <vp>, <pid>, <dcs>."""
    max_args(cmd, 4)
    p = s.settings.csmp
    fo = int_arg(cmd, 0, range(256), p.fo)
    if fo & 0x03 != 0x01 or fo >> 3 & 0x03 not in (0, 2):
        raise CmsError(CMS_NOT_SUPPORTED)
    vp = arg(cmd, 1)
    if vp is not None and not isinstance(vp, int):
        raise CmsError(CMS_NOT_SUPPORTED)  # an absolute or enhanced <vp>
    p.vp = int_arg(cmd, 1, range(256), p.vp)
    p.pid = int_arg(cmd, 2, range(256), p.pid)
    p.dcs = int_arg(cmd, 3, range(256), p.dcs)
    p.fo = fo
    return []


def _cnmi_set(s: Session, cmd: Command) -> Outcome:
    """+CNMI (§3.4.1).  <mode> 0 buffers indications, 1 drops them while a
    command runs, 2 holds them until it ends; <mt> 0 none, 1 +CMTI, 2 +CMT,
    3 +CMT for class 3 only; <ds> 0 none, 1 +CDS, 2 +CDSI; <bm> 0 only (no cell
    broadcast).  Entering mode 1 or 2 with <bfr> 0 flushes what mode 0 kept,
    with <bfr> 1 drops it."""
    max_args(cmd, 5)
    new = Cnmi(
        mode=int_arg(cmd, 0, range(3), 0),
        mt=int_arg(cmd, 1, range(4), 0),
        bm=int_arg(cmd, 2, range(1), 0),
        ds=int_arg(cmd, 3, range(3), 0),
        bfr=int_arg(cmd, 4, range(2), 0),
    )
    s.settings.cnmi = new
    if new.mode != 0 and new.bfr == 1:
        s.urc_buffer.clear()
    return []


def _cnmi_read(s: Session, _cmd: Command) -> Outcome:
    c = s.settings.cnmi
    return [f"+CNMI: {c.mode},{c.mt},{c.bm},{c.ds},{c.bfr}"]


def _cnma(s: Session, cmd: Command) -> Outcome:
    """+CNMA (§3.4.4): the TE acknowledges a +CMT or +CDS under AT+CSMS=1.
    The handset has acknowledged to the network already; an acknowledgement
    nobody expects is +CMS ERROR 340."""
    max_args(cmd, 1)
    int_arg(cmd, 0, range(3), 0)
    if s.settings.csms != 1 or not s.ack_pending:
        raise CmsError(CMS_NO_CNMA_EXPECTED)
    s.ack_pending = False
    return []


def _cnma_test(s: Session, _cmd: Command) -> Outcome:
    return [] if s.settings.cmgf else ["+CNMA: (0-2)"]


def _cmgf_set(s: Session, cmd: Command) -> Outcome:
    """+CMGF (§3.2.3): 0 PDU mode, 1 text mode."""
    max_args(cmd, 1)
    s.settings.cmgf = int_arg(cmd, 0, range(2), 0)
    return []


RULES: dict[str, Rules] = {
    "+CSMS": Rules(
        set=_csms_set,
        read=lambda s, _c: [f"+CSMS: {s.settings.csms},1,1,1"],
        test=answer("+CSMS: (0,1)"),
        sms=True,
    ),
    "+CPMS": Rules(
        set=_cpms_set,
        read=_cpms_read,
        test=answer("+CPMS: " + ",".join([f'("{MEMORY}")'] * 3)),
        sim=True,
        sms=True,
    ),
    "+CMGF": Rules(
        set=_cmgf_set,
        read=lambda s, _c: [f"+CMGF: {s.settings.cmgf}"],
        test=answer("+CMGF: (0,1)"),
        sms=True,
    ),
    "+CSCA": Rules(set=_csca_set, read=_csca_read, test=ok, sim=True, sms=True),
    "+CSMP": Rules(
        set=_csmp_set,
        read=lambda s, _c: [
            f"+CSMP: {s.settings.csmp.fo},{s.settings.csmp.vp},"
            f"{s.settings.csmp.pid},{s.settings.csmp.dcs}"
        ],
        test=ok,
        sms=True,
    ),
    "+CNMI": Rules(
        set=_cnmi_set,
        read=_cnmi_read,
        test=answer("+CNMI: (0-2),(0-3),(0),(0-2),(0,1)"),
        sms=True,
    ),
    "+CNMA": Rules(action=_cnma, set=_cnma, test=_cnma_test, sim=True, sms=True),
}
