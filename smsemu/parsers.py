"""The options of ``smsemu smsc``, ``smsemu up`` and ``smsemu demo``.

Only argparse here: each command names its runner as ``"module:function"``,
imported when the command runs (``cli.main``), so ``smsemu --help`` and
``smsemu pdu ...`` never load Twisted, SQLAlchemy or the components.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import defaults, logs
from .capture_opts import add_options as _capture_options
from .defaults import shown

TLS_HELP = (
    "auto: every listener on TLS, with a self-signed certificate generated into the data "
    "dir on first use (docs/tls.md); default: plain TCP, or the tls tables of --config"
)

SMSC_TABLES = """\
configuration file (--config FILE, TOML; an option given overrides its key):
  [smsc]          data_dir, database_url, link, admin, smpp, smsc_address,
                  unknown_recipient, validity, open_attach (the options of the
                  same names), tls = { cert, key } (radio link and admin API on
                  TLS; docs/tls.md)
  [[subscriber]]  msisdn, imsi, ki, opc or op: a SIM a rig holds (docs/radio-link.md)
  [smpp]          listen, tls, window, throttle, read_receipts, [smpp.receipt],
                  [[smpp.esme]] accounts, [[smpp.fault]] rules (docs/smpp.md)
"""

UP_TABLES = (
    SMSC_TABLES
    + """\
  [ip_server]     listen, tls, rate, burst, history_days, history_count, query_timeout,
                  login_deadline
  [control]       listen, tls (the handsets' control API)
  [[handset]]     msisdn, imsi, carrier, receipts, ip_path, read_on_view (one per phone)
  [[companion]]   msisdn, name, auto_login (an IP-only device of a phone's account)
"""
)


def add_parsers(sub: Any) -> None:
    """``smsc``, ``up`` and ``demo``."""
    for name, help_, tables in (
        ("smsc", "run the SMSC alone (radio link, SMPP, admin API)", SMSC_TABLES),
        ("up", "run the whole network in one process: SMSC, IP server, handsets", UP_TABLES),
    ):
        p = sub.add_parser(
            name,
            help=help_,
            description=help_ + ".",
            epilog=tables,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _smsc_options(p)
        _capture_options(p)
        if name == "up":
            _up_options(p)
        logs.add_options(p)
        p.set_defaults(run="smsemu.network:run" if name == "smsc" else "smsemu.network:run_up")
    p = sub.add_parser(
        "demo",
        help="run a network in-process and watch a message cross it",
        description="Run an SMSC, an IP server and three devices in this process, on free "
        "loopback ports over SQLite in a temporary directory, and narrate: a long message "
        "with its status report, store and forward, read receipts, the history query.",
    )
    _capture_options(p)
    p.set_defaults(run="smsemu.demo:run")


def _smsc_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", type=Path, metavar="FILE", help="a TOML file of the tables listed below"
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help=f"where the SQLite databases live (default ./{defaults.DATA_DIR})",
    )
    p.add_argument(
        "--database-url",
        metavar="URL",
        help="a SQLAlchemy URL instead of SQLite, e.g. postgresql+psycopg://user@host/db",
    )
    endpoint = "HOST:PORT or a Twisted endpoint string"
    p.add_argument(
        "--link",
        metavar="ADDR",
        help=f"the radio link: {endpoint} (default {shown(defaults.LINK)}; port 0: a free one)",
    )
    p.add_argument(
        "--admin", metavar="ADDR", help=f"the admin HTTP API (default {shown(defaults.ADMIN)})"
    )
    p.add_argument(
        "--smpp", metavar="ADDR", help=f"the SMPP server for ESMEs (default {shown(defaults.SMPP)})"
    )
    add_tls_option(p)
    p.add_argument(
        "--smsc-address",
        metavar="NUMBER",
        help=f"the SMSC's own number, RP-OA of what it sends (default {defaults.SMSC_ADDRESS})",
    )
    p.add_argument(
        "--unknown-recipient",
        choices=["queue", "reject"],
        help="a number that never attached: keep its messages until it does (queue, "
        "the default) or answer RP-ERROR cause 1 (reject)",
    )
    p.add_argument(
        "--validity",
        metavar="HOURS",
        help=f"validity of a message that carries no TP-VP (default {defaults.VALIDITY_HOURS:g})",
    )
    p.add_argument(
        "--open-attach",
        action="store_true",
        default=None,
        help="attach any handset as any number, without SIM authentication (for rigs "
        "that cannot do MILENAGE; insecure: anyone can take over a number)",
    )
    p.add_argument(
        "--node",
        metavar="NAME",
        help="run as node NAME of a cluster: several SMSCs on one PostgreSQL "
        "--database-url form one SMSC (docs/scaling.md)",
    )
    p.add_argument(
        "--lease",
        metavar="SECONDS",
        type=float,
        help="a node's lease: it is taken for dead this long after its last heartbeat (default 5)",
    )


def add_tls_option(p: argparse.ArgumentParser) -> None:
    """``--tls auto`` (``smsemu.config.tls``)."""
    p.add_argument("--tls", choices=["auto"], help=TLS_HELP)


def _workers(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of nodes, 1 or more")
    return int(text)


def _up_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workers",
        type=_workers,
        metavar="N",
        help="run N SMSC nodes and N IP-server nodes as processes sharing their ports "
        "on one PostgreSQL: --database-url, or a throwaway one started here "
        "(default 1: one process; docs/scaling.md)",
    )
    p.add_argument(
        "--ip-server",
        metavar="ADDR",
        help=f"the IP server of read receipts and history (default {shown(defaults.IP_SERVER)})",
    )
    p.add_argument(
        "--control",
        metavar="ADDR",
        help=f"the handsets' control API (default {shown(defaults.CONTROL)})",
    )
    p.add_argument(
        "--handset",
        action="append",
        metavar="MSISDN",
        help="run a handset with this number (repeatable; default: "
        + ", ".join(defaults.HANDSETS)
        + ")",
    )
    p.add_argument(
        "--companion",
        action="append",
        metavar="NAME@MSISDN",
        help="run a companion device (IP only) of that phone's account (repeatable)",
    )
    p.add_argument(
        "--history-days",
        metavar="DAYS",
        help="the IP server keeps copies of messages this young "
        f"(default {defaults.HISTORY_DAYS:g}; 0: none)",
    )
    p.add_argument(
        "--history-count",
        metavar="N",
        help=f"... and at most this many per account (default {defaults.HISTORY_COUNT}; 0: none)",
    )
    p.add_argument(
        "--at",
        choices=["pty", "tcp", "both", "off"],
        help="every phone's AT port (docs/at.md): a pty (the default), a TCP port, both, none",
    )


def add_subscriber_parser(sub: Any) -> None:
    """``subscriber add`` (``smsemu.subscribers``)."""
    p = sub.add_parser("subscriber", help="provision SIMs: the SMSC's AuC and the handset's SIM")
    verbs = p.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser(
        "add",
        help="provision a SIM (keys generated unless given)",
        description="Write a subscription to the SMSC database of the data dir and the SIM "
        "profile (sim.json, mode 0600) to the handset's directory; the SMSC authenticates "
        "the next ATTACH of this IMSI with it (docs/radio-link.md).",
    )
    p.add_argument("--msisdn", required=True, help="the subscriber's number")
    p.add_argument("--imsi", help="default: one made from the MSISDN (MCC 001, MNC 01)")
    p.add_argument("--ki", metavar="HEX", help="K, 32 hex digits (default: generated)")
    keys = p.add_mutually_exclusive_group()
    keys.add_argument("--opc", metavar="HEX", help="OPc, 32 hex digits (default: generated)")
    keys.add_argument("--op", metavar="HEX", help="OP, 32 hex digits: OPc is derived from it")
    p.add_argument("--data-dir", type=Path, metavar="DIR", help="the network's (./smsemu-data)")
    p.add_argument("--database-url", metavar="URL", help="the SMSC's database, instead of SQLite")
    p.add_argument(
        "--handset-dir",
        type=Path,
        metavar="DIR",
        help="where the SIM profile goes (default: the handset's directory under the data "
        "dir, as smsemu up uses it; for smsemu handset run, its --data-dir)",
    )
    p.set_defaults(run="smsemu.subscribers:run_add")
