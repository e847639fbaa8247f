"""Devices and their authentication: registering, logging in, unbinding,
and the bound devices of an account."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred

from ipwire import proof, wire
from ipwire.server_session import Identity

from .jobs import Part
from .models import Device, DeviceKind, HistoryKey, IpDelivery, ReadState

#: A revoked device's keys: no proof matches them.
NO_KEY = "0" * 64
#: Checked against when the device is unknown or revoked, so that answering
#: takes as long as for a known device with a wrong proof.
_NOBODY = proof.Verifier.from_secret(secrets.token_urlsafe(32))


def _verifier(row: Device | None) -> proof.Verifier | None:
    if row is None or row.revoked_at is not None:
        return None
    return proof.Verifier(bytes.fromhex(row.stored_key), bytes.fromhex(row.server_key))


def _identity(row: Device) -> Identity:
    return Identity(row.device_id, row.msisdn, row.account, row.kind)


class DeviceExists(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Registration:
    """What a device needs to log in.  The secret is shown once: only its hash is kept."""

    device_id: str
    secret: str


@dataclass(frozen=True, slots=True)
class AccountDevice:
    device_id: str
    kind: str
    public_key: bytes | None


def bound_devices(s: Session, account: str, but: str | None = None) -> list[AccountDevice]:
    """The bound devices of ``account`` (but one), by device id."""
    rows = s.execute(
        select(Device.device_id, Device.kind, Device.public_key)
        .where(Device.account == account, Device.revoked_at.is_(None))
        .order_by(Device.device_id)
    )
    return [AccountDevice(*r) for r in rows if r.device_id != but]


class Devices(Part):
    """The devices bound to accounts, and who may log in as which."""

    def register_device(
        self,
        msisdn: str,
        account: str | None = None,
        kind: str = DeviceKind.PHONE,
        *,
        device_id: str | None = None,
        secret: str | None = None,
        public_key: bytes | None = None,
    ) -> Deferred[Registration]:
        """A new device of ``msisdn`` in ``account`` (default: an account named by
        the MSISDN).  The device id and the secret (32 random bytes, URL-safe
        base64) are generated unless given; ``public_key`` is its X25519 key
        (32 octets), which other devices of the account seal query results
        to.  Fails with DeviceExists if the id is taken; raises ValueError at
        once for an ill-formed argument."""
        if public_key is not None and len(public_key) != 32:
            raise ValueError("an X25519 public key is 32 octets")
        wire.number(msisdn)
        kind = DeviceKind(kind)
        device_id = wire.device_id(device_id or "d" + secrets.token_hex(12))
        account = wire.text(256)(account or msisdn)
        # Secrets are 256 random bits: the salt and iterations of SCRAM would
        # protect nothing (ipwire.proof).
        secret = wire.text(256)(secret or secrets.token_urlsafe(32))
        verifier = proof.Verifier.from_secret(secret)

        def work(s: Session) -> Registration:
            if s.get(Device, device_id) is not None:
                raise DeviceExists(f"device {device_id} exists")
            s.add(Device(device_id=device_id, msisdn=msisdn, account=account, kind=kind,
                         stored_key=verifier.stored_key.hex(),
                         server_key=verifier.server_key.hex(), created_at=self.now(),
                         public_key=public_key, revoked_at=None))  # fmt: skip
            s.flush()
            return Registration(device_id, secret)

        return self._submit(work)

    def authenticate(
        self, device_id: str, message: bytes, presented: bytes
    ) -> Deferred[tuple[Identity, bytes] | None]:
        """The device and the ServerSignature, if ``presented`` is the proof of
        ``message`` (the AuthMessage of ipwire.proof) by the device's secret;
        else None."""

        def work(s: Session) -> tuple[Identity, bytes] | None:
            row = s.get(Device, device_id)
            verifier = _verifier(row)
            ok = proof.verify(verifier or _NOBODY, message, presented)
            if row is None or verifier is None or not ok:
                return None
            return _identity(row), proof.server_signature(verifier, message)

        return self._submit(work)

    def knows(self, device_id: str, secret: str) -> Deferred[Identity | None]:
        """The device, if ``secret`` is its secret (for a process that holds the
        device's credentials file: it proves it as a device would)."""
        nonce = wire.b64(secrets.token_bytes(proof.NONCE_OCTETS))
        message = proof.auth_message("check", device_id, nonce, nonce)
        d = self.authenticate(device_id, message, proof.client_proof(secret, message))
        return d.addCallback(lambda outcome: None if outcome is None else outcome[0])

    def device(self, device_id: str) -> Deferred[Identity | None]:
        def work(s: Session) -> Identity | None:
            row = s.get(Device, device_id)
            return None if row is None or row.revoked_at is not None else _identity(row)

        return self._submit(work)

    def unbind(self, device_id: str) -> Deferred[Identity | None]:
        """Revoke a device: its secret, its public key and its keys to the
        window's copies are forgotten, so it can no longer log in, be sealed
        to, nor open what the server holds; what was queued for it is dropped.
        Fires with what it was (None: unknown or unbound already)."""

        def work(s: Session) -> Identity | None:
            row = s.get(Device, device_id)
            if row is None or row.revoked_at is not None:
                return None
            row.revoked_at, row.public_key = self.now(), None
            row.stored_key = row.server_key = NO_KEY
            s.execute(
                update(IpDelivery)
                .where(IpDelivery.device_id == device_id, IpDelivery.delivered_at.is_(None))
                .values(delivered_at=self.now())
            )
            # Its keys to the window's copies go too: a stolen device opens none.
            s.execute(delete(HistoryKey).where(HistoryKey.device_id == device_id))
            # And the reads it was still to show: it will never log in to take them.
            s.execute(delete(ReadState).where(ReadState.device_id == device_id))
            return _identity(row)

        return self._submit(work)

    def revoked_among(self, device_ids: Sequence[str]) -> Deferred[list[str]]:
        """Which of ``device_ids`` are unbound (or unknown) now."""

        def work(s: Session) -> list[str]:
            live = set(
                s.scalars(
                    select(Device.device_id).where(
                        Device.device_id.in_(device_ids), Device.revoked_at.is_(None)
                    )
                )
            )
            return [d for d in device_ids if d not in live]

        return self._submit(work)

    def account_devices(self, account: str) -> Deferred[list[AccountDevice]]:
        """The bound devices of ``account``."""
        return self._submit(lambda s: bound_devices(s, account))
