"""``smsemu smsc`` and ``smsemu up``: run the network's services.

Options come from the command line, or from a TOML file (``--config``) whose
keys have the same names (``[smsc]`` table).  Ports may be 0 to take free ones;
the lines printed at start say where each service listens.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from handset.phone import Phone, number_of, owner_of
from handset.sealed import DeviceKey
from handset.service import (
    ControlService,
    Credentials,
    HandsetService,
    handset_dir,
    shared_pool,
)
from handset.store import IpPath
from pdu import PDUError
from pdu.message_number import Carrier
from receipt_server.server import (
    DEFAULT_BURST,
    DEFAULT_QUERY_TIMEOUT,
    DEFAULT_RATE,
    ReceiptServerFactory,
    ReceiptServerService,
)
from receipt_server.store import Retention
from receipt_server.store import sqlite_url as receipt_sqlite_url
from smsc.core import SmscConfig, zone_of_now
from smsc.service import SmscService
from smsc.smpp.gateway import SmppConfig, SmppGateway
from smsc.store import sqlite_url

log = logging.getLogger(__name__)


def host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected HOST:PORT") from None


#: The handsets ``smsemu up`` runs when the config names none.
DEFAULT_HANDSETS = ("+15550001001", "+15550001002")


def add_parsers(sub: Any) -> None:
    for name, help_ in (
        ("smsc", "run the SMSC alone"),
        ("up", "run the whole network in one process: SMSC, IP server, handsets"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--config", type=Path, help="TOML file ([smsc], [ip_server], [[handset]])")
        p.add_argument("--data-dir", type=Path, help="where SQLite lives (default ./smsemu-data)")
        p.add_argument("--database-url", help="a SQLAlchemy URL, e.g. postgresql+psycopg://...")
        p.add_argument("--link", type=host_port, help="radio link HOST:PORT (127.0.0.1:7101)")
        p.add_argument("--admin", type=host_port, help="admin API HOST:PORT (127.0.0.1:7180)")
        p.add_argument("--smsc-address", help="the SMSC's own number (+15550000000)")
        p.add_argument("--unknown-recipient", choices=["queue", "reject"])
        p.add_argument("--validity", type=float, help="default validity in hours (48)")
        p.add_argument("--smpp", type=host_port, help="SMPP server HOST:PORT (127.0.0.1:2775)")
        if name == "up":
            p.add_argument(
                "--ip-server", type=host_port, help="IP server HOST:PORT (127.0.0.1:7102)"
            )
            p.add_argument(
                "--control", type=host_port, help="handset control API HOST:PORT (127.0.0.1:7190)"
            )
            p.add_argument(
                "--handset",
                action="append",
                metavar="MSISDN",
                help="run a handset with this number (repeatable; default: "
                + ", ".join(DEFAULT_HANDSETS)
                + ")",
            )
            p.add_argument(
                "--companion",
                action="append",
                metavar="NAME@MSISDN",
                help="run a companion device (IP only) of that phone's account (repeatable)",
            )
            p.add_argument(
                "--history-days",
                type=float,
                help="the IP server keeps copies of messages this young (30; 0: none)",
            )
            p.add_argument(
                "--history-count",
                type=int,
                help="... and at most this many per account (1000; 0: none)",
            )
        p.set_defaults(run=run if name == "smsc" else run_up)


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """Command line over config file over defaults."""
    found: dict[str, Any] = {
        "data_dir": "smsemu-data",
        "database_url": None,
        "link": "127.0.0.1:7101",
        "admin": "127.0.0.1:7180",
        "smsc_address": "+15550000000",
        "unknown_recipient": "queue",
        "validity": 48.0,
        "smpp": "127.0.0.1:2775",
        "smpp_config": {},
        "ip_server": "127.0.0.1:7102",
        "control": "127.0.0.1:7190",
        "rate": DEFAULT_RATE,
        "burst": DEFAULT_BURST,
        "history_days": 30.0,
        "history_count": 1000,
        "query_timeout": DEFAULT_QUERY_TIMEOUT,
        "handsets": [],
        "companions": [],
    }
    if args.config is not None:
        with args.config.open("rb") as f:
            config = tomllib.load(f)
        found.update({k.replace("-", "_"): v for k, v in config.get("smsc", {}).items()})
        found["smpp_config"] = config.get("smpp", {})
        if "listen" in found["smpp_config"]:
            found["smpp"] = found["smpp_config"]["listen"]
        ip = config.get("ip_server", {})
        keys = ("rate", "burst", "history_days", "history_count", "query_timeout")
        found.update({k: ip[k] for k in keys if k in ip})
        if "listen" in ip:
            found["ip_server"] = ip["listen"]
        if "listen" in config.get("control", {}):
            found["control"] = config["control"]["listen"]
        found["handsets"] = [_handset_entry(h) for h in config.get("handset", [])]
        found["companions"] = [_companion_entry(c) for c in config.get("companion", [])]
    for key in found:
        value = getattr(args, key, None)
        if value is not None:
            found[key] = value
    for number in getattr(args, "handset", None) or []:
        found["handsets"].append(_handset_entry({"msisdn": number}))
    for spec in getattr(args, "companion", None) or []:
        name, _, number = spec.partition("@")
        found["companions"].append(_companion_entry({"name": name, "msisdn": number}))
    for key in ("link", "admin", "ip_server", "control", "smpp"):
        if isinstance(found[key], str):
            found[key] = host_port(found[key])
    return found


def _handset_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A ``[[handset]]`` table: msisdn, and optionally imsi, carrier, receipts.
    Only the settings it names are applied, over what the handset has stored:
    a choice its user made through the control API is kept otherwise."""
    try:
        msisdn = number_of(str(entry["msisdn"]))
        changes: dict[str, Any] = {}
        if "carrier" in entry:
            changes["carrier"] = Carrier(entry["carrier"])
        if "receipts" in entry:
            if not isinstance(entry["receipts"], bool):
                raise ValueError("receipts must be true or false")
            changes["receipts"] = entry["receipts"]
        if "ip_path" in entry:
            changes["ip_path"] = IpPath(entry["ip_path"])
        unknown = sorted(set(entry) - {"msisdn", "imsi", "carrier", "receipts", "ip_path"})
        if unknown:
            raise ValueError(f"unknown keys {', '.join(unknown)}")
    except (KeyError, ValueError, PDUError) as exc:
        raise SystemExit(f"error: handset {entry!r}: {exc}") from None
    return {"msisdn": msisdn, "imsi": entry.get("imsi"), "settings": changes}


