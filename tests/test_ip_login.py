"""The IP server's login against attackers (issue 18), over real TCP on
127.0.0.1: a captured login replayed from another connection, wrong proofs
and unknown devices (told apart by nothing), the login deadline and the
lockout's delays on ``task.Clock``, pings before a login.

The server's factory runs on a ``task.Clock`` (its deadlines and delays) and
the real reactor (its sockets, its store's thread); what the tests wait for
is the event itself: a frame, a hang-up, the lockout being asked."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredQueue
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import ClientCreator
from twisted.internet.task import Clock
from twisted.internet.threads import deferToThread
from twisted.protocols import portforward

import txkit
from handset.ip_client import connect_ip
from ipwire import wire
from ipwire.device_session import DeviceSession
from receipt_server.connection import ReceiptServerProtocol
from receipt_server.factory import ReceiptServerFactory
from receipt_server.store import ReceiptStore, Registration, sqlite_url
from smsc.capture import Capture
from tests.capture_tools import assert_clean, fields
from tests.rig import TIMEOUT, SmscProcess
from tests.scrape import Samples, key, parse
from tests.test_receipt_server import Net, Raw, raw
from txkit.prometheus import exposition

B, C = "+447700900123", "+15551234567"


def port_of(listening: IListeningPort) -> int:
    return int(listening.getHost().port)  # type: ignore[attr-defined]


async def stop(listening: IListeningPort) -> None:
    stopped = listening.stopListening()
    if stopped is not None:
        await stopped


class ClockNet:
    """The IP server's factory on a ``task.Clock``, on a real port."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.clock = Clock()
        self.store = ReceiptStore.open(url)
        self.factory = ReceiptServerFactory(self.store, self.clock, **kwargs)
        self.listening = txkit.listen(reactor, "tcp:0", self.factory)
        self.port = port_of(self.listening)
        #: Each server-side connection, once made (its deadline is running).
        self.made: DeferredQueue[ReceiptServerProtocol] = DeferredQueue()
        #: What the lockout was asked: ("check", locked) or ("failed", delay),
        #: told once the server has done what it does with the answer (its
        #: own answer put on the clock): on the reactor's next turn.
        self.lockout: DeferredQueue[tuple[str, Any]] = DeferredQueue()
        build = self.factory.buildProtocol
        self.factory.buildProtocol = lambda addr: self._told(build(addr))  # type: ignore[method-assign]
        guard = self.factory.lockout
        check, failed = guard.check, guard.failed

        def checked(*args: Any) -> Any:
            verdict = check(*args)
            reactor.callLater(0, self.lockout.put, ("check", verdict.locked))
            return verdict

        def fails(*args: Any) -> float:
            delay = failed(*args)
            reactor.callLater(0, self.lockout.put, ("failed", delay))
            return delay

        guard.check, guard.failed = checked, fails  # type: ignore[method-assign,assignment]

    def _told(self, protocol: ReceiptServerProtocol) -> ReceiptServerProtocol:
        made = protocol.connectionMade

        def connection_made() -> None:
            made()
            self.made.put(protocol)

        protocol.connectionMade = connection_made  # type: ignore[method-assign]
        return protocol

    async def raw(self, port: int | None = None) -> Raw:
        """A device speaking raw frames, once the server has its connection."""
        r: Raw = await ClientCreator(reactor, Raw).connectTCP("127.0.0.1", port or self.port)
        await self.made.get()
        return r

    async def device(self, msisdn: str = B, **kwargs: Any) -> Registration:
        return await self.store.register_device(msisdn, **kwargs)

    def metrics(self) -> Samples:
        return parse(exposition(self.factory.metrics.registry).decode())[0]

    async def shut(self) -> None:
        await stop(self.listening)
        await self.factory.close_all()
        await self.store.stop()


@pytest.fixture
def net(database_url: str) -> Iterator[ClockNet]:
    net = ClockNet(database_url)
    yield net
    pytest_twisted.blockon(Deferred.fromCoroutine(net.shut()))


def login_frame(session: DeviceSession, device: str, secret: str, rid: int = 1) -> bytes:
    """The device's ``login`` (its session's login 1) sent with id ``rid``."""
    (login,) = wire.FrameReader(wire.DEVICE_MESSAGES).feed(session.login(device, secret)[1])
    assert isinstance(login, wire.Login)
    return wire.encode(wire.Login(rid, login.device, login.nonce))


