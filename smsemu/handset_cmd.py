"""``smsemu handset ...``: drive the handsets of a running network, or run one.

``send``, ``inbox``, ``read`` and ``conversations`` are clients of the handset
control API (handset.control; ``smsemu up`` serves it on 127.0.0.1:7190), and
print what a person would read on the phone's screen (``--json`` for scripts).
``search``, ``logout`` and ``login`` drive the multi-device history (docs/history-query.md).
``run`` runs one handset (or companion device) as its own process against an
SMSC and an IP server elsewhere, serving the same control API.  ``smsemu
ip-server register`` issues the credentials such a handset logs in with, and
``unbind`` revokes them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pdu.message_number import Carrier

from . import logs
from .defaults import CONTROL_URL as DEFAULT_API
from .defaults import DATA_DIR, TLS_CA, TOKEN_ENV, TOKEN_FILE


def add_parsers(sub: Any) -> None:
    handset = sub.add_parser("handset", help="drive a handset of a running network, or run one")
    verbs = handset.add_subparsers(dest="verb", required=True)

    def client(name: str, help_: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = verbs.add_parser(name, help=help_)
        p.add_argument(
            "--api",
            default=DEFAULT_API,
            help=f"control API URL ({DEFAULT_API}); the URL `smsemu up` prints, token and all, "
            "works as is",
        )
        p.add_argument(
            "--token",
            help=f"the API's token (default: ${TOKEN_ENV}, else the one in --data-dir)",
        )
        p.add_argument(
            "--data-dir",
            type=Path,
            default=DATA_DIR,
            metavar="DIR",
            help=f"the data directory of the network (./{DATA_DIR}): its {TOKEN_FILE} file",
        )
        p.add_argument("--json", action="store_true", help="print the API's JSON")
        p.add_argument(
            "--ca",
            type=Path,
            metavar="FILE",
            help=f"an https API's certificate (or its CA) to trust (default ./{TLS_CA} if "
            "there, else the system's CAs)",
        )
        return p

    p = client("list", "the handsets and companion devices of the network, and their links")
    p.set_defaults(run=_list)

    p = client("info", "one handset: its links, settings and AT port")
    p.add_argument("msisdn", help="MSISDN, or NAME@MSISDN for a companion")
    p.set_defaults(run=_info)

    p = client("send", "send a text from a handset")
    p.add_argument("msisdn", help="the sending handset")
    p.add_argument("to", help="the recipient's number")
    p.add_argument("text", help="the message (an empty one is a legal SMS)")
    p.add_argument(
        "--carrier",
        choices=[c.value for c in Carrier],
        help="how the message number travels: a UDH element (udh), a marker at the end "
        "of the text (inline), or not at all (none: a legacy phone); default: the "
        "handset's setting",
    )
    p.set_defaults(run=_send)

    p = client("inbox", "list a handset's received messages, newest first")
    p.add_argument("msisdn", help="the handset")
    p.add_argument("--limit", type=int, metavar="N", help="at most N messages")
    p.set_defaults(run=_inbox)

    p = client("read", "open a received message (sends the read response), or show a sent one")
    p.add_argument("msisdn", help="the handset")
    p.add_argument("id", type=int, help="the message id, as inbox shows it")
    p.set_defaults(run=_read)

    p = client("conversations", "the conversation list, or one conversation with its marks")
    p.add_argument("msisdn", help="the handset")
    p.add_argument("peer", nargs="?", help="show this conversation, message by message")
    p.set_defaults(run=_conversations)

    p = client("search", "search the history: here, then the server, then the account's devices")
    p.add_argument("msisdn", help="the searching device: MSISDN, or NAME@MSISDN for a companion")
    p.add_argument("text", nargs="?", help="a case-insensitive part of the text")
    p.add_argument("--peer", help="only the conversation with this number")
    p.add_argument("--since", help="ISO 8601 time, inclusive")
    p.add_argument("--until", help="ISO 8601 time, exclusive")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="at most N (50)")
    p.add_argument("--timeout", type=float, help="seconds the other devices get (server's: 5)")
    p.set_defaults(run=_search)

    for verb, help_ in (
        ("logout", "log a device out of the IP server (its push channel stays)"),
        ("login", "log a device in to the IP server again"),
    ):
        p = client(verb, help_)
        p.add_argument("msisdn", help="MSISDN, or NAME@MSISDN for a companion")
        p.set_defaults(run=_session, verb=verb)

    p = verbs.add_parser("run", help="run one handset as its own process")
    p.add_argument("--msisdn", required=True, help="the handset's number (its SIM's MSISDN)")
    p.add_argument("--imsi", help="default: one made from the MSISDN (MCC 001, MNC 01)")
    p.add_argument(
        "--smsc", help="the radio link HOST:PORT, tls:HOST:PORT on TLS (not a companion)"
    )
    p.add_argument("--ip-server", help="the IP server HOST:PORT, tls:HOST:PORT on TLS")
    p.add_argument(
        "--tls",
        choices=["auto"],
        help="auto: every link on TLS, and the control API on TLS with a self-signed "
        "certificate generated into --data-dir (docs/tls.md)",
    )
    p.add_argument(
        "--ca",
        type=Path,
        metavar="FILE",
        help=f"the certificate the TLS links trust (default ./{TLS_CA}, --tls auto's of smsemu up)",
    )
    p.add_argument(
        "--credentials",
        type=Path,
        help="JSON file with device_id and secret (default: DATA_DIR/ip-credentials.json)",
    )
    p.add_argument("--data-dir", type=Path, help="the handset's store (./handset-MSISDN)")
    p.add_argument("--control", help="control API HOST:PORT or endpoint (127.0.0.1:7190)")
    p.add_argument(
        "--carrier", choices=[c.value for c in Carrier], help="how message numbers travel (stored)"
    )
    p.add_argument("--receipts", choices=["on", "off"], help="send read receipts (stored)")
    p.add_argument("--companion", metavar="NAME", help="run a companion device (IP only) instead")
    logs.add_options(p)
    _at_options(p)
    p.set_defaults(run=_run)

    ip = sub.add_parser("ip-server", help="the IP server's tools")
    ip_verbs = ip.add_subparsers(dest="verb", required=True)
    p = ip_verbs.add_parser("run", help="run the IP server alone")
    p.add_argument("--listen", help="HOST:PORT or endpoint (127.0.0.1:7102)")
    _database_options(p)
    p.add_argument("--rate", help="requests/s a device may make on average (50)")
    p.add_argument("--burst", help="requests a device may make at once (100)")
    p.add_argument("--history-days", help="history window (30; 0 none)")
    p.add_argument("--history-count", help="per account (1000; 0 none)")
    p.add_argument("--login-deadline", help="seconds a new connection has to log in (10)")
    p.add_argument(
        "--query-timeout", help="seconds a relayed history query waits for the devices (5)"
    )
    p.add_argument("--metrics", help="serve Prometheus /metrics on HOST:PORT (default: off)")
    p.add_argument(
        "--node",
        help="run as this node of a cluster of IP servers on one PostgreSQL --database-url",
    )
    p.add_argument("--node-lease", help="seconds a node is alive without renewing (5)")
    p.add_argument(
        "--tls",
        choices=["auto"],
        help="auto: its listeners on TLS, with a self-signed certificate generated into "
        "--data-dir (docs/tls.md)",
    )
    logs.add_options(p)
    p.set_defaults(run=_run_ip_server)

    p = ip_verbs.add_parser("unbind", help="unbind a device: its secret and key are revoked")
    p.add_argument("device_id", help="the device, as register printed it")
    _database_options(p)
    p.set_defaults(run=_unbind)

    p = ip_verbs.add_parser("register", help="register a device; prints its credentials")
    p.add_argument("--msisdn", required=True, help="the device's number")
    p.add_argument("--account", help="the account it joins (default: the MSISDN)")
    p.add_argument(
        "--kind",
        choices=["phone", "companion"],
        default="phone",
        help="the phone of the SIM, or a companion device (IP only)",
    )
    _database_options(p)
    p.add_argument("--out", type=Path, help="also write them to this file (for handset run)")
    p.set_defaults(run=_register)


def _at_options(p: argparse.ArgumentParser) -> None:
    """The AT port of ``handset run`` (docs/at.md)."""
    p.add_argument("--at", help="the AT port: pty (default), tcp, both or off")
    p.add_argument("--at-link", metavar="PATH", help="a stable symlink to the AT pty")
    p.add_argument("--at-tcp", metavar="ADDR", help="the AT TCP port (default: a free one)")
    p.add_argument("--pin", help="the SIM PIN the AT port asks for (default: none)")


def _database_options(p: argparse.ArgumentParser) -> None:
    """Where the IP server's database is."""
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DATA_DIR,
        metavar="DIR",
        help=f"where its SQLite database lives (default ./{DATA_DIR})",
    )
    p.add_argument("--database-url", metavar="URL", help="a SQLAlchemy URL instead of SQLite")


