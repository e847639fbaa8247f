"""The time strings of §7.1.1: schedule_delivery_time, validity_period, final_date.

PDUs keep them as the strings on the wire; ``parse_time`` and
``format_time`` convert them.  Each is empty or 16 characters::

    YYMMDDhhmmsstnnp    absolute (§7.1.1.1): t tenths of a second, nn quarter
                        hours from UTC, p '+' ahead of UTC or '-' behind it
    YYMMDDhhmmss000R    relative to now (§7.1.1.2)

(Named ``times`` rather than ``time`` so that it never shadows the
standard library's module.)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from pdu.timestamp import CENTURY_PIVOT

from .constants import CommandStatus
from .errors import SmppError

_TWO = "([0-9]{2})"
# YY MM DD hh mm ss, then t nn p (absolute) or 000R (relative).
_ABSOLUTE = re.compile(_TWO * 6 + "([0-9])" + _TWO + "([+-])")
_RELATIVE = re.compile(_TWO * 6 + "[0-9]{3}R")
#: nn, the quarter hours between local time and UTC, is 00-48 (§7.1.1.1).
MAX_QUARTER_HOURS = 48
_ZONES = {q: timezone(timedelta(minutes=15 * q)) for q in range(-48, 49)}
_ZONES[0] = UTC
#: A relative time's years and months, as days: §7.1.1.2 says neither how
#: long they are nor from when, and a timedelta needs a fixed length.
DAYS_PER_YEAR = 365
DAYS_PER_MONTH = 30


def parse_time(
    text: str, *, status: int = CommandStatus.ESME_RINVEXPIRY
) -> datetime | timedelta | None:
    """A schedule_delivery_time, validity_period or final_date: an aware
    datetime for the absolute format "YYMMDDhhmmsstnn+" / "-", a timedelta for
    the relative "YYMMDDhhmmss000R", None for the empty string.

    Two-digit years 00-79 are 2000-2079, 80-99 1980-1999, as in ``pdu``.
    ``status`` is the command_status of the SmppError raised for anything else
    (ESME_RINVSCHED for schedule_delivery_time).
    """
    if text == "":
        return None
    if len(text) != 16:
        raise SmppError(status, f"time {text!r} is not 16 characters (YYMMDDhhmmsstnnp)")
    m = _ABSOLUTE.fullmatch(text)
    if m is not None:
        yy, month, day, hour, minute, second, tenths, quarters = map(int, m.groups()[:8])
        if quarters > MAX_QUARTER_HOURS:
            raise SmppError(status, f"time {text!r}: {quarters} quarter hours from UTC, max 48")
        year = yy + (2000 if yy < CENTURY_PIVOT else 1900)
        zone = _ZONES[-quarters if m.group(9) == "-" else quarters]
        try:
            return datetime(year, month, day, hour, minute, second, tenths * 100_000, zone)
        except ValueError as exc:
            raise SmppError(status, f"time {text!r} is not a valid date: {exc}") from None
    m = _RELATIVE.fullmatch(text)
    if m is not None:
        yy, months, days, hours, minutes, seconds = map(int, m.groups())
        return timedelta(
            days=yy * DAYS_PER_YEAR + months * DAYS_PER_MONTH + days,
            hours=hours,
            minutes=minutes,
            seconds=seconds,
        )
    raise SmppError(status, f"time {text!r} is neither YYMMDDhhmmsstnn+/- nor YYMMDDhhmmss000R")


def format_time(
    value: datetime | timedelta | None, *, status: int = CommandStatus.ESME_RINVEXPIRY
) -> str:
    """The string ``parse_time`` reads back: absolute for an aware datetime
    (tenths of a second kept, finer parts dropped; a zone that is not a whole
    number of quarter hours within 12 hours is written as the same instant in
    UTC), relative for a timedelta (years of 365 and months of 30 days, below a
    second dropped), "" for None."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        offset = value.utcoffset()
        if offset is None:
            raise SmppError(status, f"time {value.isoformat()} has no time zone")
        quarters, rest = divmod(offset, timedelta(minutes=15))
        if rest or abs(quarters) > MAX_QUARTER_HOURS:
            value = value.astimezone(UTC)
            quarters = 0
        if not 1900 + CENTURY_PIVOT <= value.year < 2000 + CENTURY_PIVOT:
            raise SmppError(status, f"year {value.year} cannot be written with two digits")
        return (
            f"{value.year % 100:02d}{value.month:02d}{value.day:02d}"
            f"{value.hour:02d}{value.minute:02d}{value.second:02d}"
            f"{value.microsecond // 100_000}{abs(quarters):02d}{'-' if quarters < 0 else '+'}"
        )
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise SmppError(status, f"relative time {value} is negative")
        days, seconds = value.days, value.seconds
        years, days = divmod(days, DAYS_PER_YEAR)
        months, days = divmod(days, DAYS_PER_MONTH)
        if years > 99:
            raise SmppError(status, f"relative time {value} is more than 99 years")
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return f"{years:02d}{months:02d}{days:02d}{hours:02d}{minutes:02d}{seconds:02d}000R"
    raise SmppError(status, f"a time is a datetime, a timedelta or None, not {value!r}")
