"""The login proof of the IP wire: a challenge-response after SCRAM-SHA-256
(RFC 5802, RFC 7677), so that the secret never crosses the wire, a captured
login is worthless on another connection, and the server proves it knows the
device too.  docs/receipt-wire.md §Login has a worked example.

The device's secret is 32 random octets (as text), so the salt and the
iterations SCRAM spends on human passwords are left out::

    SaltedPassword  = SHA-256(secret)               the server's old secret_hash
    ClientKey       = HMAC(SaltedPassword, "Client Key")
    StoredKey       = SHA-256(ClientKey)            the server keeps this ...
    ServerKey       = HMAC(SaltedPassword, "Server Key")    ... and this
    AuthMessage     = "smsemu-login-1," purpose "," device "," client_nonce "," server_nonce
    ClientSignature = HMAC(StoredKey, AuthMessage)
    ClientProof     = ClientKey XOR ClientSignature      the device sends this
    ServerSignature = HMAC(ServerKey, AuthMessage)       the server sends this

The server recovers ClientKey = ClientProof XOR ClientSignature and accepts
when SHA-256(ClientKey) = StoredKey; a stolen StoredKey and ServerKey do not
let anyone log in.  ``purpose`` is ``login`` or ``push``; the nonces are the
base64 text of the frames.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

PREFIX = "smsemu-login-1"
NONCE_OCTETS = 18  # 24 characters of base64


def _hmac(key: bytes, text: bytes) -> bytes:
    return hmac.new(key, text, hashlib.sha256).digest()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def salted_password(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class Verifier:
    """What the server keeps of a device's secret."""

    stored_key: bytes
    server_key: bytes

    @classmethod
    def from_salted(cls, salted: bytes) -> Verifier:
        client_key = _hmac(salted, b"Client Key")
        return cls(hashlib.sha256(client_key).digest(), _hmac(salted, b"Server Key"))

    @classmethod
    def from_secret(cls, secret: str) -> Verifier:
        return cls.from_salted(salted_password(secret))


def auth_message(purpose: str, device: str, client_nonce: str, server_nonce: str) -> bytes:
    return ",".join((PREFIX, purpose, device, client_nonce, server_nonce)).encode("utf-8")


def client_proof(secret: str, message: bytes) -> bytes:
    """The device's answer to the challenge."""
    return salted_proof(salted_password(secret), message)


def salted_proof(salted: bytes, message: bytes) -> bytes:
    """ClientProof from SaltedPassword, as in SCRAM (RFC 5802 §3)."""
    client_key = _hmac(salted, b"Client Key")
    return _xor(client_key, _hmac(hashlib.sha256(client_key).digest(), message))


def verify(verifier: Verifier, message: bytes, proof: bytes) -> bool:
    """The server's check of a proof, in constant time."""
    if len(proof) != 32:
        return False
    client_key = _xor(proof, _hmac(verifier.stored_key, message))
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), verifier.stored_key)


def server_signature(verifier: Verifier, message: bytes) -> bytes:
    return _hmac(verifier.server_key, message)


def server_proves(secret: str, message: bytes, signature: bytes) -> bool:
    """The device's check that the server knows its secret too."""
    expected = _hmac(_hmac(salted_password(secret), b"Server Key"), message)
    return hmac.compare_digest(expected, signature)
