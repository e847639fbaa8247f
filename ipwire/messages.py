"""The messages of the IP wire (docs/receipt-wire.md), as frozen dataclasses.

A ``Message`` is one JSON object with a string "type" (its ``TYPE``), its
dataclass fields the object's other keys; a ``Record`` is a JSON object
nested in a message (a history entry, a sealed answer).  Each field carries
its validator (``ipwire.validators``) in its metadata.  A new message type is
a new dataclass registered for the direction(s) it travels in
(``DEVICE_MESSAGES``, ``SERVER_MESSAGES``): nothing else changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar, Self, TypeVar

from .validators import (
    Check,
    Invalid,
    RequestId,
    base64_text,
    boolean,
    choice,
    device_id,
    integer,
    millis,
    number,
    octets,
    optional,
    optional_request_id,
    request_id,
    seconds,
    strings,
    text,
    timeout,
    token,
)


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


#: The largest feedback_id and delivery_id: a signed 64-bit integer.
MAX_FEEDBACK_ID = 2**63 - 1


def _v(check: Check, *, omit_none: bool = False) -> dict[str, Any]:
    """A message field's metadata: its validator, and whether ``None`` leaves it
    out of the JSON."""
    return {"check": check, "omit_none": omit_none}


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
    """Log in as ``device``: the server answers ``challenge``, the device
    ``login_proof`` (ipwire.proof); the secret never crosses the wire."""

    TYPE: ClassVar[str] = "login"
    id: RequestId = field(metadata=_v(request_id))
    device: str = field(metadata=_v(device_id))
    nonce: str = field(metadata=_v(octets(16, 64)))


@_from_device
@dataclass(frozen=True, slots=True)
class LoginProof(Message):
    """The answer to ``challenge``: ClientProof, 32 octets, with the login's id."""

    TYPE: ClassVar[str] = "login_proof"
    id: RequestId = field(metadata=_v(request_id))
    proof: str = field(metadata=_v(octets(32, 32)))


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
    #: When the message was sent, as the receiver saw it (TP-SCTS, or the IP
    #: path's sent_at), in ms: it tells two messages of the same number apart
    #: after the numbers wrap.  Absent from older devices.
    sent_at: int | None = field(default=None, metadata=_v(optional(millis), omit_none=True))


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
class Challenge(Message):
    """The server's nonce for the login (or push_subscribe) ``id``."""

    TYPE: ClassVar[str] = "challenge"
    id: RequestId = field(metadata=_v(request_id))
    nonce: str = field(metadata=_v(octets(16, 64)))


@_from_server
@dataclass(frozen=True, slots=True)
class LoginOk(Message):
    """Logged in; ``signature`` (ServerSignature) proves the server knows the
    device's secret too.  A push channel gets it as well."""

    TYPE: ClassVar[str] = "login_ok"
    id: RequestId = field(metadata=_v(request_id))
    device: str = field(metadata=_v(device_id))
    msisdn: str = field(metadata=_v(number))
    account: str = field(metadata=_v(text(256)))
    signature: str = field(metadata=_v(octets(32, 32)))


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
    """``receiver`` has read (status 1) the sender's message ``message_number``
    (the one sent at ``sent_at``, when the response said)."""

    TYPE: ClassVar[str] = "feedback"
    feedback_id: int = field(metadata=_v(integer(1, MAX_FEEDBACK_ID)))
    receiver: str = field(metadata=_v(number))
    message_number: int = field(metadata=_v(integer(0, 255)))
    status: int = field(metadata=_v(integer(0, 1)))
    sent_at: int | None = field(default=None, metadata=_v(optional(millis), omit_none=True))


@_from_server
@dataclass(frozen=True, slots=True)
class Pong(Message):
    TYPE: ClassVar[str] = "pong"
    id: RequestId = field(metadata=_v(request_id))


# -- multi-device accounts: push channel, partial history, query relay, IP path ----

#: The longest message text the history and the IP path carry (a 52-part SMS).
MAX_TEXT = 8000
#: A message's text on the wire: empty (a legal SMS) to MAX_TEXT characters.
message_text = text(MAX_TEXT, min_length=0)
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
#: How a finished query ended (docs/history-query.md §Results).
QUERY_STATUSES = ("complete", "partial", "not_found")


@dataclass(frozen=True, slots=True)
class HistoryEntry(Record):
    """One message of an account's history: ``uid`` is the same on every
    device of the account that holds it; ``at`` is Unix time in milliseconds."""

    uid: str = field(metadata=_v(token))
    peer: str = field(metadata=_v(number))
    direction: str = field(metadata=_v(choice(*DIRECTIONS)))
    text: str = field(metadata=_v(message_text))
    at: int = field(metadata=_v(millis))


@dataclass(frozen=True, slots=True)
class SealedAnswer(Record):
    """What one device found, sealed to the asking device's public key: the
    server sees its size and ``count``, not the messages."""

    device: str = field(metadata=_v(device_id))
    count: int = field(metadata=_v(integer(0, MAX_LIMIT)))
    sealed: str = field(metadata=_v(base64_text(MAX_SEALED)))


