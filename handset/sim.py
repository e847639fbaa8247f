"""The SIM and equipment identity the AT port answers with (TS 27.007 §5):
IMSI and MSISDN are the phone's; the IMEI, an optional PIN and the size of
the message store are the SIM profile's."""

from __future__ import annotations

from dataclasses import dataclass

from atcmd import Identity

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
