"""The shape of a command table entry and of what a handler returns.

A handler gets the Session and the parsed Command and returns the lines of
its information response, or asks to wait: ``Await`` (a Request for the
owner, then what to do with its result) or ``Prompt`` (the ``> `` of
AT+CMGS / AT+CMGW, then what to do with the text typed before Ctrl-Z).  It
raises CommandError, CmeError or CmsError to end the line with that error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .requests import Request
from .results import CommandError
from .state import Session
from .syntax import Arg, Command, Kind


@dataclass(frozen=True, slots=True)
class Await:
    request: Request
    then: Callable[[Any], Outcome]


@dataclass(frozen=True, slots=True)
class Prompt:
    then: Callable[[str], Outcome]


Outcome = list[str] | Await | Prompt
Handler = Callable[[Session, Command], Outcome]


@dataclass(frozen=True, slots=True)
class Rules:
    """One command: a handler per form it supports (the others answer ERROR).
    ``sim``: refused while the SIM waits for its PIN; ``sms``: a TS 27.005
    command, whose errors are +CMS ERROR."""

    action: Handler | None = None
    set: Handler | None = None
    read: Handler | None = None
    test: Handler | None = None
    sim: bool = False
    sms: bool = False

    def handler(self, kind: Kind) -> Handler | None:
        return {
            Kind.ACTION: self.action,
            Kind.SET: self.set,
            Kind.READ: self.read,
            Kind.TEST: self.test,
        }[kind]


def answer(*lines: str) -> Handler:
    """A handler with a fixed response (most ``=?`` test forms)."""
    return lambda _s, _c: list(lines)


def ok(_s: Session, _c: Command) -> Outcome:
    return []


def arg(cmd: Command, i: int) -> Arg:
    return cmd.args[i] if i < len(cmd.args) else None


def max_args(cmd: Command, n: int) -> None:
    if len(cmd.args) > n:
        raise CommandError(f"{cmd.name} takes at most {n} parameters")


def int_arg(cmd: Command, i: int, allowed: range | tuple[int, ...], default: int | None) -> int:
    """Parameter ``i`` as an integer in ``allowed``; ``default`` when left out
    (None: it is mandatory).  A bad value ends the line with ERROR."""
    value = arg(cmd, i)
    if value is None:
        if default is None:
            raise CommandError(f"{cmd.name}: parameter {i + 1} is mandatory")
        return default
    if not isinstance(value, int) or value not in allowed:
        raise CommandError(f"{cmd.name}: parameter {i + 1} is {value!r}, not in {allowed}")
    return value


def str_arg(cmd: Command, i: int, default: str | None = None) -> str:
    value = arg(cmd, i)
    if value is None:
        if default is None:
            raise CommandError(f"{cmd.name}: parameter {i + 1} is mandatory")
        return default
    return str(value)


def basic_value(cmd: Command, allowed: range) -> int:
    """The number of a basic command (``E1``); left out means 0 (V.250 §5.3.1)."""
    value = cmd.args[0] if cmd.args else None
    value = 0 if value is None else value
    if not isinstance(value, int) or value not in allowed:
        raise CommandError(f"{cmd.name}{value} is not supported")
    return value
