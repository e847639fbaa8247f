"""The listeners of a cluster's nodes: one port shared by several (SO_REUSEPORT),
on TCP and on TLS, and a node behind a real HAProxy that still sees its
clients' addresses."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol, wrapClientTLS
from twisted.internet.error import ConnectError
from twisted.internet.interfaces import (
    IAddress,
    IListeningPort,
    IOpenSSLClientConnectionCreator,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from txkit import ListenError, endpoint_spec, listen
from txkit.endpoints import server_endpoint, with_backlog
from txkit.tls import auto_certificate, client_tls, is_tls, secured

from .haproxy import free_port, start, stop


class Seen(Factory):
    """Records the peer of each connection as the protocol is told of it
    (``connectionMade``: behind HAProxy, once the PROXY header is in); ``until(n)``
    fires at n."""

    def __init__(self, tally: Seen | None = None) -> None:
        self.peers: list[IAddress] = []
        self._waits: list[tuple[int, Deferred[None]]] = []
        #: Another ``Seen`` that also counts what this one accepts.
        self.tally = tally
        self.data: list[bytes] = []

    def buildProtocol(self, addr: IAddress | None) -> Protocol:
        seen = self

        class Record(Protocol):
            def connectionMade(self) -> None:
                seen.add(self.transport.getPeer())  # type: ignore[union-attr]

            def dataReceived(self, data: bytes) -> None:
                seen.data.append(data)

        return Record()

    def add(self, peer: IAddress) -> None:
        self.peers.append(peer)
        for item in [w for w in self._waits if w[0] <= len(self.peers)]:
            self._waits.remove(item)
            item[1].callback(None)
        if self.tally is not None:
            self.tally.add(peer)

    def until(self, n: int) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        if len(self.peers) >= n:
            d.callback(None)
        else:
            self._waits.append((n, d))
        return d


def test_a_wrapped_endpoint_gets_the_defaults_of_a_bare_one() -> None:
    assert endpoint_spec("haproxy:tcp:7101") == "haproxy:tcp:7101:interface=127.0.0.1"
    assert endpoint_spec("haproxy:7101") == "haproxy:tcp:7101:interface=127.0.0.1"
    assert with_backlog("haproxy:tcp:7101:interface=127.0.0.1", 9).endswith(":backlog=9")
    with pytest.raises(ValueError, match="haproxy:tcp:7101"):
        endpoint_spec("haproxy:")


async def _connect(port: int, tls: IOpenSSLClientConnectionCreator | None = None) -> Protocol:
    """A client that has said hello (over ``tls`` if given)."""
    endpoint: IStreamClientEndpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
    if tls is not None:
        endpoint = wrapClientTLS(tls, endpoint)
    client: Protocol = await connectProtocol(endpoint, Protocol())
    client.transport.write(b"hello")  # type: ignore[union-attr]
    return client


@pytest_twisted.ensureDeferred
async def test_nodes_share_one_port_with_reuseport_and_the_kernel_spreads_connections() -> None:
    both = Seen()
    one, two = Seen(both), Seen(both)
    first: IListeningPort = listen(reactor, "tcp:0:reuseport=yes", one, name="one")
    number = first.getHost().port  # type: ignore[attr-defined]
    second = listen(reactor, f"tcp:{number}:reuseport=yes", two, name="two")
    clients: list[Protocol] = []
    try:
        assert second.getHost().port == number  # type: ignore[attr-defined]
        assert first.getHost().host == "127.0.0.1"  # type: ignore[attr-defined]
        # The kernel hashes each connection to one of the two: 200 all to one
        # side would be a 2**-199 chance.
        while not (one.peers and two.peers) and len(clients) < 200:
            clients.append(await _connect(number))
            await both.until(len(clients))
        assert one.peers and two.peers
        # Without the option, a port in use is refused as before.
        with pytest.raises(ListenError, match="in use"):
            listen(reactor, f"tcp:{number}", Seen(), name="three")
    finally:
        for client in clients:
            client.transport.loseConnection()  # type: ignore[union-attr]
        await first.stopListening()  # type: ignore[misc]
        await second.stopListening()  # type: ignore[misc]


class Tagged(Protocol):
    """Answers what it reads with its listener's name: which node served it."""

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(self.factory.tag + b" " + data)  # type: ignore[union-attr]


