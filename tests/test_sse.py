"""The live stream (txkit.sse) on its own: events in order, a reconnect resumes
after its Last-Event-ID, a slow client is paused rather than buffered.

The first tests drive a real ``twisted.web`` Site over ``StringTransport``
with a ``task.Clock``; the last one over real sockets on 127.0.0.1, with a
client that stops reading."""

from __future__ import annotations

import json
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import Site

from txkit import listen
from txkit.sse import EventLog, EventStream


def _site(log: EventLog) -> Site:
    root = Resource()
    root.putChild(b"events", EventStream(log))
    return Site(root)


def _connect(
    log: EventLog, headers: str = "", path: str = "/events"
) -> tuple[Any, StringTransport]:
    """A client of the stream over a StringTransport (HTTP/1.0: no chunking)."""
    proto = _site(log).buildProtocol(None)
    assert proto is not None
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(f"GET {path} HTTP/1.0\r\nHost: x\r\n{headers}\r\n".encode())
    return proto, transport


def _producer(transport: StringTransport) -> Any:
    """The HTTP channel, registered with its transport as its producer."""
    assert transport.producer is not None
    return transport.producer


def frames(raw: bytes) -> list[dict[str, Any]]:
    """The event frames of a response (its headers and comments skipped)."""
    body = raw.split(b"\r\n\r\n", 1)[1].decode()
    out = []
    for block in body.split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            if name in ("id", "event"):
                fields[name] = value
            elif name == "data":
                fields["data"] = json.loads(value)
        if "id" in fields:
            out.append(fields)
    return out


def test_events_arrive_in_order_with_their_ids() -> None:
    log = EventLog(Clock())
    _, transport = _connect(log)
    assert b"content-type: text/event-stream" in transport.value().lower()
    for n in range(3):
        log.publish("smsc", "accepted", {"n": n, "pdu": b"\x01\x02"})
    got = frames(transport.value())
    assert [f["id"] for f in got] == ["1", "2", "3"]
    assert [f["data"]["n"] for f in got] == [0, 1, 2]
    assert got[0]["data"]["source"] == "smsc" and got[0]["data"]["event"] == "accepted"
    assert got[0]["data"]["pdu"] == "0102"  # octets as hex


def test_a_watchers_event_is_made_only_when_a_stream_sends_it() -> None:
    """A busy SMSC tells several events a message: one nobody follows yet is
    kept as told (no JSON object, no frame) until a stream catches up on it,
    and then says its watcher's details first, its own over them."""
    log = EventLog(Clock())
    told = log.watcher("handset", handset="+1555", n=0)
    told("received", {"n": 7, "id": 3})
    [kept] = log.after(log.last_id - 1) or []
    assert kept._frame is None
    _, transport = _connect(log, path=f"/events?last_id={log.last_id - 1}")
    [got] = frames(transport.value())
    assert list(got["data"]) == ["event_id", "source", "event", "at", "handset", "n", "id"]
    assert got["data"]["handset"] == "+1555" and got["data"]["n"] == 7


def test_a_new_stream_starts_from_now() -> None:
    log = EventLog(Clock())
    log.publish("smsc", "old", {})
    _, transport = _connect(log)
    log.publish("smsc", "new", {})
    assert [f["data"]["event"] for f in frames(transport.value())] == ["new"]


@pytest.mark.parametrize("how", ["Last-Event-ID: 2\r\n", None], ids=["header", "query"])
def test_a_reconnect_resumes_after_its_last_event_id(how: str | None) -> None:
    log = EventLog(Clock())
    for n in range(5):
        log.publish("smsc", "e", {"n": n})
    if how is None:
        _, transport = _connect(log, path="/events?last_id=2")
    else:
        _, transport = _connect(log, how)
    log.publish("smsc", "e", {"n": 5})
    assert [f["data"]["n"] for f in frames(transport.value())] == [2, 3, 4, 5]


def test_a_reconnect_from_too_far_back_gets_a_reset() -> None:
    log = EventLog(Clock(), keep=3)
    for n in range(10):
        log.publish("smsc", "e", {"n": n})
    _, transport = _connect(log, "Last-Event-ID: 1\r\n")
    log.publish("smsc", "e", {"n": 10})
    got = frames(transport.value())
    assert got[0]["event"] == "reset" and got[0]["id"] == "10"
    assert [f["data"]["n"] for f in got[1:]] == [10]


