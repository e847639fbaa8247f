"""TP-VP in its three formats (TS 23.040 §9.2.3.12) and the TP-VPF that names it."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import PDUError
from .reader import Reader
from .timestamp import decode_timestamp, encode_timestamp

# TP-VPF, bits 4-3 of an SMS-SUBMIT's first octet.
VPF_NONE = 0
VPF_ENHANCED = 1
VPF_RELATIVE = 2
VPF_ABSOLUTE = 3


def relative_duration(value: int) -> timedelta:
    """The four ranges of §9.2.3.12.1 (a known decoder slip is value * 5 min)."""
    if value <= 143:
        return timedelta(minutes=(value + 1) * 5)
    if value <= 167:
        return timedelta(hours=12, minutes=(value - 143) * 30)
    if value <= 196:
        return timedelta(days=value - 166)
    return timedelta(weeks=value - 192)


_DURATIONS = [relative_duration(v) for v in range(256)]


@dataclass(frozen=True, slots=True)
class RelativeVP:
    """One octet, a period counted from when the SC received the message."""

    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.value <= 255:
            raise PDUError(f"relative TP-VP {self.value} is not one octet")

    @property
    def duration(self) -> timedelta:
        return _DURATIONS[self.value]

    @classmethod
    def at_least(cls, period: timedelta) -> RelativeVP:
        """The shortest relative TP-VP that lasts ``period`` or longer."""
        i = bisect.bisect_left(_DURATIONS, period)
        if i == len(_DURATIONS):
            raise PDUError(f"validity {period} is longer than 63 weeks, the relative maximum")
        return cls(i)


# Enhanced format functionality indicator, bits 2-0 (§9.2.3.12.3).
EVP_NONE = 0
EVP_RELATIVE = 1
EVP_SECONDS = 2
EVP_HHMMSS = 3


@dataclass(frozen=True, slots=True)
class EnhancedVP:
    """Seven octets: the functionality indicator, then the period, zero padded.

    Kept raw so any enhanced VP round-trips; ``duration`` reads the defined forms.
    """

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 7:
            raise PDUError("an enhanced TP-VP is exactly 7 octets")

    @classmethod
    def of(cls, period: timedelta, single_shot: bool = False) -> EnhancedVP:
        seconds = int(period.total_seconds())
        if seconds < 1:
            raise PDUError("an enhanced TP-VP lasts at least one second (0 is reserved)")
        if seconds <= 255:
            body = bytes((EVP_SECONDS, seconds))
        elif seconds < 100 * 3600:
            h, rem = divmod(seconds, 3600)
            digits = (h, rem // 60, rem % 60)
            body = bytes((EVP_HHMMSS,)) + bytes(d // 10 | (d % 10) << 4 for d in digits)
        else:
            body = bytes((EVP_RELATIVE, RelativeVP.at_least(period).value))
        first = body[0] | (0x40 if single_shot else 0)
        return cls((bytes((first,)) + body[1:]).ljust(7, b"\x00"))

    @property
    def single_shot(self) -> bool:
        return bool(self.raw[0] & 0x40)

    @property
    def duration(self) -> timedelta | None:
        """The period, or None: no period, a reserved format or value, or
        digits that are not decimal.  Bit 7 of an indicator octet announces
        another one (§9.2.3.12.3); the period follows the last of them."""
        start = 1
        while start < 7 and self.raw[start - 1] & 0x80:
            start += 1
        fmt, value = self.raw[0] & 0x07, self.raw[start:]
        if fmt == EVP_RELATIVE and value:
            return relative_duration(value[0])
        if fmt == EVP_SECONDS and value and value[0]:
            return timedelta(seconds=value[0])
        if fmt == EVP_HHMMSS and len(value) >= 3:
            digits = [(b & 0xF, b >> 4) for b in value[:3]]
            if any(d > 9 for pair in digits for d in pair):
                return None
            h, m, s = (tens * 10 + units for tens, units in digits)
            return timedelta(hours=h, minutes=m, seconds=s)
        return None


ValidityPeriod = RelativeVP | datetime | EnhancedVP | None


def vp_format(vp: ValidityPeriod) -> int:
    if vp is None:
        return VPF_NONE
    if isinstance(vp, RelativeVP):
        return VPF_RELATIVE
    if isinstance(vp, EnhancedVP):
        return VPF_ENHANCED
    return VPF_ABSOLUTE


def encode_vp(vp: ValidityPeriod) -> bytes:
    if vp is None:
        return b""
    if isinstance(vp, RelativeVP):
        return bytes((vp.value,))
    if isinstance(vp, EnhancedVP):
        return vp.raw
    return encode_timestamp(vp)


def describe_vp(vp: ValidityPeriod) -> str:
    if vp is None:
        return "none"
    if isinstance(vp, RelativeVP):
        return f"relative {vp.value}: {vp.duration}"
    if isinstance(vp, EnhancedVP):
        shot = ", single shot" if vp.single_shot else ""
        return f"enhanced: {vp.duration if vp.duration is not None else 'no period'}{shot}"
    return f"absolute: until {vp.isoformat()}"


def decode_vp(r: Reader, vpf: int) -> ValidityPeriod:
    vp: ValidityPeriod
    if vpf == VPF_NONE:
        return None
    if vpf == VPF_RELATIVE:
        vp = RelativeVP(r.octet("TP-VP"))
    elif vpf == VPF_ABSOLUTE:
        vp = decode_timestamp(r, "TP-VP")
    else:
        vp = EnhancedVP(r.take(7, "TP-VP"))
    if r.trace is not None:
        r.note(describe_vp(vp))
    return vp
