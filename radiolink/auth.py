"""UMTS AKA on the radio link: the network's challenge and the SIM's answer
(TS 33.102 §6.3), with MILENAGE as the algorithm.

The network (the SMSC, as HLR/AuC) draws a RAND, takes the next sequence number
SQN of the subscriber and sends RAND and AUTN = SQN xor AK || AMF || MAC-A.
The SIM checks, in this order (§6.3.3):

1. MAC-A: computed over the SQN it recovers; a mismatch is a *MAC failure* (the
   network does not know K: the SIM refuses to answer);
2. SQN freshness: it must be above the highest SQN the SIM accepted; otherwise
   a *synch failure*, answered with AUTS = SQN_MS xor AK* || MAC-S, from which
   the network learns SQN_MS and starts again above it (§6.3.5);
3. then it answers RES = f2(RAND), which the network compares with XRES.

SQN is one 48-bit counter (the SEQ of Annex C without IND): the network adds
one per challenge, the SIM accepts any SQN above the last it accepted.  The
resynchronisation uses AMF 0000, the dummy value of §6.3.3.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from radiolink.milenage import f1, f2345, network_challenge, opc

AMF = b"\x80\x00"  # the "separation bit" set, as networks commonly send it
RESYNC_AMF = b"\x00\x00"
SQN_MAX = (1 << 48) - 1


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


@dataclass(frozen=True, slots=True)
class Keys:
    """A subscriber's secrets, shared by the SIM and the network."""

    k: bytes  # 16 octets
    opc: bytes  # 16 octets


