"""The SIM: the identity the AT port answers with (TS 27.007 §5: IMSI and
MSISDN are the phone's; the IMEI, an optional PIN and the size of the message
store are the SIM's settings), and the subscription the radio link
authenticates with (``SimProfile``: K, OPc and SQN, in the handset's
``sim.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from twisted.internet.defer import Deferred, DeferredLock
from twisted.internet.threads import deferToThread

from atcmd import Identity
from radiolink.auth import Keys, keys_from_hex
from txkit.private import write_private

#: Entries of the message store by default: a SIM's "SM" store holds a few
#: dozen; a phone's own, a few hundred.
DEFAULT_CAPACITY = 255
#: Type Allocation Code of the IMEIs made up for numbers (TS 23.003 §6.2.1:
#: "00" is a test range no real handset uses).
TEST_TAC = "00101"


def luhn_digit(digits: str) -> str:
    """The check digit of an IMEI (TS 23.003 Annex B, the Luhn formula)."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d // 10 + d % 10
    return str(-total % 10)


def imei_for(msisdn: str) -> str:
    """A stable test IMEI for a number: TAC, serial from the digits, check digit."""
    body = (TEST_TAC + msisdn.lstrip("+")[-9:].rjust(9, "0"))[:14]
    return body + luhn_digit(body)


@dataclass(frozen=True, slots=True)
class Sim:
    """What the AT port says of the phone besides its numbers."""

    imei: str | None = None  # None: ``imei_for`` the MSISDN
    pin: str | None = None  # None: AT+CPIN? is READY from the start
    capacity: int = DEFAULT_CAPACITY

    def __post_init__(self) -> None:
        if self.imei is not None and not (len(self.imei) == 15 and self.imei.isdigit()):
            raise ValueError(f"an IMEI is 15 digits, not {self.imei!r}")
        if self.pin is not None and not (4 <= len(self.pin) <= 8 and self.pin.isdigit()):
            raise ValueError(f"a SIM PIN is 4 to 8 digits, not {self.pin!r}")
        if not 1 <= self.capacity <= 9999:
            raise ValueError(f"a message store holds 1 to 9999 entries, not {self.capacity}")

    def identity(self, imsi: str, msisdn: str) -> Identity:
        return Identity(msisdn=msisdn, imsi=imsi, imei=self.imei or imei_for(msisdn), pin=self.pin)


#: The SIM profile's file, in the handset's directory.
PROFILE_FILE = "sim.json"


@dataclass(frozen=True, slots=True)
class SimProfile:
    """The SIM's subscription: IMSI, MSISDN, the secrets K and OPc it shares
    with the network's AuC, and SQN_MS, the highest sequence number it has
    accepted (docs/radio-link.md).  Kept in ``sim.json``, mode 0600: K in it
    is the phone's identity on the network."""

    imsi: str
    msisdn: str
    keys: Keys
    sqn: int = 0

    @classmethod
    def generate(cls, imsi: str, msisdn: str) -> SimProfile:
        """A new SIM: K and OPc drawn by ``secrets``."""
        return cls(imsi, msisdn, keys_from_hex(None))

    @classmethod
    def load(cls, path: Path) -> SimProfile | None:
        """The profile in ``path``; None if there is none; ValueError naming
        the file when it is not one."""
        try:
            data = json.loads(path.read_text())
            return cls(
                str(data["imsi"]),
                str(data["msisdn"]),
                keys_from_hex(str(data["k"]), str(data["opc"])),
                int(data.get("sqn", 0)),
            )
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a SIM profile ({exc})") from None

    def save(self, path: Path) -> None:
        """Written whole or not at all, readable by its owner only."""
        data = {
            "imsi": self.imsi,
            "msisdn": self.msisdn,
            "k": self.keys.k.hex().upper(),
            "opc": self.keys.opc.hex().upper(),
            "sqn": self.sqn,
        }
        write_private(path, json.dumps(data, indent=2) + "\n")


class SimCard:
    """A phone's SIM in use: its profile, and the file that keeps SQN_MS
    (``path`` None: kept in memory only, as tests' SIMs)."""

    def __init__(self, profile: SimProfile, path: Path | None = None) -> None:
        self.profile = profile
        self.path = path
        self._saving = DeferredLock()

    def keep_sqn(self, sqn: int) -> Deferred[None] | None:
        """Store the SQN the SIM accepted (on a thread, one write at a time);
        the answer to the challenge waits for it."""
        self.profile = replace(self.profile, sqn=sqn)
        if self.path is None:
            return None
        profile, path = self.profile, self.path
        return self._saving.run(deferToThread, profile.save, path)
