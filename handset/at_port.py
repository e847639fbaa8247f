"""The AT port of a phone (docs/at.md): the sans-I/O interpreter of ``atcmd``
answered by the phone itself.

The message store the port shows is the handset's own (``models.SmsEntry``):
a received SMS-DELIVER is there as it came, and reading it (AT+CMGR, AT+CMGL)
opens its message exactly as the control API's "open" does, read receipt
included; a message opened through the API is REC READ on the port.  AT+CMGS
answers ``+CMGS: <mr>`` only on the SMSC's RP-ACK, and an RP-ERROR as
``+CMS ERROR: <RP-Cause>`` (TS 27.005 §3.2.5).

``AtPort`` outlives the TE's connections, as a modem outlives its serial
line: the SIM state, AT+CFUN and the registration stay; the TE's settings
reset with every new connection.  One TE at a time: a transport calls
``connect`` (False: the port is busy), ``data_received``, ``disconnect``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.defer import TimeoutError as DeferredTimeout
from twisted.python.failure import Failure

from atcmd import (
    REC_UNREAD,
    DeleteMessages,
    ListMessages,
    MessageArrived,
    Modem,
    QueryStorage,
    ReadMessage,
    RegistrationChanged,
    ReportArrived,
    Request,
    SendMessage,
    SendStored,
    SetFunctionality,
    StoredMessage,
    StoreMessage,
    StoreStatus,
)
from pdu import Direction, PDUError, SmsSubmit, decode_sca, encode

from .link_client import SubmitRefused
from .phone import Phone
from .sim import DEFAULT_CAPACITY, Sim
from .views import StoredSms, StoreFull

log = logging.getLogger(__name__)

#: Seconds AT+CMGS waits for the SMSC's answer before +CMS ERROR: 332
#: (network timeout); a modem gives up after about as long.
SUBMIT_TIMEOUT = 60.0

# TS 27.005 §3.2.5
CMS_NOT_ALLOWED, CMS_INVALID_INDEX, CMS_MEMORY_FULL = 302, 321, 322
CMS_NO_NETWORK, CMS_NETWORK_TIMEOUT, CMS_UNKNOWN = 331, 332, 500
CME_UNKNOWN = 100  # TS 27.007 §9.2

#: What a registration looks like on the port (TS 27.007 §7.2 <stat>).
REGISTERED, NOT_REGISTERED = 1, 0


def cms_code(failure: Failure) -> int:
    """The +CMS ERROR of a failed SMS request (TS 27.005 §3.2.5): the TP-FCS
    of the SMS-SUBMIT-REPORT an RP-ERROR carried (128-255), else its RP-Cause
    as it is (0-127), 322 for a full store, 331 without the radio link, 332
    when the SMSC did not answer."""
    exc = failure.value
    if isinstance(exc, _Refused):
        return exc.code
    if isinstance(exc, SubmitRefused):
        fcs = exc.report.tp_fcs if exc.report is not None else None
        return fcs if fcs is not None else exc.cause
    if isinstance(exc, StoreFull):
        return CMS_MEMORY_FULL
    if isinstance(exc, DeferredTimeout):
        return CMS_NETWORK_TIMEOUT
    if isinstance(exc, ConnectionError):
        return CMS_NO_NETWORK
    log.error("AT port: %s", failure.getErrorMessage())
    return CMS_UNKNOWN


def _shown(entry: StoredSms) -> StoredMessage:
    return StoredMessage(entry.slot, entry.stat, entry.pdu)


class AtPort:
    """One phone's modem: see the module docstring."""

    def __init__(self, phone: Phone, sim: Sim) -> None:
        self.phone, self.sim = phone, sim
        self.modem = Modem(sim.identity(phone.imsi, phone.msisdn.lstrip("+")))
        self._write: Callable[[bytes], None] | None = None
        self._request: Request | None = None
        phone.watch(self._event)
        if phone.attached:
            self._attached(phone.smsc_address)

    # -- the transport's side --------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._write is not None

    def connect(self, write: Callable[[bytes], None]) -> bool:
        """A TE takes the port, unless another holds it (False)."""
        if self._write is not None:
            return False
        self._write = write
        return True

    def disconnect(self) -> None:
        """The TE went: the next one finds the factory settings."""
        self._write = None
        self._request = None
        self.modem.connection_lost()

    def data_received(self, data: bytes) -> None:
        self._run(self.modem.receive_data(data))

    def _flush(self) -> None:
        out = self.modem.data_to_send()
        if out and self._write is not None:
            self._write(out)

    # -- requests ----------------------------------------------------------------------

    def _run(self, request: Request | None) -> None:
        self._flush()
        if request is None:
            return
        self._request = request
        d = Deferred.fromCoroutine(self._answer(request))
        d.addCallbacks(self._complete, self._fail, callbackArgs=(request,), errbackArgs=(request,))
        d.addErrback(lambda f: log.error("AT port: %s", f.getErrorMessage()))

    def _complete(self, result: object, request: Request) -> None:
        if request is self._request:
            self._request = None
            self._run(self.modem.complete(request, result))

    def _fail(self, failure: Failure, request: Request) -> None:
        if request is self._request:
            self._request = None
            code = cms_code(failure) if request.sms else CME_UNKNOWN
            self._run(self.modem.fail(request, code))

    async def _answer(self, request: Request) -> object:
        phone = self.phone
        store, repo = phone.store, phone.store.repo
        if isinstance(request, SendMessage):
            return await phone.submit_tpdu(request.tpdu, SUBMIT_TIMEOUT)
        if isinstance(request, SendStored):
            return await self._send_stored(request)
        if isinstance(request, StoreMessage):
            return await store.call(repo.store_sms, request.pdu, request.stat,
                                    phone.now(), self.capacity)  # fmt: skip
        if isinstance(request, ReadMessage):
            entry = await store.call(repo.read_sms, request.index)
            if entry is None:
                return None
            await self._open([entry])
            return _shown(entry)
        if isinstance(request, ListMessages):
            entries = await store.call(repo.list_sms, request.stat)
            await self._open(entries)
            return [_shown(e) for e in entries]
        if isinstance(request, DeleteMessages):
            await self._delete(request)
            return None
        if isinstance(request, QueryStorage):
            return StoreStatus(await store.call(repo.sms_used), self.capacity)
        assert isinstance(request, SetFunctionality)
        await phone.set_radio(request.fun == 1)
        return None

    @property
    def capacity(self) -> int:
        return self.phone.capacity or DEFAULT_CAPACITY

    async def _open(self, entries: list[StoredSms]) -> None:
        """Entries read on the port that were REC UNREAD: their messages are
        opened as the user opens them (read mark, response to the IP server)."""
        ids = {e.message_id for e in entries if e.stat == REC_UNREAD and e.message_id is not None}
        if ids:
            reads = [self.phone.read(i) for i in sorted(ids)]
            await DeferredList(reads, fireOnOneErrback=True, consumeErrors=True)

    async def _send_stored(self, request: SendStored) -> int:
        store, repo = self.phone.store, self.phone.store.repo
        entry = await store.call(repo.sms_entry, request.index)
        if entry is None:
            raise _Refused(CMS_INVALID_INDEX)
        try:
            _sca, submit = decode_sca(entry.pdu, Direction.MO)
        except PDUError:
            raise _Refused(CMS_NOT_ALLOWED) from None
        if not isinstance(submit, SmsSubmit):
            raise _Refused(CMS_NOT_ALLOWED)
        if request.da is not None:
            submit = replace(submit, tp_da=request.da)
        mr = await self.phone.submit_tpdu(encode(submit), SUBMIT_TIMEOUT)
        await store.call(repo.sms_sent, request.index)
        return mr

    async def _delete(self, request: DeleteMessages) -> None:
        found = await self.phone.store.call(self.phone.store.repo.delete_sms, request.index,
                                            request.flag)  # fmt: skip
        if not found:
            raise _Refused(CMS_INVALID_INDEX)
        self.phone.memory_available().addErrback(log_failure, "SMMA")

    # -- what happens to the phone ---------------------------------------------------------

    def _event(self, kind: str, details: dict[str, Any]) -> None:
        if kind == "attached":
            self._attached(self.phone.smsc_address)
        elif kind == "detached":
            self._deliver(RegistrationChanged(NOT_REGISTERED))
        elif kind == "stored":
            self._deliver(MessageArrived(details["index"], details["pdu"]))
        elif kind == "status report":
            self._report(details["pdu"]).addErrback(log_failure, "status report")

    def _attached(self, smsc: object) -> None:
        self.modem.set_smsc(str(smsc) if smsc is not None else None)
        self._deliver(RegistrationChanged(REGISTERED))

    def _deliver(self, event: MessageArrived | ReportArrived | RegistrationChanged) -> None:
        self.modem.deliver(event)
        self._flush()

    def _report(self, pdu: bytes) -> Deferred[None]:
        """A status report: kept in the store when the TE asked for +CDSI
        (AT+CNMI <ds> 2), shown whole with +CDS (<ds> 1), else dropped, as a
        modem does.  A full store drops it too."""
        ds = self.modem.session.settings.cnmi.ds
        if ds == 1:
            self._deliver(ReportArrived(0, pdu))
        if ds != 2:
            return succeed(None)
        store, repo = self.phone.store, self.phone.store.repo
        d = store.call(repo.store_sms, pdu, REC_UNREAD, self.phone.now(), self.capacity)

        def stored(index: int) -> None:
            self._deliver(ReportArrived(index, pdu))

        def full(failure: Failure) -> Failure | None:
            if not isinstance(failure.value, StoreFull):
                return failure
            log.info("%s: message store full, status report dropped", self.phone.msisdn)
            return None

        return d.addCallbacks(stored, full)


class _Refused(Exception):
    """A request answered with +CMS ERROR ``code``."""

    def __init__(self, code: int) -> None:
        super().__init__(f"+CMS ERROR: {code}")
        self.code = code


def log_failure(failure: Failure, what: str) -> None:
    log.error("AT port: %s: %s", what, failure.getErrorMessage())