def _hex16(name: str, text: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        value = b""
    if len(value) != 16:
        raise ValueError(f"{name}: expected 32 hex digits (16 octets), got {text!r}")
    return value


def keys_from_hex(k: str | None, opc_: str | None = None, op: str | None = None) -> Keys:
    """A SIM's keys from hex as a user types them; what is not given is
    generated (``k`` None: a new K; neither OPc nor OP: a new OPc).  ValueError
    names the key and what was expected."""
    if opc_ is not None and op is not None:
        raise ValueError("OPc and OP: give one or the other")
    key = secrets.token_bytes(16) if k is None else _hex16("K", k)
    if opc_ is not None:
        return Keys(key, _hex16("OPc", opc_))
    if op is not None:
        return Keys(key, opc(key, _hex16("OP", op)))
    return Keys(key, secrets.token_bytes(16))


@dataclass(frozen=True, slots=True)
class Challenge:
    """What the network sends (RAND, AUTN) and keeps (XRES)."""

    rand: bytes
    autn: bytes
    xres: bytes


def challenge(keys: Keys, rand: bytes, sqn: int, amf: bytes = AMF) -> Challenge:
    """The authentication vector for one attach, SQN the subscriber's next."""
    sqn_b = sqn.to_bytes(6, "big")
    mac_a, res, ak = network_challenge(keys.k, keys.opc, rand, sqn_b, amf)
    return Challenge(rand=rand, autn=_xor(sqn_b, ak) + amf + mac_a, xres=res)


def res_matches(expected: Challenge, res: bytes) -> bool:
    """RES against XRES, in constant time."""
    return hmac.compare_digest(expected.xres, res)


class Failure(IntEnum):
    """Why a SIM refuses a challenge: the causes of TS 24.008 §10.5.3.6."""

    MAC_FAILURE = 20
    SYNCH_FAILURE = 21


@dataclass(frozen=True, slots=True)
class Answer:
    """The SIM's answer: RES, or a failure (with AUTS for a synch failure)."""

    res: bytes | None = None
    failure: Failure | None = None
    auts: bytes | None = None
    sqn: int | None = None  # the SQN accepted, for the SIM to keep


def answer(keys: Keys, rand: bytes, autn: bytes, sqn_ms: int) -> Answer:
    """The SIM's side of §6.3.3: check AUTN, then answer RES or refuse.

    ``sqn_ms`` is the highest SQN this SIM accepted so far; a successful answer
    carries the new one, which the SIM must store before it answers.
    """
    if len(rand) != 16 or len(autn) != 16:
        raise ValueError("RAND and AUTN are 16 octets each")
    res, _, _, ak, ak_star = f2345(keys.k, keys.opc, rand)
    sqn_b = _xor(autn[:6], ak)
    mac_a, _ = f1(keys.k, keys.opc, rand, sqn_b, autn[6:8])
    if not hmac.compare_digest(mac_a, autn[8:]):
        return Answer(failure=Failure.MAC_FAILURE)
    sqn = int.from_bytes(sqn_b, "big")
    if sqn <= sqn_ms:
        ms_b = sqn_ms.to_bytes(6, "big")
        _, mac_s = f1(keys.k, keys.opc, rand, ms_b, RESYNC_AMF)
        return Answer(failure=Failure.SYNCH_FAILURE, auts=_xor(ms_b, ak_star) + mac_s)
    return Answer(res=res, sqn=sqn)


def resynchronise(keys: Keys, rand: bytes, auts: bytes) -> int | None:
    """The network's side of §6.3.5: SQN_MS from AUTS, or None when MAC-S fails.

    The network then challenges again with an SQN above the one returned.
    """
    if len(auts) != 14:
        return None
    ak_star = f2345(keys.k, keys.opc, rand)[4]
    sqn_ms = _xor(auts[:6], ak_star)
    _, mac_s = f1(keys.k, keys.opc, rand, sqn_ms, RESYNC_AMF)
    if not hmac.compare_digest(mac_s, auts[6:]):
        return None
    return int.from_bytes(sqn_ms, "big")


@dataclass(slots=True)
class Subscription:
    """What the network's AuC keeps of one SIM: its number, keys and SQN_HE."""

    msisdn: str
    keys: Keys
    sqn: int = 0  # the last SQN the network used


class RandPool:
    """``os.urandom``, drawn ``block`` octets at a time: the same randomness for
    RANDs, without a system call per attach (5% of an attach storm's reactor)."""

    def __init__(self, block: int = 4096) -> None:
        self._block = block
        self._pool = b""
        self._at = 0

    def __call__(self, n: int) -> bytes:
        if self._at + n > len(self._pool):
            self._pool, self._at = os.urandom(max(n, self._block)), 0
        out = self._pool[self._at : self._at + n]
        self._at += n
        return out


class AuthCentre:
    """The AuC: subscriptions by IMSI and the next challenge of each.

    In memory and with no I/O: the component that owns it loads the
    subscriptions and persists each SQN it advances.  A network that lost an
    advance (a crash before the write) is put right by the SIM's synch failure,
    so the writes need not be synchronous.
    """

    def __init__(self, rand: Callable[[int], bytes] | None = None) -> None:
        self._rand = rand or RandPool()
        self._subscriptions: dict[str, Subscription] = {}

    def provision(self, imsi: str, msisdn: str, keys: Keys, sqn: int = 0) -> None:
        self._subscriptions[imsi] = Subscription(msisdn, keys, sqn)

    def remove(self, imsi: str) -> None:
        self._subscriptions.pop(imsi, None)

    def get(self, imsi: str) -> Subscription | None:
        return self._subscriptions.get(imsi)

    def sqn(self, imsi: str) -> int:
        return self._subscriptions[imsi].sqn

    def __len__(self) -> int:
        return len(self._subscriptions)

    def next_challenge(self, imsi: str) -> Challenge:
        sub = self._subscriptions[imsi]
        sub.sqn = min(sub.sqn + 1, SQN_MAX)
        return challenge(sub.keys, self._rand(16), sub.sqn)

    def resynchronise(self, imsi: str, rand: bytes, auts: bytes) -> bool:
        """Take SQN_MS from a synch failure's AUTS; False when MAC-S is wrong."""
        sub = self._subscriptions[imsi]
        sqn_ms = resynchronise(sub.keys, rand, auts)
        if sqn_ms is None:
            return False
        sub.sqn = sqn_ms
        return True
