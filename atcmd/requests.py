"""What the interpreter asks of its owner (requests) and what the owner tells it
(events).

A command that needs the handset's store or radio produces one Request; the
interpreter then waits, buffering input as a modem does while a command runs,
until the owner answers with ``Modem.complete(request, result)`` (the result
type is given with each request) or ``Modem.fail(request, code)`` (a CMS error
for the SMS requests, TS 27.005 §3.2.5; a CME error for the others, TS 27.007
§9.2).  At most one request is outstanding per modem.

Events are what happens to the handset on its own: a message arrived, a status
report arrived, the registration changed.  The interpreter turns them into
unsolicited result codes as AT+CNMI / AT+CREG ask.
"""

from __future__ import annotations

from dataclasses import dataclass

from pdu import Address

# <stat> of TS 27.005 §3.1: the status of a stored message, and the filter of
# AT+CMGL (4, ALL, matches every message).
REC_UNREAD, REC_READ, STO_UNSENT, STO_SENT, ALL = 0, 1, 2, 3, 4
STAT_NAMES = ("REC UNREAD", "REC READ", "STO UNSENT", "STO SENT", "ALL")


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One entry of the message store as AT+CMGR / AT+CMGL show it.

    ``pdu`` is the SMSC address field followed by the TPDU (TS 27.005 §3.1
    <pdu>): an SMS-DELIVER or SMS-STATUS-REPORT for <stat> 0 and 1, as the
    handset received it; an SMS-SUBMIT for 2 and 3.  ``stat`` is the status
    before this read (the owner marks it read)."""

    index: int
    stat: int
    pdu: bytes


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """Used and total entries of the one message store (AT+CPMS)."""

    used: int
    total: int


@dataclass(frozen=True, eq=False, slots=True)
class SendMessage:
    """Send ``tpdu`` (an SMS-SUBMIT) through the SMSC ``sca`` (None: the
    handset's own).  Complete with the TP-MR it was sent with (int) once the
    SMSC's RP-ACK arrived; fail with the RP-Cause (0-127) of an RP-ERROR, the
    TP-FCS (128-255) of its SUBMIT-REPORT, or 331 (no network) / 332 (network
    timeout)."""

    sms = True
    tpdu: bytes
    sca: Address | None


@dataclass(frozen=True, eq=False, slots=True)
class SendStored:
    """AT+CMSS: send stored message ``index`` (an SMS-SUBMIT), to ``da`` instead
    of its TP-DA when given.  Complete with the TP-MR (int); fail as SendMessage,
    or 321 for an empty index."""

    sms = True
    index: int
    da: Address | None


@dataclass(frozen=True, eq=False, slots=True)
class StoreMessage:
    """AT+CMGW: store ``pdu`` (SMSC address field and TPDU) with <stat> ``stat``.
    Complete with the new index (int); fail with 322 when the store is full."""

    sms = True
    pdu: bytes
    stat: int


@dataclass(frozen=True, eq=False, slots=True)
class ListMessages:
    """AT+CMGL: the messages with <stat> ``stat`` (4: all), in index order.
    Complete with a list of StoredMessage.  TS 27.005 §3.4.2: every REC UNREAD
    message listed becomes REC READ in the store (the owner does that, with
    what a read means to it: the read receipt)."""

    sms = True
    stat: int


@dataclass(frozen=True, eq=False, slots=True)
class ReadMessage:
    """AT+CMGR: message ``index``.  Complete with a StoredMessage, or None for an
    empty index (the interpreter answers +CMS ERROR: 321).  A REC UNREAD message
    becomes REC READ in the store (TS 27.005 §3.4.3)."""

    sms = True
    index: int


@dataclass(frozen=True, eq=False, slots=True)
class DeleteMessages:
    """AT+CMGD (TS 27.005 §3.5.4): <delflag> 0 deletes ``index``; 1 every read
    message; 2 read and sent; 3 read, sent and unsent; 4 all.  Complete with
    None; fail with 321 when ``flag`` is 0 and the index is empty."""

    sms = True
    index: int
    flag: int


@dataclass(frozen=True, eq=False, slots=True)
class QueryStorage:
    """AT+CPMS: how full the store is.  Complete with a StoreStatus."""

    sms = True


@dataclass(frozen=True, eq=False, slots=True)
class SetFunctionality:
    """AT+CFUN=<fun> (TS 27.007 §8.2): 1 full, 0 minimum and 4 radio off (the
    handset detaches).  Complete with None."""

    sms = False
    fun: int


Request = (
    SendMessage
    | SendStored
    | StoreMessage
    | ListMessages
    | ReadMessage
    | DeleteMessages
    | QueryStorage
    | SetFunctionality
)


@dataclass(frozen=True, slots=True)
class MessageArrived:
    """An SMS-DELIVER the handset stored at ``index``; ``pdu`` is the SMSC
    address field and the TPDU.  Shown as +CMTI or +CMT per AT+CNMI <mt>."""

    index: int
    pdu: bytes


@dataclass(frozen=True, slots=True)
class ReportArrived:
    """An SMS-STATUS-REPORT the handset stored at ``index``.  Shown as +CDS or
    +CDSI per AT+CNMI <ds>."""

    index: int
    pdu: bytes


@dataclass(frozen=True, slots=True)
class RegistrationChanged:
    """The network registration state of TS 27.007 §7.2 <stat>: 0 not
    registered, 1 registered (home), 2 searching, 3 denied.  Shown as +CREG
    when AT+CREG=1 or 2."""

    stat: int


Event = MessageArrived | ReportArrived | RegistrationChanged
