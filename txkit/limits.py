"""Bounded connections: a cap per listener and for the process, with a
reserve per listener, so that a flood on one port never takes the file
descriptors the other ports need.

The rules (``Limits.limit``), for a listener L among those listening:

* L holds at most its own cap (``caps[name]``; none by default);
* the process holds at most ``total`` accepted connections, and of those,
  ``reserve`` per *other* listener are kept for it until it uses them: L may
  grow only into what the others leave free.  (With many listeners, the
  reserves shrink so that together they keep at most half of ``total``.)

The defaults come from RLIMIT_NOFILE when the first listener starts
(``from_rlimit``): with the usual 1,024 descriptors, ``spare`` (an eighth,
at least 64, for databases, logs, pseudo-terminals and the process's own
clients) and those already open stay out of ``total``, and each listener's
reserve is 16 (a 64th of the limit, 4 to 32).  So 1,100 idle connections
to one port leave SMPP, the radio link and the APIs their room.

A refused connection is closed at once: the guard's ``buildProtocol``
returns None, and Twisted closes the socket it has just accepted and goes
on accepting, so refused connections never wait in the backlog.  The guard
wraps the factory the *port* calls (``guard``), outside any TLS wrapper,
so it counts sockets whatever they carry.  Refusals are logged once per
interval with their count (``txkit.throttle``) and counted in /metrics.

Each TCP or TLS listener is also opened with a listen backlog of ``backlog``
(``DEFAULT_BACKLOG``, 4,096; Twisted's own is 50): a thousand handsets that
connect at once wait in the kernel's accept queue instead of having their
SYNs dropped and sent again a second later.  The kernel caps it at
``net.core.somaxconn`` (4,096 since Linux 5.4, 128 before).  An endpoint
string that names its own (``tcp:7101:backlog=100``) keeps it
(``txkit.endpoints.listen``).
"""

from __future__ import annotations

import logging
import os
import resource
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet.interfaces import IAddress, IListeningPort, IReactorTime
from twisted.internet.protocol import Protocol
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory

from .prometheus import Registry
from .throttle import SUPPRESSED, Throttle

log = logging.getLogger(__name__)

#: Connections the kernel may hold for a listener before it accepts them.
DEFAULT_BACKLOG = 4096

#: Seconds an HTTP connection may sit idle before or between requests (a
#: keep-alive nobody uses); a request being answered is not idle
#: (``twisted.web.server.Site(timeout=...)``).
HTTP_IDLE = 60.0

#: What the product's listeners are, for people.
LABELS = {
    "link": "the radio link",
    "smpp": "SMPP",
    "admin": "the admin API",
    "ip_server": "the IP server",
    "metrics": "the metrics page",
    "control": "the control API",
    "at_tcp": "an AT port",
}


@dataclass(slots=True)
class Gate:
    """One listener's count."""

    name: str
    address: str
    cap: int | None = None
    open: int = 0
    refused: int = 0
    listening: bool = True

    @property
    def label(self) -> str:
        return f"{LABELS.get(self.name, self.name)} on {self.address}"