class Answer(Protocol):
    """Says hello and keeps what it is answered, until the connection ends."""

    def __init__(self) -> None:
        self.data = b""
        self.first: Deferred[bytes] = Deferred()
        self.lost: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(b"hello")  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        if not self.first.called:
            self.first.callback(self.data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.lost.callback(None)


@pytest_twisted.ensureDeferred
async def test_two_tls_listeners_share_one_port_and_both_serve_tls(tmp_path: Path) -> None:
    """``ssl:…:reuseport=yes``, as ``up --workers --tls auto`` gives its nodes:
    each listener does the TLS handshake itself (verified against the
    certificate, by name), and a plain-TCP client is answered nothing in the clear."""
    files = auto_certificate(tmp_path / "a:b=c")  # separators in the path, escaped
    factories = {}
    for tag in (b"one", b"two"):
        factories[tag] = Factory.forProtocol(Tagged)
        factories[tag].tag = tag  # type: ignore[attr-defined]
    first = listen(reactor, secured("tcp:0:reuseport=yes", files), factories[b"one"], name="one")
    number = first.getHost().port  # type: ignore[attr-defined]
    spec = secured(f"tcp:{number}:interface=127.0.0.1:reuseport=yes", files)
    second = listen(reactor, spec, factories[b"two"], name="two")
    trusted = client_tls(files.cert)
    served: set[bytes] = set()
    try:
        # The kernel hashes each connection to one of the two: 200 all to one
        # side would be a 2**-199 chance.
        for _ in range(200):
            tls = wrapClientTLS(trusted, TCP4ClientEndpoint(reactor, "127.0.0.1", number))
            client = await connectProtocol(tls, Answer())
            tag, _, said = (await client.first).partition(b" ")
            assert said == b"hello"
            served.add(tag)
            client.transport.loseConnection()
            await client.lost
            if served == {b"one", b"two"}:
                break
        assert served == {b"one", b"two"}
        plain = await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", number), Answer())
        await plain.lost  # hung up on: "hello" is no TLS ClientHello
        assert plain.data[:1] in (b"", b"\x15") and b"hello" not in plain.data  # an alert at most
    finally:
        await first.stopListening()  # type: ignore[misc]
        await second.stopListening()  # type: ignore[misc]


def test_a_tls_reuseport_listener_takes_the_options_it_knows() -> None:
    with pytest.raises(ValueError, match=r"reuseport=yes takes only .*not \{'sslmethod'\}"):
        server_endpoint(reactor, "ssl:0:reuseport=yes:sslmethod=TLS_METHOD")
    with pytest.raises(ValueError, match=r"haproxy:ssl: takes a port and backlog=, .*only"):
        server_endpoint(reactor, "haproxy:ssl:0:privateKey=k.pem:port=7")


HAPROXY_CONFIG = """\
global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend front
    bind 127.0.0.1:{front}
    default_backend nodes
backend nodes
    server node1 127.0.0.1:{node} send-proxy
"""


@pytest.fixture
def front_of(tmp_path: Path, haproxy_binary: str) -> Iterator[object]:
    started: list[subprocess.Popen[str]] = []

    def front(node: int) -> int:
        port = free_port()
        started.append(
            start(haproxy_binary, HAPROXY_CONFIG.format(front=port, node=node), tmp_path)
        )
        return port

    yield front
    for process in started:
        stop(process)


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
@pytest_twisted.ensureDeferred
async def test_a_node_behind_haproxy_sees_its_client_s_address(
    front_of: object, tls: bool, tmp_path: Path
) -> None:
    """With ``tls`` the node listens on ``haproxy:ssl:`` (``--tls auto`` makes
    it of ``haproxy:tcp:``): HAProxy passes the client's TLS through behind
    its header in clear, and the node reads the header, then TLS."""
    seen = Seen()
    files = auto_certificate(tmp_path) if tls else None
    spec = secured("haproxy:tcp:0", files) if files else "haproxy:tcp:0"
    assert spec.startswith("haproxy:ssl:") == tls and is_tls(spec) == tls
    node = listen(reactor, spec, seen, name="node")
    try:
        front = front_of(node.getHost().port)  # type: ignore[attr-defined,operator]
        client = None
        while client is None:  # HAProxy is up when its frontend accepts
            try:
                client = await _connect(front, client_tls(files.cert) if files else None)
            except ConnectError:
                await deferLater(reactor, 0.05, lambda: None)
        await seen.until(1)
        mine = client.transport.getHost()  # type: ignore[union-attr]
        peer = seen.peers[0]
        # The PROXY header's source, not HAProxy's own connection to the node,
        # from connectionMade on; and the header is not the protocol's data.
        assert (peer.host, peer.port) == (mine.host, mine.port)  # type: ignore[attr-defined,union-attr]
        client.transport.write(b" world")  # type: ignore[union-attr]
        while b"".join(seen.data) != b"hello world":
            await deferLater(reactor, 0.01, lambda: None)
        client.transport.loseConnection()  # type: ignore[union-attr]
    finally:
        await node.stopListening()  # type: ignore[misc]


def test_the_sample_haproxy_config_is_valid_and_sends_proxy_headers(haproxy_binary: str) -> None:
    sample = Path(__file__).parent.parent / "contrib" / "haproxy" / "smsemu.cfg"
    check = subprocess.run([haproxy_binary, "-c", "-f", str(sample)], capture_output=True)
    assert check.returncode == 0, check.stderr.decode() + check.stdout.decode()
    text = sample.read_text()
    assert "mode tcp" in text and "send-proxy" in text
    # Every frontend on loopback unless the user names another address.
    binds = [line.split()[1] for line in text.splitlines() if line.strip().startswith("bind ")]
    assert binds and all(b.startswith("127.0.0.1:") for b in binds)
