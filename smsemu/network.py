"""``smsemu smsc`` and ``smsemu up``: run the network's services.

Options (``smsemu.parsers``) come from the command line over a TOML file
(``--config``) whose keys have the same names (``[smsc]`` table), read by
``smsemu.config``.
Ports may be 0 to take free ones; the lines printed at start say where each
service listens.  A start that fails stops what it started and exits with
one line naming the option (``smsemu.serve``, ``smsemu.startup``).
"""

from __future__ import annotations

import argparse
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from twisted.internet.threads import deferToThread

from handset.control import ControlApi
from handset.phone import Phone
from handset.service import (
    ControlService,
    Credentials,
    HandsetService,
    handset_dir,
)
from ipwire.sealed import DeviceKey
from receipt_server.server import ReceiptServerFactory, ReceiptServerService
from receipt_server.store import ReceiptStore
from receipt_server.store import sqlite_url as receipt_sqlite_url
from smsc.capture import SmscTap
from smsc.service import SmscService
from smsc.smpp.gateway import EsmeAccount, SmppGateway
from smsc.store import sqlite_url
from smsc.subscriptions import Provisioned
from storage import safe_url
from txkit.private import password
from txkit.tls import client_tls, fingerprint, is_tls

from . import logs, traffic
from .capture_opts import capture_settings
from .config import Config, options
from .config.tls import auto, trusted
from .console import mount_console, mount_control
from .serve import Running, serve
from .startup import Origins, api_token, database_url, kept_secret, network_origins
from .startup import data_dir as make_dir
from .subscribers import provision_sim

log = logging.getLogger(__name__)


#: The account ``smsemu smsc`` makes when the config names none, and the file
#: under the data directory that keeps its generated password.
DEFAULT_SYSTEM_ID, ESME_PASSWORD_FILE = "esme", "esme-password"


def build_smsc(config: Config, origins: Origins, **capture: Any) -> SmscService:
    s = config.smsc
    url = database_url(s.database_url, s.data_dir, sqlite_url, origins.names["data_dir"])
    smpp_config = config.smpp
    if s.smpp is not None and not smpp_config.accounts:
        where = origins.names["data_dir"]
        secret = esme_password(make_dir(s.data_dir, where), where)
        smpp_config = replace(smpp_config, accounts=[EsmeAccount(DEFAULT_SYSTEM_ID, secret)])
    where = origins.names["data_dir"]
    token = api_token(make_dir(s.data_dir, where), where)
    service = SmscService(
        s.core(),
        url,
        link=s.link,
        admin=s.admin,
        smpp=s.smpp,
        smpp_config=smpp_config,
        admin_token=token,
        metrics_public=s.metrics_public,
        freeze_gc=True,
        node=s.node,
        lease=s.lease,
        **capture,
    )
    mount_console(service)
    return service


def esme_password(data_dir: Path, where: str) -> str:
    """The default ESME's password: generated on first start (8 characters, the
    most SMPP 3.4 allows), then the same at every start of this data dir."""
    return kept_secret(data_dir / ESME_PASSWORD_FILE, lambda: password(8), where)


#: What ``smsemu smsc`` and ``up`` say (and log) when the radio link is open.
OPEN_ATTACH_WARNING = (
    "smsc: WARNING: open attach: any handset may attach as any number, "
    "without SIM authentication (--open-attach)"
)


def secure(config: Config, args: argparse.Namespace, origins: Origins) -> tuple[Config, list[str]]:
    """``config`` with its listeners on TLS where asked (``--tls auto``, the
    tables' ``tls``; docs/tls.md), and the start-up lines that name each
    certificate served with its SHA-256 fingerprint, once."""
    files = None
    if getattr(args, "tls", None) == "auto":
        files = auto(config.smsc.data_dir, origins.names["data_dir"])
    config = options.secure(config, files)
    served = [config.smsc.tls, config.smsc.smpp_tls, config.ip_server.tls, config.control.tls]
    return config, certificate_lines([f.cert for f in served if f is not None])


def certificate_lines(certs: list[Path]) -> list[str]:
    """``tls: certificate PATH (SHA-256 AB:CD:...)``, once for each."""
    return [f"tls: certificate {c} (SHA-256 {fingerprint(c)})" for c in dict.fromkeys(certs)]


def tls_mark(spec: str | None) -> str:
    """What a start-up line adds to a TLS listener's address."""
    return " (TLS)" if is_tls(spec) else ""


