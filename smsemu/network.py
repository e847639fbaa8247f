"""``smsemu smsc`` and ``smsemu up``: run the network's services.

Options come from the command line, or from a TOML file (``--config``) whose
keys have the same names (``[smsc]`` table).  Ports may be 0 to take free ones;
the lines printed at start say where each service listens.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

from smsc.core import SmscConfig, zone_of_now
from smsc.service import SmscService
from smsc.store import sqlite_url


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected HOST:PORT") from None


def add_parsers(sub: Any) -> None:
    for name, help_ in (
        ("smsc", "run the SMSC alone"),
        ("up", "run the whole network in one process on the embedded defaults"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--config", type=Path, help="TOML file with an [smsc] table")
        p.add_argument("--data-dir", type=Path, help="where SQLite lives (default ./smsemu-data)")
        p.add_argument("--database-url", help="a SQLAlchemy URL, e.g. postgresql+psycopg://...")
        p.add_argument("--link", type=_host_port, help="radio link HOST:PORT (127.0.0.1:7101)")
        p.add_argument("--admin", type=_host_port, help="admin API HOST:PORT (127.0.0.1:7180)")
        p.add_argument("--smsc-address", help="the SMSC's own number (+15550000000)")
        p.add_argument("--unknown-recipient", choices=["queue", "reject"])
        p.add_argument("--validity", type=float, help="default validity in hours (48)")
        p.set_defaults(run=run)


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """Command line over config file over defaults."""
    found: dict[str, Any] = {
        "data_dir": "smsemu-data",
        "database_url": None,
        "link": "127.0.0.1:7101",
        "admin": "127.0.0.1:7180",
        "smsc_address": "+15550000000",
        "unknown_recipient": "queue",
        "validity": 48.0,
    }
    if args.config is not None:
        with args.config.open("rb") as f:
            found.update(
                {k.replace("-", "_"): v for k, v in tomllib.load(f).get("smsc", {}).items()}
            )
    for key in found:
        value = getattr(args, key, None)
        if value is not None:
            found[key] = value
    for key in ("link", "admin"):
        if isinstance(found[key], str):
            found[key] = _host_port(found[key])
    return found


def build_smsc(found: dict[str, Any]) -> SmscService:
    data_dir = Path(found["data_dir"])
    url = found["database_url"]
    if url is None:
        data_dir.mkdir(parents=True, exist_ok=True)
        url = sqlite_url(data_dir)
    config = SmscConfig(
        address=found["smsc_address"],
        unknown_recipient=found["unknown_recipient"],
        default_validity=timedelta(hours=float(found["validity"])),
        zone=zone_of_now(),
    )
    return SmscService(config, url, link=found["link"], admin=found["admin"])


def run(args: argparse.Namespace) -> int:
    import logging

    from twisted.internet import reactor

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    service = build_smsc(settings(args))
    service.startService()
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    where = service.database_url.split("@")[-1]
    print(f"smsc: radio link on {service.link_address[0]}:{service.link_port}", flush=True)
    print(
        f"smsc: admin API on http://{service.admin_address[0] if service.admin_address else ''}:"
        f"{service.admin_port}",
        flush=True,
    )
    print(f"smsc: database {where}", flush=True)
    print("press Ctrl-C to stop", flush=True)
    reactor.run()
    return 0