def _companion_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A ``[[companion]]`` table: ``name`` and the ``msisdn`` of the account's
    phone; optionally ``auto_login`` (log in when a login indication comes,
    true by default)."""
    try:
        msisdn = number_of(str(entry["msisdn"]))
        name = str(entry["name"])
        owner_of(msisdn, name)
        auto_login = entry.get("auto_login", True)
        if not isinstance(auto_login, bool):
            raise ValueError("auto_login must be true or false")
        unknown = sorted(set(entry) - {"msisdn", "name", "auto_login"})
        if unknown:
            raise ValueError(f"unknown keys {', '.join(unknown)}")
    except (KeyError, ValueError, PDUError) as exc:
        raise SystemExit(f"error: companion {entry!r}: {exc}") from None
    return {"msisdn": msisdn, "name": name, "auto_login": auto_login}


def _data_dir_url(found: dict[str, Any], sqlite: Any) -> str:
    url: str | None = found["database_url"]
    if url is None:
        data_dir = Path(found["data_dir"])
        data_dir.mkdir(parents=True, exist_ok=True)
        url = str(sqlite(data_dir))
    return url


def build_smsc(found: dict[str, Any]) -> SmscService:
    config = SmscConfig(
        address=found["smsc_address"],
        unknown_recipient=found["unknown_recipient"],
        default_validity=timedelta(hours=float(found["validity"])),
        zone=zone_of_now(),
    )
    try:
        smpp = SmppConfig.from_config(found["smpp_config"])
    except (ValueError, TypeError) as exc:
        raise SystemExit(f"error: [smpp]: {exc}") from None
    return SmscService(
        config,
        _data_dir_url(found, sqlite_url),
        link=_endpoint(found["link"]),
        admin=found["admin"] and _endpoint(found["admin"]),
        smpp=found["smpp"] and _endpoint(found["smpp"]),
        smpp_config=smpp,
    )


def _endpoint(address: tuple[str, int]) -> str:
    """A ``(host, port)`` as ``txkit.listen`` takes it (``HOST:PORT``)."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _stop_all(services: list[Any]) -> Deferred[Any]:
    """Stop the services one after another, the last started first: handsets
    before the servers they talk to."""

    async def stop() -> None:
        for service in reversed(services):
            await service.stopService()

    return Deferred.fromCoroutine(stop())


