"""Where servers listen: Twisted endpoint strings, with the product's older
``HOST:PORT`` form kept working.

``tcp:7101:interface=127.0.0.1`` is what ``serverFromString`` takes, so
``ssl:``, ``unix:`` and any endpoint plugin work with no new code.  A bare
``HOST:PORT`` (or ``PORT``) is read as ``tcp:PORT:interface=HOST``, and a
``tcp:`` string without an interface listens on 127.0.0.1 only: a listener is
opened to other hosts only when the user names their address, and then with
a warning when it is not TLS (``exposed``).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import re

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, ITransport
from twisted.python.failure import Failure

from .limits import guard, process_limits

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"
#: HOST:PORT or PORT, HOST a name, an IPv4 address or a bracketed IPv6 one.
_HOST_PORT = re.compile(r"^(?:(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]*):)?(?P<port>\d+)$")
#: Twisted's endpoint types: ``tcp:7101`` is one, not a host named "tcp".
_ENDPOINT_TYPES = ("tcp", "tcp6", "ssl", "unix", "systemd")
#: Endpoint types that take an ``interface`` option.
_INTERFACED = ("tcp", "tcp6", "ssl")


def endpoint_spec(text: str, default_port: int | None = None) -> str:
    """The endpoint string ``text`` names; ValueError with the reason if none.

    ``7101`` and ``127.0.0.1:7101`` become ``tcp:7101:interface=127.0.0.1``;
    ``tcp:7101`` gains ``interface=127.0.0.1``; other strings are kept as they
    are, for ``serverFromString`` to judge.
    """
    text = text.strip()
    kind, _, rest = text.partition(":")
    match = None if kind in _ENDPOINT_TYPES else _HOST_PORT.match(text)
    if match is not None:
        host = (match["host"] or LOOPBACK).strip("[]")
        port = int(match["port"])
        if port > 65535:
            raise ValueError(f"{text!r}: port {port} is out of range (0-65535)")
        return f"tcp:{port}:interface={_escape(host)}"
    if not rest:
        raise ValueError(f"{text!r}: expected HOST:PORT or an endpoint like tcp:7101")
    if kind in _INTERFACED and "interface=" not in rest:
        return f"{text}:interface={_escape(LOOPBACK)}"
    return text


def with_backlog(spec: str, backlog: int) -> str:
    """``spec`` (an endpoint string) listening with ``backlog``, if it is a
    TCP or TLS one that does not name its own; others as they are."""
    kind, _, rest = spec.partition(":")
    if kind not in _INTERFACED or ":backlog=" in f":{rest}":
        return spec
    return f"{spec}:backlog={backlog}"


def _escape(host: str) -> str:
    """``serverFromString`` splits on ':'; an IPv6 address escapes its own."""
    return host.replace(":", "\\:")


class ListenError(Exception):
    """A listener that could not start, told in one line: ``127.0.0.1:7180 is
    in use (Address already in use)``.  ``name`` says which listener it was
    (``"admin"``), for the caller to name the option that set it."""

    def __init__(self, spec: str, reason: str, *, name: str | None = None) -> None:
        super().__init__(reason)
        self.spec = spec
        self.reason = reason
        self.name = name

    def __str__(self) -> str:
        return self.reason


def _reason(spec: str, failure: BaseException) -> str:
    """``HOST:PORT is in use (...)`` or ``cannot listen on HOST:PORT (...)``."""
    if not isinstance(failure, CannotListenError):
        return f"cannot listen on {spec} ({failure})"
    host = failure.interface or "0.0.0.0"
    where = f"[{host}]:{failure.port}" if ":" in host else f"{host}:{failure.port}"
    error = failure.socketError
    why = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
        return f"{where} is in use ({why})"
    return f"cannot listen on {where} ({why})"


def listen(
    reactor: object, spec: str, factory: IProtocolFactory, *, name: str | None = None
) -> IListeningPort:
    """Listen on ``spec`` (see ``endpoint_spec``) now, and return the port.

    TCP, SSL and UNIX endpoints listen at once, so the port (or the
    ``ListenError`` that says why not, a port in use, say) is there when this
    returns; services read it in ``startService``.  An endpoint that could
    only listen later is refused.  ``name`` is the listener's, carried by the
    error and by its connection count (``txkit.limits``).  A TCP or TLS one
    listens with the process's backlog unless ``spec`` names its own
    (``with_backlog``).
    """
    full = with_backlog(endpoint_spec(spec), process_limits().backlog)
    endpoint = serverFromString(reactor, full)  # type: ignore[no-untyped-call]
    d: Deferred[IListeningPort] = endpoint.listen(factory)
    result: list[IListeningPort | Failure] = []
    d.addBoth(result.append)
    if not result:
        d.cancel()
        raise ValueError(f"{spec!r}: this endpoint does not listen at once")
    outcome = result[0]
    if isinstance(outcome, Failure):
        error = outcome.value
        if isinstance(error, CannotListenError | OSError):
            raise ListenError(spec, _reason(spec, error), name=name) from None
        outcome.raiseException()
    assert not isinstance(outcome, Failure)
    guard(outcome, name or "listener")  # bounded like every listener (txkit.limits)
    warning = exposed(spec, outcome, name)
    if warning is not None:
        log.warning("%s", warning)
    return outcome


def exposed(spec: str, port: IListeningPort, name: str | None = None) -> str | None:
    """The warning a listener deserves when other machines can reach it and
    nothing encrypts what it carries (a bound address that is not loopback,
    an endpoint that is not ``ssl:``); None when it is kept to this machine."""
    if endpoint_spec(spec).startswith("ssl:"):
        return None
    address = port.getHost()
    host = getattr(address, "host", None)
    if not isinstance(host, str):  # a UNIX socket: this machine's
        return None
    try:
        if ipaddress.ip_address(host.partition("%")[0]).is_loopback:
            return None
    except ValueError:
        pass
    number = getattr(address, "port", 0)
    where = f"[{host}]:{number}" if ":" in host else f"{host}:{number}"
    return (
        f"{name or 'a listener'} on {where} is open to other machines without TLS: passwords, "
        "tokens and messages cross the network in clear text (listen on 127.0.0.1, or use "
        "an ssl: endpoint)"
    )


def nodelay(transport: ITransport | None) -> None:
    """Turn Nagle's algorithm off where the transport is TCP: one small frame
    answers another here, and Nagle would hold each answer back until the
    previous one is acknowledged."""
    set_no_delay = getattr(transport, "setTcpNoDelay", None)
    if set_no_delay is not None:
        set_no_delay(True)
