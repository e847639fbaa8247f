"""``smsemu smsc`` and ``smsemu up``: run the network's services.

Options come from the command line over a TOML file (``--config``) whose
keys have the same names (``[smsc]`` table), read by ``smsemu.config``.
Ports may be 0 to take free ones; the lines printed at start say where each
service listens.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from handset.phone import Phone
from handset.sealed import DeviceKey
from handset.service import (
    ControlService,
    Credentials,
    HandsetService,
    handset_dir,
)
from receipt_server.server import ReceiptServerFactory, ReceiptServerService
from receipt_server.store import ReceiptStore
from receipt_server.store import sqlite_url as receipt_sqlite_url
from smsc.service import SmscService
from smsc.smpp.gateway import SmppGateway
from smsc.store import sqlite_url

from .config import DEFAULT_HANDSETS, Config, options

log = logging.getLogger(__name__)


def add_parsers(sub: Any) -> None:
    for name, help_ in (
        ("smsc", "run the SMSC alone"),
        ("up", "run the whole network in one process: SMSC, IP server, handsets"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--config", type=Path, help="TOML file ([smsc], [ip_server], [[handset]])")
        p.add_argument("--data-dir", type=Path, help="where SQLite lives (default ./smsemu-data)")
        p.add_argument("--database-url", help="a SQLAlchemy URL, e.g. postgresql+psycopg://...")
        p.add_argument("--link", help="radio link HOST:PORT or endpoint (127.0.0.1:7101)")
        p.add_argument("--admin", help="admin API HOST:PORT or endpoint (127.0.0.1:7180)")
        p.add_argument("--smsc-address", help="the SMSC's own number (+15550000000)")
        p.add_argument("--unknown-recipient", choices=["queue", "reject"])
        p.add_argument("--validity", help="default validity in hours (48)")
        p.add_argument("--smpp", help="SMPP server HOST:PORT or endpoint (127.0.0.1:2775)")
        if name == "up":
            p.add_argument("--ip-server", help="IP server HOST:PORT or endpoint (127.0.0.1:7102)")
            p.add_argument(
                "--control", help="handset control API HOST:PORT or endpoint (127.0.0.1:7190)"
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
                help="the IP server keeps copies of messages this young (30; 0: none)",
            )
            p.add_argument("--history-count", help="... and at most this many per account (1000)")
        p.set_defaults(run=run if name == "smsc" else run_up)


def _data_dir_url(config: Config, sqlite: Callable[[Path], str]) -> str:
    url = config.smsc.database_url
    if url is None:
        data_dir = config.smsc.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        url = str(sqlite(data_dir))
    return url


def build_smsc(config: Config) -> SmscService:
    return SmscService(
        config.smsc.core(),
        _data_dir_url(config, sqlite_url),
        link=config.smsc.link,
        admin=config.smsc.admin,
        smpp=config.smsc.smpp,
        smpp_config=config.smpp,
    )


def _stop_all(services: list[Service]) -> Deferred[None]:
    """Stop the services one after another, the last started first: handsets
    before the servers they talk to."""

    async def stop() -> None:
        for service in reversed(services):
            stopped = service.stopService()
            if stopped is not None:
                await stopped

    return Deferred.fromCoroutine(stop())


def _serve(services: list[Service], lines: list[str]) -> int:
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
    config = options.network(args)
    _logging()
    service = build_smsc(config)
    service.startService()
    return _serve([service], _smsc_lines(service))


def run_up(args: argparse.Namespace) -> int:
    """The SMSC, the IP server, the handsets of the config and their control API."""
    from twisted.internet import reactor

    config = options.network(args, up=True)
    _logging()
    smsc = build_smsc(config)
    smsc.startService()
    ip_server = config.ip_server
    ip = ReceiptServerService(
        _data_dir_url(config, receipt_sqlite_url),
        address=ip_server.listen,
        rate=ip_server.rate,
        burst=ip_server.burst,
        retention=ip_server.retention(),
        query_timeout=ip_server.query_timeout,
    )
    ip.startService()
    store, listening = ip.store, ip.listening
    assert store is not None and listening is not None
    smsc.extra_metrics.include(ip.metrics.registry)  # one /metrics for the network
    if smsc.gateway is not None:
        report_reads(listening.factory, smsc.gateway)
    data_dir = config.smsc.data_dir
    services: list[Service] = [smsc, ip]
    phones: dict[str, Phone] = {}
    lines = [*_smsc_lines(smsc), f"ip server: on {listening.address[0]}:{ip.port}"]

    async def start_handsets() -> None:
        for entry in config.handsets:
            directory = handset_dir(data_dir, entry.msisdn)
            credentials = await provision(store, entry.msisdn, directory)
            service = HandsetService(
                entry.msisdn,
                directory,
                smsc=("127.0.0.1", smsc.link_port),
                ip_server=("127.0.0.1", ip.port),
                credentials=credentials,
                imsi=entry.imsi,
            )
            service.startService()
            services.append(service)
            phone = await service.ready  # attached and logged in: usable once listed
            phones[service.msisdn] = phone
            if entry.changes():
                await phone.configure(**entry.changes())
            lines.append(
                f"handset: {service.msisdn} ({phone.settings.carrier.value}, "
                f"receipts {'on' if phone.settings.receipts else 'off'}, "
                f"IP path {phone.settings.ip_path.value})"
            )
        for companion in config.companions:
            directory = handset_dir(data_dir, companion.msisdn, companion.name)
            credentials = await provision(
                store, companion.msisdn, directory, companion=companion.name
            )
            service = HandsetService(
                companion.msisdn,
                directory,
                smsc=None,
                ip_server=("127.0.0.1", ip.port),
                credentials=credentials,
                companion=companion.name,
            )
            service.startService()
            services.append(service)
            phone = await service.ready
            phone.auto_login = companion.auto_login
            phones[phone.owner] = phone
            lines.append(f"companion: {phone.owner} (device {credentials.device_id})")
        control = ControlService(phones, config.control.listen)
        control.startService()
        services.append(control)
        lines.append(f"handsets: control API on http://{control.host}:{control.port}")

    def started(_: object) -> None:
        for line in lines:
            print(line, flush=True)
        print("press Ctrl-C to stop", flush=True)

    def failed(failure: Failure) -> None:
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
    store: ReceiptStore, msisdn: str, directory: Path, *, companion: str | None = None
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
