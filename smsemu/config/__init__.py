"""Typed configuration, parsed in one place: the TOML file of ``--config``
(``file``, ``smpp``) and the options of ``smsc``, ``up``, ``handset run`` and
``ip-server run`` over it (``options``).  A wrong key, table, type or value is
a ``ConfigError`` naming the file, the dotted key and what was expected."""

from .file import (
    CompanionEntry,
    Config,
    ControlSettings,
    HandsetEntry,
    IpServerSettings,
    SmscSettings,
    load,
)
from .options import (
    HandsetRun,
    IpServerRun,
    handset_run,
    ip_server_run,
    network,
)
from .values import ConfigError

__all__ = [
    "CompanionEntry",
    "Config",
    "ConfigError",
    "ControlSettings",
    "HandsetEntry",
    "HandsetRun",
    "IpServerRun",
    "IpServerSettings",
    "SmscSettings",
    "handset_run",
    "ip_server_run",
    "load",
    "network",
]
