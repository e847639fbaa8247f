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

import base64
import binascii
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
    NOT_OPEN = "not_open"  # a query id that is not open (unknown, finished, expired)
    RECIPIENT_OFFLINE = "recipient_offline"  # ip_submit: the recipient is not logged in


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


def b64(octets: bytes) -> str:
    return base64.b64encode(octets).decode("ascii")


def unb64(text: str) -> bytes:
    """The octets of a field ``base64_text`` checked already."""
    return binascii.a2b_base64(text, strict_mode=True)


def records(cls: type[Record], max_items: int) -> Check:
    """A JSON array of ``cls`` objects (decoded) or ``cls`` instances (to encode)."""

    def check(value: object) -> tuple[Record, ...]:
        if not isinstance(value, list | tuple) or len(value) > max_items:
            raise Invalid(f"must be an array of at most {max_items} objects")
        out = []
        for i, item in enumerate(value):
            if isinstance(item, cls):
                out.append(item)
            elif isinstance(item, Mapping):
                try:
                    out.append(cls.from_json(item))
                except Invalid as exc:
                    raise Invalid(f"[{i}] {exc}") from None
            else:
                raise Invalid(f"[{i}] must be an object")
        return tuple(out)

    return check


def strings(check_one: Check, max_items: int) -> Check:
    def check(value: object) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple) or len(value) > max_items:
            raise Invalid(f"must be an array of at most {max_items} values")
        try:
            return tuple(check_one(v) for v in value)
        except Invalid as exc:
            raise Invalid(f"item {exc}") from None

    return check


def _v(check: Check, *, omit_none: bool = False) -> dict[str, Any]:
    """A message field's metadata: its validator, and whether ``None`` leaves it
    out of the JSON."""
    return {"check": check, "omit_none": omit_none}


# -- messages --------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value.to_json() if isinstance(value, Record) else value


@dataclass(frozen=True, slots=True)
class Record:
    """A JSON object whose dataclass fields are its keys, each with its validator."""

    def to_json(self) -> dict[str, Any]:
        """The JSON object; ValueError if a field is invalid."""
        obj: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata["omit_none"]:
                continue
            try:
                obj[f.name] = _plain(f.metadata["check"](value))
            except Invalid as exc:
                raise ValueError(f"{self._label()}: {f.name} {exc}") from None
        return obj

    def _label(self) -> str:
        return type(self).__name__

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


