"""tshark, run on what smsemu captured (scripts/ensure-tshark installs it), with
the IP server's Lua dissector (contrib/wireshark/smsemu_ip.lua) loaded."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

LUA = Path(__file__).resolve().parent.parent / "contrib" / "wireshark" / "smsemu_ip.lua"


def tshark(*args: str) -> str:
    """tshark's standard output; its own failure fails the test with its stderr."""
    exe = shutil.which("tshark")
    assert exe is not None, "tshark is not installed: run scripts/ensure-tshark"
    command = [exe, "-X", f"lua_script:{LUA}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def fields(capture: Path, display_filter: str, *names: str) -> list[list[str]]:
    """The values of ``names`` in each packet ``display_filter`` keeps, one row each."""
    out = tshark(
        "-r",
        str(capture),
        "-Y",
        display_filter,
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        *(arg for name in names for arg in ("-e", name)),
    )
    return [line.split("\t") for line in out.splitlines()]


def assert_clean(capture: Path) -> None:
    """No packet tshark marks malformed, and no expert info of severity warning or
    error (TCP's sequence analysis included: no gap, no unseen segment ACKed)."""
    assert tshark("-r", str(capture), "-Y", "_ws.malformed") == ""
    problems = tshark("-r", str(capture), "-Y", "_ws.expert.severity >= warning")
    assert problems == "", problems
