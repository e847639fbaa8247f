"""A blocking test rig for the radio link, as a firmware test bench would
write one: plain sockets, the sans-I/O ``MsLink`` for the frames (and its SIM
for the challenge of the attach), no reactor.  Used against SMSC
subprocesses, where the test process has no reactor running; ``SmscProcess.rig``
provisions the rig's SIM through the admin API first."""

from __future__ import annotations

import json
import os
import queue
import re
import resource
import signal
import socket
import ssl
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pdu import Direction, Tpdu, decode
from radiolink.auth import Keys
from radiolink.ms import Acked, Attached, Challenged, Event, Incoming, MsLink, Refused, Rejected

from .sims import imsi_for, keys_for

TIMEOUT = 30.0


class AttachFailed(Exception):
    def __init__(self, cause: int, reason: str) -> None:
        super().__init__(f"ATTACH-REJECT {cause}: {reason}")
        self.cause = cause


@dataclass
class Rig:
    """One handset on a blocking socket (on TLS with ``tls``, verified)."""

    port: int
    msisdn: str
    imsi: str = "001010000000001"
    keys: Keys | None = None  # its SIM's; None: a SIM that cannot authenticate
    sqn: int = 0  # SQN_MS, the highest sequence number its SIM accepted
    tls: ssl.SSLContext | None = None
    sock: socket.socket = field(init=False)
    ms: MsLink = field(init=False)
    backlog: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        if self.tls is not None:
            self.sock = self.tls.wrap_socket(self.sock, server_hostname="127.0.0.1")
        self.ms = MsLink(self.imsi, self.msisdn, self.keys, self.sqn)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read(self, timeout: float) -> bool:
        """Read until at least one event is in the backlog; False at end of stream."""
        self.sock.settimeout(timeout)
        while True:
            data = self.sock.recv(65536)
            if not data:
                return False
            got = self.ms.receive(data)
            for event in got:
                if isinstance(event, Challenged):  # the SIM answers at once
                    self.send(event.reply)
            if got:
                self.backlog.extend(got)
                return True

    def expect(self, kind: type | tuple[type, ...], timeout: float = TIMEOUT) -> Event:
        """The first event of ``kind``; others stay in the backlog, in order."""
        while True:
            for i, event in enumerate(self.backlog):
                if isinstance(event, kind):
                    return self.backlog.pop(i)
            if not self._read(timeout):
                raise ConnectionError(f"{self.msisdn}: link closed while waiting for {kind}")

    def closed(self, timeout: float) -> bool:
        """Whether the SMSC closes the link (reading on, for up to ``timeout``)."""
        try:
            while self._read(timeout):
                pass
        except TimeoutError:
            return False
        return True

    def attach(self) -> str:
        """The SMSC's address; AttachFailed with the ATTACH-REJECT's cause."""
        self.send(self.ms.attach())
        event = self.expect((Attached, Rejected))
        if isinstance(event, Rejected):
            raise AttachFailed(event.cause, event.reason)
        assert isinstance(event, Attached)
        return event.smsc

    def submit(self, tpdu: bytes) -> int:
        mr, data = self.ms.submit(tpdu)
        self.send(data)
        return mr

    def answer(self, rp_mr: int) -> Acked | Refused:
        while True:
            event = self.expect((Acked, Refused))
            assert isinstance(event, Acked | Refused)
            if event.rp_mr == rp_mr:
                return event

    def receive(self) -> Tpdu:
        """The next TPDU from the network, acknowledged."""
        event = self.expect(Incoming)
        assert isinstance(event, Incoming)
        self.send(self.ms.ack(event.rp_mr))
        return decode(event.tpdu, Direction.MT)

    def close(self) -> None:
        self.sock.close()


