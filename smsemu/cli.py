"""The ``smsemu`` command: argument parsing and dispatch to the subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pdu import PDUError

from . import demo, handset_cmd, network, pdu_cmd
from .config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsemu",
        description="An SMS gateway emulator: GSM PDU codec, SMSC, handsets, receipts.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    pdu_cmd.add_parser(sub)
    demo.add_parser(sub)
    network.add_parsers(sub)
    handset_cmd.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except PDUError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        # 1 for the file, 2 for an option (as argparse's own errors).
        print(f"error: {exc}", file=sys.stderr)
        return exc.status
    return status
