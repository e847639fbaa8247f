"""Where servers listen: Twisted endpoint strings, with the product's older
``HOST:PORT`` form kept working.

``tcp:7101:interface=127.0.0.1`` is what ``serverFromString`` takes, so
``ssl:``, ``unix:`` and any endpoint plugin work with no new code.  An
``ssl:`` string with Twisted's options is opened here all the same
(``SSL4ServerEndpoint``, its TLS made by ``txkit.tls.server_tls``), since
Twisted's parser serves only the first certificate of ``certKey``: the chain
that follows it there would never reach the clients.  A bare
``HOST:PORT`` (or ``PORT``) is read as ``tcp:PORT:interface=HOST``, and a
``tcp:`` string without an interface listens on 127.0.0.1 only: a listener is
opened to other hosts only when the user names their address, and then with
a warning when it is not TLS (``exposed``).

Two forms serve the nodes of a cluster:

* ``haproxy:tcp:7101`` reads the PROXY header that HAProxy's ``send-proxy``
  puts first on each connection (``txkit.proxied``), so that a node behind
  HAProxy sees its clients' addresses, not HAProxy's.  The wrapped
  endpoint gets the same defaults as a bare one (loopback, the backlog).
* ``tcp:7101:reuseport=yes`` listens with SO_REUSEPORT: several processes
  listen on one port and the kernel spreads the connections between them.
  Linux lets only processes of the same user share a port so, which is what
  keeps a stranger on the host from taking a share.  ``ssl:7101:reuseport=yes``
  (with the ``ssl:`` string's ``privateKey``/``certKey``) is the same port on
  TLS: Twisted's ``ssl:`` endpoint cannot set the option, so the TLS is
  layered on ours as ``listenSSL`` layers it on TCP.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import re
import socket

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.endpoints import SSL4ServerEndpoint, serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import (
    IListeningPort,
    IOpenSSLServerConnectionCreator,
    IProtocolFactory,
    IReactorSocket,
    IStreamServerEndpoint,
    ITransport,
)
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from .limits import guard, process_limits
from .proxied import ProxiedEndpoint
from .tls import server_tls

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"
#: HOST:PORT or PORT, HOST a name, an IPv4 address or a bracketed IPv6 one.
_HOST_PORT = re.compile(r"^(?:(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]*):)?(?P<port>\d+)$")
#: Twisted's endpoint types: ``tcp:7101`` is one, not a host named "tcp".
_ENDPOINT_TYPES = ("tcp", "tcp6", "ssl", "unix", "systemd")
#: Endpoint types that take an ``interface`` option.
_INTERFACED = ("tcp", "tcp6", "ssl")
#: Endpoint types that wrap another: ``haproxy:tcp:7101``.
_WRAPPERS = ("haproxy",)
#: An endpoint string's pieces: an escaped character (``\\:``), a separator, the rest.
_TOKEN = re.compile(r"\\.?|:|[^:\\]+", re.S)
#: The options of a reuse-port listener: TCP's, and TLS's files (as ``ssl:`` names them).
_REUSE_OPTIONS = {
    "tcp": {"interface", "backlog"},
    "ssl": {"interface", "backlog", "privateKey", "certKey", "extraCertChain"},
}
#: The options of Twisted's ``ssl:`` endpoint, which ``server_endpoint`` opens itself.
_SSL_OPTIONS = _REUSE_OPTIONS["ssl"] | {"sslmethod", "dhParameters"}


def endpoint_spec(text: str, default_port: int | None = None) -> str:
    """The endpoint string ``text`` names; ValueError with the reason if none.

    ``7101`` and ``127.0.0.1:7101`` become ``tcp:7101:interface=127.0.0.1``;
    ``tcp:7101`` gains ``interface=127.0.0.1``; other strings are kept as they
    are, for ``serverFromString`` to judge.
    """
    text = text.strip()
    kind, _, rest = text.partition(":")
    if kind in _WRAPPERS:
        if not rest:
            raise ValueError(f"{text!r}: expected the endpoint {kind}: wraps, like {kind}:tcp:7101")
        return f"{kind}:{endpoint_spec(rest)}"
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
    if kind in _WRAPPERS:
        return f"{kind}:{with_backlog(rest, backlog)}"
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
    endpoint = server_endpoint(reactor, full)
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


def _unwrapped(spec: str) -> str:
    kind, _, rest = spec.partition(":")
    return _unwrapped(rest) if kind in _WRAPPERS else spec


def server_endpoint(reactor: object, spec: str) -> IStreamServerEndpoint:
    """``serverFromString``'s endpoint for ``spec``, but these are ours: a
    ``tcp:`` or ``ssl:`` one with ``reuseport=yes`` (``ReusePortEndpoint``),
    an ``ssl:`` one on its port with Twisted's options (an
    ``SSL4ServerEndpoint`` serving the chain of its ``certKey``,
    ``txkit.tls.server_tls``), and ``haproxy:`` (``txkit.proxied``: the
    header read before the protocol is connected)."""
    kind, _, rest = spec.partition(":")
    if kind in _WRAPPERS:
        inner, _, inner_rest = rest.partition(":")
        if inner != "ssl":
            return ProxiedEndpoint(server_endpoint(reactor, rest))
        # HAProxy (mode tcp) sends the header in clear, then the client's TLS
        # as it came: the header is read first and TLS is inside it.
        tcp, tls = _tls_inside(spec, inner_rest)
        return ProxiedEndpoint(server_endpoint(reactor, tcp), tls=tls)
    fields, options = _split(rest)
    reuse = options.pop("reuseport", "no") in ("yes", "true", "1")
    if kind == "ssl" and not reuse and _ours(fields, options, _SSL_OPTIONS):
        options = _unescaped(options)
        return SSL4ServerEndpoint(  # type: ignore[no-untyped-call]
            reactor,
            int(fields[0]),
            _tls(options),
            int(options.get("backlog", "50")),
            options.get("interface", ""),  # as Twisted's ssl: (endpoint_spec names loopback)
        )
    if kind not in _REUSE_OPTIONS or not reuse:
        return serverFromString(reactor, spec)  # type: ignore[no-untyped-call,no-any-return]
    extra = set(options) - _REUSE_OPTIONS[kind]
    if extra:
        allowed = ", ".join(f"{o}=" for o in sorted(_REUSE_OPTIONS[kind]))
        raise ValueError(f"{spec!r}: {kind}: with reuseport=yes takes only {allowed}, not {extra}")
    options = _unescaped(options)
    return ReusePortEndpoint(
        reactor,  # type: ignore[arg-type]
        int(fields[0]),
        options.get("interface", LOOPBACK),
        int(options.get("backlog", "50")),
        tls=_tls(options) if kind == "ssl" else None,  # the files read now, as serverFromString's
    )


def _tls_inside(spec: str, rest: str) -> tuple[str, IOpenSSLServerConnectionCreator]:
    """``haproxy:ssl:REST`` as the ``tcp:`` endpoint under it and its TLS."""
    fields, options = _split(rest)
    reuse = options.pop("reuseport", None)
    known = _REUSE_OPTIONS["ssl"] if reuse is not None else _SSL_OPTIONS
    if not _ours(fields, options, known):
        allowed = ", ".join(f"{o}=" for o in sorted(known | {"reuseport"}))
        raise ValueError(f"{spec!r}: haproxy:ssl: takes a port and {allowed} only")
    tcp = [f"tcp:{fields[0]}"]
    tcp += [f"{k}={options[k]}" for k in ("interface", "backlog") if k in options]
    tcp += [f"reuseport={reuse}"] if reuse is not None else []
    return ":".join(tcp), _tls(_unescaped(options))


def _ours(fields: list[str], options: dict[str, str], known: set[str]) -> bool:
    """Whether an endpoint string is a port then ``key=value`` options from
    ``known`` only; another (a positional file, ``port=``) is Twisted's to judge."""
    positional = [f for f in fields[1:] if "=" not in f]
    return fields[0].isdigit() and not positional and set(options) <= known


