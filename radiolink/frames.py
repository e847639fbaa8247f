"""The radio link between a handset and the SMSC: a small versioned framing
around the RP messages of TS 24.011, documented in docs/radio-link.md.

Sans-I/O in the style of h11: ``FrameReader`` turns bytes into frames,
``encode_frame`` turns frames into bytes, and the two session classes keep the
attach state of each side.  The Twisted protocols only move bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

VERSION = 1
HEADER = 3  # length (2 octets, big-endian) + type (1 octet)
MAX_FRAME = 1024  # the length field's largest accepted value


class FrameType(IntEnum):
    ATTACH = 0x01
    ATTACH_ACCEPT = 0x02
    ATTACH_REJECT = 0x03
    DETACH = 0x04
    RP = 0x05
    ERROR = 0x06
    AUTH_REQUEST = 0x07
    AUTH_RESPONSE = 0x08
    AUTH_FAILURE = 0x09


class ErrorCode(IntEnum):
    """Codes of an ERROR frame: why the receiver could not use a frame."""

    UNKNOWN_FRAME_TYPE = 1
    MALFORMED_FRAME = 2
    NOT_ATTACHED = 3
    ALREADY_ATTACHED = 4
    FRAME_TOO_LONG = 5
    UNEXPECTED_FRAME = 6


class RejectCause(IntEnum):
    MALFORMED = 1
    UNSUPPORTED_VERSION = 2
    NOT_PROVISIONED = 3  # no subscriber with this IMSI, or not with this MSISDN
    AUTHENTICATION_FAILED = 4  # a wrong RES, or a SIM that does not know the network


class LinkError(Exception):
    """A frame that breaks the framing itself: the connection cannot go on."""


@dataclass(frozen=True, slots=True)
class Attach:
    imsi: str
    msisdn: str  # E.164 with a leading '+'
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class AttachAccept:
    smsc: str  # the SMSC's own address, as a handset puts it in RP-DA
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class AttachReject:
    cause: RejectCause
    reason: str


@dataclass(frozen=True, slots=True)
class Detach:
    pass


@dataclass(frozen=True, slots=True)
class Rp:
    message: bytes  # one RP message (TS 24.011 §7.3), decoded by radiolink.rp


@dataclass(frozen=True, slots=True)
class Error:
    code: ErrorCode
    reason: str


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """The network's challenge (TS 33.102 §6.3): RAND and AUTN, 16 octets each."""

    rand: bytes
    autn: bytes


@dataclass(frozen=True, slots=True)
class AuthResponse:
    res: bytes  # 4 to 16 octets; MILENAGE's f2 gives 8


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """The SIM refuses the challenge: cause 20 (MAC failure) or 21 (synch
    failure, with the 14 octets of AUTS), as TS 24.008 §10.5.3.6 numbers them."""

    cause: int
    auts: bytes = b""


Frame = (
    Attach | AttachAccept | AttachReject | Detach | Rp | Error | AuthRequest | AuthResponse
    | AuthFailure
)  # fmt: skip