#: Base64 characters of a window entry's sealed content key (93 octets).
MAX_WINDOW_KEY = 128


@dataclass(frozen=True, slots=True)
class WindowEntry(Record):
    """One copy of the server's window as the asker gets it: what the window
    searches on in the clear, the text sealed to the account's devices
    (docs/history-query.md §Window): ``box`` is the shared body,
    ``key`` its content key sealed to the asking device."""

    uid: str = field(metadata=_v(token))
    peer: str = field(metadata=_v(number))
    direction: str = field(metadata=_v(choice(*DIRECTIONS)))
    at: int = field(metadata=_v(millis))
    key: str = field(metadata=_v(base64_text(MAX_WINDOW_KEY)))
    box: str = field(metadata=_v(base64_text(MAX_SEALED)))


#: The window's hits in ``query_result`` and ``query_open``: left out when none.
_window = _v(optional(records(WindowEntry, MAX_LIMIT)), omit_none=True)


# device -> server


@_from_device
@dataclass(frozen=True, slots=True)
class PushSubscribe(Message):
    """Open this connection as the device's push channel: it stays logged out,
    and only ``login_indication`` (and ``pong``) come down it."""

    TYPE: ClassVar[str] = "push_subscribe"
    id: RequestId = field(metadata=_v(request_id))
    device: str = field(metadata=_v(device_id))
    nonce: str = field(metadata=_v(octets(16, 64)))


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
    """Search the account's history (docs/history-query.md §Search): every given criterion must
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
    """Send a message over the IP path instead of the SMSC (docs/read-receipts.md §Routing)."""

    TYPE: ClassVar[str] = "ip_submit"
    id: RequestId = field(metadata=_v(request_id))
    to: str = field(metadata=_v(number))
    uid: str = field(metadata=_v(token))
    message_number: int = field(metadata=_v(integer(0, 255)))
    text: str = field(metadata=_v(message_text))
    sent_at: int = field(metadata=_v(millis))


@_from_device
@dataclass(frozen=True, slots=True)
class IpMessageAck(Message):
    """The device has stored the ``ip_message``: the server may forget it."""

    TYPE: ClassVar[str] = "ip_message_ack"
    delivery_id: int = field(metadata=_v(integer(1, MAX_FEEDBACK_ID)))


@_from_device
@dataclass(frozen=True, slots=True)
class ReadSync(Message):
    """This device's user read the received message ``uid``: the account's
    other devices are to show it read too (docs/receipt-wire.md §Reads).
    ``ok`` once committed for each of them."""

    TYPE: ClassVar[str] = "read_sync"
    id: RequestId = field(metadata=_v(request_id))
    uid: str = field(metadata=_v(token))


@_from_device
@dataclass(frozen=True, slots=True)
class ReadStateAck(Message):
    """The device has applied the ``read_state``: the server may forget it."""

    TYPE: ClassVar[str] = "read_state_ack"
    sync_id: int = field(metadata=_v(integer(1, MAX_FEEDBACK_ID)))


# server -> device


@_from_server
@dataclass(frozen=True, slots=True)
class QueryResult(Message):
    """A query answered at once: from the server's window (``found``), or
    ``not_found`` when there is nothing there and no other device to ask.
    The window's hits come sealed in ``window``; ``messages`` (in the clear)
    is what servers before the sealed window sent, and stays empty now."""

    TYPE: ClassVar[str] = "query_result"
    id: RequestId = field(metadata=_v(request_id))
    status: str = field(metadata=_v(choice("found", "not_found")))
    messages: tuple[HistoryEntry, ...] = field(
        default=(), metadata=_v(records(HistoryEntry, MAX_LIMIT))
    )
    window: tuple[WindowEntry, ...] | None = field(default=None, metadata=_window)


@_from_server
@dataclass(frozen=True, slots=True)
class QueryOpen(Message):
    """The query went to the account's other devices; ``results_ready`` follows
    within ``deadline`` seconds.  ``window``: what the server's window holds
    of it meanwhile (it did not cover the whole query)."""

    TYPE: ClassVar[str] = "query_open"
    id: RequestId = field(metadata=_v(request_id))
    query_id: str = field(metadata=_v(token))
    devices: int = field(metadata=_v(integer(1, MAX_DEVICES)))
    deadline: float | None = field(metadata=_v(seconds))
    window: tuple[WindowEntry, ...] | None = field(default=None, metadata=_window)


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
    text: str = field(metadata=_v(message_text))
    sent_at: int = field(metadata=_v(millis))


@_from_server
@dataclass(frozen=True, slots=True)
class ReadState(Message):
    """Another device of the account read the message ``uid``: show it read,
    send no response for it, then acknowledge."""

    TYPE: ClassVar[str] = "read_state"
    sync_id: int = field(metadata=_v(integer(1, MAX_FEEDBACK_ID)))
    uid: str = field(metadata=_v(token))
