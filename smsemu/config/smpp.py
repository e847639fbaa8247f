"""The ``[smpp]`` table: ESME accounts, receipt format, fault rules, window,
alphabet and read receipts, into the SMSC's own ``SmppConfig``.

The dataclasses are the SMSC's (``smsc`` does not import ``smsemu``); reading
them from TOML is done here, with the errors of ``values``.  With no
``[[smpp.esme]]``, the accounts are empty here and ``smsemu.network`` makes one,
``esme``, with a password generated into the data directory.
"""

from __future__ import annotations

import ipaddress

from smsc.smpp.convert import DefaultAlphabet
from smsc.smpp.faults import ACTIONS, COMMANDS, FaultRule
from smsc.smpp.gateway import EsmeAccount, SmppConfig
from smsc.smpp.receipt import FIELDS, ID_STYLES, RECEIPT_CODINGS, ReceiptFormat

from .values import (
    BOOLEAN,
    ENDPOINT,
    INTEGER,
    SECONDS,
    STRING,
    STRINGS,
    ConfigError,
    Kind,
    Table,
    Wrong,
    choice,
    number,
    one_of,
    whole,
)


def _length(longest: int, shortest: int = 0) -> Kind[str]:
    def check(value: object) -> str:
        text = STRING.check(value)
        if not shortest <= len(text) <= longest:
            raise Wrong("")
        return text

    return Kind(f"a string of {shortest} to {longest} characters", check)


def _network(value: object) -> str:
    text = STRING.check(value)
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise Wrong("") from None
    return text


ADDRESSES = Kind(
    "a list of IP addresses or networks ('127.0.0.1', '10.0.0.0/8')",
    lambda value: tuple(_network(v) for v in STRINGS.check(value)),
)


def _receipt_fields(value: object) -> tuple[str, ...]:
    fields = STRINGS.check(value)
    if not set(fields) <= set(FIELDS):
        raise Wrong("")
    return fields


def _receipt_coding(value: object) -> int:
    coding = INTEGER.check(value)
    if coding not in RECEIPT_CODINGS:
        raise Wrong("")
    return coding


RECEIPT_CODING = Kind("0 (the default alphabet), 1 (IA5, ASCII) or 3 (Latin-1)", _receipt_coding)
RECEIPT_FIELDS = Kind("a list of " + ", ".join(repr(f) for f in FIELDS), _receipt_fields)


def esme(table: Table) -> EsmeAccount:
    """A ``[[smpp.esme]]`` table (SMPP 3.4's lengths: system_id 1 to 15
    characters, password at most 8)."""
    account = EsmeAccount(
        system_id=table.need("system_id", _length(15, 1)),
        password=table.need("password", _length(8)),
        system_type=table.take("system_type", STRING, None),
        rate=table.take("rate", number(0), 0.0),
        routes=table.take("routes", STRINGS, ()),
        allow=table.take("allow", ADDRESSES, ()),
    )
    table.done()
    return account


def receipt(table: Table) -> ReceiptFormat:
    """The ``[smpp.receipt]`` table."""
    default = ReceiptFormat()
    fmt = ReceiptFormat(
        id_style=table.take("id", one_of(*ID_STYLES), default.id_style),
        width=table.take("width", whole(0, 64), default.width),
        fields=table.take("fields", RECEIPT_FIELDS, default.fields),
        date_seconds=table.take("date_seconds", BOOLEAN, default.date_seconds),
        text_length=table.take("text_length", whole(0, 160), default.text_length),
        data_coding=table.take("data_coding", RECEIPT_CODING, default.data_coding),
    )
    table.done()
    return fmt


def fault(table: Table) -> FaultRule:
    """A ``[[smpp.fault]]`` table; what the rule itself refuses (a bad regular
    expression, a message_state a failure cannot end in) names the table."""
    default = FaultRule(action="drop")
    try:
        rule = FaultRule(
            action=table.need("action", one_of(*ACTIONS)),
            esme=table.take("esme", STRING, None),
            command=table.take("command", one_of(*COMMANDS), default.command),
            destination=table.take("destination", STRING, None),
            content=table.take("content", STRING, None),
            every=table.take("every", whole(1), default.every),
            probability=table.take("probability", number(0, maximum=1), default.probability),
            command_status=table.take(
                "command_status", whole(0, 0xFFFFFFFF), default.command_status
            ),
            delay=table.take("delay", number(0), default.delay),
            message_state=table.take("message_state", whole(0, 255), default.message_state),
            error=table.take("error", whole(0, 999), default.error),
            name=table.take("name", STRING, default.name),
        )
    except ConfigError:
        raise
    except ValueError as exc:
        raise table.error(table.path, str(exc)) from None
    table.done()
    return rule


def default_smpp() -> SmppConfig:
    """What a config with no ``[smpp]`` table gives."""
    return SmppConfig(accounts=[])


def smpp(table: Table) -> tuple[SmppConfig, str | None]:
    """The ``[smpp]`` table, and its ``listen`` endpoint if it names one."""
    listen = table.take("listen", ENDPOINT, None)
    config = SmppConfig(
        accounts=[esme(t) for t in table.tables("esme")],
        receipt=receipt(table.table("receipt")),
        faults=[fault(t) for t in table.tables("fault")],
        seed=table.take("seed", INTEGER, None),
        default_alphabet=table.take(
            "default_alphabet", choice(DefaultAlphabet), DefaultAlphabet.GSM7
        ),
        window=table.take("window", whole(1, 10_000), 64),
        read_receipts=table.take("read_receipts", BOOLEAN, False),
        bind_timeout=table.take("bind_timeout", SECONDS, SmppConfig.bind_timeout),
    )
    table.done()
    return config, listen
