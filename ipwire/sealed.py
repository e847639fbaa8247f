"""End-to-end sealing of history-query results between the devices of one account.

The server stores and forwards these blobs but can neither read them nor move
one into another query: only the recipient device's private key opens a blob,
and only under the same ``context`` (the caller binds it to the query id and
the answering device).

Construction, a "sealed box" with a context (version 1)::

    e, E    = fresh X25519 key pair (ephemeral, one per blob)
    R       = recipient's X25519 public key (32 octets, raw)
    shared  = X25519(e, R)                  all-zero (low-order R or E) is refused
    key     = HKDF-SHA256(ikm=shared, salt=E || R, info=b"smsemu sealed v1", length=32)
    nonce   = 12 random octets
    ct      = ChaCha20-Poly1305(key).encrypt(nonce, plaintext, associated_data=context)

Blob layout (all lengths in octets)::

    offset  length  field
    0       1       version, 0x01
    1       32      E, the ephemeral public key, raw
    33      12      nonce
    45      n + 16  ciphertext followed by the 16-octet Poly1305 tag (n = plaintext length)

so a blob is at least 61 octets.  The salt carries E exactly as sent, so any
change to it, even in the bit X25519 ignores, changes the key and fails the tag.

One plaintext for several recipients (a "shared box", the IP server's window
copies, docs/history-query.md §Window)::

    k       = 32 random octets, the content key (one per plaintext)
    nonce   = 12 random octets
    body    = 0x01 || nonce || ChaCha20-Poly1305(k).encrypt(nonce, plaintext, context)
    key_i   = seal(k, R_i, context)         for each recipient R_i (93 octets each)

so the text is stored once, and each recipient opens its own ``key_i``.

Keys as text are URL-safe base64 (RFC 4648 §5) of the 32 raw octets, written
without padding; parsing also accepts the padded form, and nothing else (no
whitespace, no ``+`` or ``/``, no non-canonical trailing bits).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "DeviceKey",
    "SealError",
    "open_sealed",
    "open_shared",
    "parse_public_key",
    "public_key_text",
    "seal",
    "seal_shared",
]

VERSION = 0x01
INFO = b"smsemu sealed v1"
KEY_LEN = 32
NONCE_LEN = 12
TAG_LEN = 16
HEADER_LEN = 1 + KEY_LEN + NONCE_LEN
MIN_BLOB_LEN = HEADER_LEN + TAG_LEN
#: The shortest shared body: version, nonce, tag.
MIN_BODY_LEN = 1 + NONCE_LEN + TAG_LEN

_B64 = re.compile(r"[A-Za-z0-9_-]*")


class SealError(ValueError):
    """The blob cannot be opened: wrong key, wrong context, tampered, or malformed
    (the reason says which when it can be told)."""


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(text: str, what: str) -> bytes:
    """The 32 octets behind ``text``; one canonical spelling (padding optional), so a
    key has a single text form that can be compared and stored as is."""
    body = text.rstrip("=")
    padding = len(text) - len(body)
    if not _B64.fullmatch(body) or (padding and (len(text) % 4 or padding > 2)):
        raise ValueError(f"{what} is not URL-safe base64")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except binascii.Error as exc:  # an impossible length, e.g. 4k+1 characters
        raise ValueError(f"{what} is not URL-safe base64") from exc
    if len(raw) != KEY_LEN:
        raise ValueError(f"{what} must be {KEY_LEN} octets, not {len(raw)}")
    if _encode(raw) != body:
        raise ValueError(f"{what} is not canonical base64 (stray trailing bits)")
    return raw


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> ChaCha20Poly1305:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=INFO)
    return ChaCha20Poly1305(hkdf.derive(shared))


class DeviceKey:
    """A device's X25519 key pair: the private half never leaves the device, the
    public half is what other devices of the account seal to."""

    __slots__ = ("_private", "_public")

    def __init__(self, private: X25519PrivateKey) -> None:
        self._private = private
        self._public = private.public_key().public_bytes_raw()

    @classmethod
    def generate(cls) -> DeviceKey:
        """A fresh key pair from the operating system's random source."""
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_text(cls, text: str) -> DeviceKey:
        """The key stored by :meth:`to_text`; ValueError unless it is 32 octets of
        URL-safe base64."""
        return cls(X25519PrivateKey.from_private_bytes(_decode(text, "private key")))

    def to_text(self) -> str:
        """The private key as unpadded URL-safe base64, for the device's own storage."""
        return _encode(self._private.private_bytes_raw())

    @property
    def public(self) -> bytes:
        """The public key, 32 raw octets."""
        return self._public

    def _exchange(self, peer: bytes) -> bytes:
        """The X25519 shared secret with ``peer``; ValueError for a low-order peer
        (all-zero secret), which would let anyone compute the key."""
        return self._private.exchange(X25519PublicKey.from_public_bytes(peer))

    def __repr__(self) -> str:  # never the private key: reprs end up in logs
        return f"DeviceKey(public={public_key_text(self._public)!r})"


