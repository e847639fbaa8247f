"""The TOML file of ``--config``: one frozen dataclass per table, read by
``load`` with every key checked.

Tables: ``[smsc]`` (the options of ``smsemu smsc``; ``data-dir`` and
``data_dir`` are both accepted there), ``[smpp]`` (``config.smpp``),
``[ip_server]``, ``[control]``, ``[limits]``, ``[[handset]]``, ``[[companion]]``
and ``[[subscriber]]``.  Each service's table may have ``tls = { cert, key }``
(``config.tls``).
Addresses are endpoint strings: ``HOST:PORT`` is kept working and becomes
``tcp:PORT:interface=HOST``; an integer is not taken for a port.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from handset.at_lines import MODES, AtSettings
from handset.phone import PhoneError, number_of, owner_of
from handset.sim import Sim
from handset.store import IpPath
from ipwire.server_session import LOGIN_DEADLINE
from pdu import PDUError
from pdu.message_number import Carrier
from radiolink.auth import keys_from_hex
from receipt_server.server import DEFAULT_BURST, DEFAULT_QUERY_TIMEOUT, DEFAULT_RATE
from receipt_server.store import Retention
from smsc.core import SmscConfig, zone_of_now
from smsc.smpp.gateway import SmppConfig
from smsc.subscriptions import Provisioned
from txkit.limits import LABELS as LISTENERS
from txkit.limits import configure as configure_limits
from txkit.tls import TlsFiles

from .. import defaults
from .smpp import default_smpp, smpp
from .tls import tls_table
from .values import (
    BOOLEAN,
    DATABASE_URL,
    ENDPOINT,
    SECONDS,
    STRING,
    ConfigError,
    Kind,
    Table,
    Wrong,
    choice,
    number,
    one_of,
    whole,
)

#: Hours and days: numbers, never negative (0: expire at once, keep none).
HOURS = number(0, what="a number of hours")
DAYS = number(0, what="a number of days")
#: The IP server's rate limit, and its history count (0: keep none).
RATE = number(0, above=True)
BURST = whole(1)
COUNT = whole(0)
UNKNOWN_RECIPIENT = one_of("queue", "reject")
#: The AT port of a phone (docs/at.md): which lines, and the SIM behind it.
AT_MODE = one_of(*MODES)
SMS_CAPACITY = whole(1, 9999)


def _digits(low: int, high: int) -> Callable[[object], str]:
    def check(value: object) -> str:
        text = STRING.check(value)
        if not (low <= len(text) <= high and text.isdigit()):
            raise Wrong("")
        return text

    return check


PIN: Kind[str] = Kind("a SIM PIN of 4 to 8 digits, as a string", _digits(4, 8))
IMEI: Kind[str] = Kind("an IMEI of 15 digits, as a string", _digits(15, 15))


def _msisdn(value: object) -> str:
    """A handset's number as the network keys it; digits only, as the IP
    server takes them."""
    try:
        msisdn = number_of(STRING.check(value))
    except (ValueError, PDUError) as exc:
        raise Wrong(f": {exc}") from None
    if not re.fullmatch(r"\+?\d{1,20}", msisdn):
        raise Wrong("")
    return msisdn


MSISDN: Kind[str] = Kind("a phone number like '+15550001001'", _msisdn)


@dataclass(frozen=True, slots=True)
class SmscSettings:
    """``[smsc]``, and the options of ``smsemu smsc`` of the same names."""

    data_dir: Path = defaults.DATA_DIR
    database_url: str | None = None  # a SQLAlchemy URL instead of SQLite in data_dir
    link: str = defaults.LINK
    admin: str = defaults.ADMIN
    smpp: str = defaults.SMPP  # ``[smpp] listen`` too
    smsc_address: str = defaults.SMSC_ADDRESS
    unknown_recipient: str = "queue"  # or "reject"
    validity: float = defaults.VALIDITY_HOURS  # for a message with no TP-VP
    tls: TlsFiles | None = None  # the radio link's and the admin API's (docs/tls.md)
    smpp_tls: TlsFiles | None = None  # ``[smpp] tls``
    attach_timeout: float = SmscConfig.attach_timeout  # seconds a radio link has to attach
    metrics_public: bool = True  # the admin API's /metrics served without its token
    #: Attach anyone as any number, without SIM authentication (docs/radio-link.md).
    open_attach: bool = False
    #: This SMSC as node ``node`` of a cluster on PostgreSQL (docs/scaling.md),
    #: taken for dead ``lease`` seconds after its last heartbeat.
    node: str | None = None
    lease: float = 5.0

    def core(self) -> SmscConfig:
        """The SMSC core's settings (its zone: this machine's, now)."""
        return SmscConfig(
            address=self.smsc_address,
            unknown_recipient=self.unknown_recipient,
            default_validity=timedelta(hours=self.validity),
            attach_timeout=self.attach_timeout,
            zone=zone_of_now(),
            open_attach=self.open_attach,
        )


@dataclass(frozen=True, slots=True)
class IpServerSettings:
    """``[ip_server]``: where it listens, the device rate limit, the history
    window (docs/history-query.md §Window) and how long a relayed query waits."""

    listen: str = defaults.IP_SERVER
    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    history_days: float = defaults.HISTORY_DAYS
    history_count: int = defaults.HISTORY_COUNT
    query_timeout: float = DEFAULT_QUERY_TIMEOUT
    login_deadline: float = LOGIN_DEADLINE  # seconds a new connection has to log in
    tls: TlsFiles | None = None

    def retention(self) -> Retention:
        return Retention(timedelta(days=self.history_days), self.history_count)


@dataclass(frozen=True, slots=True)
class ControlSettings:
    """``[control]``: where the handsets' control API listens."""

    listen: str = defaults.CONTROL
    tls: TlsFiles | None = None


