"""Subscribers: a SIM in two places, the SMSC's ``subscription`` table (the
AuC) and the handset's ``sim.json`` (the SIM), with the same K and OPc.

``smsemu subscriber add`` writes both, from the command line: the SMSC of the
data dir knows the SIM at the next ATTACH, running or not (it reads the table
at each one).  ``smsemu up`` does the same for each of its handsets at start
(``provision_handset``): keys generated on the first start, the same ever after.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from twisted.internet.threads import deferToThread

from handset.service import handset_dir, imsi_for
from handset.sim import PROFILE_FILE, SimProfile
from radiolink.auth import Keys, keys_from_hex
from smsc import subscriptions
from smsc.service import SmscService
from smsc.store import open_engine, sqlite_url
from smsc.subscriptions import Provisioned, ProvisionError
from storage import safe_url

from .config.file import MSISDN
from .config.options import option
from .config.values import DATABASE_URL
from .errors import CommandError
from .startup import database_url


def _provisioned(args: argparse.Namespace) -> Provisioned:
    msisdn = "+" + option(args, "--msisdn", MSISDN, "").lstrip("+")
    try:
        keys = keys_from_hex(args.ki, args.opc, args.op)
        return Provisioned(args.imsi or imsi_for(msisdn), msisdn, keys)
    except ValueError as exc:
        flag = {"K": "--ki", "OPc": "--opc", "OP": "--op", "IMSI": "--imsi"}
        name = str(exc).split(maxsplit=1)[0].rstrip(":")
        raise CommandError(f"{flag.get(name, '--msisdn')}: {exc}", 2) from None


def run_add(args: argparse.Namespace) -> int:
    from . import defaults

    sub = _provisioned(args)
    data_dir: Path = args.data_dir or defaults.DATA_DIR
    url = database_url(
        option(args, "--database-url", DATABASE_URL, None), data_dir, sqlite_url, "--data-dir"
    )
    directory = args.handset_dir or handset_dir(data_dir, sub.msisdn)
    sub = write_subscription(url, sub)
    path = directory / PROFILE_FILE
    SimProfile(sub.imsi, sub.msisdn, sub.keys, sub.sqn).save(path)
    print(f"subscriber {sub.msisdn}: IMSI {sub.imsi} in {safe_url(url)}")
    print(f"SIM profile: {path}")
    print(f"K {sub.keys.k.hex().upper()} OPc {sub.keys.opc.hex().upper()}")
    return 0


def ensure_profile(directory: Path, msisdn: str, imsi: str | None, keys: Keys | None) -> SimProfile:
    """The SIM in ``directory``: the one there, or a new one (``keys`` if
    given, else generated) written there.  Blocks: call it on a thread."""
    path = directory / PROFILE_FILE
    profile = SimProfile.load(path)
    if profile is not None and profile.msisdn != msisdn:
        raise CommandError(f"{path}: the SIM of {profile.msisdn}, not {msisdn}")
    if profile is None or (keys is not None and profile.keys != keys):
        if keys is None:
            profile = SimProfile.generate(imsi or imsi_for(msisdn), msisdn)
        else:
            profile = SimProfile(imsi or imsi_for(msisdn), msisdn, keys)
        profile.save(path)
    return profile


async def provision_handset(
    smsc: SmscService,
    directory: Path,
    msisdn: str,
    imsi: str | None = None,
    keys: Keys | None = None,
) -> SimProfile:
    """A handset of ``smsemu up`` (or the demo): its SIM, and the SMSC's
    subscription of it, both in place before it attaches."""
    assert smsc.smsc is not None
    return await provision_sim(smsc.smsc.store.provision, directory, msisdn, imsi, keys)


async def provision_sim(
    subscribe: Callable[[Provisioned], Awaitable[object]],
    directory: Path,
    msisdn: str,
    imsi: str | None = None,
    keys: Keys | None = None,
) -> SimProfile:
    """The SIM in ``directory`` (``ensure_profile``), its subscription written
    by ``subscribe`` (an SMSC's store, or a cluster's database) before it attaches."""
    profile: SimProfile = await deferToThread(ensure_profile, directory, msisdn, imsi, keys)
    try:
        sub = Provisioned(profile.imsi, profile.msisdn, profile.keys, profile.sqn)
    except ProvisionError as exc:
        raise CommandError(f"{directory / PROFILE_FILE}: {exc}") from None
    await subscribe(sub)
    return profile


def write_subscription(url: str, sub: Provisioned) -> Provisioned:
    """``sub`` in the SMSC database at ``url``, as stored (blocks)."""
    engine = open_engine(url)
    try:
        with engine.begin() as conn:
            return subscriptions.provision(conn, sub, datetime.now(UTC))
    finally:
        engine.dispose()


def subscribe_in(url: str) -> Callable[[Provisioned], Awaitable[object]]:
    """``provision_sim``'s ``subscribe`` writing straight to the SMSC database
    at ``url`` on a thread: for ``up --workers``, whose SMSC nodes are other
    processes."""
    return lambda sub: deferToThread(write_subscription, url, sub)