def _unescaped(options: dict[str, str]) -> dict[str, str]:
    return {k: re.sub(r"\\(.)", r"\1", v) for k, v in options.items()}


def _tls(options: dict[str, str]) -> IOpenSSLServerConnectionCreator:
    """An ``ssl:`` string's TLS, its files named as Twisted's parser names them."""
    key = options.get("privateKey", "server.pem")
    return server_tls(
        key,
        options.get("certKey", key),
        options.get("extraCertChain"),
        method=options.get("sslmethod"),
        dh_parameters=options.get("dhParameters"),
    )


def _split(rest: str) -> tuple[list[str], dict[str, str]]:
    """An endpoint string's fields (after its type) and its ``key=value`` options, escapes kept."""
    fields = _fields(rest)
    return fields, dict(f.split("=", 1) for f in fields[1:] if "=" in f)


def _fields(rest: str) -> list[str]:
    """The ``:``-separated fields of an endpoint string (after its type), escapes kept."""
    fields = [""]
    for token in _TOKEN.findall(rest):
        if token == ":":
            fields.append("")
        else:
            fields[-1] += token
    return fields


@implementer(IStreamServerEndpoint)
class ReusePortEndpoint:
    """TCP with SO_REUSEPORT: the socket is made here and handed to the
    reactor (``adoptStreamPort``), as Twisted's own TCP endpoint cannot set it.
    With ``tls`` each connection is TLS (``TLSMemoryBIOFactory`` around the
    factory, which is all ``listenSSL`` does over TCP)."""

    def __init__(
        self,
        reactor: IReactorSocket,
        port: int,
        interface: str,
        backlog: int,
        *,
        tls: IOpenSSLServerConnectionCreator | None = None,
    ) -> None:
        self.reactor = reactor
        self.port = port
        self.interface = interface
        self.backlog = backlog
        self.tls = tls

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        if self.tls is not None:
            factory = TLSMemoryBIOFactory(self.tls, False, factory)
        family = socket.AF_INET6 if ":" in self.interface else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((self.interface, self.port))
            sock.listen(self.backlog)
            sock.setblocking(False)
            port = self.reactor.adoptStreamPort(sock.fileno(), family, factory)  # type: ignore[arg-type]
        except OSError as exc:
            return fail(CannotListenError(self.interface, self.port, exc))  # type: ignore[no-untyped-call]
        finally:
            sock.close()  # the reactor holds its own duplicate
        return succeed(port)


def exposed(spec: str, port: IListeningPort, name: str | None = None) -> str | None:
    """The warning a listener deserves when other machines can reach it and
    nothing encrypts what it carries (a bound address that is not loopback,
    an endpoint that is not ``ssl:``); None when it is kept to this machine."""
    if _unwrapped(endpoint_spec(spec)).startswith("ssl:"):
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
