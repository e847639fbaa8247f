"""Accept storms: every TCP and TLS listener is opened with a listen backlog
sized for thousands of handsets (``[limits] backlog``, 4,096 by default; an
endpoint string may name its own), so that a thousand handsets connecting at
once all wait in the kernel's accept queue, none dropped and retried."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.internet import reactor
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory, Protocol

from radiolink.ms import Attached
from smsemu.config.file import load
from txkit import listen
from txkit.endpoints import with_backlog
from txkit.limits import DEFAULT_BACKLOG, configure

from .rig import Rig, SmscProcess
from .sims import imsi_for, keys_for

HANDSETS = 1000


def somaxconn() -> int:
    """The kernel's cap on any listen backlog."""
    return int(Path("/proc/sys/net/core/somaxconn").read_text())


def listen_queue(port: int) -> int:
    """The backlog the kernel holds for the listener on 127.0.0.1:``port``,
    read back with ``ss`` (a listening socket's Send-Q)."""
    out = subprocess.run(
        ["ss", "-ltnH", "src", f"127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out and out[0] == "LISTEN", out
    return int(out[2])


@pytest.fixture
def listening() -> Iterator[list[IListeningPort]]:
    ports: list[IListeningPort] = []
    yield ports
    for port in ports:
        port.stopListening()
    configure()  # the defaults again, for the tests that follow


def test_with_backlog_adds_one_only_where_it_belongs() -> None:
    assert with_backlog("tcp:0:interface=127.0.0.1", 9) == "tcp:0:interface=127.0.0.1:backlog=9"
    assert with_backlog("ssl:7101:privateKey=k:certKey=c", 9).endswith(":backlog=9")
    assert with_backlog("tcp:0:backlog=5:interface=127.0.0.1", 9).count("backlog") == 1
    assert with_backlog("unix:/tmp/s", 9) == "unix:/tmp/s"


def test_every_tcp_listener_gets_the_process_backlog(listening: list[IListeningPort]) -> None:
    """The default reaches the socket, a configured one too, and one the
    endpoint string names wins; the kernel caps them all at somaxconn."""
    factory = Factory.forProtocol(Protocol)
    default = listen(reactor, "tcp:0", factory)
    own = listen(reactor, "tcp:0:backlog=7", factory)
    listening += [default, own]
    configure(backlog=123)
    configured = listen(reactor, "127.0.0.1:0", factory)
    listening.append(configured)
    assert listen_queue(default.getHost().port) == min(DEFAULT_BACKLOG, somaxconn())  # type: ignore[attr-defined]
    assert listen_queue(own.getHost().port) == 7  # type: ignore[attr-defined]
    assert listen_queue(configured.getHost().port) == 123  # type: ignore[attr-defined]


def test_the_config_file_sets_the_backlog(tmp_path: Path) -> None:
    path = tmp_path / "smsemu.toml"
    path.write_text("[limits]\nbacklog = 2000\n")
    assert load(path).limits.backlog == 2000
    path.write_text("[limits]\nbacklog = 0\n")
    with pytest.raises(ValueError, match=r"limits\.backlog.*1 to 65535"):
        load(path)


def _stopped(pid: int) -> bool:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return fields[0] == "T"


def test_a_thousand_handsets_connecting_at_once_all_attach(tmp_path: Path) -> None:
    """1,000 handsets connect while the SMSC accepts nothing at all (stopped
    with SIGSTOP, the worst an accept storm can meet): every connect completes
    in the kernel's queue, none is refused or left retrying its SYN, and once
    the SMSC runs again every handset, its SIM provisioned by the config file,
    is authenticated and attached."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * HANDSETS:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * HANDSETS), hard))
    numbers = [f"+1555300{i:04d}" for i in range(HANDSETS)]
    config = ["[smsc]\nattach_timeout = 3600\n"]  # the test, not the SMSC, is slow here
    for msisdn in numbers:
        keys = keys_for(msisdn)
        config.append(
            f"[[subscriber]]\nmsisdn = '{msisdn}'\nimsi = '{imsi_for(msisdn)}'\n"
            f"ki = '{keys.k.hex()}'\nopc = '{keys.opc.hex()}'\n"
        )
    (tmp_path / "smsemu.toml").write_text("".join(config))
    args = ["--data-dir", str(tmp_path / "data"), "--config", str(tmp_path / "smsemu.toml")]
    smsc = SmscProcess(args)
    rigs: list[Rig] = []
    try:
        os.kill(smsc.proc.pid, signal.SIGSTOP)
        while not _stopped(smsc.proc.pid):
            os.sched_yield()
        for msisdn in numbers:  # each connect returns once the kernel queued it
            rig = Rig(smsc.link_port, msisdn, imsi_for(msisdn), keys_for(msisdn))
            rig.send(rig.ms.attach())
            rigs.append(rig)
        os.kill(smsc.proc.pid, signal.SIGCONT)
        attached = [rig.expect(Attached) for rig in rigs]
        assert len(attached) == HANDSETS
        url = f"http://127.0.0.1:{smsc.admin_port}/subscribers"
        with urllib.request.urlopen(smsc.request(url), timeout=60) as response:
            known = {s["msisdn"]: s["attached"] for s in json.load(response)}
        assert all(known[n] for n in numbers)
        url = f"http://127.0.0.1:{smsc.admin_port}/metrics"
        with urllib.request.urlopen(smsc.request(url), timeout=60) as response:
            metrics = response.read().decode()
        refused = [line for line in metrics.splitlines() if "connections_refused_total{" in line]
        assert refused and all(line.endswith(" 0.0") or line.endswith(" 0") for line in refused)
    finally:
        if smsc.proc.poll() is None:
            os.kill(smsc.proc.pid, signal.SIGCONT)
        for rig in rigs:
            rig.close()
        assert smsc.terminate() == 0