def scheme(spec: str | None) -> str:
    """The URL scheme of an HTTP API listening on ``spec``."""
    return "https" if is_tls(spec) else "http"


def _smsc_lines(service: SmscService) -> list[str]:
    auth = "open (no SIM authentication)" if service.config.open_attach else "MILENAGE"
    link = f"{service.host(service.link_port)}:{service.link_port}"
    lines = [
        f"smsc: radio link on {link}{tls_mark(service.link_address)} (attach: {auth})",
        f"smsc: admin API on {service.admin_url}",
        f"console: {service.admin_url} (open it in a browser: docs/console.md)",
        f"smsc: database {safe_url(service.database_url)}",
    ]
    if service.node is not None:
        lines.append(f"smsc: cluster node {service.node.name} (lease {service.lease:g} s)")
    if service.config.open_attach:
        log.warning("%s", OPEN_ATTACH_WARNING)
        lines.append(OPEN_ATTACH_WARNING)
    if service.smpp_address is not None:
        smpp = f"{service.host(service.smpp_port)}:{service.smpp_port}"
        lines.append(f"smsc: SMPP on {smpp}{tls_mark(service.smpp_address)}")
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
    origins = network_origins(args, config)
    config, certificates = secure(config, args, origins)
    logs.configure(args)
    config.limits.apply()
    capture = capture_settings(args)

    async def start(running: Running) -> list[str]:
        service = build_smsc(config, origins, **capture)
        running.start(service)
        watch_smsc(service)
        if service.node is not None:  # joined, or refused: before saying it serves
            await service.ready
        await provision_config(service, config)
        return [*certificates, *_smsc_lines(service)]

    return serve(start, origins)


def run_up(args: argparse.Namespace) -> int:
    """The SMSC, the IP server, the handsets of the config and their control API;
    with ``--workers N`` (2 or more), N processes of each (``smsemu.cluster_up``)."""
    if (getattr(args, "workers", None) or 1) > 1:
        from .cluster_up import run_cluster

        return run_cluster(args)
    config = options.network(args, up=True)
    origins = network_origins(args, config, up=True)
    config, certificates = secure(config, args, origins)
    logs.configure(args)
    config.limits.apply()
    capture = capture_settings(args)
    data_dir = config.smsc.data_dir

    async def start(running: Running) -> list[str]:
        make_dir(data_dir, origins.names["data_dir"])  # the handsets' stores live there
        smsc = build_smsc(config, origins, **capture)
        running.start(smsc)
        watch_smsc(smsc)
        ip_server = config.ip_server
        ip = ReceiptServerService(
            database_url(config.smsc.database_url, data_dir, receipt_sqlite_url),
            address=ip_server.listen,
            rate=ip_server.rate,
            burst=ip_server.burst,
            retention=ip_server.retention(),
            query_timeout=ip_server.query_timeout,
            login_deadline=ip_server.login_deadline,
        )
        running.start(ip)
        store, listening = ip.store, ip.listening
        assert store is not None and listening is not None
        traffic.follow(listening.factory.watchers, traffic.IP_SERVER)
        listening.factory.watchers.add(smsc.events.watcher("ip"))
        sessions = listening.factory.sessions
        smsc.sections["devices"] = lambda: {
            msisdn: sorted(devices) for msisdn, devices in sorted(sessions.devices_of.items())
        }
        smsc.extra_metrics.include(ip.metrics.registry)  # one /metrics for the network
        if smsc.gateway is not None:
            report_reads(listening.factory, smsc.gateway)
        assert smsc.smsc is not None
        listening.factory.tap = SmscTap(smsc.smsc)  # its frames in the SMSC's capture
        # Every listener up before the handsets start: a port in use stops us early.
        phones: dict[str, Phone] = {}
        control = ControlService(phones, config.control.listen, token=smsc.admin_token)
        running.start(control)
        mount_control(smsc, ControlApi(phones, control.reactor))  # the console's way in
        smsc.listeners["IP server"] = smsc.where(listening.port.getHost(), ip_server.listen)
        assert control.listening is not None
        smsc.listeners["control API"] = smsc.where(control.listening.getHost(), control.address)
        where = f"{listening.address[0]}:{ip.port}{tls_mark(ip_server.listen)}"
        lines = [*certificates, *_smsc_lines(smsc), f"ip server: on {where}"]
        await provision_config(smsc, config)
        lines += await start_phones(
            running,
            config,
            phones,
            store=store,
            subscribe=smsc.smsc.store.provision,
            link_port=smsc.link_port,
            ip_port=ip.port,
            watch=lambda phone: phone.watch(smsc.events.watcher("handset", handset=phone.owner)),
        )
        lines.append(f"handsets: control API on {control.url}")
        return lines

    return serve(start, origins)