def proof_frame(session: DeviceSession, challenge: Any, rid: int = 1) -> bytes:
    """The device's answer to ``challenge`` (to login ``rid``)."""
    assert isinstance(challenge, wire.Challenge) and challenge.id == rid, challenge
    answer = session.answer(wire.Challenge(1, challenge.nonce))
    assert answer is not None
    (proved,) = wire.FrameReader(wire.DEVICE_MESSAGES).feed(answer)
    assert isinstance(proved, wire.LoginProof)
    return wire.encode(wire.LoginProof(rid, proved.proof))


async def attempt(r: Raw, device: str, secret: str, rid: int = 1) -> list[Any]:
    """Log in as ``device`` with ``secret``: what the server sent (the
    challenge first), the last frame as the device reads it (a login_ok whose
    signature is wrong would be an error)."""
    session = DeviceSession()
    challenge = await r.ask(login_frame(session, device, secret, rid))
    r.send(proof_frame(session, challenge, rid))
    got = await r.got.get()
    if isinstance(got, wire.LoginOk):  # the device checks the server's signature
        (got,) = session.receive(
            wire.encode(wire.LoginOk(1, got.device, got.msisdn, got.account, got.signature))
        )
    return [challenge, got]


def refused(got: Any) -> tuple[str, str]:
    assert isinstance(got, wire.Error), got
    return got.code, got.reason


# -- the replay of issue 18 ----------------------------------------------------------------


class Tap(portforward.ProxyServer):
    """A proxy between a device and the server that keeps what the device sent:
    an eavesdropper's capture."""

    def dataReceived(self, data: bytes) -> None:
        self.factory.captured.append(data)  # type: ignore[attr-defined]
        super().dataReceived(data)


@pytest_twisted.ensureDeferred
async def test_a_captured_login_replayed_from_another_connection_is_worthless(
    net: ClockNet,
) -> None:
    """The issue's attack: a login captured on the wire, replayed from a second
    connection, got login_ok and closed the real session.  Now the server's
    challenge is new on each connection, so the capture proves nothing."""
    reg = await net.device()
    proxy = portforward.ProxyFactory("127.0.0.1", net.port)
    proxy.protocol = Tap
    proxy.captured = []  # type: ignore[attr-defined]
    tapped = txkit.listen(reactor, "tcp:0", proxy)
    try:
        victim = await connect_ip(reactor, "127.0.0.1", port_of(tapped), reg.device_id, reg.secret)
        await net.made.get()  # the proxy's connection
        await victim.ping()
        capture = b"".join(proxy.captured)  # type: ignore[attr-defined]
        assert reg.secret.encode() not in capture  # the secret never crossed the wire
        login, proof, _ping = wire.FrameReader(wire.DEVICE_MESSAGES).feed(capture)
        assert isinstance(login, wire.Login) and isinstance(proof, wire.LoginProof)
        # Replayed as captured, in one write, then step by step.
        first = await net.raw()
        first.send(wire.encode(login) + wire.encode(proof))
        challenge = await first.got.get()
        assert isinstance(challenge, wire.Challenge)
        assert refused(await first.got.get())[0] == "bad_credentials"
        second = await net.raw()
        other = await second.ask(wire.encode(login))
        assert isinstance(other, wire.Challenge) and other.nonce != challenge.nonce
        second.send(wire.encode(proof))
        assert refused(await second.got.get())[0] == "bad_credentials"
        # The real session goes on, not replaced.
        await victim.ping()
        assert victim.last_error is None and victim.connected
        (session,) = net.factory.sessions.of_device(reg.device_id)
        assert session.session.identity is not None
        assert net.metrics()[key("smsemu_ip_auth_failures_total")] == 2
        assert net.metrics()[key("smsemu_ip_devices_logged_in")] == 1
        victim.close()
        await victim.lost
    finally:
        await stop(tapped)


# -- wrong proofs, unknown devices ---------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_wrong_proof_and_an_unknown_device_are_refused_alike(net: ClockNet) -> None:
    """No oracle: an unknown device is challenged as a known one, and refused
    with the same frame as a wrong proof; the connection may try again."""
    reg = await net.device()
    r = await net.raw()
    wrong_challenge, wrong = await attempt(r, reg.device_id, "not-" + reg.secret, 1)
    unknown_challenge, unknown = await attempt(r, "d" + "0" * 24, reg.secret, 2)
    assert len(wrong_challenge.nonce) == len(unknown_challenge.nonce)
    assert refused(wrong) == refused(unknown) == ("bad_credentials", wrong.reason)
    assert (wrong.id, unknown.id) == (1, 2)
    _, ok = await attempt(r, reg.device_id, reg.secret, 3)  # the third try is right
    assert isinstance(ok, wire.LoginOk) and ok.device == reg.device_id
    assert await r.ask(wire.encode(wire.Ping(4))) == wire.Pong(4)


