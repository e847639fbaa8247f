"""Print the example AT session of docs/at.md, produced by running the code:
``smsemu up`` in a temporary directory, a terminal on the first phone's pty.

    .venv/bin/python scripts/at-session.py > /tmp/session.txt
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import tty

COMMANDS = [
    "ATE0",
    "ATI",
    "AT+CGSN",
    "AT+CIMI",
    "AT+CNUM",
    "AT+CPIN?",
    "AT+CREG?",
    "AT+CSCA?",
    "AT+CPMS?",
    "AT+CMGF=1",
    "AT+CNMI=2,1,0,0,0",
    ('AT+CMGS="+15550001002"', "hello from the AT port\x1a"),
    ('AT+CMGW="+15550001002"', "a draft\x1a"),
    "AT+CMSS=1",
    'AT+CMGL="ALL"',
    "AT+CMGR=1",
    "AT+CMGD=1",
    "AT+CMGF=0",
    "AT+CMGR=1",
    "AT+FOO",
]
FINAL = re.compile(rb"\r\n(OK|ERROR|\+CM[ES] ERROR: \d+)\r\n$|\r\n> $")


def read_answer(fd: int) -> str:
    data = b""
    while not FINAL.search(data):
        data += os.read(fd, 4096)
    return data.decode("latin-1")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "smsemu", "up", "--data-dir", tmp]
        for flag in ("--link", "--admin", "--smpp", "--ip-server", "--control"):
            argv += [flag, "127.0.0.1:0"]
        up = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert up.stdout is not None
        lines = []
        for line in up.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        [pty] = re.findall(r"\+15550001001 AT port (\S+)", "".join(lines))
        fd = os.open(pty, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)
        try:
            for command in COMMANDS:
                line, text = command if isinstance(command, tuple) else (command, None)
                os.write(fd, line.encode() + b"\r")
                answer = read_answer(fd)
                if text is not None:
                    os.write(fd, text.encode())
                    answer += text.replace("\x1a", "<Ctrl-Z>") + read_answer(fd)
                shown = answer.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
                print(shown if shown.startswith(line) else f"{line}\n{shown}")
        finally:
            os.close(fd)
            up.terminate()
            up.wait()


if __name__ == "__main__":
    main()
