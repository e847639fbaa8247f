"""The command table: every command this modem knows, by name, and the one
function that runs a parsed command through it.

Anything else, vendor probes included (``AT+WIND?``, ``AT+ZPAS?``,
``AT^SYSINFO``, ``AT+MODE=2``), answers ERROR: clients take an OK as "this is
that vendor's modem" and switch to its dialect.
"""

from __future__ import annotations

from . import basic, equipment, sms_messages, sms_settings
from .results import CME_SIM_PIN_REQUIRED, CMS_SIM_PIN_REQUIRED, CmeError, CmsError, CommandError
from .rules import Outcome, Rules, ok
from .state import Session
from .syntax import Command


def _clac(_s: Session, _cmd: Command) -> Outcome:
    """+CLAC (TS 27.007 §8.37): one line per command this modem knows."""
    return [f"AT{name}" for name in sorted(TABLE)]


TABLE: dict[str, Rules] = {
    **basic.RULES,
    **equipment.RULES,
    **sms_settings.RULES,
    **sms_messages.RULES,
    "+CLAC": Rules(action=_clac, test=ok),
}


def run(s: Session, cmd: Command) -> Outcome:
    """The outcome of one command, or the error that ends its line."""
    if cmd.name[0] == "S" and cmd.name[1:].isdigit():
        return basic.s_parameter(s, cmd)
    rules = TABLE.get(cmd.name)
    handler = rules.handler(cmd.kind) if rules is not None else None
    if rules is None or handler is None:
        raise CommandError(f"AT{cmd.name}{cmd.kind.value} is not supported")
    if rules.sim and s.device.sim_locked:
        raise CmsError(CMS_SIM_PIN_REQUIRED) if rules.sms else CmeError(CME_SIM_PIN_REQUIRED)
    return handler(s, cmd)
