"""Real AT clients against a handset's AT port (docs/at.md): python-gsmmodem
0.13 on the pty, Gammu on the pty and (through socat, ``proxyat``) on the TCP
port.  The real SMSC, the real IP server and real phones on 127.0.0.1, as in
tests/test_receipts_e2e.py; the blocking clients run on threads or as
subprocesses, and every wait is on an event.

python-gsmmodem asks for +CDSI (AT+CNMI=2,1,0,2) and then races the status
report's +CDSI against its own next command; the test asks for no status
report indications (``AT_CNMI="2,1,0,0"``, the client's own knob)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread
from twisted.internet.utils import getProcessOutputAndValue

from handset.at_lines import AtSettings
from handset.conversation import Mark
from handset.phone import Phone
from handset.service import HandsetService
from smsc.service import SmscService
from smsemu.subscribers import provision_handset

from .test_receipts_e2e import Network, smsc  # noqa: F401  (the fixture)

A, B = "+15550001001", "+15550001002"
GSM7 = "hello from python-gsmmodem @ £5"
UCS2 = "Привет, мир ☺"
LONG = "A long message that takes three parts. " * 10


class AtNetwork(Network):
    async def modem(self, msisdn: str, mode: str) -> HandsetService:
        """A phone with its AT port open; fires once it is attached and logged in."""
        assert self.ip is not None
        await provision_handset(self.smsc, self.root / msisdn, msisdn)  # its SIM
        service = HandsetService(
            msisdn,
            self.root / msisdn,
            smsc=("127.0.0.1", self.smsc.link_port),
            ip_server=("127.0.0.1", self.ip.port),
            credentials=await self.credentials(msisdn),
            watchers=[self.watcher(msisdn)],
            at=AtSettings(mode),
        )
        service.startService()
        self.phones[msisdn] = service
        await service.ready
        return service


@pytest_twisted.async_yield_fixture
async def net(tmp_path: Path, smsc: SmscService) -> AsyncIterator[AtNetwork]:  # noqa: F811
    network = AtNetwork(tmp_path, smsc)
    network.start_ip()
    try:
        yield network
    finally:
        await network.close()


def _gsmmodem(path: str, received: Deferred[Any], deleted: Deferred[Any]) -> Any:
    from gsmmodem.modem import GsmModem

    class Modem(GsmModem):  # type: ignore[misc]
        def deleteStoredSms(self, index: int, memory: str | None = None) -> None:
            super().deleteStoredSms(index, memory)
            reactor.callFromThread(  # type: ignore[attr-defined]
                deleted.callback, index
            )

    def on_sms(sms: Any) -> None:
        reactor.callFromThread(  # type: ignore[attr-defined]
            received.callback, sms
        )

    modem = Modem(path, 115200, smsReceivedCallbackFunc=on_sms, AT_CNMI="2,1,0,0")
    modem.connect()
    return modem


@pytest_twisted.ensureDeferred
async def test_python_gsmmodem_sends_receives_reads_and_deletes(net: AtNetwork) -> None:
    service = await net.modem(A, "pty")
    b: Phone = await net.phone(B)
    assert service.phone is not None and service.at_lines is not None
    a = service.phone
    assert service.at_lines.pty is not None
    received: Deferred[Any] = Deferred()
    deleted: Deferred[Any] = Deferred()
    modem = await deferToThread(_gsmmodem, service.at_lines.pty.path, received, deleted)
    try:
        for n, text in enumerate([GSM7, UCS2, LONG], 1):
            await deferToThread(modem.sendSms, B, text)
            await net.counted(B, "received", n)
        assert [m.text for m in await b.inbox()] == [LONG, UCS2, GSM7]
        assert (await b.inbox())[0].parts == 3

        message_id = await b.send(A, "read me, please")
        read = b.wait_for("state", id=message_id, state="read")
        sms = await received  # +CMTI, then AT+CMGR: the read
        assert (sms.text, sms.number) == ("read me, please", B)
        await read  # the response went through the IP server
        [*_, last] = await b.conversation(A)
        assert (last.id, last.mark) == (message_id, Mark.READ)
        [opened] = [m for m in await a.inbox() if m.text == "read me, please"]
        assert opened.read
        await deleted
        assert await a.store.call(a.store.repo.sms_used) == 0
    finally:
        await deferToThread(modem.close)


async def gammu(rc: Path, *args: str, stdin: str | None = None) -> str:
    argv = ["-c", str(rc), *args]
    if stdin is not None:
        out, err, code = await getProcessOutputAndValue(
            "/bin/sh", ["-c", 'printf %s "$0" | gammu "$@"', stdin, *argv], reactor=reactor
        )
    else:
        out, err, code = await getProcessOutputAndValue("gammu", argv, reactor=reactor)
    text: str = out.decode("utf-8", "replace")
    assert code == 0, (args, text, err.decode("utf-8", "replace"))
    return text


@pytest.mark.parametrize("line", ["pty", "tcp"])
@pytest_twisted.ensureDeferred
async def test_gammu_identifies_sends_lists_and_deletes(
    net: AtNetwork, tmp_path: Path, line: str
) -> None:
    service = await net.modem(A, "both")
    b = await net.phone(B)
    assert service.at_lines is not None and service.phone is not None
    where = service.at_lines.where
    if line == "pty":
        config = f"device = {where['pty']}\nconnection = at\n"
    else:
        config = f"device = socat - TCP:{where['tcp']}\nconnection = proxyat\n"
    rc = tmp_path / "gammurc"
    rc.write_text(f"[gammu]\n{config}")

    identity = await gammu(rc, "identify")
    assert "Manufacturer         : smsemu" in identity
    assert f"SIM IMSI             : {service.imsi}" in identity

    await gammu(rc, "sendsms", "TEXT", B, "-text", "hello from gammu")
    await net.counted(B, "received", 1)
    await gammu(rc, "sendsms", "TEXT", B, "-len", str(len(LONG)), stdin=LONG)
    await net.counted(B, "received", 2)
    assert [m.text for m in await b.inbox()] == [LONG, "hello from gammu"]

    await b.send(A, "for gammu")
    await net.counted(A, "received", 1)
    listed = await gammu(rc, "getallsms")
    assert "for gammu" in listed and "Status               : UnRead" in listed
    assert "1 SMS parts in 1 SMS sequences" in listed
    await gammu(rc, "deletesms", "1", "1")
    a = service.phone
    assert await a.store.call(a.store.repo.sms_used) == 0