@pytest_twisted.ensureDeferred
async def test_the_third_wrong_proof_on_a_connection_closes_it(net: ClockNet) -> None:
    reg = await net.device()
    r = await net.raw()
    for rid in (1, 2, 3):
        _, got = await attempt(r, reg.device_id, "guess", rid)
        assert refused(got)[0] == "bad_credentials"
    await r.lost


# -- before a login ------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_pings_before_a_login_get_one_error_and_the_connection_closes(
    net: ClockNet,
) -> None:
    """The issue found 5,000 pings answered before any login."""
    r = await net.raw()
    r.send(b"".join(wire.encode(wire.Ping(i)) for i in range(5000)))
    assert refused(await r.got.get()) == (
        "unauthenticated",
        "ping before a login: only a login is read",
    )
    await r.lost
    assert r.got.pending == []  # not one pong
    assert net.metrics()[key("smsemu_ip_closed_before_login_total", reason="frame")] == 1


@pytest_twisted.ensureDeferred
async def test_the_login_deadline_closes_what_has_not_logged_in(database_url: str) -> None:
    net = ClockNet(database_url, login_deadline=3.5)
    try:
        reg = await net.device()
        idle, challenged, logged = await net.raw(), await net.raw(), await net.raw()
        assert isinstance(
            await challenged.ask(wire.encode(wire.Login(1, "dX", wire.b64(bytes(16))))),
            wire.Challenge,
        )
        _, ok = await attempt(logged, reg.device_id, reg.secret)
        assert isinstance(ok, wire.LoginOk)
        net.clock.advance(3.4)
        assert await logged.ask(wire.encode(wire.Ping(2))) == wire.Pong(2)
        assert idle.got.pending == [] and challenged.got.pending == []
        net.clock.advance(0.1)
        for r in (idle, challenged):
            assert refused(await r.got.get()) == ("unauthenticated", "no login within 3.5 s")
            await r.lost
        assert await logged.ask(wire.encode(wire.Ping(3))) == wire.Pong(3)
        samples = net.metrics()
        assert samples[key("smsemu_ip_closed_before_login_total", reason="deadline")] == 2
    finally:
        await net.shut()


# -- back-off per device and per address ---------------------------------------------------


async def prove(net: ClockNet, r: Raw, device: str, secret: str, what: str) -> Any:
    """Log in up to the proof, and what the lockout said when it was asked
    ``what`` about it (the answer itself may wait on the clock)."""
    session = DeviceSession()
    challenge = await r.ask(login_frame(session, device, secret))
    net.lockout.pending.clear()  # what it said of the logins before
    r.send(proof_frame(session, challenge))
    while True:
        asked, said = await net.lockout.get()
        if asked == what:
            return said


@pytest_twisted.ensureDeferred
async def test_bad_logins_lock_the_device_and_the_address_out_with_growing_delays(
    net: ClockNet,
) -> None:
    net.factory.lockout.base, net.factory.lockout.answer_delay = 4.0, 0.5
    target, stranger, known = await net.device(), await net.device(C), await net.device(C)
    r = await net.raw()
    assert isinstance((await attempt(r, known.device_id, known.secret))[1], wire.LoginOk)
    # Three free failures (a typo or three), on one connection that then closes.
    guesser = await net.raw()
    for rid in (1, 2, 3):
        assert refused((await attempt(guesser, target.device_id, "guess", rid))[1])[0] == (
            "bad_credentials"
        )
    await guesser.lost
    # The fourth locks the device and the address for 4 s; its answer waits 0.5 s.
    guesser = await net.raw()
    assert await prove(net, guesser, target.device_id, "guess", "failed") == 0.5
    assert guesser.got.pending == []  # nothing sent: the answer is on the clock
    net.clock.advance(0.5)
    assert refused(await guesser.got.get())[0] == "bad_credentials"
    assert net.metrics()[key("smsemu_ip_login_lockouts")] == 2  # the device, the address
    # Locked: the right secret is refused unchecked, for the device and for a
    # stranger from that address; a device known there logs in.
    for who in (target, stranger):
        r = await net.raw()
        assert await prove(net, r, who.device_id, who.secret, "check") is True
        net.clock.advance(0.5)
        assert refused(await r.got.get())[0] == "bad_credentials"
    again = await net.raw()
    assert isinstance((await attempt(again, known.device_id, known.secret))[1], wire.LoginOk)
    samples = net.metrics()
    assert samples[key("smsemu_ip_auth_locked_total")] == 2
    assert samples[key("smsemu_ip_auth_failures_total")] == 6
    # Once the lock is over, the device logs in with its secret.
    net.clock.advance(3.0)
    r = await net.raw()
    assert isinstance((await attempt(r, target.device_id, target.secret))[1], wire.LoginOk)
    assert net.metrics()[key("smsemu_ip_login_lockouts")] == 0


