"""The IP login's proof (ipwire.proof): SCRAM-SHA-256's arithmetic checked
against the published example of RFC 7677 §3, the worked example of
docs/receipt-wire.md made by the code, and what a proof is bound to."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from ipwire import proof

ROOT = Path(__file__).resolve().parent.parent

# RFC 7677 §3: user "user", password "pencil".
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_NONCE = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_AUTH_MESSAGE = (
    f"n=user,r=rOprNGfwEbeRWgbNEkqO,r={RFC_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
    f"c=biws,r={RFC_NONCE}"
).encode()
RFC_PROOF = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
RFC_SERVER_SIGNATURE = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_the_scram_arithmetic_gives_the_example_of_rfc_7677() -> None:
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", RFC_SALT, 4096)
    verifier = proof.Verifier.from_salted(salted)
    assert base64.b64encode(proof.salted_proof(salted, RFC_AUTH_MESSAGE)).decode() == RFC_PROOF
    assert proof.verify(verifier, RFC_AUTH_MESSAGE, base64.b64decode(RFC_PROOF))
    signature = proof.server_signature(verifier, RFC_AUTH_MESSAGE)
    assert base64.b64encode(signature).decode() == RFC_SERVER_SIGNATURE


def test_the_document_shows_the_worked_example_the_code_makes() -> None:
    """scripts/ip-login-example.py computes every value as a rig would and
    checks it against smsemu's own sessions; the document shows its output."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "ip-login-example.py")],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = (ROOT / "docs" / "receipt-wire.md").read_text()
    assert done.stdout.strip() in doc


SECRET = "q8Zr0V3nU1d2k3m4p5s6t7v8w9x0y1z2A3B4C5D6E7F"
MESSAGE = proof.auth_message("login", "dev", "Y2xpZW50bm9uY2UxMjM0NQ==", "c2VydmVybm9uY2UxMjM0NQ==")


def test_a_proof_is_bound_to_its_secret_its_nonces_its_device_and_its_purpose() -> None:
    verifier = proof.Verifier.from_secret(SECRET)
    made = proof.client_proof(SECRET, MESSAGE)
    assert proof.verify(verifier, MESSAGE, made)
    assert not proof.verify(proof.Verifier.from_secret(SECRET + "x"), MESSAGE, made)
    others = [
        proof.auth_message("push", "dev", "Y2xpZW50bm9uY2UxMjM0NQ==", "c2VydmVybm9uY2UxMjM0NQ=="),
        proof.auth_message("login", "deW", "Y2xpZW50bm9uY2UxMjM0NQ==", "c2VydmVybm9uY2UxMjM0NQ=="),
        proof.auth_message("login", "dev", "Y2xpZW50bm9uY2UxMjM0NQ==", "c2VydmVybm9uY2UxMjM0Ng=="),
        proof.auth_message("login", "dev", "Y2xpZW50bm9uY2UxMjM0Ng==", "c2VydmVybm9uY2UxMjM0NQ=="),
    ]
    for other in others:
        assert not proof.verify(verifier, other, made)
    assert not proof.verify(verifier, MESSAGE, made[:31])  # a short proof is no proof
    assert proof.server_proves(SECRET, MESSAGE, proof.server_signature(verifier, MESSAGE))
    assert not proof.server_proves(SECRET, others[0], proof.server_signature(verifier, MESSAGE))


@given(st.binary(min_size=32, max_size=32))
def test_no_other_proof_passes(guess: bytes) -> None:
    verifier = proof.Verifier.from_secret(SECRET)
    made = proof.client_proof(SECRET, MESSAGE)
    assert proof.verify(verifier, MESSAGE, guess) == (guess == made)
