"""End-to-end sealing of history-query results (ipwire/sealed.py): round trips,
every way a blob can fail to open, and an independent implementation of the
documented layout, so another client built from the docstring interoperates."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from ipwire.sealed import (
    DeviceKey,
    SealError,
    open_sealed,
    parse_public_key,
    public_key_text,
    seal,
)

KEY = DeviceKey.generate()
OTHER = DeviceKey.generate()
CONTEXT = b"query 7f3a / device B"
MIN_BLOB = 1 + 32 + 12 + 16

_P = 2**255 - 19
#: The X25519 public keys whose shared secret is all-zero for every private key
#: (the small-order points of Curve25519 and their non-canonical encodings).
LOW_ORDER = [
    0,
    1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
    _P - 1,
    _P,
    _P + 1,
]


def _by_hand_open(blob: bytes, private: X25519PrivateKey, context: bytes) -> bytes:
    """The documented construction, from the primitives, without ipwire.sealed."""
    assert blob[0] == 0x01
    ephemeral, nonce, body = blob[1:33], blob[33:45], blob[45:]
    recipient = private.public_key().public_bytes_raw()
    shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral))
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=ephemeral + recipient,
        info=b"smsemu sealed v1",
    ).derive(shared)
    return ChaCha20Poly1305(key).decrypt(nonce, body, context)


def _by_hand_seal(plaintext: bytes, recipient: bytes, context: bytes) -> bytes:
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=ephemeral_public + recipient,
        info=b"smsemu sealed v1",
    ).derive(shared)
    nonce = os.urandom(12)
    body = ChaCha20Poly1305(key).encrypt(nonce, plaintext, context)
    return b"\x01" + ephemeral_public + nonce + body


# -- round trip ---------------------------------------------------------------


@given(st.binary(max_size=4096), st.binary(max_size=256))
def test_round_trip(plaintext: bytes, context: bytes) -> None:
    blob = seal(plaintext, KEY.public, context)
    assert len(blob) == MIN_BLOB + len(plaintext)
    assert blob[0] == 0x01
    assert open_sealed(blob, KEY, context) == plaintext


@given(st.binary(min_size=8, max_size=1024))
def test_blob_hides_the_plaintext_and_is_fresh_each_time(plaintext: bytes) -> None:
    first = seal(plaintext, KEY.public, CONTEXT)
    second = seal(plaintext, KEY.public, CONTEXT)
    assert plaintext not in first
    assert first != second
    assert first[1:33] != second[1:33]  # a fresh ephemeral key
    assert first[33:45] != second[33:45]  # and a fresh nonce


# -- what does not open --------------------------------------------------------


@given(st.binary(max_size=256))
def test_wrong_key(plaintext: bytes) -> None:
    blob = seal(plaintext, KEY.public, CONTEXT)
    with pytest.raises(SealError, match="does not authenticate"):
        open_sealed(blob, OTHER, CONTEXT)


@given(st.binary(max_size=256), st.binary(max_size=64), st.binary(max_size=64))
def test_wrong_context(plaintext: bytes, context: bytes, other: bytes) -> None:
    if context == other:
        other = context + b"\x00"
    blob = seal(plaintext, KEY.public, context)
    with pytest.raises(SealError, match="does not authenticate"):
        open_sealed(blob, KEY, other)


@pytest.mark.parametrize("length", [0, 1, 20])
def test_any_flipped_bit(length: int) -> None:
    # Every bit, including the top bit of the ephemeral key that X25519 itself
    # ignores: the HKDF salt carries the key as sent.
    blob = seal(os.urandom(length), KEY.public, CONTEXT)
    for i in range(len(blob) * 8):
        tampered = bytearray(blob)
        tampered[i // 8] ^= 1 << (i % 8)
        with pytest.raises(SealError):
            open_sealed(bytes(tampered), KEY, CONTEXT)


def test_any_truncation() -> None:
    blob = seal(b"three messages, newest first", KEY.public, CONTEXT)
    for n in range(len(blob)):
        with pytest.raises(SealError):
            open_sealed(blob[:n], KEY, CONTEXT)
    for n in range(1, MIN_BLOB):
        with pytest.raises(SealError, match="too short"):
            open_sealed(blob[:n], KEY, CONTEXT)
    with pytest.raises(SealError, match="empty"):
        open_sealed(b"", KEY, CONTEXT)


def test_wrong_version() -> None:
    blob = seal(b"history", KEY.public, CONTEXT)
    for version in range(256):
        if version == 0x01:
            continue
        with pytest.raises(SealError, match="version"):
            open_sealed(bytes([version]) + blob[1:], KEY, CONTEXT)


@pytest.mark.parametrize("u", LOW_ORDER, ids=lambda u: f"{u:#x}"[:12])
def test_low_order_ephemeral_key(u: int) -> None:
    for point in (u, u + 2**255):  # the ignored top bit set too
        crafted = b"\x01" + point.to_bytes(32, "little") + bytes(12) + bytes(32)
        with pytest.raises(SealError, match="low-order"):
            open_sealed(crafted, KEY, CONTEXT)


def test_all_zero_ephemeral_key() -> None:
    crafted = b"\x01" + bytes(32) + os.urandom(12) + os.urandom(40)
    with pytest.raises(SealError, match="low-order"):
        open_sealed(crafted, KEY, CONTEXT)


def test_seal_refuses_unusable_recipient() -> None:
    with pytest.raises(ValueError, match="low-order"):
        seal(b"x", bytes(32), CONTEXT)
    for n in (0, 31, 33):
        with pytest.raises(ValueError, match="32 octets"):
            seal(b"x", bytes(n), CONTEXT)


def _only_seal_error(blob: bytes) -> None:
    try:
        open_sealed(blob, KEY, CONTEXT)
    except SealError:
        return
    except Exception as exc:  # pragma: no cover - the failure being looked for
        pytest.fail(f"open_sealed raised {type(exc).__name__}: {exc}")
    pytest.fail("arbitrary bytes opened")  # pragma: no cover


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(blob: bytes) -> None:
    _only_seal_error(blob)


@settings(max_examples=500)
@given(st.binary(min_size=MIN_BLOB - 1, max_size=200))
def test_fuzz_past_the_version_check(body: bytes) -> None:
    # Past the version octet, so the ECDH and AEAD paths get the fuzz too.
    _only_seal_error(b"\x01" + body)


# -- interoperability with the documented layout -------------------------------


@given(st.binary(max_size=1024), st.binary(max_size=64))
def test_an_independent_implementation_opens_what_seal_makes(
    plaintext: bytes, context: bytes
) -> None:
    private = X25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode(KEY.to_text() + "="))
    assert _by_hand_open(seal(plaintext, KEY.public, context), private, context) == plaintext


@given(st.binary(max_size=1024), st.binary(max_size=64))
def test_open_sealed_opens_what_an_independent_implementation_makes(
    plaintext: bytes, context: bytes
) -> None:
    assert open_sealed(_by_hand_seal(plaintext, KEY.public, context), KEY, context) == plaintext


# -- keys as text --------------------------------------------------------------


def test_device_key_text_round_trip() -> None:
    key = DeviceKey.generate()
    text = key.to_text()
    assert len(text) == 43 and "=" not in text
    again = DeviceKey.from_text(text)
    assert again.public == key.public
    assert again.to_text() == text
    assert DeviceKey.from_text(text + "=").public == key.public  # padded form accepted
    blob = seal(b"still mine", key.public, CONTEXT)
    assert open_sealed(blob, again, CONTEXT) == b"still mine"
    assert text not in repr(key)
    assert public_key_text(key.public) in repr(key)


@given(st.binary(min_size=32, max_size=32))
def test_any_32_octets_are_a_private_key(raw: bytes) -> None:
    text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert DeviceKey.from_text(text).to_text() == text


@given(st.binary(min_size=32, max_size=32))
def test_public_key_text_round_trip(raw: bytes) -> None:
    text = public_key_text(raw)
    assert len(text) == 43 and "=" not in text
    assert parse_public_key(text) == raw
    assert parse_public_key(text + "=") == raw
    assert parse_public_key(base64.urlsafe_b64encode(raw).decode()) == raw


def test_public_key_text_refuses_wrong_length() -> None:
    for n in (0, 31, 33, 64):
        with pytest.raises(ValueError, match="32 octets"):
            public_key_text(bytes(n))


def _spellings(raw: bytes) -> list[str]:
    padded = base64.urlsafe_b64encode(raw).decode()
    return [padded, padded.rstrip("=")]


@pytest.mark.parametrize("n", [0, 1, 16, 30, 31, 33, 34, 48, 64])
def test_wrong_lengths_are_refused(n: int) -> None:
    for text in _spellings(os.urandom(n)):
        with pytest.raises(ValueError):
            parse_public_key(text)
        with pytest.raises(ValueError):
            DeviceKey.from_text(text)


GOOD = public_key_text(bytes(range(32)))
NOT_BASE64 = [
    "!" * 43,
    GOOD[:-1] + "!",
    GOOD[:10] + " " + GOOD[11:],
    " " + GOOD,
    GOOD + "\n",
    GOOD[:-1] + "é",
    base64.b64encode(b"\xfb\xff" * 16).decode(),  # standard alphabet: + and /
    GOOD + "==",  # too much padding
    GOOD + "===",
    "=" + GOOD,
    GOOD[:20] + "=" + GOOD[21:],
    GOOD[:-1] + "B",  # 43rd character with stray low bits: not canonical
    "A" * 45,  # 4k+1 characters
    "",
]


@pytest.mark.parametrize("text", NOT_BASE64)
def test_non_base64_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_public_key(text)
    with pytest.raises(ValueError):
        DeviceKey.from_text(text)


@given(st.text(max_size=60))
def test_parse_public_key_arbitrary_text(text: str) -> None:
    # Either ValueError, or 32 octets whose canonical text is the input.
    try:
        raw = parse_public_key(text)
    except ValueError:
        return
    assert len(raw) == 32
    assert public_key_text(raw) == text.rstrip("=")