# -- the API client ----------------------------------------------------------------


class ApiFailure(Exception):
    pass


def _call(
    args: argparse.Namespace,
    method: str,
    *path: str,
    body: Any = None,
    query: dict[str, Any] | None = None,
    timeout: float = 30,
) -> Any:
    import http.client  # only the commands that call the API pay for http.client
    import ssl
    import urllib.error
    import urllib.parse
    import urllib.request

    base, in_url = _api_url(args.api)
    url = base + "/" + "/".join(urllib.parse.quote(p, safe="") for p in path)
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = None if body is None else json.dumps(body).encode()
    try:
        request = urllib.request.Request(url, data=data, method=method)
    except ValueError:
        raise ApiFailure(f"--api: not a URL: {args.api!r} (expected e.g. {DEFAULT_API})") from None
    request.add_header("content-type", "application/json")
    request.add_header("authorization", f"Bearer {_token(args, in_url)}")
    context = _tls_context(args) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            reason = exc.reason
        if exc.code in (401, 403):
            reason = f"{reason}; give the API's token: {_TOKEN_SOURCES}"
        raise ApiFailure(f"{exc.code}: {reason}") from None
    except TimeoutError:
        raise ApiFailure(f"no answer from {args.api} in {timeout:g} s") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise ApiFailure(
                f"the certificate of {args.api} is not trusted ({reason.verify_message}); "
                "give the one it serves with --ca FILE"
            ) from None
        if isinstance(exc, http.client.HTTPException | ConnectionResetError) and url.startswith(
            "http:"
        ):
            raise ApiFailure(
                f"{args.api} did not answer HTTP ({reason!r}); on TLS? try --api https://..."
            ) from None
        raise ApiFailure(
            f"no control API at {args.api} ({reason}); is `smsemu up` running?"
        ) from None


