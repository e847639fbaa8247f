"""Handsets as Twisted services: one ``Phone`` on its own store, and the HTTP
control API over a set of them.  ``smsemu up`` runs several in the network's
process; ``smsemu handset run`` runs one against a network elsewhere.

A handset keeps what it owns in its data directory, as a phone keeps its flash:
``handset.sqlite3`` (messages, conversations, counters, settings) and
``ip-credentials.json`` (the device id and secret the IP server issued it)
and, a phone's, ``sim.json`` (its SIM: IMSI, K, OPc, SQN; ``handset.sim``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IListeningPort, IOpenSSLClientConnectionCreator
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure
from twisted.web.server import Site

from ipwire.sealed import DeviceKey
from txkit import listen
from txkit.bearer import TokenGuard, new_token, token_url
from txkit.limits import HTTP_IDLE
from txkit.private import write_private
from txkit.tls import is_tls

from .at_lines import AtLines, AtSettings
from .control import ControlApi
from .ip_client import IpClient, connect_ip, connect_push
from .phone import OnFeedback, OnPush, Phone, Watcher, number_of, owner_of
from .sim import PROFILE_FILE, SimCard, SimProfile
from .store import HandsetStore, Settings, sqlite_url

log = logging.getLogger(__name__)
#: Alembic keeps its migration context in a global: one migration at a time.
_MIGRATING = threading.Lock()


@dataclass(frozen=True)
class Credentials:
    """What the IP server issued this device, with which it logs in, and the
    device's own X25519 key (``ipwire.sealed``), whose public half the
    server holds so that the account's other devices can seal to it."""

    device_id: str
    secret: str
    private_key: str | None = None  # DeviceKey.to_text()

    @property
    def key(self) -> DeviceKey | None:
        return DeviceKey.from_text(self.private_key) if self.private_key else None

    @classmethod
    def load(cls, path: Path) -> Credentials | None:
        try:
            data = json.loads(path.read_text())
            key = data.get("private_key")
            credentials = cls(str(data["device_id"]), str(data["secret"]), key and str(key))
            _ = credentials.key  # a key that does not parse is a broken file
            return credentials
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}: not a credentials file ({exc})") from None

    def save(self, path: Path) -> None:
        """Written whole or not at all, readable by its owner only."""
        data = {"device_id": self.device_id, "secret": self.secret}
        if self.private_key is not None:
            data["private_key"] = self.private_key
        write_private(path, json.dumps(data))


def handset_dir(data_dir: Path, msisdn: str, companion: str | None = None) -> Path:
    """Where the handset ``msisdn`` (or its companion device) keeps its store
    under a network's data dir."""
    digits = number_of(msisdn).lstrip("+")
    return data_dir / "handsets" / (digits if companion is None else f"{digits}-{companion}")


def imsi_for(msisdn: str) -> str:
    """A test IMSI for a number (MCC 001, MNC 01: the test network of TS 23.003)."""
    return ("00101" + number_of(msisdn).lstrip("+")[-10:].rjust(10, "0"))[:15]


