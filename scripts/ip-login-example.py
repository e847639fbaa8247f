#!/usr/bin/env python3
"""Print the worked example of the IP login (docs/receipt-wire.md §Login):
every value a rig computes, spelled out with hashlib and hmac as a rig in any
language would, checked against what smsemu's own device and server sessions
send.  tests/test_ip_proof.py checks that the document shows this output."""

from __future__ import annotations

import hashlib
import hmac

from ipwire import proof, wire
from ipwire.device_session import DeviceSession
from ipwire.server_session import Identity, Send, ServerSession

DEVICE = "d3f9a1c2b4e5d6a7b8c9d0e1"
SECRET = "q8Zr0V3nU1d2k3m4p5s6t7v8w9x0y1z2A3B4C5D6E7F"
MSISDN = "+447700900123"
CLIENT_NONCE = bytes(range(0x00, 0x12))  # 18 random octets, in real life
SERVER_NONCE = bytes(range(0x80, 0x92))


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def frame(data: bytes) -> str:
    return f"{data[:4].hex(' ')}  {data[4:].decode()}"


def main() -> None:
    # The rig's arithmetic.
    client_nonce, server_nonce = wire.b64(CLIENT_NONCE), wire.b64(SERVER_NONCE)
    salted = h(SECRET.encode())
    client_key = mac(salted, b"Client Key")
    stored_key = h(client_key)
    server_key = mac(salted, b"Server Key")
    message = f"smsemu-login-1,login,{DEVICE},{client_nonce},{server_nonce}".encode()
    client_signature = mac(stored_key, message)
    client_proof = bytes(a ^ b for a, b in zip(client_key, client_signature, strict=True))
    server_signature = mac(server_key, message)

    # smsemu's device and server sessions, on the same nonces.
    device = DeviceSession(nonce=lambda: CLIENT_NONCE)
    server = ServerSession(nonce=lambda: SERVER_NONCE)
    _, login = device.login(DEVICE, SECRET)
    (login_frame,) = wire.FrameReader(wire.DEVICE_MESSAGES).feed(login)
    (send,) = server.receive(login_frame, 0)
    assert isinstance(send, Send) and isinstance(send.message, wire.Challenge)
    challenge = wire.encode(send.message)
    answer = device.answer(send.message)
    assert answer is not None
    (proof_frame,) = wire.FrameReader(wire.DEVICE_MESSAGES).feed(answer)
    (check,) = server.receive(proof_frame, 0)
    verifier = proof.Verifier.from_secret(SECRET)
    assert check.message == message  # type: ignore[union-attr]
    assert verifier == proof.Verifier(stored_key, server_key)
    assert proof.verify(verifier, message, check.proof)  # type: ignore[union-attr]
    assert check.proof == client_proof  # type: ignore[union-attr]
    identity = Identity(DEVICE, MSISDN, MSISDN, "phone")
    (send, _) = server.login_result((identity, proof.server_signature(verifier, message)), 0)
    assert isinstance(send, Send) and isinstance(send.message, wire.LoginOk)
    ok = wire.encode(send.message)
    assert device.receive(ok) == [send.message]  # the device accepts the signature
    assert wire.unb64(send.message.signature) == server_signature

    rows = [
        ("secret", SECRET),
        ("client_nonce", f"{client_nonce}  (octets {CLIENT_NONCE.hex()})"),
        ("server_nonce", f"{server_nonce}  (octets {SERVER_NONCE.hex()})"),
        ("SaltedPassword", salted.hex()),
        ("ClientKey", client_key.hex()),
        ("StoredKey", stored_key.hex()),
        ("ServerKey", server_key.hex()),
        ("AuthMessage", message.decode()),
        ("ClientSignature", client_signature.hex()),
        ("ClientProof", client_proof.hex()),
        ("ServerSignature", server_signature.hex()),
    ]
    print("```")
    for name, value in rows:
        print(f"{name:<16} {value}")
    print("```")
    print()
    print("```")
    for data in (login, challenge, answer, ok):
        print(frame(data))
    print("```")


if __name__ == "__main__":
    main()
