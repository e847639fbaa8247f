"""Bounded connections (txkit.limits) and logs that cannot be flooded
(txkit.throttle): the rules on ``task.Clock``, the guard over real sockets."""

from __future__ import annotations

import logging
import socket

import pytest
import pytest_twisted
from twisted.internet import reactor, task, threads
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from smsemu import traffic
from txkit import listen
from txkit.limits import GuardFactory, Limits, guard
from txkit.prometheus import exposition
from txkit.throttle import Throttle
from txkit.watchers import Watcher

from .scrape import parse, value


def _throttle(caplog: pytest.LogCaptureFixture, clock: task.Clock, burst: int = 1) -> Throttle:
    caplog.set_level(logging.INFO, logger="test.flood")
    return Throttle(logging.getLogger("test.flood"), clock=clock, burst=burst)


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "test.flood"]


def test_a_flood_is_one_line_then_one_summary_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = task.Clock()
    throttle = _throttle(caplog, clock)
    for i in range(4813):
        throttle.info("malformed frames from 127.0.0.1", "127.0.0.1: bad frame %d", i)
    assert _lines(caplog) == ["127.0.0.1: bad frame 0"]
    clock.advance(10)
    assert _lines(caplog)[1:] == ["… 4,812 more malformed frames from 127.0.0.1 in the last 10 s"]
    for _ in range(7):  # the flood goes on: the next interval is its count only
        throttle.info("malformed frames from 127.0.0.1", "127.0.0.1: bad frame")
    clock.advance(10)
    assert _lines(caplog)[2:] == ["… 7 more malformed frames from 127.0.0.1 in the last 10 s"]
    clock.advance(10)  # a quiet interval: nothing told, and the kind starts afresh
    assert len(_lines(caplog)) == 3
    throttle.info("malformed frames from 127.0.0.1", "again")
    assert _lines(caplog)[3:] == ["again"]


def test_kinds_are_apart_and_bounded(caplog: pytest.LogCaptureFixture) -> None:
    clock = task.Clock()
    throttle = _throttle(caplog, clock, burst=2)
    throttle.max_kinds = 3
    for n in range(100):  # a hundred peers, each sending 5 bad frames
        for _ in range(5):
            throttle.info(f"bad binds from 10.0.0.{n}", "bad bind from %d", n)
    clock.advance(10)
    lines = _lines(caplog)
    # Three kinds of their own (2 lines and a summary each), the rest shared.
    assert len(lines) == 4 * 3
    assert "… 3 more bad binds from 10.0.0.0 in the last 10 s" in lines
    assert "… 483 more lines from other peers in the last 10 s" in lines


def test_a_quiet_level_costs_no_window(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="test.flood")
    clock = task.Clock()
    throttle = Throttle(logging.getLogger("test.flood"), clock=clock)
    assert not throttle.info("x", "not shown")
    assert clock.getDelayedCalls() == []


def test_the_reserve_keeps_room_for_every_other_listener() -> None:
    limits = Limits(total=100, reserve=10, clock=task.Clock())
    flood, smpp, admin = (limits.gate(n, f"127.0.0.1:{p}") for n, p in
                          (("ip_server", 1), ("smpp", 2), ("admin", 3)))  # fmt: skip
    admitted = sum(limits.admit(flood) for _ in range(1100))
    assert admitted == 80  # 100, less 10 kept for each of the two others
    assert flood.refused == 1020
    assert all(limits.admit(smpp) for _ in range(10))
    assert all(limits.admit(admin) for _ in range(10))
    assert not limits.admit(smpp)  # its reserve is used, and the pool is full
    limits.closed(flood)
    assert limits.admit(smpp)  # what the flood gave back is anyone's
    text = exposition(limits.registry).decode()
    samples, _ = parse(text)
    ip, smpp_ = (
        {"listener": "ip_server", "address": "127.0.0.1:1"},
        {"listener": "smpp", "address": "127.0.0.1:2"},
    )
    assert value(samples, "smsemu_connections_refused_total", **ip) == 1020
    assert value(samples, "smsemu_connections_open", **smpp_) == 11


def test_a_listener_cap_and_a_stopped_listener() -> None:
    limits = Limits(total=100, reserve=10, caps={"admin": 5}, clock=task.Clock())
    admin, link = limits.gate("admin", "a"), limits.gate("link", "b")
    assert sum(limits.admit(admin) for _ in range(20)) == 5
    assert limits.limit(link) == 95  # admin's reserve is no more than its cap
    limits.stopped(admin)  # its open connections still count, its reserve no more
    assert limits.limit(link) == 95
    for _ in range(5):
        limits.closed(admin)
    assert admin not in limits.gates
    assert limits.limit(link) == 100