@dataclass(frozen=True, slots=True)
class Message(Record):
    """A wire message: ``TYPE`` is its "type", the dataclass fields its keys."""

    TYPE: ClassVar[str]

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this message; ValueError if a field is invalid."""
        return {"type": self.TYPE} | Record.to_json(self)

    def _label(self) -> str:
        return self.TYPE


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


# -- multi-device accounts: push channel, partial history, query relay, IP path ----

#: The longest message text the history and the IP path carry (a 52-part SMS).
MAX_TEXT = 8000
#: Messages in one history_put (a sender still has to keep the frame under
#: MAX_FRAME: long texts take fewer per frame).
MAX_ENTRIES = 100
#: A query's result limit.
MAX_LIMIT = 500
#: Base64 characters of one sealed answer: a frame holds at least one.
MAX_SEALED = 48000
#: Devices named in one ``results`` (an account's devices).
MAX_DEVICES = 64

DIRECTIONS = ("in", "out")
#: How a finished query ended (SPEC §3.8).
QUERY_STATUSES = ("complete", "partial", "not_found")


@dataclass(frozen=True, slots=True)
class HistoryEntry(Record):
    """One message of an account's history: ``uid`` is the same on every
    device of the account that holds it; ``at`` is Unix time in milliseconds."""

    uid: str = field(metadata=_v(token))
    peer: str = field(metadata=_v(number))
    direction: str = field(metadata=_v(choice(*DIRECTIONS)))
    text: str = field(metadata=_v(text(MAX_TEXT)))
    at: int = field(metadata=_v(millis))


@dataclass(frozen=True, slots=True)
class SealedAnswer(Record):
    """What one device found, sealed to the asking device's public key: the
    server sees its size and ``count``, not the messages."""

    device: str = field(metadata=_v(device_id))
    count: int = field(metadata=_v(integer(0, MAX_LIMIT)))
    sealed: str = field(metadata=_v(base64_text(MAX_SEALED)))


# device -> server


@_from_device
@dataclass(frozen=True, slots=True)
class PushSubscribe(Message):
    """Open this connection as the device's push channel: it stays logged out,
    and only ``login_indication`` (and ``pong``) come down it."""

    TYPE: ClassVar[str] = "push_subscribe"
    id: RequestId = field(metadata=_v(request_id))
    device: str = field(metadata=_v(device_id))
    secret: str = field(metadata=_v(text(256)))


@_from_device
@dataclass(frozen=True, slots=True)
class HistoryPut(Message):
    """Copies of the account's messages for the server's partial history."""

    TYPE: ClassVar[str] = "history_put"
    id: RequestId = field(metadata=_v(request_id))
    messages: tuple[HistoryEntry, ...] = field(metadata=_v(records(HistoryEntry, MAX_ENTRIES)))


@_from_device
@dataclass(frozen=True, slots=True)
class Query(Message):
    """Search the account's history (SPEC §3): every given criterion must
    match; ``text`` is a case-insensitive substring, ``since``/``until`` are
    Unix milliseconds (``since`` <= at < ``until``)."""

    TYPE: ClassVar[str] = "query"
    id: RequestId = field(metadata=_v(request_id))
    text: str | None = field(default=None, metadata=_v(optional(text(256)), omit_none=True))
    peer: str | None = field(default=None, metadata=_v(optional(number), omit_none=True))
    since: int | None = field(default=None, metadata=_v(optional(millis), omit_none=True))
    until: int | None = field(default=None, metadata=_v(optional(millis), omit_none=True))
    limit: int = field(default=50, metadata=_v(integer(1, MAX_LIMIT)))
    timeout: float | None = field(default=None, metadata=_v(timeout, omit_none=True))


@_from_device
@dataclass(frozen=True, slots=True)
class QueryAnswer(Message):
    """A device's answer to a ``query_request``: what it found, sealed."""

    TYPE: ClassVar[str] = "query_answer"
    id: RequestId = field(metadata=_v(request_id))
    query_id: str = field(metadata=_v(token))
    count: int = field(metadata=_v(integer(0, MAX_LIMIT)))
    sealed: str = field(metadata=_v(base64_text(MAX_SEALED)))


@_from_device
@dataclass(frozen=True, slots=True)
class FetchResults(Message):
    TYPE: ClassVar[str] = "fetch_results"
    id: RequestId = field(metadata=_v(request_id))
    query_id: str = field(metadata=_v(token))


@_from_device
@dataclass(frozen=True, slots=True)
class ResultsAck(Message):
    """The asker has the results: the server deletes its copy, then ``ok``."""

    TYPE: ClassVar[str] = "results_ack"
    id: RequestId = field(metadata=_v(request_id))
    query_id: str = field(metadata=_v(token))


@_from_device
@dataclass(frozen=True, slots=True)
class IpSubmit(Message):
    """Send a message over the IP path instead of the SMSC (SPEC §2.3)."""

    TYPE: ClassVar[str] = "ip_submit"
    id: RequestId = field(metadata=_v(request_id))
    to: str = field(metadata=_v(number))
    uid: str = field(metadata=_v(token))
    message_number: int = field(metadata=_v(integer(0, 255)))
    text: str = field(metadata=_v(text(MAX_TEXT)))
    sent_at: int = field(metadata=_v(millis))


@_from_device
@dataclass(frozen=True, slots=True)
class IpMessageAck(Message):
    """The device has stored the ``ip_message``: the server may forget it."""

    TYPE: ClassVar[str] = "ip_message_ack"
    delivery_id: int = field(metadata=_v(integer(1, MAX_FEEDBACK_ID)))


# server -> device


