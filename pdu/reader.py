"""A cursor over PDU octets that turns every overrun into a PDUError.

Decoders read through it and never index the buffer themselves, so a truncated
PDU or a length that lies surfaces as one error with the octet offset.  When a
``trace`` list is given, each named field read is recorded as a Span, and the
decoder may ``note`` what it meant: that is how ``explain`` shows every octet
without a second parser.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PDUError


@dataclass(slots=True)
class Span:
    """Octets ``start`` .. ``end - 1`` of the input are the field ``name``."""

    start: int
    end: int
    name: str
    meaning: str = ""


class Reader:
    __slots__ = ("base", "buf", "pos", "trace")

    def __init__(
        self,
        buf: bytes,
        pos: int = 0,
        trace: list[Span] | None = None,
        base: int = 0,
    ) -> None:
        self.buf = buf
        self.pos = pos
        self.trace = trace
        # ``base`` shifts reported offsets, for a reader over part of a larger PDU.
        self.base = base

    def error(self, reason: str, at: int | None = None) -> PDUError:
        return PDUError(reason, self.base + (self.pos if at is None else at))

    def octet(self, name: str) -> int:
        pos = self.pos
        if pos >= len(self.buf):
            raise self.error(f"truncated: {name} missing")
        self.pos = pos + 1
        if self.trace is not None:
            self.trace.append(Span(self.base + pos, self.base + pos + 1, name))
        return self.buf[pos]

    def take(self, n: int, name: str) -> bytes:
        pos = self.pos
        end = pos + n
        if end > len(self.buf):
            raise self.error(f"truncated: {name} needs {n} octets, {len(self.buf) - pos} left")
        self.pos = end
        if self.trace is not None and n:
            self.trace.append(Span(self.base + pos, self.base + end, name))
        return self.buf[pos:end]

    def note(self, meaning: str) -> None:
        """Say what the field just read means (only called when tracing)."""
        if self.trace:
            self.trace[-1].meaning = meaning

    def remaining(self) -> int:
        return len(self.buf) - self.pos

    def at_end(self) -> bool:
        return self.pos >= len(self.buf)
