"""The command line over the file over the defaults, for ``smsemu smsc``,
``smsemu up``, ``smsemu handset run`` and ``smsemu ip-server run``.

argparse hands over the text of each option; it is read here with the same
``Kind`` as the file's key, so ``--validity -5`` and ``validity = -5`` are
refused alike, with the option's name (``--validity: expected ...``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from handset.at_lines import AtSettings
from handset.phone import PhoneError, owner_of
from pdu.message_number import Carrier
from txkit.tls import TlsFiles, is_tls

from .. import defaults
from .file import (
    AT_MODE,
    BURST,
    COUNT,
    DAYS,
    HOURS,
    MSISDN,
    PIN,
    RATE,
    CompanionEntry,
    Config,
    ControlSettings,
    HandsetEntry,
    IpServerSettings,
    load,
)
from .tls import on_tls
from .values import ADDRESS, DATABASE_URL, ENDPOINT, SECONDS, ConfigError, Kind, Wrong

T = TypeVar("T")
D = TypeVar("D")


def option(args: argparse.Namespace, flag: str, kind: Kind[T], current: D) -> T | D:
    """The value of ``--flag`` read as ``kind``, or ``current`` if not given."""
    text = getattr(args, flag.lstrip("-").replace("-", "_"), None)
    return current if text is None else _text(flag, kind, text)


def network(args: argparse.Namespace, *, up: bool = False) -> Config:
    """``smsemu smsc`` (and, with ``up``, ``smsemu up``): ``--config`` read,
    then each option given replaces its key."""
    config = load(args.config) if args.config is not None else Config()
    s = config.smsc
    config = replace(
        config,
        smsc=replace(
            s,
            data_dir=args.data_dir if args.data_dir is not None else s.data_dir,
            database_url=option(args, "--database-url", DATABASE_URL, s.database_url),
            link=option(args, "--link", ENDPOINT, s.link),
            admin=option(args, "--admin", ENDPOINT, s.admin),
            smpp=option(args, "--smpp", ENDPOINT, s.smpp),
            smsc_address=args.smsc_address or s.smsc_address,
            unknown_recipient=args.unknown_recipient or s.unknown_recipient,
            validity=option(args, "--validity", HOURS, s.validity),
            open_attach=True if getattr(args, "open_attach", False) else s.open_attach,
            node=getattr(args, "node", None) or s.node,
            lease=getattr(args, "lease", None) or s.lease,
        ),
    )
    if not up:
        return config
    ip = config.ip_server
    handsets = config.handsets + tuple(
        HandsetEntry(_text("--handset", MSISDN, number)) for number in args.handset or ()
    )
    handsets = handsets or tuple(HandsetEntry(m) for m in defaults.HANDSETS)
    at = option(args, "--at", AT_MODE, None)
    if at is not None:
        handsets = tuple(replace(h, at=at) for h in handsets)
    return replace(
        config,
        ip_server=replace(
            ip,
            listen=option(args, "--ip-server", ENDPOINT, ip.listen),
            history_days=option(args, "--history-days", DAYS, ip.history_days),
            history_count=option(args, "--history-count", COUNT, ip.history_count),
        ),
        control=replace(
            config.control, listen=option(args, "--control", ENDPOINT, config.control.listen)
        ),
        handsets=handsets,
        companions=config.companions + tuple(_companion(c) for c in args.companion or ()),
    )


def secure(config: Config, auto: TlsFiles | None) -> Config:
    """Every listener of ``config`` that has TLS files (its table's ``tls``,
    else ``auto``'s of ``--tls auto``) on TLS; each settings' ``tls`` then
    names the files its listener serves (None: plain, or an ``ssl:`` string
    that names its own)."""
    s, ip, control = config.smsc, config.ip_server, config.control

    def files(spec: str | None, given: TlsFiles | None) -> TlsFiles | None:
        return None if spec is None or is_tls(spec) else given or auto

    smpp = s.smpp if s.smpp is None else on_tls(s.smpp, files(s.smpp, s.smpp_tls))
    return replace(
        config,
        smsc=replace(
            s,
            link=on_tls(s.link, files(s.link, s.tls)),
            admin=on_tls(s.admin, files(s.admin, s.tls)),
            smpp=smpp,
            tls=files(s.link, s.tls),
            smpp_tls=files(s.smpp, s.smpp_tls),
        ),
        ip_server=replace(
            ip, listen=on_tls(ip.listen, files(ip.listen, ip.tls)), tls=files(ip.listen, ip.tls)
        ),
        control=replace(
            control,
            listen=on_tls(control.listen, files(control.listen, control.tls)),
            tls=files(control.listen, control.tls),
        ),
    )


def _text(flag: str, kind: Kind[T], text: str) -> T:
    try:
        return kind.text(text)
    except Wrong as exc:
        raise ConfigError(None, flag, str(exc)) from None


def _companion(spec: str) -> CompanionEntry:
    """``--companion NAME@MSISDN``."""
    name, at, msisdn = spec.partition("@")
    if not at:
        raise ConfigError(None, "--companion", f"expected NAME@MSISDN, got {spec!r}")
    try:
        return CompanionEntry(_text("--companion", MSISDN, msisdn), name)
    except PhoneError as exc:
        raise ConfigError(None, "--companion", str(exc)) from None


@dataclass(frozen=True, slots=True)
class HandsetRun:
    """``smsemu handset run``: one handset, or a companion device (IP only),
    against an SMSC and an IP server elsewhere."""

    msisdn: str
    owner: str  # the MSISDN, or NAME@MSISDN for a companion
    companion: str | None
    imsi: str | None
    smsc: tuple[str, int] | None  # where the radio link is (not a companion's)
    ip_server: tuple[str, int] | None
    data_dir: Path
    credentials: Path
    control: str  # where its control API listens
    carrier: Carrier | None
    receipts: bool | None
    at: AtSettings | None = None  # its AT port (docs/at.md); None: a companion's, or off
    smsc_tls: bool = False  # the radio link on TLS (``tls:HOST:PORT``, ``--tls auto``)
    ip_tls: bool = False
    ca: Path = defaults.TLS_CA  # what the TLS links trust
    tls_auto: bool = False  # its control API on TLS, certificate in data_dir


def handset_run(args: argparse.Namespace) -> HandsetRun:
    msisdn = _text("--msisdn", MSISDN, args.msisdn)
    companion: str | None = args.companion
    try:
        owner = owner_of(msisdn, companion)
    except PhoneError as exc:
        raise ConfigError(None, "--companion", str(exc)) from None
    suffix = msisdn.lstrip("+") + (f"-{companion}" if companion else "")
    data_dir: Path = args.data_dir or Path(f"handset-{suffix}")
    tls_auto = getattr(args, "tls", None) == "auto"
    smsc, smsc_tls = (None, False) if companion else _remote(args, "--smsc", tls_auto)
    ip_server, ip_tls = _remote(args, "--ip-server", tls_auto)
    return HandsetRun(
        msisdn=msisdn,
        owner=owner,
        companion=companion,
        imsi=args.imsi,
        smsc=smsc,
        ip_server=ip_server,
        data_dir=data_dir,
        credentials=args.credentials or data_dir / "ip-credentials.json",
        control=option(args, "--control", ENDPOINT, ControlSettings().listen),
        carrier=Carrier(args.carrier) if args.carrier else None,
        receipts=None if args.receipts is None else args.receipts == "on",
        at=None if companion else _at_run(args),
        smsc_tls=smsc_tls,
        ip_tls=ip_tls,
        ca=args.ca or defaults.TLS_CA,
        tls_auto=tls_auto,
    )


def _remote(args: argparse.Namespace, flag: str, tls: bool) -> tuple[tuple[str, int] | None, bool]:
    """``HOST:PORT``, or ``tls:HOST:PORT`` for a link on TLS (as is every link
    with ``--tls auto``): where ``flag`` says to connect, and whether with TLS."""
    text: str | None = getattr(args, flag.lstrip("-").replace("-", "_"), None)
    if text is None:
        return None, False
    if text.startswith("tls:"):
        text, tls = text.removeprefix("tls:"), True
    return _text(flag, ADDRESS, text), tls


def _at_run(args: argparse.Namespace) -> AtSettings:
    """``--at``, ``--at-link``, ``--at-tcp``, ``--pin`` of ``handset run``."""
    link = getattr(args, "at_link", None)
    entry = HandsetEntry(
        "0",
        at=option(args, "--at", AT_MODE, None),
        at_link=Path(link) if link else None,
        at_tcp=option(args, "--at-tcp", ENDPOINT, None),
        pin=option(args, "--pin", PIN, None),
    )
    return entry.at_settings()


@dataclass(frozen=True, slots=True)
class IpServerRun:
    """``smsemu ip-server run``: the IP server alone."""

    server: IpServerSettings
    data_dir: Path
    database_url: str | None
    metrics: str | None = None  # where its /metrics listens; None: nowhere
    node: str | None = None  # its name as a node of a cluster on PostgreSQL
    node_lease: float = 5.0  # seconds a node is alive without renewing its lease


def _node_name(value: object) -> str:
    text = str(value)
    if not (0 < len(text) <= 64 and all(c.isalnum() or c in "-_." for c in text)):
        raise Wrong("")
    return text


#: A cluster node's name (issue 22).
NODE = Kind("a node name (1-64 letters, digits, '-', '_', '.')", _node_name)


def ip_server_run(args: argparse.Namespace) -> IpServerRun:
    d = IpServerSettings()
    server = IpServerSettings(
        listen=option(args, "--listen", ENDPOINT, d.listen),
        rate=option(args, "--rate", RATE, d.rate),
        burst=option(args, "--burst", BURST, d.burst),
        history_days=option(args, "--history-days", DAYS, d.history_days),
        history_count=option(args, "--history-count", COUNT, d.history_count),
        login_deadline=option(args, "--login-deadline", SECONDS, d.login_deadline),
        query_timeout=option(args, "--query-timeout", SECONDS, d.query_timeout),
    )
    return IpServerRun(
        server,
        args.data_dir,
        option(args, "--database-url", DATABASE_URL, None),
        option(args, "--metrics", ENDPOINT, None),
        option(args, "--node", NODE, None),
        option(args, "--node-lease", SECONDS, 5.0),
    )