class MalformedFrame(Exception):
    """A frame whose length was right but whose content was not: answer ERROR
    and go on reading, the framing is intact."""

    def __init__(self, code: ErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _lv(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 255:
        raise ValueError(f"{text[:20]!r}... is longer than 255 octets")
    return bytes((len(raw),)) + raw


def encode_frame(frame: Frame) -> bytes:
    if isinstance(frame, Rp):  # nearly every frame
        kind, body = FrameType.RP, frame.message
    elif isinstance(frame, Attach):
        kind, body = FrameType.ATTACH, bytes((frame.version,)) + _lv(frame.imsi) + _lv(frame.msisdn)
    elif isinstance(frame, AttachAccept):
        kind, body = FrameType.ATTACH_ACCEPT, bytes((frame.version,)) + _lv(frame.smsc)
    elif isinstance(frame, AttachReject):
        kind, body = FrameType.ATTACH_REJECT, bytes((frame.cause,)) + frame.reason.encode()
    elif isinstance(frame, Detach):
        kind, body = FrameType.DETACH, b""
    elif isinstance(frame, AuthRequest):
        kind, body = FrameType.AUTH_REQUEST, frame.rand + frame.autn
    elif isinstance(frame, AuthResponse):
        kind, body = FrameType.AUTH_RESPONSE, frame.res
    elif isinstance(frame, AuthFailure):
        kind, body = FrameType.AUTH_FAILURE, bytes((frame.cause,)) + frame.auts
    else:
        kind, body = FrameType.ERROR, bytes((frame.code,)) + frame.reason.encode()
    if len(body) + 1 > MAX_FRAME:
        raise ValueError(f"frame of {len(body) + 1} octets exceeds {MAX_FRAME}")
    return (len(body) + 1).to_bytes(2, "big") + bytes((kind,)) + body


def _read_lv(body: bytes, pos: int, what: str) -> tuple[str, int]:
    if pos >= len(body) or pos + 1 + body[pos] > len(body):
        raise MalformedFrame(ErrorCode.MALFORMED_FRAME, f"{what} runs past the frame")
    end = pos + 1 + body[pos]
    try:
        return body[pos + 1 : end].decode("utf-8"), end
    except UnicodeDecodeError:
        raise MalformedFrame(ErrorCode.MALFORMED_FRAME, f"{what} is not UTF-8") from None


def _text(body: bytes) -> str:
    return body.decode("utf-8", "replace")


def parse_frame(kind: int, body: bytes) -> Frame:
    """One frame from its type and payload; MalformedFrame when it makes no sense."""
    if kind == FrameType.RP:
        return Rp(body)
    if kind == FrameType.ATTACH:
        if not body:
            raise MalformedFrame(ErrorCode.MALFORMED_FRAME, "ATTACH without a version")
        imsi, pos = _read_lv(body, 1, "IMSI")
        msisdn, pos = _read_lv(body, pos, "MSISDN")
        return Attach(imsi, msisdn, body[0])
    if kind == FrameType.ATTACH_ACCEPT:
        if not body:
            raise MalformedFrame(ErrorCode.MALFORMED_FRAME, "ATTACH-ACCEPT without a version")
        smsc, _ = _read_lv(body, 1, "SMSC address")
        return AttachAccept(smsc, body[0])
    if kind == FrameType.DETACH:
        return Detach()
    if kind == FrameType.AUTH_REQUEST:
        if len(body) != 32:
            raise MalformedFrame(
                ErrorCode.MALFORMED_FRAME, f"AUTH-REQUEST of {len(body)} octets, expected 32"
            )
        return AuthRequest(body[:16], body[16:])
    if kind == FrameType.AUTH_RESPONSE:
        if not 4 <= len(body) <= 16:
            raise MalformedFrame(
                ErrorCode.MALFORMED_FRAME, f"RES of {len(body)} octets, expected 4 to 16"
            )
        return AuthResponse(body)
    if kind == FrameType.AUTH_FAILURE:
        if len(body) not in (1, 15):
            raise MalformedFrame(
                ErrorCode.MALFORMED_FRAME,
                f"AUTH-FAILURE of {len(body)} octets, expected a cause and 14 of AUTS or none",
            )
        return AuthFailure(body[0], body[1:])
    if kind in (FrameType.ATTACH_REJECT, FrameType.ERROR):
        if not body:
            raise MalformedFrame(ErrorCode.MALFORMED_FRAME, "a cause octet is missing")
        if kind == FrameType.ERROR:
            code = body[0]
            return Error(
                ErrorCode(code)
                if code in ErrorCode._value2member_map_
                else ErrorCode.MALFORMED_FRAME,
                _text(body[1:]),
            )
        cause = body[0]
        return AttachReject(
            RejectCause(cause)
            if cause in RejectCause._value2member_map_
            else RejectCause.MALFORMED,
            _text(body[1:]),
        )
    raise MalformedFrame(ErrorCode.UNKNOWN_FRAME_TYPE, f"unknown frame type {kind:#04x}")


class FrameReader:
    """Splits a byte stream into frames, whatever the TCP segmentation.

    ``feed`` returns each complete frame, or a MalformedFrame in its place for
    one that could not be parsed (the stream stays usable).  A length field past
    MAX_FRAME means the framing can no longer be trusted: the frames before it
    are still returned, ``error`` is set, and nothing more is read.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.error: LinkError | None = None

    def feed(self, data: bytes) -> list[Frame | MalformedFrame]:
        if self.error is not None:
            return []
        self._buf += data
        out: list[Frame | MalformedFrame] = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= 2:
            length = buf[pos] << 8 | buf[pos + 1]
            if length > MAX_FRAME:
                self.error = LinkError(f"frame length {length} exceeds {MAX_FRAME}")
                buf.clear()
                return out
            if len(buf) - pos - 2 < length:
                break
            if length == 0:
                out.append(MalformedFrame(ErrorCode.MALFORMED_FRAME, "empty frame"))
            else:
                try:
                    out.append(parse_frame(buf[pos + 2], bytes(buf[pos + 3 : pos + 2 + length])))
                except MalformedFrame as exc:
                    out.append(exc)
            pos += 2 + length
        del buf[:pos]
        return out

    @property
    def pending(self) -> int:
        """Octets of an incomplete frame held back."""
        return len(self._buf)
