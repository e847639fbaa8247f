"""The defaults of the commands that run the network, in one place: the
configuration falls back on them and the help texts show them.

Plain values only: ``smsemu --help`` reads this module without loading the
components."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path("smsemu-data")
LINK = "tcp:7101:interface=127.0.0.1"  # the radio link
ADMIN = "tcp:7180:interface=127.0.0.1"
SMPP = "tcp:2775:interface=127.0.0.1"
IP_SERVER = "tcp:7102:interface=127.0.0.1"
CONTROL = "tcp:7190:interface=127.0.0.1"  # the handsets' control API
CONTROL_URL = "http://127.0.0.1:7190"
#: The file of a data directory that keeps the APIs' token (``txkit.bearer``),
#: and the variable the CLI also reads it from.
TOKEN_FILE = "api-token"
TOKEN_ENV = "SMSEMU_TOKEN"
SMSC_ADDRESS = "+15550000000"
VALIDITY_HOURS = 48.0
HISTORY_DAYS = 30.0
HISTORY_COUNT = 1000
#: The handsets ``smsemu up`` runs when neither the file nor the options name any.
HANDSETS = ("+15550001001", "+15550001002")


def shown(endpoint: str) -> str:
    """``tcp:7101:interface=127.0.0.1`` as people write it: ``127.0.0.1:7101``."""
    _, port, interface = endpoint.split(":", 2)
    return f"{interface.removeprefix('interface=')}:{port}"