def _serve(services: list[Any], lines: list[str]) -> int:
    from twisted.internet import reactor

    for line in lines:
        print(line, flush=True)
    print("press Ctrl-C to stop", flush=True)
    reactor.addSystemEventTrigger("before", "shutdown", _stop_all, services)
    reactor.run()
    return 0


def _logging() -> None:
    import logging

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )


def _smsc_lines(service: SmscService) -> list[str]:
    admin = service.host(service.admin_port) if service.admin_address else ""
    lines = [
        f"smsc: radio link on {service.host(service.link_port)}:{service.link_port}",
        f"smsc: admin API on http://{admin}:{service.admin_port}",
        f"smsc: database {service.database_url.split('@')[-1]}",
    ]
    if service.smpp_address is not None:
        lines.append(f"smsc: SMPP on {service.host(service.smpp_port)}:{service.smpp_port}")
        for account in service.smpp_config.accounts:
            routes = ", ".join(account.routes) or "none"
            rate = f"{account.rate:g}/s" if account.rate else "no limit"
            lines.append(
                f"smpp: ESME system_id {account.system_id!r} password {account.password!r} "
                f"(MO routes: {routes}; rate: {rate})"
            )
    return lines


def run(args: argparse.Namespace) -> int:
    _logging()
    service = build_smsc(settings(args))
    service.startService()
    return _serve([service], _smsc_lines(service))


