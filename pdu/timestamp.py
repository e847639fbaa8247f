"""TP-SCTS, TP-DT and absolute TP-VP: seven swapped semi-octet pairs, the last
the time zone in quarter hours with its sign in bit 3 (TS 23.040 §9.2.3.11).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import cast

from .errors import PDUError
from .reader import Reader

#: Two-digit years 00-79 are 2000-2079, 80-99 are 1980-1999: GSM did not exist
#: before 1980, so no timestamp from it can mean an earlier year.
CENTURY_PIVOT = 80
_ZONES = [timezone(timedelta(minutes=15 * q)) for q in range(-79, 80)]


# Two swapped decimal semi-octets to their value; None where a nibble is not 0-9.
_SWAPPED = [
    (o & 0x0F) * 10 + (o >> 4) if (o & 0x0F) <= 9 and o >> 4 <= 9 else None for o in range(256)
]


def _swap(value: int) -> int:
    return value // 10 | (value % 10) << 4


def encode_timestamp(when: datetime) -> bytes:
    """Seven octets for an aware datetime; seconds are kept, microseconds dropped."""
    offset = when.utcoffset()
    if offset is None:
        raise PDUError(f"timestamp {when.isoformat()} has no time zone")
    seconds = int(offset.total_seconds())
    if seconds % 900:
        raise PDUError(f"time zone {offset} is not a whole number of quarter hours")
    quarters = seconds // 900
    if not -79 <= quarters <= 79:
        raise PDUError(f"time zone {offset} is out of range")
    if not 1980 <= when.year < 1980 + 100:
        raise PDUError(f"year {when.year} cannot be written with two digits (1980-2079)")
    zone = _swap(abs(quarters)) | (0x08 if quarters < 0 else 0)
    return bytes(
        (
            _swap(when.year % 100),
            _swap(when.month),
            _swap(when.day),
            _swap(when.hour),
            _swap(when.minute),
            _swap(when.second),
            zone,
        )
    )


def describe_zone(octet: int) -> str:
    quarters = (octet & 0x07) * 10 + (octet >> 4)
    sign = "-" if octet & 0x08 else "+"
    return f"UTC{sign}{quarters // 4:02d}:{quarters % 4 * 15:02d} ({sign}{quarters} quarter hours)"


#: Timestamps decoded before: an SMSC stamps every message of a second alike.
_SEEN: dict[bytes, datetime] = {}
_SEEN_MAX = 4096


def timestamp_at(buf: bytes, pos: int) -> datetime | None:
    """The timestamp in the seven octets at ``pos``, or None when they are
    missing or not a valid date and time (``decode_timestamp`` says why)."""
    raw = buf[pos : pos + 7]
    when = _SEEN.get(raw)
    if when is not None:
        return when
    if len(raw) < 7:
        return None
    fields = list(map(_SWAPPED.__getitem__, raw[:6]))
    zone = raw[6]
    if zone >> 4 > 9 or None in fields:
        return None
    yy, month, day, hour, minute, second = cast("list[int]", fields)
    quarters = (zone & 0x07) * 10 + (zone >> 4)
    if zone & 0x08:
        quarters = -quarters
    year = yy + (2000 if yy < CENTURY_PIVOT else 1900)
    try:
        when = datetime(year, month, day, hour, minute, second, tzinfo=_ZONES[quarters + 79])
    except ValueError:
        return None
    if len(_SEEN) >= _SEEN_MAX:
        _SEEN.clear()
    _SEEN[raw] = when
    return when


def decode_timestamp(r: Reader, name: str) -> datetime:
    start = r.pos
    raw = r.take(7, name)
    when = timestamp_at(raw, 0)
    if when is None:
        fields = [_SWAPPED[b] for b in raw[:6]]
        bad = next((i for i, v in enumerate(fields) if v is None), 6)
        if bad < 6 or raw[6] >> 4 > 9:
            raise r.error(
                f"{name} octet {raw[bad]:02X} is not two decimal semi-octets", start + bad
            )
        yy, month, day, hour, minute, second = (v or 0 for v in fields)
        try:
            datetime(yy + (2000 if yy < CENTURY_PIVOT else 1900), month, day, hour, minute, second)
        except ValueError as exc:
            raise r.error(f"{name} is not a valid date and time: {exc}", start) from None
        raise r.error(f"{name} is not a valid date and time", start)  # not reached
    if r.trace is not None:
        zone = raw[6]
        r.note(f"{when.isoformat()} (zone octet {zone:02X}: {describe_zone(zone)})")
    return when