_TOKEN_SOURCES = f"--token, ${TOKEN_ENV}, or --data-dir DIR holding {TOKEN_FILE}"


def _api_url(api: str) -> tuple[str, str | None]:
    """``--api`` as the base URL of the routes, and the token in its query: the
    printed ``http://127.0.0.1:7190/handsets?token=...`` works as is."""
    import urllib.parse

    parts = urllib.parse.urlsplit(api)
    token = urllib.parse.parse_qs(parts.query).get("token", [None])[-1]
    path = parts.path.rstrip("/").removesuffix("/handsets")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", "")), token


def _token(args: argparse.Namespace, in_url: str | None) -> str:
    """The token: ``--token``, the one in ``--api``'s URL, ``$SMSEMU_TOKEN``, or
    the data directory's file (what ``smsemu up`` wrote there)."""
    import os

    given = args.token or in_url or os.environ.get(TOKEN_ENV)
    if given:
        return str(given)
    path: Path = args.data_dir / TOKEN_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise ApiFailure(
            f"no API token: {path} does not exist (is `smsemu up` running from this "
            f"directory? else give {_TOKEN_SOURCES})"
        ) from None
    except OSError as exc:
        raise ApiFailure(f"no API token: cannot read {path} ({exc.strerror})") from None


def _tls_context(args: argparse.Namespace) -> Any:
    """What an https API is verified with: ``--ca``, else the certificate
    ``--tls auto`` left in ./smsemu-data, else the system's CAs."""
    import ssl

    ca: Path | None = args.ca if args.ca is not None else TLS_CA if TLS_CA.exists() else None
    try:
        return ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise ApiFailure(f"--ca: cannot use {ca} as a certificate ({why})") from None


