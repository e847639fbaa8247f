"""Events into unsolicited result codes, as AT+CNMI and AT+CREG ask.

New messages (TS 27.005 §3.4.1 <mt>): 1 ``+CMTI: "SM",<index>``; 2 ``+CMT``
with the message itself for every class but 2 (SIM-specific, indicated by
+CMTI); 3 ``+CMT`` for class 3 only.  Status reports (<ds>): 1 ``+CDS``, 2
``+CDSI: "SM",<index>``.  Registration (TS 27.007 §7.2): ``+CREG: <stat>``
when it changes and AT+CREG is 1 or 2.

The handset stores every message whatever the route: a message shown with
+CMT is also in AT+CMGL, which a real modem would not do.
"""

from __future__ import annotations

from pdu import Direction, PDUError, SmsDeliver, decode_sca

from . import show
from .equipment import creg_line, registration
from .requests import Event, MessageArrived, ReportArrived
from .state import MEMORY, Session, Urc


def _message_class(pdu: bytes) -> int | None:
    try:
        _sca, tpdu = decode_sca(pdu, Direction.MT)
    except PDUError:
        return None
    return tpdu.tp_dcs.message_class if isinstance(tpdu, SmsDeliver) else None


def _direct(mt: int, message_class: int | None) -> bool:
    """Whether <mt> routes a message of this class straight to the TE."""
    return (mt == 2 and message_class != 2) or (mt == 3 and message_class == 3)


def _routed(s: Session, lines: list[str]) -> Urc | None:
    """+CMT / +CDS: under AT+CSMS=1 the TE owes an AT+CNMA for it."""
    if not lines:
        return None  # text mode has no form for these octets
    s.ack_pending = s.settings.csms == 1
    return Urc(tuple(lines), sms=True)


def indication(s: Session, event: Event) -> Urc | None:
    """The unsolicited result code for ``event``, or None when the settings
    ask for none.  Registration changes update the device either way."""
    cnmi = s.settings.cnmi
    if isinstance(event, MessageArrived):
        if cnmi.mt == 0:
            return None
        if _direct(cnmi.mt, _message_class(event.pdu)):
            return _routed(s, show.cmt(event.pdu, s.settings))
        return Urc((f'+CMTI: "{MEMORY}",{event.index}',), sms=True)
    if isinstance(event, ReportArrived):
        if cnmi.ds == 1:
            return _routed(s, show.cds(event.pdu, s.settings))
        if cnmi.ds == 2:
            return Urc((f'+CDSI: "{MEMORY}",{event.index}',), sms=True)
        return None
    before = registration(s)
    s.device.registration = event.stat
    after = registration(s)
    if s.settings.creg == 0 or after == before:
        return None
    return Urc((creg_line(s, after, read=False),), sms=False)
