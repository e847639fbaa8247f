"""A real HAProxy for the cluster tests: contrib/haproxy/smsemu.cfg with its
ports rewritten, started in the foreground and waited for."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .rig import TIMEOUT

SAMPLE = Path(__file__).parent.parent / "contrib" / "haproxy" / "smsemu.cfg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample_config(ports: dict[int, int]) -> str:
    """contrib/haproxy/smsemu.cfg with its ports replaced by ``ports`` (keyed by
    the sample's own port numbers); the sample stays the one source of truth.
    Every other port of a ``bind`` or ``server`` line gets a free one: nothing
    listens there, and HAProxy's check marks that server down."""
    found: list[int] = []

    def swap(m: re.Match[str]) -> str:
        found.append(int(m[2]))
        return f"{m[1]}127.0.0.1:{ports.get(found[-1]) or free_port()}"

    line = r"(?m)^(\s*(?:bind|server\s+\S+)\s+)127\.0\.0\.1:(\d+)\b"
    text = re.sub(line, swap, SAMPLE.read_text())
    for old in ports:
        assert found.count(old) == 1, f"port {old} is not in {SAMPLE} once"
    return text


def start(binary: str, config: str, directory: Path) -> subprocess.Popen[str]:
    """HAProxy on ``config`` (written into ``directory``, checked first), in
    the foreground; up once a frontend accepts."""
    path = directory / "haproxy.cfg"
    path.write_text(config)
    check = subprocess.run([binary, "-c", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr + check.stdout
    return subprocess.Popen(
        [binary, "-db", "-f", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(haproxy: subprocess.Popen[str]) -> None:
    haproxy.terminate()
    haproxy.wait(TIMEOUT)


@contextmanager
def running(binary: str, config: str, directory: Path, front: int) -> Iterator[None]:
    """HAProxy on ``config`` until the block ends, entered once its frontend
    ``front`` accepts (a connection the nodes see, and see closed)."""
    haproxy = start(binary, config, directory)
    try:
        while True:
            if haproxy.poll() is not None:
                assert haproxy.stderr is not None
                pytest.fail(f"haproxy ended: {haproxy.stderr.read()}", pytrace=False)
            try:
                socket.create_connection(("127.0.0.1", front), timeout=TIMEOUT).close()
                break
            except ConnectionRefusedError:
                continue
        yield
    finally:
        stop(haproxy)
