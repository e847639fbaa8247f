"""No SMPP password is a fixed default: ``smsemu smsc`` with no account
configured generates one into its data directory, readable by its owner only,
prints it, and keeps it across restarts.  Checked with smpplib binding to the
real process."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions

from tests.rig import SmscProcess


def _bind(port: int, password: str) -> None:
    client = smpplib.client.Client("127.0.0.1", port, timeout=20, allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_transmitter(system_id="esme", password=password)
        client.unbind()
    finally:
        client.disconnect()


def test_the_default_account_has_a_generated_password(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = SmscProcess(["--data-dir", str(data)])
    try:
        (line,) = [x for x in first.lines if x.startswith("smpp: ESME system_id 'esme'")]
        match = re.search(r"password '([A-Za-z0-9]{8})'", line)
        assert match, line
        password = match.group(1)
        kept = data / "esme-password"
        assert kept.read_text().strip() == password
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        _bind(first.smpp_port, password)
        with pytest.raises(smpplib.exceptions.PDUError) as refused:
            _bind(first.smpp_port, "secret")  # the old fixed default opens nothing
        assert refused.value.args[1] == smpplib.consts.SMPP_ESME_RINVPASWD
    finally:
        first.terminate()
    second = SmscProcess(["--data-dir", str(data)])
    try:
        assert any(f"password '{password}'" in x for x in second.lines)
        _bind(second.smpp_port, password)
    finally:
        second.terminate()


def test_a_password_file_others_can_read_is_refused_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "esme-password").write_text("leaked12\n")
    (data / "esme-password").chmod(0o644)
    out = subprocess.run(
        [sys.executable, "-m", "smsemu", "smsc", "--data-dir", str(data), "--link",
         "127.0.0.1:0", "--admin", "127.0.0.1:0", "--smpp", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        f"error: {data / 'esme-password'}: readable by others (chmod 600 it, or delete it)"
    )
    assert "Traceback" not in out.stderr
