"""The IP server's wire protocol: length-prefixed JSON frames (docs/receipt-wire.md).

Sans-I/O in the style of h11: ``encode`` turns a message into the octets of one
frame, ``FrameReader`` turns a byte stream into messages.  A frame that cannot
be used becomes a ``WireError`` in the reader's output, never an exception, so
one bad frame costs one ``error`` and the session goes on.

Each message is a frozen dataclass whose fields carry their own validator; the
same validators check what we decode and what we encode, so neither side can
put a malformed message on the wire.  A new message type is a new dataclass
registered for the direction(s) it travels in: nothing else changes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar, Self, TypeVar

HEADER = 4  # the big-endian length prefix
MAX_FRAME = 65536  # the largest payload a frame may carry

#: The client's tag of a request, echoed in its answer: any JSON integer or string.
RequestId = int | str


class ErrorCode(StrEnum):
    """The ``code`` of an ``error`` message."""

    BAD_FRAME = "bad_frame"  # bad length, not UTF-8, not a JSON object with a string "type"
    UNKNOWN_TYPE = "unknown_type"  # "type" names no message the receiver accepts
    BAD_MESSAGE = "bad_message"  # a field is missing or ill-typed
    UNAUTHENTICATED = "unauthenticated"  # the message needs a login first
    BAD_CREDENTIALS = "bad_credentials"  # unknown device or wrong secret
    ALREADY_AUTHENTICATED = "already_authenticated"  # a second login on one connection
    FORBIDDEN = "forbidden"  # a response naming a receiver that is not the device
    RATE_LIMITED = "rate_limited"  # past the device's rate; see retry_after
    SESSION_REPLACED = "session_replaced"  # the device logged in on another connection
    SERVER_ERROR = "server_error"  # the server could not store or load; try again later


# -- field validators ------------------------------------------------------------


class Invalid(ValueError):
    """A field value a message may not carry."""


Check = Callable[[Any], Any]

_NUMBER = re.compile(r"\+?[0-9]{1,20}")
_DEVICE = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_FEEDBACK_ID = 2**63 - 1


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


def text(max_length: int) -> Check:
    def check(value: object) -> str:
        if not isinstance(value, str) or not 1 <= len(value) <= max_length:
            raise Invalid(f"must be a string of 1 to {max_length} characters")
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


def _v(check: Check, *, omit_none: bool = False) -> dict[str, Any]:
    """A message field's metadata: its validator, and whether ``None`` leaves it
    out of the JSON."""
    return {"check": check, "omit_none": omit_none}


# -- messages --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    """A wire message: ``TYPE`` is its "type", the dataclass fields its keys."""

    TYPE: ClassVar[str]

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this message; ValueError if a field is invalid."""
        obj: dict[str, Any] = {"type": self.TYPE}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata["omit_none"]:
                continue
            try:
                obj[f.name] = f.metadata["check"](value)
            except Invalid as exc:
                raise ValueError(f"{self.TYPE}: {f.name} {exc}") from None
        return obj

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> Self:
        """The message of a decoded JSON object; Invalid names the first bad field.
        Keys the message does not have are ignored."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in obj:
                value = obj[f.name]
            elif f.default is not MISSING:
                value = f.default
            else:
                raise Invalid(f'"{f.name}" is missing')
            try:
                values[f.name] = f.metadata["check"](value)
            except Invalid as exc:
                raise Invalid(f'"{f.name}" {exc}') from None
        return cls(**values)


M = TypeVar("M", bound=type[Message])

#: The messages a server accepts (device -> server), by "type".
DEVICE_MESSAGES: dict[str, type[Message]] = {}
#: The messages a device accepts (server -> device), by "type".
SERVER_MESSAGES: dict[str, type[Message]] = {}


def _from_device(cls: M) -> M:
    DEVICE_MESSAGES[cls.TYPE] = cls
    return cls


def _from_server(cls: M) -> M:
    SERVER_MESSAGES[cls.TYPE] = cls
    return cls


# device -> server


@_from_device
@dataclass(frozen=True, slots=True)
class Login(Message):
    TYPE: ClassVar[str] = "login"
    id: RequestId = field(metadata=_v(request_id))
    device: str = field(metadata=_v(device_id))
    secret: str = field(metadata=_v(text(256)))


@_from_device
@dataclass(frozen=True, slots=True)
class Response(Message):
    """The receiver of message ``message_number`` from ``sender`` has read it
    (status 1) or not yet (status 0)."""

    TYPE: ClassVar[str] = "response"
    id: RequestId = field(metadata=_v(request_id))
    receiver: str = field(metadata=_v(number))
    sender: str = field(metadata=_v(number))
    message_number: int = field(metadata=_v(integer(0, 255)))
    status: int = field(default=1, metadata=_v(integer(0, 1)))


@_from_device
@dataclass(frozen=True, slots=True)
class FeedbackAck(Message):
    """The device has committed the feedback's effect: the server may forget it."""

    TYPE: ClassVar[str] = "feedback_ack"
    feedback_id: int = field(metadata=_v(integer(1, MAX_FEEDBACK_ID)))


@_from_device
@dataclass(frozen=True, slots=True)
class Ping(Message):
    TYPE: ClassVar[str] = "ping"
    id: RequestId = field(metadata=_v(request_id))


# server -> device


