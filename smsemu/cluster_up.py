"""``smsemu up --workers N``: N SMSC nodes and N IP-server nodes on one host,
one PostgreSQL, and the handsets and control API of ``up`` in this process.

The nodes are ordinary ``smsemu smsc --node`` and ``smsemu ip-server run
--node`` processes (docs/scaling.md), supervised here:

* **Ports.** The radio link, SMPP and the IP server are shared: every node
  listens on the same port with SO_REUSEPORT (``tcp:PORT:reuseport=yes``,
  ``txkit.endpoints``) and the kernel spreads handsets and ESMEs over them.
  Port 0 is resolved here first, to one free port all nodes take; the probe
  socket holds it (SO_REUSEPORT, never listening, so it gets no connection)
  until every node listens.  Each SMSC node has its own admin API, the first
  on ``--admin``; any of them shows the whole cluster (``GET /cluster``).
* **TLS.** ``--tls auto`` (or a table's ``tls``) is resolved here, as
  ``up`` does it for one process (``network.secure``): the certificate is
  made once, before any node starts, and every node is given ``ssl:``
  endpoint strings naming its files (``ssl:PORT:…:reuseport=yes``, TLS on
  the shared port; the admin APIs too).  The handsets here verify it.
* **Database.** ``--database-url`` (PostgreSQL), else a throwaway server
  (``storage.pgserver.TemporaryPostgres``) stopped on exit.  The password is
  not on the nodes' command lines, which anyone on the host may read: it
  travels in their environment (``PGPASSWORD``, which libpq reads).
* **Capture.** ``--gsmtap`` reaches every SMSC node (each sends its own
  handsets' radio leg).  A pcapng file has one writer, so ``--pcap FILE``
  becomes a file per SMSC node (``node_captures``: ``cap-smsc-1.pcapng``
  …), named in a start-up line with the ``mergecap`` that makes one.
* **Start.** The first SMSC and IP-server nodes start alone (they migrate
  the schemas), then the others together; a node that ends before it is
  serving stops ``up`` with one line.
* **Supervision.** Each node's output is printed prefixed with its name; a
  node that ends later is told in one line and not restarted (the others
  keep serving its share: its handsets and ESMEs reconnect to them).  Ctrl-C
  or SIGTERM stops every node (SIGINT, a clean stop), then the PostgreSQL.
  The nodes run in their own session, so a terminal's Ctrl-C reaches ``up``
  only, and die with ``up`` if it is killed (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine, make_url
from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, FirstError
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from handset.phone import Phone
from handset.service import ControlService
from receipt_server.store import ReceiptStore, migrate, open_engine
from storage import safe_url
from storage.pgserver import PostgresError, TemporaryPostgres
from txkit.tls import TlsFiles

from . import logs
from .capture_opts import capture_settings
from .config import Config, options
from .config.tls import on_tls
from .errors import CommandError
from .network import esme_password, secure, start_phones, tls_mark
from .serve import Running, serve
from .startup import api_token, network_origins
from .startup import data_dir as make_dir
from .subscribers import subscribe_in

#: Runs a node: in a session of its own, ended with its parent, then ``python -m smsemu``.
_LAUNCH = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGTERM)\n"  # PR_SET_PDEATHSIG
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"  # the parent died already
    "os.setsid()\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'smsemu', *sys.argv[2:]])\n"
)
_TCP = re.compile(r"^tcp:(?P<port>\d+)(?P<options>(?::[a-z]+=[^:\\]+)*)$")
#: How long a stopping node has before it is killed.
STOP_GRACE = 30.0


@dataclass
class SharedPort:
    """A listener every node opens: its endpoint string and the probe holding it."""

    spec: str
    host: str
    port: int
    probe: socket.socket | None = None

    def release(self) -> None:
        if self.probe is not None:
            self.probe.close()
            self.probe = None


def shared(spec: str, option: str, tls: TlsFiles | None = None) -> SharedPort:
    """``spec`` (a ``tcp:`` endpoint string) with ``reuseport=yes``, port 0
    resolved to a free port held by a probe socket; on TLS with ``tls``."""
    match = _TCP.match(spec)
    opts = dict(o.split("=", 1) for o in match["options"].split(":")[1:]) if match else {}
    if match is None or set(opts) - {"interface", "backlog"}:
        raise CommandError(
            f"{option}: --workers shares TCP listeners (HOST:PORT; TLS with --tls auto or a "
            f"tls table), not {spec!r}",
            2,
        )
    host, port = opts.get("interface", "127.0.0.1"), int(match["port"])
    probe = None
    if port == 0:
        probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            probe.bind((host, 0))
        except OSError as exc:
            probe.close()
            raise CommandError(f"{option}: cannot bind {host}: {exc.strerror}", 1) from None
        port = probe.getsockname()[1]
    extra = "".join(f":{k}={v}" for k, v in opts.items() if k != "interface")
    reuse = f"tcp:{port}:interface={host}{extra}:reuseport=yes"
    return SharedPort(on_tls(reuse, tls), host, port, probe)


class NodeEnded(CommandError):
    """A node ended before it was serving: ``up`` stops, saying so in one line."""


class NodeProcess(ProcessProtocol):
    """One node: its output, prefixed with its name; ``ready`` once it serves
    (with the lines it printed at start), ``ended`` with how it ended."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.ready: Deferred[list[str]] = Deferred()
        self.ended: Deferred[str] = Deferred()
        self.stopping = False
        self.last = ""  # its last line before serving, to tell why it did not
        self._partial = {1: b"", 2: b""}

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        *whole, self._partial[childFD] = (self._partial.get(childFD, b"") + data).split(b"\n")
        for raw in whole:
            self._line(childFD, raw.decode(errors="replace"))

    def _line(self, fd: int, line: str) -> None:
        if not self.ready.called:
            if fd == 1 and line.startswith("press Ctrl-C"):  # serving
                self.ready.callback(self.lines)
                return
            if fd == 1:
                self.lines.append(line)
            if line.strip():
                self.last = line
        print(f"[{self.name}] {line}", file=sys.stdout if fd == 1 else sys.stderr, flush=True)

    def processEnded(self, reason: Failure) -> None:
        for fd, rest in self._partial.items():
            if rest:
                self._line(fd, rest.decode(errors="replace"))
        killed_by = getattr(reason.value, "signal", None)
        status = getattr(reason.value, "exitCode", None) or 0
        how = f"killed by signal {killed_by}" if killed_by else f"exit status {status}"
        if not self.ready.called:
            said = f": {self.last.removeprefix('error: ')}" if self.last else ""
            self.ready.errback(NodeEnded(f"node {self.name} ended before serving ({how}){said}", 1))
        elif not self.stopping:
            print(f"up: node {self.name} ended ({how}); not restarted", file=sys.stderr, flush=True)
        self.ended.callback(how)

    def signal(self, name: str) -> None:
        with contextlib.suppress(Exception):  # ended meanwhile
            self.transport.signalProcess(name)  # type: ignore[union-attr]


