"""The ``smsemu`` command: argument parsing and dispatch to the subcommands.

Parsing loads only argparse and the light modules that declare the options;
a command names its runner as ``"module:function"`` and that module (with
Twisted, SQLAlchemy and the components it needs) is imported only when the
command runs, so ``smsemu pdu decode`` starts at once.
"""

# PYTHON_ARGCOMPLETE_OK

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pdu import PDUError

from . import handset_cmd, parsers, pdu_cmd
from .errors import CommandError

Runner = Callable[[argparse.Namespace], int]
#: The exit status of a command interrupted by SIGINT (128 + 2, as a shell's).
INTERRUPTED = 130


class _Version(argparse.Action):
    """``--version``, read from the installed package only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("smsemu")
        except PackageNotFoundError:
            number = "unknown (not installed)"
        print(f"smsemu {number}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsemu",
        description="An SMS gateway emulator: GSM PDU codec, SMSC, handsets, receipts.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    pdu_cmd.add_parser(sub)
    parsers.add_parsers(sub)
    handset_cmd.add_parsers(sub)
    parsers.add_subscriber_parser(sub)
    p = sub.add_parser(
        "completion",
        help='print the shell completion script: eval "$(smsemu completion bash)"',
    )
    p.add_argument("shell", choices=["bash", "zsh", "fish", "tcsh"], help="your shell")
    p.set_defaults(run=_completion)
    return parser


def _completion(args: argparse.Namespace) -> int:
    from argcomplete.shell_integration import shellcode

    print(shellcode(["smsemu"], shell=args.shell))
    return 0


def runner(target: Runner | str) -> Runner:
    """The function a command runs: ``"module:function"`` is imported now."""
    if callable(target):
        return target
    module, _, name = target.partition(":")
    fn: Runner = getattr(importlib.import_module(module), name)
    return fn


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions, then we exit
        import argcomplete

        argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)
    try:
        status: int = runner(args.run)(args)
    except PDUError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:  # Ctrl-C, or up's SIGINT to a node still starting
        return INTERRUPTED
    return status