@_from_server
@dataclass(frozen=True, slots=True)
class LoginOk(Message):
    TYPE: ClassVar[str] = "login_ok"
    id: RequestId = field(metadata=_v(request_id))
    device: str = field(metadata=_v(device_id))
    msisdn: str = field(metadata=_v(number))
    account: str = field(metadata=_v(text(256)))


@_from_server
@dataclass(frozen=True, slots=True)
class Ok(Message):
    """The request ``id`` was done (for a response: its feedback is committed)."""

    TYPE: ClassVar[str] = "ok"
    id: RequestId = field(metadata=_v(request_id))


@_from_server
@dataclass(frozen=True, slots=True)
class Error(Message):
    """The request ``id`` (None: a frame without a usable id) was refused."""

    TYPE: ClassVar[str] = "error"
    code: str = field(metadata=_v(text(64)))
    reason: str = field(metadata=_v(text(1024)))
    id: RequestId | None = field(default=None, metadata=_v(optional_request_id))
    retry_after: float | None = field(default=None, metadata=_v(seconds, omit_none=True))


@_from_server
@dataclass(frozen=True, slots=True)
class Feedback(Message):
    """``receiver`` has read (status 1) the sender's message ``message_number``."""

    TYPE: ClassVar[str] = "feedback"
    feedback_id: int = field(metadata=_v(integer(1, MAX_FEEDBACK_ID)))
    receiver: str = field(metadata=_v(number))
    message_number: int = field(metadata=_v(integer(0, 255)))
    status: int = field(metadata=_v(integer(0, 1)))


@_from_server
@dataclass(frozen=True, slots=True)
class Pong(Message):
    TYPE: ClassVar[str] = "pong"
    id: RequestId = field(metadata=_v(request_id))


# -- frames ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WireError:
    """A frame the reader could not turn into a message: answer ``error``.

    ``fatal`` means the framing itself is lost (an impossible length): the
    reader reads nothing more, and the connection should be closed.
    """

    code: ErrorCode
    reason: str
    id: RequestId | None = None
    fatal: bool = False

    def message(self) -> Error:
        return Error(self.code, self.reason[:1024], self.id)


def encode(message: Message) -> bytes:
    """The octets of one frame carrying ``message``; ValueError if it is invalid."""
    payload = json.dumps(message.to_json(), separators=(",", ":")).encode("ascii")
    if len(payload) > MAX_FRAME:
        raise ValueError(f"{message.TYPE} of {len(payload)} octets exceeds {MAX_FRAME}")
    return len(payload).to_bytes(HEADER, "big") + payload


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def decode_payload(payload: bytes, accept: Mapping[str, type[Message]]) -> Message | WireError:
    """One frame's payload as a message of ``accept``, or the WireError saying why not."""
    try:
        obj = json.loads(payload.decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError as exc:
        return WireError(ErrorCode.BAD_FRAME, f"payload is not UTF-8 (octet {exc.start})")
    except ValueError as exc:
        return WireError(ErrorCode.BAD_FRAME, f"payload is not JSON: {exc}")
    except RecursionError:
        return WireError(ErrorCode.BAD_FRAME, "payload is JSON nested too deeply")
    if not isinstance(obj, dict):
        return WireError(ErrorCode.BAD_FRAME, "payload is not a JSON object")
    try:
        rid = optional_request_id(obj.get("id"))
    except Invalid:
        rid = None
    kind = obj.get("type")
    if not isinstance(kind, str):
        return WireError(ErrorCode.BAD_FRAME, 'the object has no string "type"', rid)
    cls = accept.get(kind)
    if cls is None:
        return WireError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {_show(kind)}", rid)
    try:
        return cls.from_json(obj)
    except Invalid as exc:
        return WireError(ErrorCode.BAD_MESSAGE, f"{kind}: {exc}", rid)


class FrameReader:
    """Splits a byte stream into messages, whatever the TCP segmentation.

    ``feed`` returns, in order, each complete frame's message or a WireError in
    its place.  A length of 0 is a bad frame like any other; a length past
    MAX_FRAME is fatal: the frames before it are still returned, then a fatal
    WireError, and from then on ``feed`` returns nothing.
    """

    def __init__(self, accept: Mapping[str, type[Message]]) -> None:
        self.accept = accept
        self._buf = bytearray()
        self.failed: WireError | None = None

    def feed(self, data: bytes) -> list[Message | WireError]:
        if self.failed is not None:
            return []
        buf = self._buf
        buf += data
        out: list[Message | WireError] = []
        pos = 0
        while len(buf) - pos >= HEADER:
            length = int.from_bytes(buf[pos : pos + HEADER], "big")
            if length > MAX_FRAME:
                self.failed = WireError(
                    ErrorCode.BAD_FRAME,
                    f"frame length {length} exceeds {MAX_FRAME}: framing lost",
                    fatal=True,
                )
                out.append(self.failed)
                buf.clear()
                return out
            if len(buf) - pos - HEADER < length:
                break
            start = pos + HEADER
            pos = start + length
            if length == 0:
                out.append(WireError(ErrorCode.BAD_FRAME, "empty frame"))
            else:
                out.append(decode_payload(bytes(buf[start:pos]), self.accept))
        del buf[:pos]
        return out

    @property
    def pending(self) -> int:
        """Octets of an incomplete frame held back."""
        return len(self._buf)
