"""The frames of the IP wire: a length, then one JSON message (docs/receipt-wire.md).

Every frame, in both directions::

    octets 0-3   length    big-endian unsigned, counts the payload octets, 1..65536
    octets 4..   payload   one JSON object in UTF-8, with a string "type"

Sans-I/O in the style of h11: ``encode`` turns a message into the octets of
one frame, ``FrameReader`` turns a byte stream into messages.  A frame that
cannot be used becomes a ``WireError`` in the reader's output, never an
exception, so one bad frame costs one ``error`` and the session goes on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from .messages import Error, ErrorCode, Message, Record
from .validators import Invalid, RequestId, _show, optional_request_id

HEADER = 4  # the big-endian length prefix
MAX_FRAME = 65536  # the largest payload a frame may carry


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
