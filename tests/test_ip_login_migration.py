"""Existing IP server databases (issue 18): a database written at revision
b2c01f3, when devices logged in by sending their secret and the server kept its
SHA-256 (tests/data/receipt_server_0002.sqlite3, made by
scripts/make-receipt-db-0002.py with that revision's code), is migrated to the
challenge-response verifier: its devices log in with the secrets they hold,
a revoked one does not, and nothing the database holds lets its thief in."""

from __future__ import annotations

import hashlib
import hmac
import shutil
from pathlib import Path

import pytest_twisted
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from handset.ip_client import IpError
from ipwire import proof, wire
from receipt_server.models import Feedback
from receipt_server.store import Registration
from tests.test_receipt_server import Net, failure_of, raw, who

FIXTURE = Path(__file__).parent / "data" / "receipt_server_0002.sqlite3"
PHONE = "+447700900123"
#: The devices of the fixture and their secrets (scripts/make-receipt-db-0002.py).
SECRETS = {
    "dPhone": "phone-secret-0002-aaaaaaaaaaaaaaaaaaaaaaaaa",
    "dTablet": "tablet-secret-0002-bbbbbbbbbbbbbbbbbbbbbbbb",
    "dGone": "gone-secret-0002-cccccccccccccccccccccccccc",
}


def old_database(tmp_path: Path) -> str:
    path = tmp_path / "receipt.sqlite3"
    shutil.copyfile(FIXTURE, path)
    return f"sqlite:///{path}"


@pytest_twisted.ensureDeferred
async def test_devices_registered_before_log_in_with_their_secrets(tmp_path: Path) -> None:
    url = old_database(tmp_path)
    net = Net(url)  # opening the store migrates it
    try:
        with Session(net.store.engine) as s:
            version = s.scalar(text("select version_num from receipt_server_alembic_version"))
            assert version is not None and version >= "0003"  # past the login verifier
            columns = {c["name"] for c in inspect(s.get_bind()).get_columns("rs_device")}
            assert "secret_hash" not in columns and {"stored_key", "server_key"} <= columns
            assert s.scalar(select(func.count()).select_from(Feedback)) == 1  # kept
        phone = await net.connect(Registration("dPhone", SECRETS["dPhone"]))
        assert who(phone.client.login_ok) == ("dPhone", PHONE, PHONE)
        tablet = await net.connect(Registration("dTablet", SECRETS["dTablet"]))
        assert who(tablet.client.login_ok) == ("dTablet", PHONE, PHONE)
        for device, secret in [("dGone", SECRETS["dGone"]), ("dPhone", SECRETS["dTablet"])]:
            error = await failure_of(net.connect(Registration(device, secret)))
            assert isinstance(error, IpError) and error.code == "bad_credentials"
        # smsemu up checks the credentials files it holds the same way.
        known = await net.store.knows("dPhone", SECRETS["dPhone"])
        assert known is not None and known.kind == "phone"
        assert await net.store.knows("dPhone", "guess") is None
        await phone.hang_up()
        await tablet.hang_up()
    finally:
        await net.shut()


@pytest_twisted.ensureDeferred
async def test_what_the_migrated_database_holds_does_not_log_anyone_in(tmp_path: Path) -> None:
    """A thief of the migrated database holds StoredKey and ServerKey: neither,
    sent as a secret, nor used as ClientKey or as SaltedPassword, makes a proof
    the server accepts.  (A copy taken *before* the migration is another
    matter: its SHA-256 of the secret is SaltedPassword, as good as the secret
    for the new login; docs/receipt-wire.md says so, and the last check here
    shows it.)"""
    url = old_database(tmp_path)
    old_hash = hashlib.sha256(SECRETS["dPhone"].encode()).hexdigest()
    net = Net(url)
    net.server.factory.lockout.free = 100  # every guess checked, none refused as locked
    try:
        with Session(net.store.engine) as s:
            row = s.execute(
                text("select stored_key, server_key from rs_device where device_id = 'dPhone'")
            ).one()
        stored, server = bytes.fromhex(row[0]), bytes.fromhex(row[1])
        assert old_hash not in (row[0], row[1])
        for secret in (old_hash, row[0], row[1], bytes.fromhex(old_hash).decode("latin-1")):
            error = await failure_of(net.connect(Registration("dPhone", secret)))
            assert isinstance(error, IpError) and error.code == "bad_credentials"
        # Each stolen value as ClientKey, and as SaltedPassword (its ClientKey).
        as_salted = [hmac.new(k, b"Client Key", hashlib.sha256).digest() for k in (stored, server)]
        for client_key in (stored, server, *as_salted):
            # The proof as the device makes it, with a stolen value for ClientKey.
            r = await raw(net)
            nonce = wire.b64(b"n" * 18)
            challenge = await r.ask(wire.encode(wire.Login(1, "dPhone", nonce)))
            assert isinstance(challenge, wire.Challenge)
            message = proof.auth_message("login", "dPhone", nonce, challenge.nonce)
            signature = hmac.new(stored, message, hashlib.sha256).digest()
            forged = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
            r.send(wire.encode(wire.LoginProof(1, wire.b64(forged))))
            refused = await r.got.get()
            assert isinstance(refused, wire.Error) and refused.code == "bad_credentials"
        assert net.server.factory.metrics.auth_locked.values[()] == 0
        # The old hash is SaltedPassword: whoever kept a pre-migration copy can
        # make the proof.  This is why the document tells to re-register then.
        nonce = wire.b64(b"m" * 18)
        r = await raw(net)
        challenge = await r.ask(wire.encode(wire.Login(1, "dPhone", nonce)))
        message = proof.auth_message("login", "dPhone", nonce, challenge.nonce)
        made = proof.salted_proof(bytes.fromhex(old_hash), message)
        r.send(wire.encode(wire.LoginProof(1, wire.b64(made))))
        assert isinstance(await r.got.get(), wire.LoginOk)
    finally:
        await net.shut()