@dataclass(frozen=True, slots=True)
class HandsetEntry:
    """A ``[[handset]]``.  Only the settings it names are applied, over what
    the handset has stored: a choice its user made through the control API is
    kept otherwise."""

    msisdn: str
    imsi: str | None = None
    carrier: Carrier | None = None
    receipts: bool | None = None
    ip_path: IpPath | None = None
    read_on_view: bool | None = None
    at: str | None = None  # handset.at_lines.MODES; None: the command's default
    at_link: Path | None = None
    at_tcp: str | None = None
    pin: str | None = None
    imei: str | None = None
    sms_capacity: int | None = None

    def at_settings(self, default_mode: str = "pty") -> AtSettings:
        """Its AT port: the lines ``at`` names (else ``default_mode``), the SIM."""
        d = Sim()
        sim = Sim(self.imei, self.pin, self.sms_capacity or d.capacity)
        return AtSettings(self.at or default_mode, self.at_link, self.at_tcp, sim)

    def changes(self) -> dict[str, Any]:
        """What ``Phone.configure`` is to apply."""
        named = {
            "carrier": self.carrier,
            "receipts": self.receipts,
            "ip_path": self.ip_path,
            "read_on_view": self.read_on_view,
        }
        return {k: v for k, v in named.items() if v is not None}


@dataclass(frozen=True, slots=True)
class CompanionEntry:
    """A ``[[companion]]``: an IP-only device of the account of ``msisdn``."""

    msisdn: str
    name: str
    auto_login: bool = True  # log in when a login indication comes

    def __post_init__(self) -> None:
        owner_of(self.msisdn, self.name)  # PhoneError: not a companion name


@dataclass(frozen=True, slots=True)
class LimitsSettings:
    """``[limits]``: the connections the process may hold (default: from its
    descriptor limit), what each listener keeps for itself whatever the
    others do, a cap per listener (``ip_server = 500``), and the listen
    backlog of TCP and TLS listeners (``backlog = 4096``); txkit.limits."""

    connections: int | None = None
    reserve: int | None = None
    caps: tuple[tuple[str, int], ...] = ()
    backlog: int | None = None

    def apply(self) -> None:
        """Before the first listener starts."""
        configure_limits(self.connections, self.reserve, dict(self.caps), self.backlog)


@dataclass(frozen=True)
class Config:
    """The whole file (defaults where it is silent); ``source`` is its path."""

    source: Path | None = None
    smsc: SmscSettings = SmscSettings()
    smpp: SmppConfig = field(default_factory=default_smpp)
    ip_server: IpServerSettings = IpServerSettings()
    control: ControlSettings = ControlSettings()
    handsets: tuple[HandsetEntry, ...] = ()
    companions: tuple[CompanionEntry, ...] = ()
    limits: LimitsSettings = LimitsSettings()
    #: ``[[subscriber]]``: SIMs the SMSC is provisioned with at start.
    subscribers: tuple[Provisioned, ...] = ()