class HandsetService(Service):
    """One phone: its store in ``directory``, the radio link to ``smsc`` and,
    given ``ip_server`` and credentials, the session with the IP server and
    the push channel.  With ``companion`` (a name), a companion device of the
    account of ``msisdn``: IP only, no SIM.  ``smsc_tls`` and ``ip_tls``
    (``txkit.tls.client_tls``) put the links to the SMSC and the IP server
    on TLS, verifying the server's certificate."""

    def __init__(
        self,
        msisdn: str,
        directory: Path,
        *,
        smsc: tuple[str, int] | None,
        ip_server: tuple[str, int] | None = None,
        credentials: Credentials | None = None,
        settings: Settings | None = None,
        imsi: str | None = None,
        database_url: str | None = None,
        watchers: Sequence[Watcher] = (),
        companion: str | None = None,
        at: AtSettings | None = None,
        smsc_tls: IOpenSSLClientConnectionCreator | None = None,
        ip_tls: IOpenSSLClientConnectionCreator | None = None,
        reactor: Any = None,
        sim: SimProfile | None = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self.reactor = reactor
        self.msisdn = number_of(msisdn)
        self.imsi = imsi or imsi_for(self.msisdn)
        #: The SIM's subscription: given, or read at start from ``sim.json`` in
        #: ``directory`` (``smsemu subscriber add`` writes it).
        self.sim = sim
        self.directory = directory
        self.smsc = smsc
        self.ip_server = ip_server
        self.smsc_tls, self.ip_tls = smsc_tls, ip_tls
        self.credentials = credentials
        self.settings = settings
        self.database_url = database_url
        self.watchers = list(watchers)  # watching the phone from its first event
        self.companion = companion
        self.owner = owner_of(self.msisdn, companion)
        #: The AT port (a phone's only: a companion device has no modem).
        self.at = at if companion is None and at is not None and at.mode != "off" else None
        self.at_lines: AtLines | None = None
        self._openers: list[Deferred[Phone]] = []
        self._opening: Deferred[HandsetStore] | None = None
        self.store: HandsetStore | None = None
        self.phone: Phone | None = None

    def _ip(self) -> Any:
        if self.ip_server is None or self.credentials is None:
            return None
        host, port = self.ip_server
        credentials = self.credentials

        def connect(on_feedback: OnFeedback, on_push: OnPush) -> Deferred[Any]:
            d = connect_ip(self.reactor, host, port, credentials.device_id,
                           credentials.secret, on_feedback, on_push, self.ip_tls)  # fmt: skip
            return d.addCallback(self._check_identity)

        return connect

    def _push(self) -> Any:
        if self.ip_server is None or self.credentials is None:
            return None
        host, port = self.ip_server
        credentials = self.credentials

        def subscribe(on_push: OnPush) -> Deferred[Any]:
            return connect_push(self.reactor, host, port, credentials.device_id,
                                credentials.secret, on_push, self.ip_tls)  # fmt: skip

        return subscribe

    def _check_identity(self, client: IpClient) -> IpClient:
        """The IP server knows the device by its MSISDN: credentials of another
        number would make every response forbidden, and the feedback for this
        phone would go elsewhere.  Refuse them loudly instead."""
        login = client.login_ok
        if login is not None and login.msisdn != self.msisdn:
            client.close()
            log.error(
                "%s: the IP credentials are those of %s (device %s): not logging in with them",
                self.msisdn,
                login.msisdn,
                login.device,
            )
            raise ValueError(f"IP credentials of {login.msisdn}, not {self.msisdn}")
        return client

    def startService(self) -> None:
        super().startService()
        #: Fires with the phone once its store is open (and migrated, on a
        #: thread: the reactor may be serving others meanwhile) and it is
        #: attached and, with an IP server, logged in.
        self.ready: Deferred[Phone] = Deferred.fromCoroutine(self._start())
        self.ready.addBoth(self._settle_openers)

    def opened(self) -> Deferred[Phone]:
        """Fires with the phone once it exists (its store and its AT port
        open), before it is attached; fails as ``ready`` does before that."""
        if self.phone is not None and (self.at is None or self.at_lines is not None):
            return succeed(self.phone)
        d: Deferred[Phone] = Deferred()
        self._openers.append(d)
        return d

    def _opened(self, phone: Phone) -> None:
        openers, self._openers = self._openers, []
        for d in openers:
            d.callback(phone)

    def _settle_openers(self, result: object) -> object:
        openers, self._openers = self._openers, []
        for d in openers:
            if isinstance(result, Phone):
                d.callback(result)
            else:
                d.errback(result if isinstance(result, Failure) else None)
        return result

    async def _start(self) -> Phone:
        url = self.database_url or sqlite_url(self.directory / "handset.sqlite3")

        profile_path = self.directory / PROFILE_FILE

        def open_store() -> HandsetStore:
            self.directory.mkdir(parents=True, exist_ok=True)
            if self.sim is None and self.companion is None:
                self.sim = SimProfile.load(profile_path)
            with _MIGRATING:
                return HandsetStore.open(url, self.owner, self.reactor)

        self._opening = deferToThread(open_store)
        self.store = await self._opening
        if not self.running:  # stopped meanwhile: _stop closes the store
            raise RuntimeError(f"handset {self.msisdn} stopped while starting")
        sim = None
        if self.sim is not None:
            if self.sim.msisdn != self.msisdn:
                raise ValueError(f"{profile_path}: the SIM of {self.sim.msisdn}, not {self.msisdn}")
            self.imsi = self.sim.imsi
            sim = SimCard(self.sim, profile_path)
        phone = self.phone = Phone(
            self.imsi,
            self.msisdn,
            self.store,
            self.settings,
            self.reactor,
            smsc=self.smsc,
            ip=self._ip(),
            push=self._push(),
            companion=self.companion,
            key=self.credentials.key if self.credentials is not None else None,
            capacity=self.at.sim.capacity if self.at is not None else None,
            sim=sim,
            smsc_tls=self.smsc_tls,
        )
        for watcher in self.watchers:
            phone.watch(watcher)
        if self.at is not None:
            self.at_lines = AtLines(phone, self.at, self.reactor)
            self.at_lines.open()
            phone.at.update(self.at_lines.where)
        self._opened(phone)
        up = [phone.wait_for("attached")] if self.smsc is not None else []
        if self._ip() is not None:
            up.append(phone.wait_for("ip up"))
        await phone.start()
        for d in up:
            await d
        return phone

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        if self.store is None and self._opening is not None:
            # Still opening its store: let that finish (it is quick), then close it.
            with contextlib.suppress(Exception):
                await self._opening
        if self.at_lines is not None:
            self.at_lines.close()
        if self.phone is not None:
            await self.phone.stop()
        if self.store is not None:
            await self.store.close()


class ControlService(Service):
    """The HTTP control API (handset.control) over ``phones``, listening on
    ``address``: an endpoint string (``tcp:7190``, ``127.0.0.1:7190``; see
    ``txkit.listen``)."""

    def __init__(
        self,
        phones: Mapping[str, Phone],
        address: str,
        reactor: Any = None,
        *,
        token: str | None = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self.reactor = reactor
        self.phones = phones
        self.address = address
        #: The bearer token every route needs (``txkit.bearer``): the caller's
        #: (``smsemu`` keeps one in the data directory), else one for this run.
        self.token = token or new_token()
        self.listening: IListeningPort | None = None

    @property
    def port(self) -> int:
        return self.listening.getHost().port if self.listening is not None else 0  # type: ignore[attr-defined]

    @property
    def host(self) -> str:
        """The address it listens on (as the URL to print names it)."""
        return self.listening.getHost().host if self.listening is not None else ""  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        """The API's URL with its token, as printed (it works as is)."""
        return token_url(self.host, self.port, self.token, "/handsets", tls=is_tls(self.address))

    def startService(self) -> None:
        super().startService()
        api = TokenGuard(ControlApi(self.phones, self.reactor), self.token, self.reactor)
        site = Site(api, timeout=HTTP_IDLE)
        site.noisy = False
        try:  # a port in use: txkit.ListenError, named "control"
            self.listening = listen(self.reactor, self.address, site, name="control")
        except BaseException:
            super().stopService()
            raise

    def stopService(self) -> Deferred[None]:
        super().stopService()
        listening, self.listening = self.listening, None
        stopped = listening.stopListening() if listening is not None else None
        return stopped if stopped is not None else succeed(None)