# -- in Wireshark ----------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_wireshark_shows_the_login_exchange_and_flags_a_secret_in_clear(
    tmp_path: Path,
) -> None:
    """The server's capture of a login, a replay and an old-protocol login,
    read by tshark with contrib/wireshark/smsemu_ip.lua."""
    net = Net(sqlite_url(tmp_path))
    capture = Capture(reactor)
    net.server.factory.tap = capture
    clean, old = tmp_path / "login.pcapng", tmp_path / "old.pcapng"
    try:
        reg = await net.device(B)
        capture.open_file(clean)
        phone = await net.connect(reg)
        await phone.client.ping()
        await phone.hang_up()
        replay = await raw(net)
        session = DeviceSession()
        challenge = await replay.ask(session.login(reg.device_id, "not-the-secret")[1])
        replay.send(session.answer(challenge) or b"")
        assert isinstance(await replay.got.get(), wire.Error)
        replay.transport.loseConnection()  # type: ignore[union-attr]
        await replay.lost
        capture.close()
        capture.open_file(old)
        legacy = await raw(net)
        payload = b'{"type":"login","id":1,"device":"%s","secret":"%s"}' % (
            reg.device_id.encode(),
            reg.secret.encode(),
        )
        assert isinstance(await legacy.ask(len(payload).to_bytes(4, "big") + payload), wire.Error)
        await legacy.lost
        capture.close()
    finally:
        await net.shut()
    rows = await deferToThread(
        fields,
        clean,
        "smsemu_ip",
        "smsemu_ip.type",
        "smsemu_ip.device",
        "smsemu_ip.nonce",
        "smsemu_ip.proof",
        "smsemu_ip.signature",
    )
    frames = [row for row in rows if row[0]]
    types = [row[0] for row in frames]
    assert types[:4] == ["login", "challenge", "login_proof", "login_ok"]
    assert types[4:] == ["ping", "pong", "login", "challenge", "login_proof", "error"]
    login, challenge_row, proof_row, ok = frames[:4]
    assert login[1] == ok[1] == reg.device_id and login[2] and challenge_row[2]
    assert len(base64.b64decode(proof_row[3])) == 32 and len(base64.b64decode(ok[4])) == 32
    assert frames[7][2] != challenge_row[2]  # a new challenge on the second connection
    await deferToThread(assert_clean, clean)
    flagged = await deferToThread(fields, old, "smsemu_ip.secret_in_clear", "smsemu_ip.type")
    assert flagged == [["login"]]


# -- smsemu up ---------------------------------------------------------------------------------


def read_until_closed(sock: socket.socket) -> list[dict[str, Any]]:
    """Every frame until the server hangs up (a blocking socket)."""
    sock.settimeout(TIMEOUT)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    frames = []
    while data:
        n = int.from_bytes(data[:4], "big")
        frames.append(json.loads(data[4 : 4 + n]))
        data = data[4 + n :]
    return frames


def test_smsemu_up_reads_only_logins_and_closes_at_its_configured_deadline(
    tmp_path: Path,
) -> None:
    config = tmp_path / "smsemu.toml"
    config.write_text("[ip_server]\nlogin_deadline = 2\n")
    up = SmscProcess(["--data-dir", str(tmp_path / "data"), "--config", str(config)], "up")
    try:
        with socket.create_connection(("127.0.0.1", up.ip_port), timeout=TIMEOUT) as pinger:
            pinger.sendall(b"".join(wire.encode(wire.Ping(i)) for i in range(5000)))
            (refusal,) = read_until_closed(pinger)
        assert (refusal["code"], refusal["id"]) == ("unauthenticated", 0)
        with socket.create_connection(("127.0.0.1", up.ip_port), timeout=TIMEOUT) as idle:
            (late,) = read_until_closed(idle)
        assert (late["code"], late["reason"]) == ("unauthenticated", "no login within 2 s")
    finally:
        assert up.terminate() == 0
