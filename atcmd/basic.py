"""The basic commands of ITU-T V.250 §6: echo, result code format, reset,
identification and the S-parameters."""

from __future__ import annotations

from .results import CommandError
from .rules import Outcome, Rules, basic_value
from .state import Session
from .syntax import Command, Kind


def _echo(s: Session, cmd: Command) -> Outcome:
    """E (§6.2.4): echo the characters the TE sends while in command state."""
    s.settings.echo = basic_value(cmd, range(2)) == 1
    return []


def _verbose(s: Session, cmd: Command) -> Outcome:
    """V (§6.2.6): verbose (1) or numeric (0) result codes."""
    s.settings.format.verbose = basic_value(cmd, range(2)) == 1
    return []


def _quiet(s: Session, cmd: Command) -> Outcome:
    """Q (§6.2.5): 1 suppresses result codes, information text stays."""
    s.settings.format.quiet = basic_value(cmd, range(2)) == 1
    return []


def _reset(s: Session, cmd: Command) -> Outcome:
    """Z (§6.1.1) and &F (§6.1.2): the one profile there is, the factory one."""
    basic_value(cmd, range(1))
    s.reset()
    return []


def _identify(s: Session, cmd: Command) -> Outcome:
    """I (§6.1.3): the same text for every <value>."""
    basic_value(cmd, range(10))
    who = s.identity
    return [who.manufacturer, who.model, f"Revision: {who.revision}"]


def _no_op(cmd_range: range) -> Rules:
    """A command that only has to be accepted (&C, &D: circuit 109 and 108/2
    behaviour, meaningless on a pty; H: there is no call to hang up)."""

    def accept(_s: Session, cmd: Command) -> Outcome:
        basic_value(cmd, cmd_range)
        return []

    return Rules(action=accept)


#: S-parameters (§6.2): number -> allowed values.  S3, S4 and S5 take effect.
S_RANGES = {
    0: range(256),
    3: range(128),
    4: range(128),
    5: range(128),
    6: range(2, 11),
    7: range(1, 256),
    8: range(256),
    10: range(1, 255),
}


def s_parameter(s: Session, cmd: Command) -> Outcome:
    """Sn? and Sn=value (§5.3.2): the value as three decimal digits."""
    number = int(cmd.name[1:])
    allowed = S_RANGES.get(number)
    if allowed is None:
        raise CommandError(f"S{number} is not supported")
    registers = s.settings.s_registers
    if cmd.kind is Kind.READ:
        return [f"{registers[number]:03d}"]
    value = cmd.args[0] if cmd.args else None
    value = 0 if value is None else value
    if not isinstance(value, int) or value not in allowed:
        raise CommandError(f"S{number}={value} is out of range")
    registers[number] = value
    if number == 3:
        s.settings.format.s3 = value
    elif number == 4:
        s.settings.format.s4 = value
    return []


RULES: dict[str, Rules] = {
    "E": Rules(action=_echo),
    "V": Rules(action=_verbose),
    "Q": Rules(action=_quiet),
    "Z": Rules(action=_reset),
    "&F": Rules(action=_reset),
    "I": Rules(action=_identify),
    "H": _no_op(range(1)),
    "&C": _no_op(range(2)),
    "&D": _no_op(range(3)),
}
