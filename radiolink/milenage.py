"""MILENAGE, the 3GPP example authentication and key generation functions
(TS 35.205, algorithm in TS 35.206 §4), on AES-128.

Every function works on 128-bit blocks held as Python ints::

    OPc  = OP xor E_K(OP)
    TEMP = E_K(RAND xor OPc)
    IN1  = SQN || AMF || SQN || AMF
    OUT1 = E_K(TEMP xor rot(IN1 xor OPc, r1) xor c1) xor OPc    f1 = OUT1[0..63]   (MAC-A)
                                                                f1* = OUT1[64..127] (MAC-S)
    OUTi = E_K(rot(TEMP xor OPc, ri) xor ci) xor OPc, i = 2..5
        f5 = OUT2[0..47] (AK)    f2 = OUT2[64..127] (RES)
        f3 = OUT3 (CK)           f4 = OUT4 (IK)            f5* = OUT5[0..47] (AK*)

with r1..r5 = 64, 0, 32, 64, 96 and c1..c5 = 0, 1, 2, 4, 8 (TS 35.206 §4.1), rot
a cyclic left rotation and bit 0 the most significant.  Checked against the
conformance test sets of TS 35.207/35.208.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_MASK = (1 << 128) - 1
_R = (64, 0, 32, 64, 96)
_C = (0, 1, 2, 4, 8)


def _block(name: str, value: bytes, size: int) -> int:
    if len(value) != size:
        raise ValueError(f"{name} must be {size} octets, got {len(value)}")
    return int.from_bytes(value, "big")


def _rot(x: int, r: int) -> int:
    return ((x << r) | (x >> (128 - r))) & _MASK if r else x


class _Aes:
    """E_K: AES-128 of one 16-octet block under the subscriber key K."""

    def __init__(self, k: bytes) -> None:
        _block("K", k, 16)
        self._encryptor = Cipher(algorithms.AES(k), modes.ECB()).encryptor()

    def __call__(self, x: int) -> int:
        return int.from_bytes(self._encryptor.update(x.to_bytes(16, "big")), "big")


def opc(k: bytes, op: bytes) -> bytes:
    """OPc from the operator variant OP (TS 35.206 §4.1): what a SIM stores."""
    op_int = _block("OP", op, 16)
    return (op_int ^ _Aes(k)(op_int)).to_bytes(16, "big")


@dataclass(frozen=True, slots=True)
class Vector:
    """Everything MILENAGE gives for one RAND (and, for f1/f1*, one SQN and AMF)."""

    mac_a: bytes  # f1, 8 octets
    mac_s: bytes  # f1*, 8 octets
    res: bytes  # f2, 8 octets
    ck: bytes  # f3, 16 octets
    ik: bytes  # f4, 16 octets
    ak: bytes  # f5, 6 octets
    ak_star: bytes  # f5*, 6 octets


def f1(k: bytes, opc_: bytes, rand: bytes, sqn: bytes, amf: bytes) -> tuple[bytes, bytes]:
    """MAC-A and MAC-S (f1, f1*): what depends on SQN and AMF."""
    e_k = _Aes(k)
    c = _block("OPc", opc_, 16)
    temp = e_k(_block("RAND", rand, 16) ^ c)
    sqn_amf = _block("SQN", sqn, 6) << 16 | _block("AMF", amf, 2)
    out1 = (e_k(temp ^ _rot((sqn_amf << 64 | sqn_amf) ^ c, _R[0]) ^ _C[0]) ^ c).to_bytes(16, "big")
    return out1[:8], out1[8:]


def f2345(k: bytes, opc_: bytes, rand: bytes) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """RES, CK, IK, AK and AK* (f2, f3, f4, f5, f5*): what RAND alone gives."""
    e_k = _Aes(k)
    c = _block("OPc", opc_, 16)
    temp = e_k(_block("RAND", rand, 16) ^ c)
    out = [
        (e_k(_rot(temp ^ c, r) ^ ci) ^ c).to_bytes(16, "big")
        for r, ci in zip(_R[1:], _C[1:], strict=True)
    ]
    return out[0][8:], out[1], out[2], out[0][:6], out[3][:6]


def network_challenge(
    k: bytes, opc_: bytes, rand: bytes, sqn: bytes, amf: bytes
) -> tuple[bytes, bytes, bytes]:
    """MAC-A, RES and AK (f1, f2, f5): what the network's challenge needs, in
    one key schedule and three blocks (``f1`` and ``f2345``: two and seven).
    An attach storm computes one per attach on the SMSC's reactor."""
    e_k = _Aes(k)
    c = _block("OPc", opc_, 16)
    temp = e_k(_block("RAND", rand, 16) ^ c)
    sqn_amf = _block("SQN", sqn, 6) << 16 | _block("AMF", amf, 2)
    out1 = e_k(temp ^ _rot((sqn_amf << 64 | sqn_amf) ^ c, _R[0]) ^ _C[0]) ^ c
    out2 = (e_k(_rot(temp ^ c, _R[1]) ^ _C[1]) ^ c).to_bytes(16, "big")
    return (out1 >> 64).to_bytes(8, "big"), out2[8:], out2[:6]


def milenage(k: bytes, opc_: bytes, rand: bytes, sqn: bytes, amf: bytes) -> Vector:
    """All seven functions for one challenge."""
    mac_a, mac_s = f1(k, opc_, rand, sqn, amf)
    res, ck, ik, ak, ak_star = f2345(k, opc_, rand)
    return Vector(mac_a, mac_s, res, ck, ik, ak, ak_star)