def test_refusals_are_logged_once_per_interval_with_their_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="txkit.limits")
    clock = task.Clock()
    limits = Limits(total=4, reserve=1, clock=clock)
    ip = limits.gate("ip_server", "127.0.0.1:7102")
    limits.gate("smpp", "127.0.0.1:2775")
    for _ in range(314):
        limits.admit(ip)
    clock.advance(10)
    lines = [r.getMessage() for r in caplog.records if r.name == "txkit.limits"]
    assert lines == [
        "refusing connections to the IP server on 127.0.0.1:7102: 3 open (limit 3)",
        "refused 310 more connections to the IP server on 127.0.0.1:7102 (limit 3) "
        "in the last 10 s",
    ]


class _Held(Protocol):
    """Tells its factory when it is made and lost."""

    def connectionMade(self) -> None:
        self.factory.tell("made")

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.factory.tell("lost")


class _Counting(Factory):
    protocol = _Held

    def __init__(self) -> None:
        self.counts = {"made": 0, "lost": 0}
        self.waiting: dict[tuple[str, int], Deferred[None]] = {}

    def tell(self, what: str) -> None:
        self.counts[what] += 1
        d = self.waiting.pop((what, self.counts[what]), None)
        if d is not None:
            d.callback(None)

    def reached(self, what: str, count: int) -> Deferred[None]:
        """Fires once ``count`` connections have been ``what``."""
        if self.counts[what] >= count:
            return succeed(None)
        return self.waiting.setdefault((what, count), Deferred())


def _closed_by_peer(sock: socket.socket) -> bool:
    sock.settimeout(30)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest_twisted.ensureDeferred
async def test_the_guard_closes_refused_sockets_at_once_and_counts_closes() -> None:
    """Over real sockets: past the limit, the server closes what it accepts
    (the client reads EOF, nothing waits in the backlog); a closed connection
    gives its place back."""
    limits = Limits(total=4, reserve=1, clock=task.Clock())
    factory = _Counting()
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")  # type: ignore[arg-type]
    guard(port, "at_tcp", limits)
    other = limits.gate("smpp", "elsewhere")  # keeps one place
    number = port.getHost().port  # type: ignore[attr-defined]
    socks = [socket.create_connection(("127.0.0.1", number)) for _ in range(6)]
    try:
        refused = await threads.deferToThread(lambda: [_closed_by_peer(s) for s in socks[3:]])
        assert refused == [True] * 3
        await factory.reached("made", 3)
        assert factory.counts["made"] == 3
        socks[0].close()
        await factory.reached("lost", 1)
        socks.append(socket.create_connection(("127.0.0.1", number)))
        await factory.reached("made", 4)
        assert limits.admit(other)  # the reserve held its place all along
    finally:
        for s in socks:
            s.close()
        await maybeDeferred(port.stopListening)
    await factory.reached("lost", 4)
    assert limits.gates == [other]  # a listener gone and its connections closed: forgotten


def test_listen_guards_every_listener() -> None:
    port = listen(reactor, "tcp:0", Factory.forProtocol(Protocol), name="admin")
    try:
        assert isinstance(port.factory, GuardFactory)  # type: ignore[attr-defined]
        assert port.factory.gate.name == "admin"  # type: ignore[attr-defined]
    finally:
        port.stopListening()


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_refused_binds_in_the_traffic_log_are_one_line_per_source() -> None:
    """A refused bind is a traffic line any peer can repeat: one per source
    address is shown; other sources and other events are not held."""
    kept = _Kept()
    traffic.log.addHandler(kept)
    traffic.log.setLevel(logging.INFO)
    traffic.log.propagate = False  # pytest's own handler wants records with a source line
    try:
        told = traffic.watcher(traffic.SMSC)
        assert told is not None
        _refuse_and_bind(told)
    finally:
        traffic.log.removeHandler(kept)
        traffic.log.setLevel(logging.NOTSET)
        traffic.log.propagate = True
    assert kept.lines == [
        "ESME esme from 10.1.1.1:0 refused: x",
        "ESME esme from 10.2.2.2:9 refused: x",
        *["ESME esme as transceiver from 10.1.1.1:1"] * 3,
    ]


def _refuse_and_bind(told: Watcher) -> None:
    for port in range(100):
        told("bind refused", {"system_id": "esme", "peer": f"10.1.1.1:{port}", "status": "x"})
    told("bind refused", {"system_id": "esme", "peer": "10.2.2.2:9", "status": "x"})
    for _ in range(3):
        told("bound", {"system_id": "esme", "bind": "transceiver", "peer": "10.1.1.1:1"})


def test_many_listeners_keep_at_most_half_the_budget() -> None:
    """A hundred AT ports on a small budget: each keeps less, and a flood on
    one still gets half of what there is."""
    limits = Limits(total=800, reserve=16, clock=task.Clock())
    gates = [limits.gate("at_tcp", f"127.0.0.1:{n}") for n in range(100)]
    assert limits.limit(gates[0]) == 800 - 99 * 4
    assert all(limits.admit(g) for g in gates[1:] for _ in range(4))
