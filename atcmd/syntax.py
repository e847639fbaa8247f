"""The command line syntax of ITU-T V.250 §5.2-§5.4: what follows "AT".

A line holds basic commands (a letter or ``&`` and a letter, with an optional
number: ``E0``, ``&F``; ``S3=13`` and ``S3?`` for S-parameters) and extended
commands (a prefix character and a name: ``+CMGF=0``), the latter separated by
``;``.  Outside string constants, spaces are ignored and case does not matter
(§5.2.1); an extended command comes in four forms (§5.4.2-§5.4.4): action
(``+CGMI``), set (``+CMGF=0``), read (``+CMGF?``) and test (``+CMGF=?``).

Vendor prefixes (``^``, ``$``, ``%``, ``*``, ``#``, ``!``, ``@``) parse as
extended commands so that a probe like ``AT^SYSINFO`` reaches the dispatcher
and gets its ERROR there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from .results import CommandError


class Kind(Enum):
    ACTION = ""
    SET = "="
    READ = "?"
    TEST = "=?"


#: A parameter: a number, a string (quoted or not), or left out (``AT+CNMI=2,,0``).
Arg = int | str | None

EXTENDED_PREFIXES = frozenset("+^$%*#!@")
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!%-./:_")
_ESCAPE = re.compile(r"\\([0-9A-Fa-f]{2})")


@dataclass(frozen=True, slots=True)
class Command:
    """One command of a line.  ``name`` is ``+CMGS``, ``E``, ``&F``, ``S3``;
    ``args`` holds the parameters of a set command, or the number of a basic
    command (``(None,)`` when it was left out: ``ATE`` means ``ATE0``)."""

    name: str
    kind: Kind = Kind.ACTION
    args: tuple[Arg, ...] = ()


def strip_prefix(line: str) -> str | None:
    """The body of a command line, or None when it does not start with "AT"."""
    text = line.lstrip(" \t")
    if text[:2].upper() != "AT":
        return None
    return text[2:]


def _normalise(body: str) -> str:
    """Upper case and no spaces outside string constants; quotes kept."""
    out: list[str] = []
    quoted = False
    for ch in body:
        if ch == '"':
            quoted = not quoted
            out.append(ch)
        elif quoted:
            out.append(ch)
        elif ch not in " \t":
            out.append(ch.upper())
    if quoted:
        raise CommandError("a string constant is not closed")
    return "".join(out)


def _arg(token: str) -> Arg:
    if token == "":
        return None
    if token[0] == '"':
        if len(token) < 2 or token[-1] != '"' or '"' in token[1:-1]:
            raise CommandError(f"malformed string parameter {token!r}")
        return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), token[1:-1])
    if token.isdigit() and token.isascii():
        return int(token)
    if '"' in token:
        raise CommandError(f"malformed parameter {token!r}")
    return token


def _split_args(s: str, i: int) -> tuple[tuple[Arg, ...], int]:
    """Parameters from ``s[i]`` up to the ``;`` that ends the command."""
    tokens: list[str] = []
    start, quoted = i, False
    while i < len(s):
        ch = s[i]
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in ",;":
            tokens.append(s[start:i])
            if ch == ";":
                return tuple(map(_arg, tokens)), i
            start = i + 1
        i += 1
    tokens.append(s[start:i])
    return tuple(map(_arg, tokens)), i


def _number(s: str, i: int) -> tuple[int | None, int]:
    j = i
    while j < len(s) and s[j].isdigit() and s[j].isascii():
        j += 1
    return (int(s[i:j]) if j > i else None), j


def _extended(s: str, i: int) -> tuple[Command, int]:
    j = i + 1
    while j < len(s) and s[j] in _NAME_CHARS:
        j += 1
    name = s[i:j]
    if len(name) == 1:
        raise CommandError(f"{name!r} is not followed by a command name")
    if s.startswith("=?", j):
        return Command(name, Kind.TEST), j + 2
    if s.startswith("?", j):
        return Command(name, Kind.READ), j + 1
    if s.startswith("=", j):
        args, j = _split_args(s, j + 1)
        return Command(name, Kind.SET, args), j
    return Command(name, Kind.ACTION), j


def _s_parameter(s: str, i: int) -> tuple[Command, int]:
    number, j = _number(s, i + 1)
    if number is None:
        raise CommandError("S is not followed by a register number")
    name = f"S{number}"
    if s.startswith("?", j):
        return Command(name, Kind.READ), j + 1
    if s.startswith("=", j):
        value, j = _number(s, j + 1)
        return Command(name, Kind.SET, (value,)), j
    raise CommandError(f"{name} is not followed by '?' or '='")


def parse(body: str) -> list[Command]:
    """The commands of a line's body (after "AT").  Raises CommandError for a
    line that does not follow V.250, before anything of it runs."""
    s = _normalise(body)
    commands: list[Command] = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == ";":
            i += 1
            continue
        if ch in EXTENDED_PREFIXES:
            command, i = _extended(s, i)
            if i < len(s) and s[i] != ";":
                raise CommandError(f"{command.name} is followed by {s[i]!r}, not ';'")
        elif ch == "S":
            command, i = _s_parameter(s, i)
        elif ch == "D":
            # Dial: the rest of the line is the dial string (V.250 §6.3.1).
            command, i = Command("D", Kind.ACTION, (s[i + 1 :],)), len(s)
        elif ch == "&" and i + 1 < len(s) and "A" <= s[i + 1] <= "Z":
            number, j = _number(s, i + 2)
            command, i = Command("&" + s[i + 1], Kind.ACTION, (number,)), j
        elif "A" <= ch <= "Z":
            number, j = _number(s, i + 1)
            command, i = Command(ch, Kind.ACTION, (number,)), j
        else:
            raise CommandError(f"{ch!r} does not start a command")
        commands.append(command)
    return commands