class Limits:
    """The process's connection budget, shared by its listeners."""

    def __init__(
        self,
        total: int,
        reserve: int,
        *,
        caps: Mapping[str, int] | None = None,
        clock: IReactorTime | None = None,
        interval: float = 10.0,
        backlog: int = DEFAULT_BACKLOG,
    ) -> None:
        self.total = total
        self.reserve = reserve
        self.backlog = backlog
        self.caps = dict(caps or {})
        self.gates: list[Gate] = []
        self.throttle = Throttle(log, interval=interval, clock=clock)
        self.registry = Registry()
        self._metrics()

    @classmethod
    def from_rlimit(cls, **kwargs: Any) -> Limits:
        """Defaults from this process's descriptor limit and what is open now."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        nofile = soft if soft != resource.RLIM_INFINITY else 65536
        try:
            in_use = len(os.listdir("/proc/self/fd"))
        except OSError:
            in_use = 32
        spare = max(64, nofile // 8)
        reserve = max(4, min(32, nofile // 64))
        return cls(max(reserve, nofile - in_use - spare), reserve, **kwargs)

    def gate(self, name: str, address: str) -> Gate:
        gate = Gate(name, address, self.caps.get(name))
        self.gates.append(gate)
        return gate

    def limit(self, gate: Gate) -> int:
        """How many connections ``gate`` may hold now."""
        listening = [g for g in self.gates if g.listening]
        # Reserves never take more than half the budget, however many listeners.
        share = min(self.reserve, self.total // (2 * max(1, len(listening))))
        others = sum(g.open for g in self.gates if g is not gate)
        kept = sum(self._kept(g, share) for g in listening if g is not gate)
        room = self.total - others - kept
        return room if gate.cap is None else min(gate.cap, room)

    @staticmethod
    def _kept(gate: Gate, share: int) -> int:
        """What is held for ``gate`` beyond what it has open."""
        reserve = share if gate.cap is None else min(share, gate.cap)
        return max(0, reserve - gate.open)

    def admit(self, gate: Gate) -> bool:
        limit = self.limit(gate)
        if gate.open < limit:
            gate.open += 1
            return True
        gate.refused += 1
        label = gate.label
        self.throttle.warning(
            f"refused connections to {label}",
            "refusing connections to %s: %d open (limit %d)",
            label,
            gate.open,
            limit,
            summary=f"refused {{count:,}} more connections to {label} (limit {limit}) "
            "in the last {seconds:g} s",
        )
        return False

    def closed(self, gate: Gate) -> None:
        gate.open -= 1
        if not gate.listening and gate.open <= 0:
            self._forget(gate)

    def stopped(self, gate: Gate) -> None:
        """Its port is closed: no reserve is kept for it any more."""
        gate.listening = False
        if gate.open <= 0:
            self._forget(gate)

    def _forget(self, gate: Gate) -> None:
        if gate in self.gates:
            self.gates.remove(gate)

    def _metrics(self) -> None:
        def by_gate(value: Any) -> Any:
            return lambda: {(g.name, g.address): float(value(g)) for g in self.gates}

        r = self.registry
        labels = ("listener", "address")
        r.gauge("smsemu_connections_open", "Connections open, per listener", labels,
                read=by_gate(lambda g: g.open))  # fmt: skip
        r.gauge("smsemu_connections_limit", "Connections a listener may hold now", labels,
                read=by_gate(self.limit))  # fmt: skip
        r.counter("smsemu_connections_refused_total", "Connections refused at a limit", labels,
                  read=by_gate(lambda g: g.refused))  # fmt: skip
        r.counter(
            "smsemu_log_lines_suppressed_total",
            "Log lines held back by rate limits (told in summaries), per logger",
            ("logger",),
            read=lambda: {(name,): float(n) for name, n in SUPPRESSED.items()},
        )


class _Counted(ProtocolWrapper):
    """A connection the guard counts until it is lost."""


class GuardFactory(WrappingFactory[_Counted]):
    """Builds the wrapped factory's protocol only while ``gate`` has room."""

    protocol = _Counted

    def __init__(self, wrapped: Any, limits: Limits, gate: Gate) -> None:
        super().__init__(wrapped)  # type: ignore[no-untyped-call]
        self.limits = limits
        self.gate = gate

    def buildProtocol(self, addr: IAddress | None) -> Any:
        if not self.limits.admit(self.gate):
            return None  # the port closes the socket at once and accepts on
        inner: Protocol | None = self.wrappedFactory.buildProtocol(addr)
        if inner is None:
            self.limits.closed(self.gate)
            return None
        return _Counted(self, inner)

    def registerProtocol(self, p: Any) -> None:
        pass  # counted when admitted

    def unregisterProtocol(self, p: Any) -> None:
        self.limits.closed(self.gate)

    def doStart(self) -> None:
        self.wrappedFactory.doStart()

    def doStop(self) -> None:
        self.wrappedFactory.doStop()
        self.limits.stopped(self.gate)


_process: Limits | None = None


def configure(
    total: int | None = None,
    reserve: int | None = None,
    caps: Mapping[str, int] | None = None,
    backlog: int | None = None,
) -> Limits:
    """Set this process's limits (before its first listener): what is not
    given comes from RLIMIT_NOFILE as in ``from_rlimit`` (the backlog:
    ``DEFAULT_BACKLOG``)."""
    global _process
    limits = Limits.from_rlimit(caps=caps, backlog=backlog or DEFAULT_BACKLOG)
    limits.total = limits.total if total is None else total
    limits.reserve = limits.reserve if reserve is None else reserve
    _process = limits
    return limits


def process_limits() -> Limits:
    """This process's limits, made from RLIMIT_NOFILE at the first call."""
    global _process
    if _process is None:
        _process = Limits.from_rlimit()
    return _process


def guard(port: IListeningPort, name: str, limits: Limits | None = None) -> None:
    """Count and bound the connections ``port`` accepts (``name`` says
    which listener it is): the factory it calls is wrapped in place."""
    factory = getattr(port, "factory", None)
    if factory is None or isinstance(factory, GuardFactory):
        return
    limits = limits or process_limits()
    host = port.getHost()
    if hasattr(host, "port"):
        address = f"{getattr(host, 'host', '')}:{host.port}"
    else:
        address = str(getattr(host, "name", host))
    port.factory = GuardFactory(factory, limits, limits.gate(name, address))  # type: ignore[attr-defined]