@dataclass
class Cluster(Service):
    """The node processes: started in waves (``launch``), stopped together."""

    reactor: Any
    env: dict[str, str]
    nodes: dict[str, NodeProcess] = field(default_factory=dict)

    async def launch(self, wave: dict[str, list[str]]) -> dict[str, list[str]]:
        """Start the nodes of ``wave`` (name: arguments of ``smsemu``) at once;
        their start-up lines once every one serves."""
        for name, argv in wave.items():
            node = self.nodes[name] = NodeProcess(name)
            launcher = [sys.executable, "-c", _LAUNCH, str(os.getpid()), *argv]
            self.reactor.spawnProcess(
                node, sys.executable, launcher, env=self.env, childFDs={0: "w", 1: "r", 2: "r"}
            )
        try:
            results = await DeferredList(
                [self.nodes[name].ready for name in wave], fireOnOneErrback=True, consumeErrors=True
            )
        except FirstError as error:  # the first node that ended tells why
            error.subFailure.raiseException()
        return {name: lines for name, (_, lines) in zip(wave, results, strict=True)}

    def stopService(self) -> Deferred[None]:
        super().stopService()
        alive = [n for n in self.nodes.values() if not n.ended.called]
        for node in alive:
            node.stopping = True
            node.signal("INT")  # a clean stop: leases left, queues released

        def kill_all() -> None:
            for node in alive:
                node.signal("KILL")

        kill = self.reactor.callLater(STOP_GRACE, kill_all)
        done = DeferredList([n.ended for n in alive])

        def stopped(_: object) -> None:
            if kill.active():
                kill.cancel()

        return done.addCallback(stopped)