def run_up(args: argparse.Namespace) -> int:
    """The SMSC, the IP server, the handsets of the config and their control API."""
    from twisted.internet import reactor

    _logging()
    found = settings(args)
    smsc = build_smsc(found)
    smsc.startService()
    ip = ReceiptServerService(
        _data_dir_url(found, receipt_sqlite_url),
        address="{}:{}".format(*found["ip_server"]),
        rate=float(found["rate"]),
        burst=int(found["burst"]),
        retention=Retention(
            timedelta(days=float(found["history_days"])), int(found["history_count"])
        ),
        query_timeout=float(found["query_timeout"]),
    )
    ip.startService()
    assert ip.store is not None and ip.listening is not None
    if smsc.gateway is not None:
        report_reads(ip.listening.factory, smsc.gateway)
    handsets = found["handsets"] or [_handset_entry({"msisdn": m}) for m in DEFAULT_HANDSETS]
    data_dir = Path(found["data_dir"])
    services: list[Any] = [smsc, ip]
    phones: dict[str, Phone] = {}
    lines = [*_smsc_lines(smsc), f"ip server: on {ip.listening.address[0]}:{ip.port}"]

    pool = shared_pool(reactor)

    async def start_handsets() -> None:
        for entry in handsets:
            directory = handset_dir(data_dir, entry["msisdn"])
            credentials = await provision(ip.store, entry["msisdn"], directory)
            service = HandsetService(
                entry["msisdn"],
                directory,
                smsc=("127.0.0.1", smsc.link_port),
                ip_server=("127.0.0.1", ip.port),
                credentials=credentials,
                imsi=entry["imsi"],
                pool=pool,
            )
            service.startService()
            services.append(service)
            phone = await service.ready  # attached and logged in: usable once listed
            phones[service.msisdn] = phone
            if entry["settings"]:
                await phone.configure(**entry["settings"])
            lines.append(
                f"handset: {service.msisdn} ({phone.settings.carrier.value}, "
                f"receipts {'on' if phone.settings.receipts else 'off'}, "
                f"IP path {phone.settings.ip_path.value})"
            )
        for entry in found["companions"]:
            directory = handset_dir(data_dir, entry["msisdn"], entry["name"])
            credentials = await provision(
                ip.store, entry["msisdn"], directory, companion=entry["name"]
            )
            service = HandsetService(
                entry["msisdn"],
                directory,
                smsc=None,
                ip_server=("127.0.0.1", ip.port),
                credentials=credentials,
                pool=pool,
                companion=entry["name"],
            )
            service.startService()
            services.append(service)
            phone = await service.ready
            phone.auto_login = entry["auto_login"]
            phones[phone.owner] = phone
            lines.append(f"companion: {phone.owner} (device {credentials.device_id})")
        control = ControlService(phones, "{}:{}".format(*found["control"]))
        control.startService()
        services.append(control)
        lines.append(f"handsets: control API on http://{found['control'][0]}:{control.port}")

    def started(_: object) -> None:
        for line in lines:
            print(line, flush=True)
        print("press Ctrl-C to stop", flush=True)

    def failed(failure: Any) -> None:
        print(f"error: {failure.getErrorMessage()}", file=sys.stderr, flush=True)
        reactor.stop()

    reactor.addSystemEventTrigger("before", "shutdown", _stop_all, services)
    Deferred.fromCoroutine(start_handsets()).addCallbacks(started, failed)
    reactor.run()
    return 0


def report_reads(factory: ReceiptServerFactory, gateway: SmppGateway) -> None:
    """SPEC §2's read receipts, reported to the ESME that sent the message
    when its SMPP config asks (``read_receipts``): the IP server and the SMSC
    meet here, in the process that runs both."""
    if gateway.config.read_receipts:
        factory.feedback_watchers.append(
            lambda sender, f: gateway.read(sender, f.receiver, f.message_number, f.status)
        )


async def provision(
    store: Any, msisdn: str, directory: Path, *, companion: str | None = None
) -> Credentials:
    """Bind the handset to its account on the IP server (the account of its
    MSISDN; a companion device binds to its phone's): the credentials and key
    it keeps, or new ones made now (the device's key pair is generated here,
    on the device's side, and only the public half is registered)."""
    path = directory / "ip-credentials.json"
    # File reads and the fsync of a save: on a thread, the reactor serves meanwhile.
    credentials = await deferToThread(Credentials.load, path)
    kind = "phone" if companion is None else "companion"
    if credentials is not None:
        known = await store.authenticate(credentials.device_id, credentials.secret)
        if known is None or known.msisdn != msisdn or known.kind != kind:
            # A new IP database (another --database-url, say): register again.
            log.warning("%s: the IP server does not know %s; registering anew", msisdn, path)
            credentials = None
        elif credentials.key is None:
            # Credentials from before device keys: bind a new device with one.
            log.warning("%s: %s has no device key; binding anew", msisdn, path)
            await store.unbind(credentials.device_id)
            credentials = None
    if credentials is None:
        key = DeviceKey.generate()
        # A device id people can read where results say which device they came from.
        device_id = f"{companion or 'phone'}-{msisdn.lstrip('+')}-{secrets.token_hex(3)}"
        registration = await store.register_device(
            msisdn, msisdn, kind, device_id=device_id, public_key=key.public
        )
        credentials = Credentials(registration.device_id, registration.secret, key.to_text())
        await deferToThread(credentials.save, path)
    return credentials