async def start_phones(
    running: Running,
    config: Config,
    phones: dict[str, Phone],
    *,
    store: ReceiptStore,
    subscribe: Callable[[Provisioned], Awaitable[object]],
    link_port: int,
    ip_port: int,
    watch: Callable[[Phone], object],
) -> list[str]:
    """The handsets and companions of ``config``, each provisioned (its SIM
    through ``subscribe``, its IP credentials in ``store``), started, and
    listed in ``phones`` once attached and logged in; their start-up lines."""
    lines: list[str] = []
    data_dir, ip_server = config.smsc.data_dir, config.ip_server
    rigs = {s.msisdn: s for s in config.subscribers}
    # The handsets dial 127.0.0.1 and verify what the listeners serve.
    smsc_ca = trusted(config.smsc.link, config.smsc.tls)
    ip_ca = trusted(ip_server.listen, ip_server.tls)
    smsc_tls = client_tls(smsc_ca) if smsc_ca is not None else None
    ip_tls = client_tls(ip_ca) if ip_ca is not None else None
    for entry in config.handsets:
        directory = handset_dir(data_dir, entry.msisdn)
        credentials = await provision(store, entry.msisdn, directory)
        rig = rigs.get("+" + entry.msisdn.lstrip("+"))
        sim = await provision_sim(subscribe, directory, entry.msisdn, entry.imsi,
                                      rig.keys if rig is not None else None)  # fmt: skip
        service = HandsetService(
            entry.msisdn,
            directory,
            smsc=("127.0.0.1", link_port),
            ip_server=("127.0.0.1", ip_port),
            credentials=credentials,
            imsi=sim.imsi,
            at=entry.at_settings(),
            sim=sim,
            smsc_tls=smsc_tls,
            ip_tls=ip_tls,
        )
        running.start(service)
        phone = await service.ready  # attached and logged in: usable once listed
        watch(phone)
        phones[service.msisdn] = phone
        if entry.changes():
            await phone.configure(**entry.changes())
        lines.append(
            f"handset: {service.msisdn} ({phone.settings.carrier.value}, "
            f"receipts {'on' if phone.settings.receipts else 'off'}, "
            f"IP path {phone.settings.ip_path.value})"
        )
        lines.extend(at_lines(service.msisdn, phone.at))
    for companion in config.companions:
        directory = handset_dir(data_dir, companion.msisdn, companion.name)
        credentials = await provision(store, companion.msisdn, directory, companion=companion.name)
        service = HandsetService(
            companion.msisdn,
            directory,
            smsc=None,
            ip_server=("127.0.0.1", ip_port),
            credentials=credentials,
            companion=companion.name,
            ip_tls=ip_tls,
        )
        running.start(service)
        phone = await service.ready
        phone.auto_login = companion.auto_login
        watch(phone)
        phones[phone.owner] = phone
        lines.append(f"companion: {phone.owner} (device {credentials.device_id})")
    return lines


async def provision_config(service: SmscService, config: Config) -> None:
    """The ``[[subscriber]]`` SIMs of the config, in the SMSC's subscriptions."""
    assert service.smsc is not None
    for sub in config.subscribers:
        await service.smsc.store.provision(sub)


def watch_smsc(service: SmscService) -> None:
    """The live log of the SMSC's (and its SMPP door's) events."""
    assert service.smsc is not None
    traffic.follow(service.smsc.watchers, traffic.SMSC)


def at_lines(msisdn: str, where: dict[str, str]) -> list[str]:
    """Where a phone's AT port is, for the start-up lines (docs/at.md)."""
    out = []
    if "pty" in where:
        link = f" (link {where['link']})" if "link" in where else ""
        out.append(f"handset: {msisdn} AT port {where['pty']}{link}")
    if "tcp" in where:
        out.append(f"handset: {msisdn} AT port tcp {where['tcp']}")
    return out


def report_reads(factory: ReceiptServerFactory, gateway: SmppGateway) -> None:
    """The read receipts of docs/read-receipts.md, reported to the ESME that sent the message
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
        known = await store.knows(credentials.device_id, credentials.secret)
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