@contextlib.contextmanager
def cluster_database(given: str | None) -> Iterator[str]:
    """The PostgreSQL the nodes share: ``given``, or a throwaway server."""
    if given is not None:
        if not given.startswith("postgresql"):
            raise CommandError(
                "--database-url: --workers needs PostgreSQL (postgresql+psycopg://…) for "
                "its nodes to share, or no --database-url to start a throwaway one",
                2,
            )
        yield given
        return
    print("up: starting a throwaway PostgreSQL for the cluster", flush=True)
    try:
        with TemporaryPostgres() as url:
            yield url
    except PostgresError as exc:
        raise CommandError(f"--workers: no --database-url, and {exc}", 1) from None


def passed(args: argparse.Namespace, names: list[str]) -> list[str]:
    """The options among ``names`` given on ``up``'s command line, for a node's."""
    out: list[str] = []
    for name in names:
        value = getattr(args, name.lstrip("-").replace("-", "_"), None)
        if value is True:
            out.append(name)
        elif value not in (None, False):
            out += [name, str(value)]
    return out


def run_cluster(args: argparse.Namespace) -> int:
    workers: int = args.workers
    capture_settings(args)  # a capture option that will not do: one line, before anything
    pcaps = node_captures(args.pcap, workers) if getattr(args, "pcap", None) else {}
    given = options.network(args, up=True)
    origins = network_origins(args, given, up=True)
    # The certificate made (or checked) once, here: every node serves these files.
    config, certificates = secure(given, args, origins)
    logs.configure(args)
    config.limits.apply()
    s = config.smsc
    where = origins.names["data_dir"]
    data = make_dir(s.data_dir, where)
    token = api_token(data, where)  # made once here: the nodes read the same files
    if s.smpp is not None and not config.smpp.accounts:
        esme_password(data, where)
    ports = {
        "--link": shared(given.smsc.link, "--link", s.tls),
        "--ip-server": shared(given.ip_server.listen, "--ip-server", config.ip_server.tls),
    }
    if given.smsc.smpp is not None:
        ports["--smpp"] = shared(given.smsc.smpp, "--smpp", s.smpp_tls)
    with cluster_database(s.database_url) as url:
        parsed = make_url(url)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if parsed.password is not None:
            env["PGPASSWORD"] = str(parsed.password)
        bare = parsed.set(password=None).render_as_string(hide_password=False)
        common = ["--database-url", bare, "--data-dir", str(data), *passed(args, LOG_OPTIONS)]
        smsc_args = [*common, *passed(args, SMSC_OPTIONS)]
        smsc_args += [o for name in ("--link", "--smpp") if name in ports
                      for o in (name, ports[name].spec)]  # fmt: skip
        ip_args = ["ip-server", "run", *common, "--listen", ports["--ip-server"].spec]
        ip_args += ip_server_options(config)
        admin = _admin_other(s.admin)

        def smsc_node(i: int) -> list[str]:
            name = f"smsc-{i}"
            pcap = ["--pcap", pcaps[name], *passed(args, ["--pcap-max"])] if pcaps else []
            return ["smsc", "--node", name, "--admin", s.admin if i == 1 else admin,
                    *smsc_args, *pcap]  # fmt: skip

        async def start(running: Running) -> list[str]:
            from twisted.internet import reactor

            cluster = Cluster(reactor, env)
            running.start(cluster)
            first = await cluster.launch({"smsc-1": smsc_node(1), "ip-1": [*ip_args, "--node",
                                          "ip-1"]})  # fmt: skip
            rest: dict[str, list[str]] = {}
            for i in range(2, workers + 1):
                rest[f"smsc-{i}"] = smsc_node(i)
                rest[f"ip-{i}"] = [*ip_args, "--node", f"ip-{i}"]
            await cluster.launch(rest)
            for port in ports.values():
                port.release()
            lines = await _front(running, config, url, token, ports, first["smsc-1"], workers)
            return [*certificates, lines[0], *capture_lines(args.pcap, pcaps), *lines[1:]]

        try:
            return serve(start, origins)
        finally:
            for port in ports.values():
                port.release()


SMSC_OPTIONS = ["--config", "--smsc-address", "--unknown-recipient", "--validity",
                "--open-attach", "--lease", "--gsmtap"]  # fmt: skip


