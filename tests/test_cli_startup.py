"""The ``smsemu`` command as a finished CLI: it starts at once (the codec
commands load no Twisted, no SQLAlchemy), tells its version, explains every
option, and completes in the shell."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from importlib.metadata import version

import pytest

from smsemu.cli import build_parser

#: What only the network's commands need: a `pdu` command that imports any of
#: these pays for the whole emulator before it decodes one octet.
HEAVY = ("twisted", "sqlalchemy", "alembic", "cryptography", "argcomplete", "psycopg")
OURS = ("smsc", "handset", "receipt_server", "storage", "txkit", "radiolink", "smpp34", "ipwire")
SUBMIT = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"


def imported(*args: str) -> set[str]:
    """The top-level packages ``smsemu ARGS`` imports (``-X importtime``)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "smsemu", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "pdu" in names or args[0] != "pdu"  # the list is real: the codec is in it
    return names


@pytest.mark.parametrize(
    "args",
    [
        ["pdu", "decode", "--mo", SUBMIT],
        ["pdu", "explain", "--mo", SUBMIT],
        ["pdu", "encode", "--to", "+4670825513", "--text", "hello"],
        ["--help"],
        ["up", "--help"],
        ["handset", "send", "--help"],
    ],
)
def test_commands_that_run_no_network_import_none_of_it(args: list[str]) -> None:
    names = imported(*args)
    assert not names & set(HEAVY), sorted(names & set(HEAVY))
    assert not names & set(OURS), sorted(names & set(OURS))


def test_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smsemu", "--version"], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (0, f"smsemu {version('smsemu')}\n")


def _parsers(
    parser: argparse.ArgumentParser, path: str
) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _parsers(child, f"{path} {name}")
    return found


def test_every_option_and_argument_says_what_it_is() -> None:
    missing = [
        f"{path}: {action.dest}"
        for path, parser in _parsers(build_parser(), "smsemu")
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction)
        and (action.help is None or not action.help.strip())
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("command", "tables"),
    [
        ("smsc", ["[smsc]", "[smpp]"]),
        ("up", ["[smsc]", "[smpp]", "[ip_server]", "[control]", "[[handset]]", "[[companion]]"]),
    ],
)
def test_help_lists_the_tables_the_command_reads(command: str, tables: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smsemu", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    for table in tables:
        assert f"\n  {table} " in done.stdout, table
    assert "(default 127.0.0.1:7101; port 0: a free one)" in " ".join(done.stdout.split())


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("smsemu pd", {"pdu"}),
        ("smsemu handset se", {"send", "search"}),
        ("smsemu up --history-", {"--history-days", "--history-count"}),
    ],
)
def test_shell_completion(tmp_path: os.PathLike[str], line: str, expected: set[str]) -> None:
    """What bash asks through the script of ``smsemu completion bash``:
    argcomplete's protocol (the line and cursor in the environment)."""
    out = os.path.join(tmp_path, "completions")
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": out,
    }
    done = subprocess.run(
        [sys.executable, "-m", "smsemu"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    with open(out) as f:
        assert set(f.read().split()) == expected
    script = subprocess.run(
        [sys.executable, "-m", "smsemu", "completion", "bash"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert script.returncode == 0 and "complete " in script.stdout and "smsemu" in script.stdout
