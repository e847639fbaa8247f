"""Framing: bytes into command lines (ITU-T V.250 §5.2.1) and into the
message text typed after the ``> `` prompt (TS 27.005 §3.5.1).

Command state: S3 (CR) ends a line, S5 (backspace) takes back the last
character, other control characters are ignored, and ``A/`` repeats the
previous line at once.  A line longer than LINE_LIMIT is read to its end and
then refused, so a runaway client costs one ERROR, not the port.

Prompt state: Ctrl-Z (0x1A) ends the text and sends it, ESC (0x1B) cancels;
in text mode a CR is part of the text and earns another prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

#: V.250 asks for at least 40 characters; clients send far less than this.
LINE_LIMIT = 1024
#: The hex of the longest PDU is 2 * (12 + 164) characters; UCS2 text mode 4 * 160.
PROMPT_LIMIT = 2048
CTRL_Z, ESC, LF = 0x1A, 0x1B, 0x0A


@dataclass(frozen=True, slots=True)
class Line:
    text: str  # latin-1: one character per byte
    too_long: bool = False


@dataclass(frozen=True, slots=True)
class Repeat:
    """``A/``: run the previous command line again."""


@dataclass(frozen=True, slots=True)
class Submit:
    text: str
    too_long: bool = False


@dataclass(frozen=True, slots=True)
class Cancel:
    pass


@dataclass(frozen=True, slots=True)
class Reprompt:
    """A CR in text mode: the text goes on, after another prompt."""


class _Buffer:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chars = bytearray()
        self.too_long = False

    def add(self, byte: int) -> None:
        if len(self.chars) < self.limit:
            self.chars.append(byte)
        else:
            self.too_long = True

    def take(self) -> tuple[str, bool]:
        text, too_long = self.chars.decode("latin-1"), self.too_long
        self.chars.clear()
        self.too_long = False
        return text, too_long


class CommandReader:
    def __init__(self) -> None:
        self._buf = _Buffer(LINE_LIMIT)

    def feed(self, byte: int, s3: int, s5: int) -> Line | Repeat | None:
        buf = self._buf
        if byte == s3:
            return Line(*buf.take())
        if byte == s5:
            if buf.chars:
                buf.chars.pop()
            return None
        if byte < 0x20:
            return None  # V.250 §5.2.1: other control characters are ignored
        if byte == ord("/") and bytes(buf.chars).strip().upper() == b"A" and not buf.too_long:
            buf.take()
            return Repeat()
        buf.add(byte)
        return None


class PromptReader:
    def __init__(self, text_mode: bool) -> None:
        self._buf = _Buffer(PROMPT_LIMIT)
        self._text_mode = text_mode

    def feed(self, byte: int, s3: int, s5: int) -> Submit | Cancel | Reprompt | None:
        buf = self._buf
        if byte == CTRL_Z:
            return Submit(*buf.take())
        if byte == ESC:
            return Cancel()
        if byte == s5:
            if buf.chars:
                buf.chars.pop()
            return None
        if byte == s3 and self._text_mode:
            buf.add(byte)
            return Reprompt()
        if byte in (s3, LF):
            return None
        buf.add(byte)
        return None
