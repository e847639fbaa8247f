"""The shared Twisted helpers: endpoint strings, listening, the back-off."""

from __future__ import annotations

import pytest
from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol

from txkit import Backoff, ListenError, backoff_policy, endpoint_spec, listen


@pytest.mark.parametrize(
    ("given", "spec"),
    [
        ("7101", "tcp:7101:interface=127.0.0.1"),
        ("127.0.0.1:7101", "tcp:7101:interface=127.0.0.1"),
        ("0.0.0.0:2775", "tcp:2775:interface=0.0.0.0"),
        ("localhost:80", "tcp:80:interface=localhost"),
        ("[::1]:7102", "tcp:7102:interface=\\:\\:1"),
        ("tcp:7101", "tcp:7101:interface=127.0.0.1"),
        ("tcp:7101:interface=0.0.0.0", "tcp:7101:interface=0.0.0.0"),
        ("unix:/tmp/smsc.sock", "unix:/tmp/smsc.sock"),
    ],
)
def test_endpoint_spec(given: str, spec: str) -> None:
    assert endpoint_spec(given) == spec


@pytest.mark.parametrize("bad", ["127.0.0.1:99999", "nonsense", ""])
def test_endpoint_spec_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match=r"port|expected"):
        endpoint_spec(bad)


def test_listen_gives_the_port_at_once_and_a_taken_port_raises() -> None:
    factory = Factory.forProtocol(Protocol)
    port = listen(reactor, "tcp:0", factory)
    try:
        address = port.getHost()
        assert address.host == "127.0.0.1"  # type: ignore[attr-defined]
        assert address.port > 0  # type: ignore[attr-defined]
        taken = f"127.0.0.1:{address.port}"  # type: ignore[attr-defined]
        with pytest.raises(ListenError) as info:
            listen(reactor, taken, factory, name="admin")
        assert str(info.value) == f"{taken} is in use (Address already in use)"
        assert (info.value.name, info.value.spec) == ("admin", taken)
    finally:
        port.stopListening()


def test_backoff_doubles_to_its_maximum_and_resets() -> None:
    assert [backoff_policy(2.0, 300.0)(n) for n in range(1, 10)] == [
        2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0,
    ]  # fmt: skip
    b = Backoff(0.5, 3.0)
    assert [b.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    b.reset()
    assert b.next() == 0.5