@_from_server
@dataclass(frozen=True, slots=True)
class QueryResult(Message):
    """A query answered at once: from the server's own copy (``found``), or
    ``not_found`` when there is nothing there and no other device to ask."""

    TYPE: ClassVar[str] = "query_result"
    id: RequestId = field(metadata=_v(request_id))
    status: str = field(metadata=_v(choice("found", "not_found")))
    messages: tuple[HistoryEntry, ...] = field(
        default=(), metadata=_v(records(HistoryEntry, MAX_LIMIT))
    )


@_from_server
@dataclass(frozen=True, slots=True)
class QueryOpen(Message):
    """The query went to the account's other devices; ``results_ready`` follows
    within ``deadline`` seconds."""

    TYPE: ClassVar[str] = "query_open"
    id: RequestId = field(metadata=_v(request_id))
    query_id: str = field(metadata=_v(token))
    devices: int = field(metadata=_v(integer(1, MAX_DEVICES)))
    deadline: float | None = field(metadata=_v(seconds))


@_from_server
@dataclass(frozen=True, slots=True)
class QueryRequest(Message):
    """Another device of the account asks: search, seal to ``reply_key``, answer."""

    TYPE: ClassVar[str] = "query_request"
    query_id: str = field(metadata=_v(token))
    asker: str = field(metadata=_v(device_id))
    reply_key: str = field(metadata=_v(base64_text(64)))
    text: str | None = field(default=None, metadata=_v(optional(text(256)), omit_none=True))
    peer: str | None = field(default=None, metadata=_v(optional(number), omit_none=True))
    since: int | None = field(default=None, metadata=_v(optional(millis), omit_none=True))
    until: int | None = field(default=None, metadata=_v(optional(millis), omit_none=True))
    limit: int = field(default=50, metadata=_v(integer(1, MAX_LIMIT)))


@_from_server
@dataclass(frozen=True, slots=True)
class LoginIndication(Message):
    """On a push channel: log in, something waits for this device.  It says
    what kind of thing, never what (no search terms)."""

    TYPE: ClassVar[str] = "login_indication"
    reason: str = field(metadata=_v(choice("history_query")))


@_from_server
@dataclass(frozen=True, slots=True)
class ResultsReady(Message):
    TYPE: ClassVar[str] = "results_ready"
    query_id: str = field(metadata=_v(token))
    status: str = field(metadata=_v(choice(*QUERY_STATUSES)))
    answered: int = field(metadata=_v(integer(0, MAX_DEVICES)))
    expected: int = field(metadata=_v(integer(0, MAX_DEVICES)))


@_from_server
@dataclass(frozen=True, slots=True)
class Results(Message):
    """Sealed answers of a finished query, and the devices that gave none.
    The answers may take several frames, all with the request's id: the
    last one has ``last`` true."""

    TYPE: ClassVar[str] = "results"
    id: RequestId = field(metadata=_v(request_id))
    query_id: str = field(metadata=_v(token))
    status: str = field(metadata=_v(choice(*QUERY_STATUSES)))
    answers: tuple[SealedAnswer, ...] = field(metadata=_v(records(SealedAnswer, MAX_DEVICES)))
    missing: tuple[str, ...] = field(default=(), metadata=_v(strings(device_id, MAX_DEVICES)))
    last: bool = field(default=True, metadata=_v(boolean))


@_from_server
@dataclass(frozen=True, slots=True)
class IpMessage(Message):
    """A message that came over the IP path; acknowledge it once stored."""

    TYPE: ClassVar[str] = "ip_message"
    delivery_id: int = field(metadata=_v(integer(1, MAX_FEEDBACK_ID)))
    sender: str = field(metadata=_v(number))
    uid: str = field(metadata=_v(token))
    message_number: int = field(metadata=_v(integer(0, 255)))
    text: str = field(metadata=_v(text(MAX_TEXT)))
    sent_at: int = field(metadata=_v(millis))


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


def encode_unchecked(message: Record) -> bytes:
    """The JSON of a message (its frame's payload) or of a record, whatever its
    size: to see what fits a frame."""
    return json.dumps(message.to_json(), separators=(",", ":")).encode("ascii")


def encode(message: Message) -> bytes:
    """The octets of one frame carrying ``message``; ValueError if it is invalid
    or too large for a frame."""
    payload = encode_unchecked(message)
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