def ip_server_options(config: Config) -> list[str]:
    """``[ip_server]`` and ``up``'s options of it, as ``ip-server run`` takes them."""
    ip = config.ip_server
    return ["--rate", f"{ip.rate:g}", "--burst", str(ip.burst),
            "--history-days", f"{ip.history_days:g}", "--history-count", str(ip.history_count),
            "--login-deadline", f"{ip.login_deadline:g}",
            "--query-timeout", f"{ip.query_timeout:g}"]  # fmt: skip


LOG_OPTIONS = ["--log-level", "--log-format", "--quiet"]


def node_captures(pcap: str, workers: int) -> dict[str, str]:
    """``--pcap FILE``'s file of each SMSC node: FILE's stem, ``-smsc-I``, its
    suffix (``cap.pcapng``: ``cap-smsc-1.pcapng``), as a pcapng file is one
    writer's: the nodes are processes."""
    path = Path(pcap)
    if path.name in ("", ".", ".."):
        raise CommandError(f"--pcap: expected a file name, got {pcap!r}", 2)
    files = {
        f"smsc-{i}": str(path.with_name(f"{path.stem}-smsc-{i}{path.suffix}"))
        for i in range(1, workers + 1)
    }
    for file in files.values():  # one that will not do is told here, before any node starts
        try:
            open(file, "wb").close()
        except OSError as exc:
            raise CommandError(f"--pcap: {exc.filename}: {exc.strerror}") from None
    return files


def capture_lines(pcap: str | None, files: dict[str, str]) -> list[str]:
    """The start-up line naming each node's capture file, and how to merge them."""
    if not files:
        return []
    each = ", ".join(f"{node} to {file}" for node, file in files.items())
    merge = shlex.join(["mergecap", "-w", str(pcap), *files.values()])
    return [f"capture: a pcapng file per SMSC node, {each} (one timeline: {merge})"]


def _admin_other(spec: str) -> str:
    """The admin API of a node after the first: as the first's (its interface,
    its TLS), on a free port."""
    kind, _, rest = spec.partition(":")
    port, colon, opts = rest.partition(":")
    if kind in ("tcp", "ssl") and port.isdigit():
        return f"{kind}:0{colon}{opts}"
    return "tcp:0:interface=127.0.0.1"


async def _front(
    running: Running,
    config: Config,
    url: str,
    token: str,
    ports: dict[str, SharedPort],
    first: list[str],
    workers: int,
) -> list[str]:
    """The handsets of ``up`` and their control API, on the shared ports; the lines."""
    from twisted.internet import reactor as default

    reactor: IReactorFromThreads = default  # type: ignore[assignment]
    link, ip = ports["--link"], ports["--ip-server"]
    lines = [
        f"up: {workers} SMSC nodes (smsc-1..{workers}) and {workers} IP-server nodes "
        f"(ip-1..{workers}) on {safe_url(url)}",
        f"smsc: radio link on {link.host}:{link.port}{tls_mark(link.spec)} "
        f"(shared by the {workers} SMSC nodes)",
        *[line for line in first if line.startswith(("smsc: admin API", "console:"))],
    ]
    if "--smpp" in ports:
        smpp = ports["--smpp"]
        lines.append(f"smsc: SMPP on {smpp.host}:{smpp.port}{tls_mark(smpp.spec)} "
                     f"(shared by the {workers} SMSC nodes)")  # fmt: skip
        lines += [line for line in first if line.startswith("smpp: ESME")]
    lines.append(f"ip server: on {ip.host}:{ip.port}{tls_mark(ip.spec)} "
                 f"(shared by the {workers} IP-server nodes)")  # fmt: skip
    engine = await deferToThread(_migrated, url)  # at head already: the nodes migrated it
    store = ReceiptStore(engine, reactor=reactor)
    store.start()
    running.start(_Stops(store))
    phones: dict[str, Phone] = {}
    control = ControlService(phones, config.control.listen, token=token)
    running.start(control)
    lines += await start_phones(
        running,
        config,
        phones,
        store=store,
        subscribe=subscribe_in(url),
        link_port=link.port,
        ip_port=ip.port,
        watch=lambda phone: None,
    )
    lines.append(f"handsets: control API on {control.url}")
    return lines


def _migrated(url: str) -> Engine:
    engine = open_engine(url)
    migrate(engine)
    return engine


class _Stops(Service):
    """A store's worker, stopped with the services."""

    def __init__(self, store: ReceiptStore) -> None:
        self.store = store

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return self.store.stop()