def _client(fn: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            result = fn(args)
        except ApiFailure as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0

    return run


def _when(iso: str) -> str:
    return iso[11:16]  # HH:MM of an ISO 8601 time


@_client
def _list(args: argparse.Namespace) -> Any:
    handsets = _call(args, "GET", "handsets")
    if not args.json:
        if not handsets:
            print("(no handsets)")
        for h in handsets:
            links = []
            if h["companion"] is None:
                links.append(f"radio {'attached' if h['attached'] else 'detached'}")
            ip = "logged out" if h["logged_out"] else "online" if h["ip_online"] else "offline"
            links.append(f"IP {ip}")
            kind = f"IMSI {h['imsi']}" if h["companion"] is None else "companion"
            print(f"{h['handset']:<24} {kind:<21} {', '.join(links)}")
    return handsets


@_client
def _info(args: argparse.Namespace) -> Any:
    h = _call(args, "GET", "handsets", args.msisdn)
    if not args.json:
        print(f"handset:  {h['handset']}" + (f" (IMSI {h['imsi']})" if h["imsi"] else ""))
        if h["companion"] is None:
            print(f"radio:    {'attached' if h['attached'] else 'detached'}")
        ip = "logged out" if h["logged_out"] else "online" if h["ip_online"] else "offline"
        print(f"IP:       {ip}")
        at = h.get("at") or {}
        if "pty" in at:
            print(f"AT port:  {at['pty']}" + (f" (link {at['link']})" if "link" in at else ""))
        if "tcp" in at:
            print(f"AT port:  tcp {at['tcp']}")
        if not at:
            print("AT port:  none")
        for key, value in (h.get("settings") or {}).items():
            print(f"{key + ':':<10}{value}")
    return h


@_client
def _send(args: argparse.Namespace) -> Any:
    body = {"to": args.to, "text": args.text}
    if args.carrier:
        body["carrier"] = args.carrier
    result = _call(args, "POST", "handsets", args.msisdn, "send", body=body)
    if not args.json:
        print(f"message {result['id']} to {args.to}: sending")
    return result


def _inbox_line(m: dict[str, Any]) -> str:
    flag = " " if m["read"] else "*"
    return f"{flag} {m['id']:>5}  {_when(m['created_at'])}  {m['peer']:<16} {m['text']}"


@_client
def _inbox(args: argparse.Namespace) -> Any:
    query = None if args.limit is None else {"limit": args.limit}
    messages = _call(args, "GET", "handsets", args.msisdn, "inbox", query=query)
    if not args.json:
        if not messages:
            print("(no messages)")
        for m in messages:
            print(_inbox_line(m))
    return messages


@_client
def _read(args: argparse.Namespace) -> Any:
    m = _call(args, "POST", "handsets", args.msisdn, "messages", str(args.id), "read")
    if not args.json:
        if m["direction"] == "out":  # shown, not opened: no read response
            number = "" if m["number"] is None else f"#{m['number']}, "
            print(f"To {m['peer']} at {_when(m['created_at'])} ({number}{m['state']}):")
        else:
            print(f"From {m['peer']} at {_when(m['created_at'])}:")
        print(m["text"])
    return m


def render_conversation(peer: str, messages: list[dict[str, Any]]) -> list[str]:
    """A conversation as the phone shows it: my messages on the right with
    their state, the "Read" and "Sent" marks under the two that carry them."""
    lines = [f"Conversation with {peer}"]
    for m in messages:
        if m["direction"] == "out":
            number = "" if m["number"] is None else f"#{m['number']}, "
            lines.append(f"  {_when(m['created_at'])}  me:   {m['text']}  ({number}{m['state']})")
            if m["mark"]:
                lines.append(f"{'':>15}{m['mark']}")
        else:
            lines.append(f"  {_when(m['created_at'])}  them: {m['text']}")
    return lines


@_client
def _conversations(args: argparse.Namespace) -> Any:
    if args.peer:
        messages = _call(args, "GET", "handsets", args.msisdn, "conversations", args.peer)
        if not args.json:
            print("\n".join(render_conversation(args.peer, messages)))
        return messages
    conversations = _call(args, "GET", "handsets", args.msisdn, "conversations")
    if not args.json:
        if not conversations:
            print("(no conversations)")
        for c in conversations:
            last = c["last"]
            who = "me: " if last["direction"] == "out" else ""
            unread = f"  [{c['unread']} unread]" if c["unread"] else ""
            print(f"{c['peer']:<16} {_when(last['created_at'])}  {who}{last['text']}{unread}")
    return conversations


@_client
def _search(args: argparse.Namespace) -> Any:
    body: dict[str, Any] = {"limit": args.limit}
    for name in ("text", "peer", "since", "until", "timeout"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    # The query's deadline (60 s at most) and the phone's grace past it.
    result = _call(args, "POST", "handsets", args.msisdn, "search", body=body, timeout=90)
    if not args.json:
        print("\n".join(render_search(result)))
    return result


def render_search(result: dict[str, Any]) -> list[str]:
    """A search as its user reads it: each message with where it was found."""
    found = result["results"]
    where = {"local": "on this device", "server": "on the server", "devices": "on other devices"}
    status = result["status"].replace("_", " ")
    head = f"{len(found)} found {where.get(result['source'], '')} ({status})"
    if result["missing"]:
        head += "; no answer from " + ", ".join(result["missing"])
    lines = [head]
    for f in found:
        arrow = "->" if f["direction"] == "out" else "<-"
        lines.append(
            f"  {f['at'][:16].replace('T', ' ')}  {arrow} {f['peer']:<16} {f['text']}"
            f"  [{', '.join(f['sources'])}]"
        )
    return lines


@_client
def _session(args: argparse.Namespace) -> Any:
    result = _call(args, "POST", "handsets", args.msisdn, args.verb)
    if not args.json:
        state = "logged out (push channel up)" if result["logged_out"] else "logged in"
        print(f"{result['handset']}: {state}")
    return result


# -- running a handset ----------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from handset.phone import Phone
    from handset.service import ControlService, Credentials, HandsetService
    from handset.sim import PROFILE_FILE, SimProfile
    from handset.store import Settings

    from . import traffic
    from .config import options
    from .network import at_lines
    from .serve import Running, serve
    from .startup import Origins, api_token, data_dir

    run = options.handset_run(args)
    control_spec, certificates = _tls_listener(run.control, run.tls_auto, run.data_dir)
    smsc_tls, ip_tls = _tls_links(run)
    logs.configure(args)
    if run.smsc is None and not run.companion:
        print(
            "error: a phone needs --smsc HOST:PORT (a companion device does not)", file=sys.stderr
        )
        return 2
    directory = run.data_dir
    credentials = None
    if run.ip_server is not None:
        path = run.credentials
        try:
            credentials = Credentials.load(path)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if credentials is None:
            kind = " --kind companion" if run.companion else ""
            print(
                f"error: no IP credentials at {path}: get them with "
                f"`smsemu ip-server register --msisdn {run.msisdn}{kind} --out {path}`",
                file=sys.stderr,
            )
            return 2
    sim = None
    if not run.companion and directory.is_dir():  # not a directory: said at start
        profile = directory / PROFILE_FILE
        try:
            sim = SimProfile.load(profile)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"error: {profile}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    settings = None
    if run.carrier is not None or run.receipts is not None:
        settings = Settings(
            carrier=run.carrier or Carrier.UDH,
            receipts=run.receipts if run.receipts is not None else True,
        )

    async def start(running: Running) -> list[str]:
        token = api_token(data_dir(directory, "--data-dir"), "--data-dir")
        phones: dict[str, Phone] = {}
        control = ControlService(phones, control_spec, token=token)
        running.start(control)  # first: a port in use stops us before anything starts
        service = HandsetService(
            run.msisdn,
            directory,
            smsc=run.smsc,
            ip_server=run.ip_server,
            credentials=credentials,
            settings=settings,
            imsi=run.imsi,
            companion=run.companion,
            watchers=traffic.phone(run.owner),
            at=run.at,
            sim=sim,
            smsc_tls=smsc_tls,
            ip_tls=ip_tls,
        )
        running.start(service)
        service.ready.addCallback(lambda phone: phones.__setitem__(run.owner, phone))
        running.watch(service.ready)  # its store that cannot be used, say
        phone = await service.opened()  # its AT port open, to print where
        what = f"companion {run.owner}" if run.companion else f"{run.msisdn} (IMSI {service.imsi})"
        no_sim = []
        if sim is None and not run.companion:
            no_sim.append(
                f"handset: WARNING: no SIM profile ({directory / PROFILE_FILE}): only an SMSC "
                f"in open mode attaches it (`smsemu subscriber add --msisdn {run.msisdn} "
                f"--handset-dir {directory}` provisions one)"
            )
        links = [f"{name} on TLS" for name, on in (("SMSC", smsc_tls), ("IP", ip_tls)) if on]
        return [
            *certificates,
            f"handset: {what}, store in {directory}" + "".join(f", {x}" for x in links),
            *no_sim,
            *at_lines(service.msisdn, phone.at),
            f"handset: control API on {control.url}",
        ]

    origins = {"control": "--control", "data_dir": "--data-dir", "at_tcp": "--at-tcp"}
    return serve(start, Origins(origins))


def _tls_listener(spec: str, tls_auto: bool, directory: Path) -> tuple[str, list[str]]:
    """``spec`` on TLS with ``directory``'s certificate under ``--tls auto``,
    and the start-up line that names it."""
    from .config.tls import auto, on_tls
    from .network import certificate_lines

    if not tls_auto:
        return spec, []
    files = auto(directory, "--data-dir")
    return on_tls(spec, files), certificate_lines([files.cert])


def _tls_links(run: Any) -> tuple[Any, Any]:
    """The TLS of ``handset run``'s links to the SMSC and the IP server."""
    from txkit.tls import TlsError, client_tls

    from .errors import CommandError

    try:
        smsc = client_tls(run.ca) if run.smsc_tls and run.smsc is not None else None
        ip = client_tls(run.ca) if run.ip_tls and run.ip_server is not None else None
    except TlsError as exc:
        raise CommandError(f"--ca: {exc}") from None
    return smsc, ip


def _ip_server_url(args: argparse.Namespace) -> str:
    """The IP server's database: ``--database-url``, or SQLite in ``--data-dir``."""
    from receipt_server.store import sqlite_url

    from .config.options import option
    from .config.values import DATABASE_URL
    from .startup import database_url

    url = option(args, "--database-url", DATABASE_URL, None)
    return database_url(url, args.data_dir, sqlite_url)


def _ip_origins(url: str | None) -> Any:
    from .startup import Origins

    names = {"data_dir": "--data-dir", "database_url": "--database-url", "ip_server": "--listen"}
    return Origins(names, url)


def _ip_store(args: argparse.Namespace) -> Any:
    """The IP server's store for a tool (register, unbind): no thread, its
    Deferreds fire at once; a database that cannot be used is one line."""
    from receipt_server.store import ReceiptStore
    from storage import StorageError

    try:
        return ReceiptStore.open(_ip_server_url(args), threaded=False)
    except StorageError as exc:
        raise _ip_origins(args.database_url).explain(exc) from None


def _run_ip_server(args: argparse.Namespace) -> int:
    from receipt_server.server import ReceiptServerService

    from . import traffic
    from .config import options
    from .errors import CommandError
    from .network import scheme, tls_mark
    from .serve import Running, serve
    from .startup import database_url

    run = options.ip_server_run(args)
    if run.node is not None and not (run.database_url or "").startswith("postgresql"):
        raise CommandError("--node: a cluster node needs a postgresql+psycopg:// --database-url", 2)
    tls_auto = getattr(args, "tls", None) == "auto"
    listen, certificates = _tls_listener(run.server.listen, tls_auto, run.data_dir)
    metrics = run.metrics and _tls_listener(run.metrics, tls_auto, run.data_dir)[0]
    logs.configure(args)

    async def start(running: Running) -> list[str]:
        from receipt_server.store import sqlite_url

        service = ReceiptServerService(
            database_url(run.database_url, run.data_dir, sqlite_url),
            address=listen,
            rate=run.server.rate,
            burst=run.server.burst,
            retention=run.server.retention(),
            login_deadline=run.server.login_deadline,
            query_timeout=run.server.query_timeout,
            metrics_address=metrics,
            node=run.node,
            node_lease=run.node_lease,
        )
        running.start(service)
        assert service.listening is not None
        traffic.follow(service.listening.factory.watchers, traffic.IP_SERVER)
        host, port = service.listening.address
        lines = [*certificates, f"ip server: on {host}:{port}{tls_mark(listen)}"]
        if service.listening.cluster is not None:  # up once it hears the other nodes
            await service.listening.cluster.started
            lines.append(f"ip server: node {run.node} of the cluster on its database")
        if service.metrics_url is not None:
            url = service.metrics_url.replace("http:", f"{scheme(metrics)}:", 1)
            lines.append(f"ip server: metrics on {url}")
        return lines

    return serve(start, _ip_origins(run.database_url))


def _register(args: argparse.Namespace) -> int:
    from twisted.python.failure import Failure

    from handset.phone import number_of
    from handset.service import Credentials
    from ipwire.sealed import DeviceKey
    from pdu import PDUError

    from .errors import CommandError
    from .startup import data_dir

    if args.out is not None:  # before registering: no device without its credentials
        data_dir(args.out.parent, "--out")
    # The device's key pair is made here on its behalf (the file is what the
    # device keeps); only the public half goes into the server's database.
    key = DeviceKey.generate()
    store = _ip_store(args)
    outcome: list[Any] = []
    try:
        msisdn = number_of(args.msisdn)  # as the handset will name itself
        account = args.account or msisdn  # a companion joins its phone's account
        store.register_device(msisdn, account, args.kind, public_key=key.public).addBoth(
            outcome.append
        )
    except (ValueError, PDUError) as exc:
        outcome.append(Failure(exc))
    finally:
        store.close()
    if isinstance(outcome[0], Failure):
        print(f"error: {outcome[0].getErrorMessage()}", file=sys.stderr)
        return 2
    credentials = Credentials(outcome[0].device_id, outcome[0].secret, key.to_text())
    if args.out is not None:
        try:
            credentials.save(args.out)
        except OSError as exc:
            raise CommandError(f"--out: cannot write {exc.filename} ({exc.strerror})") from None
    print(json.dumps({"device_id": credentials.device_id, "secret": credentials.secret,
                      "private_key": credentials.private_key}))  # fmt: skip
    return 0


def _unbind(args: argparse.Namespace) -> int:
    store = _ip_store(args)
    outcome: list[Any] = []
    try:
        store.unbind(args.device_id).addBoth(outcome.append)
    finally:
        store.close()
    if outcome[0] is None:
        print(f"error: no bound device {args.device_id}", file=sys.stderr)
        return 1
    if not hasattr(outcome[0], "device_id"):
        print(f"error: {outcome[0].getErrorMessage()}", file=sys.stderr)
        return 2
    print(f"unbound {args.device_id} ({outcome[0].kind} of {outcome[0].account})")
    return 0