@dataclass
class SmscProcess:
    """``smsemu smsc`` as a real subprocess on free ports."""

    args: list[str]
    command: str = "smsc"
    proc: subprocess.Popen[str] = field(init=False)
    link_port: int = 0
    admin_port: int = 0
    admin_scheme: str = "http"  # https: its admin API on TLS (--tls auto)
    smpp_port: int = 0
    lines: list[str] = field(default_factory=list)  # what it printed at start
    ip_port: int = 0  # smsemu up only, as the two below
    control_port: int = 0
    handsets: list[str] = field(default_factory=list)
    at_ports: dict[str, str] = field(default_factory=dict)  # MSISDN: its AT pty
    stderr: Any = subprocess.DEVNULL  # subprocess.PIPE: the test reads its log
    cwd: str | None = None
    fds: int | None = None  # its RLIMIT_NOFILE (soft), lowered to this before it starts

    def __post_init__(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        fds = self.fds

        def lower() -> None:
            if fds is not None:
                _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                resource.setrlimit(resource.RLIMIT_NOFILE, (fds, hard))

        ports = ["--link", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--smpp", "127.0.0.1:0"]
        if self.command == "up":
            ports += ["--ip-server", "127.0.0.1:0", "--control", "127.0.0.1:0"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "smsemu", self.command, *ports, *self.args],
            stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env, cwd=self.cwd,
            preexec_fn=lower,
        )  # fmt: skip
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if m := re.search(r"radio link on [\d.]+:(\d+)", line):
                self.link_port = int(m.group(1))
            elif m := re.search(r"admin API on (https?)://[\d.]+:(\d+)", line):
                self.admin_scheme, self.admin_port = m.group(1), int(m.group(2))
            elif m := re.search(r"SMPP on [\d.]+:(\d+)", line):
                self.smpp_port = int(m.group(1))
            elif m := re.search(r"ip server: on [\d.]+:(\d+)", line):
                self.ip_port = int(m.group(1))
            elif m := re.search(r"control API on https?://[\d.]+:(\d+)", line):
                self.control_port = int(m.group(1))
            elif m := re.match(r"handset: (\+\d+) \(", line):
                self.handsets.append(m.group(1))
            elif m := re.match(r"handset: (\+\d+) AT port (/\S+)", line):
                self.at_ports[m.group(1)] = m.group(2)
            if line.startswith("press Ctrl-C"):
                break
        if not (self.link_port and self.admin_port):
            self.proc.kill()
            raise RuntimeError(f"smsemu {self.command} did not start")

    @property
    def data_dir(self) -> Path:
        """Its ``--data-dir`` (the default's when the args name none)."""
        args = self.args
        given = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--data-dir"]
        return Path(self.cwd or ".") / (given[-1] if given else "smsemu-data")

    @property
    def token(self) -> str:
        """The APIs' token, as a client on this machine reads it: from the data dir."""
        return (self.data_dir / "api-token").read_text().strip()

    def request(
        self, url: str, data: bytes | None = None, method: str | None = None
    ) -> urllib.request.Request:
        """A request to its admin or control API, with the token."""
        headers = {"Authorization": f"Bearer {self.token}"}
        return urllib.request.Request(url, data=data, method=method, headers=headers)

    def provision(self, msisdn: str, imsi: str | None = None, keys: Keys | None = None) -> Keys:
        """A SIM in the SMSC's subscriptions, by ``POST /subscribers``: the
        test SIM of ``msisdn`` (``tests.sims``) unless ``keys`` are given."""
        keys = keys or keys_for(msisdn)
        body = {"imsi": imsi or imsi_for(msisdn), "msisdn": msisdn,
                "k": keys.k.hex(), "opc": keys.opc.hex()}  # fmt: skip
        request = self.request(
            f"{self.admin_scheme}://127.0.0.1:{self.admin_port}/subscribers",
            data=json.dumps(body).encode(),
            method="POST",
        )
        request.add_header("content-type", "application/json")
        context = None  # on TLS: trust the certificate --tls auto made
        if self.admin_scheme == "https":
            context = ssl.create_default_context(cafile=self.data_dir / "tls" / "cert.pem")
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as response:
            assert response.status == 201
        return keys

    def rig(self, msisdn: str, imsi: str | None = None, tls: ssl.SSLContext | None = None) -> Rig:
        """A rig connected (not attached yet), its SIM provisioned."""
        imsi = imsi or imsi_for(msisdn)
        return Rig(self.link_port, msisdn, imsi, self.provision(msisdn, imsi), tls=tls)

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no flush."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(TIMEOUT)

    def terminate(self) -> int:
        """SIGINT (Ctrl-C): a clean stop; its exit status.  One that does not
        stop in time is killed, not left running, and the test fails."""
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise


class Log:
    """The stderr of a running process, line by line, read on a thread so
    that the test can wait for a line as for an event."""

    def __init__(self, stream: Any = None, prefix: str = "") -> None:
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        if stream is not None:
            self.follow(stream, prefix)

    def follow(self, stream: Any, prefix: str = "") -> None:
        """Read ``stream`` too, each of its lines after ``prefix`` (several
        processes' logs in one, in the order their lines come)."""
        threading.Thread(target=self._read, args=(stream, prefix), daemon=True).start()

    def _read(self, stream: Any, prefix: str) -> None:
        for line in stream:
            self._new.put(prefix + line.rstrip("\n"))
        self._new.put(None)

    def wait_for(self, part: str) -> str:
        """The next line that holds ``part``."""
        return self.wait_until(lambda line: part in line, repr(part))

    def wait_until(self, match: Callable[[str], object], what: str) -> str:
        """The next line ``match`` accepts (``what`` names it in the error)."""
        while True:
            line = self._new.get(timeout=TIMEOUT)
            if line is None:
                raise EOFError(f"the process ended before logging {what}")
            self.lines.append(line)
            if match(line):
                return line

    def rest(self) -> list[str]:
        """Every line, once the process has ended."""
        while (line := self._new.get(timeout=TIMEOUT)) is not None:
            self.lines.append(line)
        return self.lines
