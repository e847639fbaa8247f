"""The field validators of the IP wire (docs/receipt-wire.md gives the rules).

A validator takes a field's value and returns it as the message holds it (a
tuple for a JSON array, a float for seconds), or raises ``Invalid`` saying
what is wrong.  Each message field names its validator (``ipwire.messages``),
and the same validator checks what is decoded and what is encoded, so
neither side can put a malformed value on the wire.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from typing import Any

#: The client's tag of a request, echoed in its answer: any JSON integer or string.
RequestId = int | str


class Invalid(ValueError):
    """A field value a message may not carry."""


Check = Callable[[Any], Any]

_NUMBER = re.compile(r"\+?[0-9]{1,20}")
_DEVICE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _utf8(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("must not contain lone surrogates") from None
    return value


#: A string request id is echoed back in the answer: bounded, so that an
#: answer always fits a frame.
MAX_REQUEST_ID = 64


def request_id(value: object) -> RequestId:
    if isinstance(value, str):
        if len(value) > MAX_REQUEST_ID:
            raise Invalid(f"a string id is at most {MAX_REQUEST_ID} characters, not {len(value)}")
        return _utf8(value)
    if _is_int(value):
        return value  # type: ignore[return-value]
    raise Invalid(f"must be an integer or a string, not {_show(value)}")


def optional_request_id(value: object) -> RequestId | None:
    return None if value is None else request_id(value)


def number(value: object) -> str:
    """A phone number: up to 20 digits, with an optional leading '+'."""
    if not isinstance(value, str) or not _NUMBER.fullmatch(value):
        raise Invalid(f"must be a number like '+447700900123', not {_show(value)}")
    return value


def device_id(value: object) -> str:
    if not isinstance(value, str) or not _DEVICE.fullmatch(value):
        raise Invalid(f"must be 1 to 64 of A-Z a-z 0-9 _ -, not {_show(value)}")
    return value


def text(max_length: int, min_length: int = 1) -> Check:
    """A string of ``min_length`` to ``max_length`` characters (a message's
    text may be empty: an empty SMS is a legal SMS)."""

    def check(value: object) -> str:
        if not isinstance(value, str) or not min_length <= len(value) <= max_length:
            raise Invalid(f"must be a string of {min_length} to {max_length} characters")
        return _utf8(value)

    return check


def integer(low: int, high: int) -> Check:
    def check(value: object) -> int:
        if not _is_int(value) or not low <= value <= high:  # type: ignore[operator]
            raise Invalid(f"must be an integer from {low} to {high}, not {_show(value)}")
        return value  # type: ignore[return-value]

    return check


def seconds(value: object) -> float | None:
    if value is None:
        return None
    if (_is_int(value) or isinstance(value, float)) and math.isfinite(value) and value >= 0:  # type: ignore[arg-type,operator]
        return float(value)  # type: ignore[arg-type]
    raise Invalid(f"must be a non-negative number of seconds, not {_show(value)}")


def optional(check: Check) -> Check:
    """``check``, or None: an optional field."""

    def check_optional(value: object) -> Any:
        return None if value is None else check(value)

    return check_optional


def choice(*allowed: str) -> Check:
    def check(value: object) -> str:
        if value not in allowed:
            raise Invalid(f"must be one of {', '.join(allowed)}, not {_show(value)}")
        return value

    return check


_TOKEN = re.compile(r"[0-9a-f]{32}")


def boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"must be true or false, not {_show(value)}")
    return value


def token(value: object) -> str:
    """A 128-bit identifier in 32 lowercase hex digits: message uids, query ids."""
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise Invalid(f"must be 32 lowercase hex digits, not {_show(value)}")
    return value


#: Unix time in milliseconds, up to the year 285,000 and within a double's integers.
MAX_MILLIS = 2**53 - 1
millis = integer(0, MAX_MILLIS)


def timeout(value: object) -> float | None:
    """A query's deadline, in seconds from now: 0.1 to 60, or None for the server's."""
    if value is None:
        return None
    if (_is_int(value) or isinstance(value, float)) and 0.1 <= value <= 60:  # type: ignore[operator]
        return float(value)  # type: ignore[arg-type]
    raise Invalid(f"must be 0.1 to 60 seconds, not {_show(value)}")


def base64_text(max_length: int) -> Check:
    """Octets as standard base64 (RFC 4648 §4, padded), at most ``max_length``
    characters; the value stays text, ``unb64`` gives the octets."""

    def check(value: object) -> str:
        if not isinstance(value, str) or not 1 <= len(value) <= max_length:
            raise Invalid(f"must be base64 of 1 to {max_length} characters")
        try:
            binascii.a2b_base64(value, strict_mode=True)
        except (binascii.Error, ValueError):
            raise Invalid("is not base64 (RFC 4648, padded, no whitespace)") from None
        return value

    return check


def octets(low: int, high: int) -> Check:
    """Base64 text (as ``base64_text``) of ``low`` to ``high`` octets."""
    limit = 4 * ((high + 2) // 3)
    within = base64_text(limit)

    def check(value: object) -> str:
        text_: str = within(value)
        if not low <= len(unb64(text_)) <= high:
            size = f"{low}" if low == high else f"{low} to {high}"
            raise Invalid(f"must be base64 of {size} octets")
        return text_

    return check


def b64(octets: bytes) -> str:
    return base64.b64encode(octets).decode("ascii")


def unb64(text: str) -> bytes:
    """The octets of a field ``base64_text`` checked already."""
    return binascii.a2b_base64(text, strict_mode=True)


def strings(check_one: Check, max_items: int) -> Check:
    def check(value: object) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple) or len(value) > max_items:
            raise Invalid(f"must be an array of at most {max_items} values")
        try:
            return tuple(check_one(v) for v in value)
        except Invalid as exc:
            raise Invalid(f"item {exc}") from None

    return check