def test_a_reconnect_to_another_run_gets_a_reset() -> None:
    """A process started again numbers its events above the last run's, and an
    id it never gave (one of a run yet to come) resets too."""
    old = EventLog(Clock())
    for n in range(50):
        old.publish("smsc", "e", {"n": n})
    clock = Clock()
    clock.advance(1.0)  # started again a second later
    log = EventLog(clock)
    log.publish("smsc", "e", {"n": 0})
    assert log.last_id > old.last_id
    for seen in (old.last_id, log.last_id + 5):
        _, transport = _connect(log, f"Last-Event-ID: {seen}\r\n")
        log.publish("smsc", "e", {"n": 1})
        got = frames(transport.value())
        assert got[0]["event"] == "reset", seen
        assert got[-1]["data"]["n"] == 1


def test_a_bad_last_event_id_is_a_400() -> None:
    log = EventLog(Clock())
    _, transport = _connect(log, "Last-Event-ID: -3\r\n")
    assert transport.value().startswith(b"HTTP/1.0 400")
    assert b"expected an event id" in transport.value()
    assert not log.streams


def test_a_paused_client_is_not_written_to_and_catches_up_on_resume() -> None:
    log = EventLog(Clock(), keep=100)
    _, transport = _connect(log)
    (stream,) = log.streams
    _producer(transport).pauseProducing()  # what a transport does when its buffer is full
    assert stream.paused
    before = len(transport.value())
    for n in range(50):
        log.publish("smsc", "e", {"n": n})
    assert len(transport.value()) == before  # nothing queued for it: a cursor only
    assert stream.cursor == 0
    _producer(transport).resumeProducing()
    assert [f["data"]["n"] for f in frames(transport.value())] == list(range(50))


def test_a_client_paused_past_the_ring_resets_instead_of_buffering() -> None:
    log = EventLog(Clock(), keep=10)
    _, transport = _connect(log)
    _producer(transport).pauseProducing()
    for n in range(1000):
        log.publish("smsc", "e", {"n": n, "pad": "x" * 100})
    assert len(log._ring) == 10
    _producer(transport).resumeProducing()
    got = frames(transport.value())
    assert got[0]["event"] == "reset"
    log.publish("smsc", "e", {"n": 1000})
    assert frames(transport.value())[-1]["data"]["n"] == 1000


def test_heartbeats_keep_an_idle_stream_alive_and_stop_with_the_last_stream() -> None:
    clock = Clock()
    log = EventLog(clock, heartbeat=15.0)
    proto, transport = _connect(log)
    clock.advance(15)
    assert transport.value().endswith(b": keep-alive\n\n")
    proto.connectionLost(Failure(ConnectionDone()))
    assert not log.streams
    clock.advance(15)
    assert not clock.getDelayedCalls()


def test_close_ends_every_stream() -> None:
    log = EventLog(Clock())
    _connect(log)
    _connect(log)
    assert len(log.streams) == 2
    log.close()
    assert not log.streams


class _Reader(Protocol):
    """A client that reads only when told to."""

    def __init__(self) -> None:
        self.data = b""
        self.waiting: tuple[bytes, Deferred[None]] | None = None

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        if self.waiting is not None and self.waiting[0] in self.data:
            d, self.waiting = self.waiting[1], None
            d.callback(None)

    def until(self, marker: bytes) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        if marker in self.data:
            d.callback(None)
        else:
            self.waiting = (marker, d)
        return d


@pytest_twisted.ensureDeferred
async def test_a_slow_client_over_real_sockets_does_not_grow_the_servers_memory() -> None:
    log = EventLog(reactor, keep=64)
    port = listen(reactor, "tcp:0:interface=127.0.0.1", _site(log), name="events")
    try:
        reader = _Reader()
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)  # type: ignore[attr-defined]
        await connectProtocol(endpoint, reader)
        reader.transport.write(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")  # type: ignore[union-attr]
        await reader.until(b"retry: ")
        reader.transport.pauseProducing()  # type: ignore[union-attr]  # stop reading
        (stream,) = log.streams
        # 40 MB of events, far more than the socket buffers hold.
        payload = "x" * 4000
        for n in range(10_000):
            log.publish("smsc", "e", {"n": n, "pad": payload})
        assert stream.paused
        server: Any = stream.request.channel.transport
        held = len(server.dataBuffer) + server._tempDataLen
        assert held < 1_000_000, f"the server holds {held} bytes for a client that does not read"
        reader.transport.resumeProducing()  # type: ignore[union-attr]
        await reader.until(b"event: reset")  # it missed more than the ring: told so
        log.publish("smsc", "last", {"n": 10_000})
        await reader.until(b'"n":10000')
    finally:
        log.close()
        await port.stopListening()  # type: ignore[misc]
