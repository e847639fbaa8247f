"""A listener whose certificate a CA issued serves the chain of its ``cert``
file (docs/tls.md, "Your own certificate"): a client that trusts the root only
verifies it, on the plain ``ssl:`` listener and on the shared port
(``reuseport=yes``) alike."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest
import pytest_twisted
from cryptography.hazmat.primitives.serialization import Encoding
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol, wrapClientTLS
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from smsemu.config import ConfigError, load
from txkit import listen
from txkit.endpoints import server_endpoint
from txkit.tls import TlsFiles, auto_certificate, client_tls, secured

from .certs import Issued, issued_chain
from .rig import TIMEOUT

#: The two ways a TLS listener is opened: Twisted's ssl: endpoint, and ours on SO_REUSEPORT.
SHARED = pytest.mark.parametrize("base", ["tcp:0:interface=127.0.0.1", "tcp:0:reuseport=yes"])


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(b"echo " + data)  # type: ignore[union-attr]


class Hello(Protocol):
    """Says hello once the connection is up; ``answer`` fires with the reply,
    or fails with why the connection ended first (a refused certificate)."""

    def __init__(self) -> None:
        self.answer: Deferred[bytes] = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(b"hello")  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        if not self.answer.called:
            self.answer.callback(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if not self.answer.called:
            self.answer.errback(reason)


async def served(spec: str, root: Path) -> tuple[bytes, list[bytes], bytes]:
    """Listen on ``spec`` and talk to it trusting ``root`` only: what the
    Twisted client (``client_tls``) is answered, the certificates the server
    sent it (DER, in order), and what Python's ssl client is answered."""
    port: IListeningPort = listen(reactor, spec, Factory.forProtocol(Echo), name="chain")
    number = port.getHost().port  # type: ignore[attr-defined]
    try:
        tls = wrapClientTLS(client_tls(root), TCP4ClientEndpoint(reactor, "127.0.0.1", number))
        client = await connectProtocol(tls, Hello())
        answer = await client.answer
        handle = client.transport.getHandle()
        sent = handle.get_peer_cert_chain(as_cryptography=True)
        chain = [c.public_bytes(Encoding.DER) for c in sent]
        client.transport.loseConnection()
        python: bytes = await deferToThread(_python_client, number, root)
    finally:
        await port.stopListening()  # type: ignore[misc]
    return answer, chain, python


def _python_client(number: int, root: Path) -> bytes:
    """Python's ssl, as strict as 3.13's default, trusting ``root`` only."""
    context = ssl.create_default_context(cafile=str(root))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    with (
        socket.create_connection(("127.0.0.1", number), timeout=TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        sock.sendall(b"hi")
        return sock.recv(100)


@pytest.fixture
def issued(tmp_path: Path) -> Issued:
    return issued_chain(tmp_path / "pki")


@SHARED
@pytest_twisted.ensureDeferred
async def test_the_chain_after_the_certificate_is_served(issued: Issued, base: str) -> None:
    spec = secured(base, TlsFiles(issued.chain, issued.key, issued.root))
    answer, chain, python = await served(spec, issued.root)
    assert (answer, python) == (b"echo hello", b"echo hi")
    assert chain == issued.der(issued.chain)  # the leaf, then the intermediate: once each


@SHARED
@pytest_twisted.ensureDeferred
async def test_extra_cert_chain_follows_and_none_is_sent_twice(issued: Issued, base: str) -> None:
    leaf_only = secured(base, TlsFiles(issued.leaf, issued.key))
    spec = f"{leaf_only}:extraCertChain={issued.intermediate}"
    assert (await served(spec, issued.root))[1] == issued.der(issued.chain)
    # The chain file named twice (as certKey and as extraCertChain) is still sent once.
    twice = f"{secured(base, TlsFiles(issued.chain, issued.key))}:extraCertChain={issued.chain}"
    assert (await served(twice, issued.root))[1] == issued.der(issued.chain)


@SHARED
@pytest_twisted.ensureDeferred
async def test_a_single_certificate_is_served_alone(tmp_path: Path, base: str) -> None:
    files = auto_certificate(tmp_path)
    answer, chain, _ = await served(secured(base, files), files.cert)
    assert answer == b"echo hello" and len(chain) == 1


@pytest_twisted.ensureDeferred
async def test_an_sslmethod_keeps_the_chain_and_a_wrong_one_is_one_line(issued: Issued) -> None:
    spec = secured("tcp:0:interface=127.0.0.1", TlsFiles(issued.chain, issued.key))
    chain = (await served(f"{spec}:sslmethod=TLS_METHOD", issued.root))[1]
    assert chain == issued.der(issued.chain)
    with pytest.raises(ValueError, match=r"sslmethod=TLS_NOPE: not an OpenSSL method"):
        server_endpoint(reactor, f"{spec}:sslmethod=TLS_NOPE")


def test_a_broken_certificate_in_the_chain_is_one_line_when_the_config_is_read(
    issued: Issued, tmp_path: Path
) -> None:
    path = tmp_path / "net.toml"
    table = (
        f'[smpp]\ntls = {{ cert = "{issued.chain}", key = "{issued.key}", ca = "{issued.root}" }}\n'
    )
    path.write_text(table)
    assert load(path).smsc.smpp_tls == TlsFiles(issued.chain, issued.key, issued.root)
    broken = (
        issued.leaf.read_bytes() + b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    issued.chain.write_bytes(broken)
    with pytest.raises(ConfigError, match=r"smpp\.tls: .*chain.pem: not a valid PEM certificate"):
        load(path)
