"""Whole numbers from the path or the query of an HTTP API's URL, read the
same way by every API: ASCII digits only (``int`` would also take ``' 5'``,
``'1_0'``, ``'+5'`` and Arabic-Indic digits), within the range the caller
names (by default what a database row id can be), and a ``ValueError`` whose
text is the 400's message otherwise."""

from __future__ import annotations

import re

#: The largest id a row can have (a signed 64-bit integer: SQLite's, PostgreSQL's BIGINT).
MAX_ID = 2**63 - 1
_WHOLE = re.compile(r"-?[0-9]+")
#: Digits past which a number is out of any range here, unread (``int`` refuses 4,300).
_LONGEST = 40


def whole(what: str, text: str, minimum: int = 0, maximum: int = MAX_ID) -> int:
    """``text`` as a whole number from ``minimum`` to ``maximum``."""
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"{what} {text[:_LONGEST]!r} is not a whole number")
    value = int(text) if len(text) <= _LONGEST else None
    if value is None or not minimum <= value <= maximum:
        shown = text if value is not None else f"{text[:_LONGEST]}... ({len(text)} digits)"
        raise ValueError(f"{what} must be {minimum}-{maximum}, got {shown}")
    return value