def public_key_text(public: bytes) -> str:
    """``public`` as unpadded URL-safe base64, for publishing to the account's devices."""
    if len(public) != KEY_LEN:
        raise ValueError(f"public key must be {KEY_LEN} octets, not {len(public)}")
    return _encode(public)


def parse_public_key(text: str) -> bytes:
    """The 32 raw octets of a public key written by :func:`public_key_text` (padded
    or not); ValueError for anything else."""
    return _decode(text, "public key")


def seal(plaintext: bytes, recipient: bytes, context: bytes) -> bytes:
    """Encrypt ``plaintext`` so only the holder of ``recipient``'s private key can read
    it, and only under the same ``context``.  ValueError for a recipient that is
    not a usable public key."""
    if len(recipient) != KEY_LEN:
        raise ValueError(f"recipient public key must be {KEY_LEN} octets, not {len(recipient)}")
    ephemeral = DeviceKey.generate()
    try:
        shared = ephemeral._exchange(recipient)
    except ValueError as exc:
        raise ValueError("recipient public key is a low-order point") from exc
    nonce = os.urandom(NONCE_LEN)
    aead = _derive(shared, ephemeral.public, recipient)
    body = aead.encrypt(nonce, plaintext, context)
    return bytes([VERSION]) + ephemeral.public + nonce + body


def open_sealed(blob: bytes, key: DeviceKey, context: bytes) -> bytes:
    """The plaintext of a blob from :func:`seal` to ``key.public`` under ``context``.
    SealError, and only SealError, for anything that does not open."""
    if not blob:
        raise SealError("sealed blob is empty")
    if blob[0] != VERSION:
        raise SealError(f"unknown sealed blob version {blob[0]:#04x}")
    if len(blob) < MIN_BLOB_LEN:
        raise SealError(f"sealed blob too short: {len(blob)} octets, at least {MIN_BLOB_LEN}")
    ephemeral = bytes(blob[1 : 1 + KEY_LEN])
    nonce = bytes(blob[1 + KEY_LEN : HEADER_LEN])
    try:
        shared = key._exchange(ephemeral)
    except ValueError:
        raise SealError("sealed blob has a low-order ephemeral key") from None
    aead = _derive(shared, ephemeral, key.public)
    try:
        return aead.decrypt(nonce, bytes(blob[HEADER_LEN:]), context)
    except InvalidTag:
        raise SealError(
            "sealed blob does not authenticate: wrong key, wrong context, or tampered"
        ) from None


def seal_shared(
    plaintext: bytes, recipients: Iterable[bytes], context: bytes
) -> tuple[bytes, list[bytes]]:
    """(body, keys): ``plaintext`` under a fresh content key, and that key sealed
    to each of ``recipients`` (in their order), all under ``context``."""
    content = ChaCha20Poly1305.generate_key()
    nonce = os.urandom(NONCE_LEN)
    body = bytes([VERSION]) + nonce + ChaCha20Poly1305(content).encrypt(nonce, plaintext, context)
    return body, [seal(content, r, context) for r in recipients]


def open_shared(body: bytes, sealed_key: bytes, key: DeviceKey, context: bytes) -> bytes:
    """The plaintext of a :func:`seal_shared` body, through the content key
    sealed to ``key.public``.  SealError, and only SealError, for anything that
    does not open."""
    content = open_sealed(sealed_key, key, context)
    if len(content) != KEY_LEN:
        raise SealError(f"shared content key must be {KEY_LEN} octets, not {len(content)}")
    if len(body) < MIN_BODY_LEN or body[0] != VERSION:
        raise SealError("shared body is too short or of an unknown version")
    nonce = bytes(body[1 : 1 + NONCE_LEN])
    try:
        return ChaCha20Poly1305(content).decrypt(nonce, bytes(body[1 + NONCE_LEN :]), context)
    except InvalidTag:
        raise SealError("shared body does not authenticate: wrong context, or tampered") from None
