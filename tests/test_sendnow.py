"""txkit.sendnow over real loopback sockets: a frame goes out in the call
(no registration for writing), what the kernel does not take and what comes
after it go out in order, and anything but plain TCP gets a plain write."""

from __future__ import annotations

import socket

import pytest_twisted
from twisted.internet import reactor, threads
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport

from txkit import listen
from txkit.sendnow import send_now


class _Server(Protocol):
    def __init__(self, made: Deferred[_Server]) -> None:
        self.made = made

    def connectionMade(self) -> None:
        self.made.callback(self)


def _read(sock: socket.socket, count: int) -> bytes:
    got = b""
    while len(got) < count:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        got += chunk
    return got


@pytest_twisted.ensureDeferred
async def test_a_frame_is_sent_in_the_call_and_a_backlog_keeps_its_order() -> None:
    made: Deferred[_Server] = Deferred()
    # Through ``listen``: the connection guard's ProtocolWrapper is unwrapped too.
    port = listen(reactor, "tcp:0:interface=127.0.0.1", Factory.forProtocol(lambda: _Server(made)))
    sock = socket.create_connection(("127.0.0.1", port.getHost().port))  # type: ignore[attr-defined]
    try:
        server = await made
        assert server.transport is not None
        send_now(server.transport, b"RP-DATA")
        tcp = server.transport.transport  # type: ignore[attr-defined]
        assert tcp not in reactor.getWriters()  # sent, not waiting for the reactor's turn
        assert await threads.deferToThread(_read, sock, 7) == b"RP-DATA"

        # More than the socket buffers hold: the rest waits in Twisted's buffer,
        # and what is sent after it queues behind it, never ahead.
        big = bytes(range(256)) * 40_000
        send_now(server.transport, big)
        send_now(server.transport, b"after")
        assert tcp in reactor.getWriters()
        got = await threads.deferToThread(_read, sock, len(big) + 5)
        assert got == big + b"after"
    finally:
        sock.close()
        await maybeDeferred(port.stopListening)


def test_anything_but_plain_tcp_gets_a_plain_write() -> None:
    transport = StringTransport()
    send_now(transport, b"one")
    send_now(transport, b"two")
    assert transport.value() == b"onetwo"