def load(path: Path) -> Config:
    """The config in ``path``; ConfigError names the file, the key and what
    was expected."""
    source = str(path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(source, "file", exc.strerror or str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "file", f"not TOML: {exc}") from None
    top = Table(data, source, "")
    smsc = _smsc(top.table("smsc", hyphens=True))
    smpp_table = top.table("smpp")
    smpp_tls = tls_table(smpp_table)
    smpp_config, smpp_listen = smpp(smpp_table)
    smsc = replace(smsc, smpp=smpp_listen or smsc.smpp, smpp_tls=smpp_tls)
    config = Config(
        source=path,
        smsc=smsc,
        smpp=smpp_config,
        ip_server=_ip_server(top.table("ip_server")),
        control=_control(top.table("control")),
        handsets=tuple(handset(t) for t in top.tables("handset")),
        companions=tuple(companion(t) for t in top.tables("companion")),
        limits=_limits(top.table("limits")),
        subscribers=tuple(subscriber(t) for t in top.tables("subscriber")),
    )
    top.done()
    return config


def _smsc(table: Table) -> SmscSettings:
    d = SmscSettings()
    settings = SmscSettings(
        data_dir=Path(table.take("data_dir", STRING, str(d.data_dir))),
        database_url=table.take("database_url", DATABASE_URL, d.database_url),
        link=table.take("link", ENDPOINT, d.link),
        admin=table.take("admin", ENDPOINT, d.admin),
        smpp=table.take("smpp", ENDPOINT, d.smpp),
        smsc_address=table.take("smsc_address", STRING, d.smsc_address),
        unknown_recipient=table.take("unknown_recipient", UNKNOWN_RECIPIENT, d.unknown_recipient),
        validity=table.take("validity", HOURS, d.validity),
        tls=tls_table(table),
        attach_timeout=table.take("attach_timeout", SECONDS, d.attach_timeout),
        metrics_public=table.take("metrics_public", BOOLEAN, d.metrics_public),
        open_attach=table.take("open_attach", BOOLEAN, d.open_attach),
    )
    table.done()
    return settings


def _ip_server(table: Table) -> IpServerSettings:
    d = IpServerSettings()
    settings = IpServerSettings(
        listen=table.take("listen", ENDPOINT, d.listen),
        rate=table.take("rate", RATE, d.rate),
        burst=table.take("burst", BURST, d.burst),
        history_days=table.take("history_days", DAYS, d.history_days),
        history_count=table.take("history_count", COUNT, d.history_count),
        query_timeout=table.take("query_timeout", SECONDS, d.query_timeout),
        login_deadline=table.take("login_deadline", SECONDS, d.login_deadline),
        tls=tls_table(table),
    )
    table.done()
    return settings


def _limits(table: Table) -> LimitsSettings:
    caps = ((name, table.take(name, whole(1), None)) for name in LISTENERS)
    settings = LimitsSettings(
        connections=table.take("connections", whole(1), None),
        reserve=table.take("reserve", whole(0), None),
        backlog=table.take("backlog", whole(1, 65535), None),
        caps=tuple((name, cap) for name, cap in caps if cap is not None),
    )
    table.done()
    return settings


def _control(table: Table) -> ControlSettings:
    listen = table.take("listen", ENDPOINT, ControlSettings().listen)
    settings = ControlSettings(listen, tls_table(table))
    table.done()
    return settings


def handset(table: Table) -> HandsetEntry:
    entry = HandsetEntry(
        msisdn=table.need("msisdn", MSISDN),
        imsi=table.take("imsi", STRING, None),
        carrier=table.take("carrier", choice(Carrier), None),
        receipts=table.take("receipts", BOOLEAN, None),
        ip_path=table.take("ip_path", choice(IpPath), None),
        read_on_view=table.take("read_on_view", BOOLEAN, None),
        at=table.take("at", AT_MODE, None),
        at_link=_path(table.take("at_link", STRING, None)),
        at_tcp=table.take("at_tcp", ENDPOINT, None),
        pin=table.take("pin", PIN, None),
        imei=table.take("imei", IMEI, None),
        sms_capacity=table.take("sms_capacity", SMS_CAPACITY, None),
    )
    table.done()
    return entry


def _hex_key(value: object) -> str:
    text = STRING.check(value)
    try:
        if len(bytes.fromhex(text)) == 16:
            return text
    except ValueError:
        pass
    raise Wrong("")


HEX_KEY: Kind[str] = Kind("32 hex digits (16 octets), as a string", _hex_key)
IMSI: Kind[str] = Kind("an IMSI of 6 to 15 digits, as a string", _digits(6, 15))


def subscriber(table: Table) -> Provisioned:
    """A ``[[subscriber]]``: a SIM a rig holds (``ki`` and ``opc`` or ``op``,
    in hex), provisioned in the SMSC at start."""
    msisdn = table.need("msisdn", MSISDN)
    imsi = table.need("imsi", IMSI)
    ki = table.need("ki", HEX_KEY)
    opc, op = table.take("opc", HEX_KEY, None), table.take("op", HEX_KEY, None)
    if (opc is None) == (op is None):
        raise table.error(table.path, "expected one of opc and op (32 hex digits each)")
    table.done()
    return Provisioned(imsi, "+" + msisdn.lstrip("+"), keys_from_hex(ki, opc, op))


def _path(text: str | None) -> Path | None:
    return Path(text) if text is not None else None


def companion(table: Table) -> CompanionEntry:
    msisdn = table.need("msisdn", MSISDN)
    name = table.need("name", STRING)
    try:
        entry = CompanionEntry(msisdn, name, table.take("auto_login", BOOLEAN, True))
    except PhoneError as exc:
        raise table.error(table.key("name"), str(exc)) from None
    table.done()
    return entry
