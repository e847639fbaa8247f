"""The shared Twisted helpers: endpoint strings, listening, the back-off, the
Prometheus text format."""

from __future__ import annotations

import pytest
from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport

from txkit import Backoff, ListenError, backoff_policy, endpoint_spec, listen
from txkit.cork import Cork
from txkit.prometheus import Registry, exposition, number

from .scrape import parse, value


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


# -- the Prometheus text format ------------------------------------------------------------


def test_exposition_is_read_back_by_an_independent_parser() -> None:
    reg = Registry()
    sent = reg.counter("demo_sent_total", "sent\nby a \\ route", ("route", "status"))
    sent.inc("a\\b", 'say "hi"\nthere')
    sent.inc("plain", "ok", by=2.5)
    reg.gauge("demo_depth", "queue depth", ("queue",), read=lambda: {("q1",): 3, ("q2",): 0})
    reg.gauge("demo_up", "constant", read=lambda: 1)
    latency = reg.histogram("demo_seconds", "latency", buckets=(0.1, 1, 10))
    for seconds in (0.05, 0.5, 0.5, 20):
        latency.observe(seconds)
    text = exposition(reg).decode()
    assert "# HELP demo_sent_total sent\\nby a \\\\ route\n" in text
    assert 'demo_seconds_bucket{le="+Inf"} 4\n' in text
    samples, types = parse(text)
    assert types == {
        "demo_sent": "counter",
        "demo_depth": "gauge",
        "demo_up": "gauge",
        "demo_seconds": "histogram",
    }
    assert value(samples, "demo_sent_total", route="a\\b", status='say "hi"\nthere') == 1
    assert value(samples, "demo_sent_total", route="plain", status="ok") == 2.5
    assert value(samples, "demo_depth", queue="q1") == 3
    assert value(samples, "demo_up") == 1
    assert [value(samples, "demo_seconds_bucket", le=le) for le in ("0.1", "1", "10", "+Inf")] == [
        1, 3, 3, 4,
    ]  # fmt: skip
    assert value(samples, "demo_seconds_sum") == 21.05
    assert value(samples, "demo_seconds_count") == 4


def test_constant_labels_join_every_series() -> None:
    """A cluster node's ``node`` label on each series, with or without labels
    of its own, read back by the independent parser."""
    reg = Registry()
    reg.counter("demo_sent_total", "sent", ("route",)).inc('a "b" c', by=2)
    reg.gauge("demo_up", "constant", read=lambda: 1)
    reg.histogram("demo_seconds", "latency", buckets=(1,)).observe(0.5)
    text = exposition(reg, labels={"node": "n 1"}).decode()
    samples, _ = parse(text)
    assert value(samples, "demo_sent_total", route='a "b" c', node="n 1") == 2
    assert value(samples, "demo_up", node="n 1") == 1
    assert value(samples, "demo_seconds_bucket", le="1", node="n 1") == 1
    assert value(samples, "demo_seconds_count", node="n 1") == 1


def test_metrics_refuse_what_the_format_cannot_say() -> None:
    reg = Registry()
    with pytest.raises(ValueError, match="metric name"):
        reg.counter("2fast", "")
    with pytest.raises(ValueError, match="label name"):
        reg.counter("ok_total", "", ("__reserved",))
    with pytest.raises(ValueError, match="'le'"):
        reg.histogram("h", "", ("le",), buckets=(1,))
    counter = reg.counter("ok_total", "", ("a",))
    with pytest.raises(ValueError, match="registered already"):
        reg.gauge("ok_total", "")
    with pytest.raises(ValueError, match="takes labels"):
        counter.inc()
    with pytest.raises(ValueError, match="only goes up"):
        counter.inc("x", by=-1)


def test_numbers_are_written_as_the_format_reads_them() -> None:
    assert [number(v) for v in (3, 3.0, 0.25, float("inf"), float("-inf"))] == [
        "3", "3", "0.25", "+Inf", "-Inf",
    ]  # fmt: skip
    assert number(float("nan")) == "NaN"
    assert number(2.0**60) == repr(2.0**60)  # past 2**53 an integer would lie


class _Counting(StringTransport):
    """A transport that counts its write calls."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        super().write(data)


def test_a_cork_gathers_each_connections_writes_into_one_in_order() -> None:
    cork, a, b = Cork(), _Counting(), _Counting()
    cork.write(a, b"now ")  # not corked: at once
    assert (a.value(), a.writes) == (b"now ", 1)
    with cork:
        cork.write(a, b"one ")
        cork.write(b, b"x")
        with cork:  # nested: nothing goes until the outermost ends
            cork.write(a, b"two ")
        assert (a.writes, b.writes) == (1, 0)
        cork.write(a, b"three")
    assert (a.value(), a.writes) == (b"now one two three", 2)
    assert (b.value(), b.writes) == (b"x", 1)
    with cork:
        cork.write(a, b" last")
        cork.flush(a)  # before a close, say
        assert a.value().endswith(b" last")
