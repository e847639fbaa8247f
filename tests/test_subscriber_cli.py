"""``smsemu subscriber add`` as a user runs it (subprocesses): the SIM goes to
the SMSC's database and to the handset's profile; a running SMSC knows it at
the next attach; bad keys are one line and exit 2.  And ``smsemu up`` keeps
its handsets' generated keys from one start to the next."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from radiolink.auth import Keys
from radiolink.milenage import opc

from .rig import TIMEOUT, Rig, SmscProcess

K = "465b5ce8b199b49faa5f0a2ee238a6bc"  # TS 35.208 test set 1
OP = "cdc202d5123e20f62b6d676ac72cb318"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"
RIG = "+15550007007"


def add(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smsemu", "subscriber", "add", *args],
        capture_output=True, text=True, timeout=TIMEOUT * 4,
    )  # fmt: skip


def profile(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text())
    return data


def test_a_sim_added_while_the_smsc_runs_attaches_at_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    smsc = SmscProcess(["--data-dir", str(data)])
    try:
        before = Rig(smsc.link_port, RIG, "001010000007007", Keys(bytes.fromhex(K), bytes(16)))
        with pytest.raises(Exception, match="ATTACH-REJECT 3"):
            before.attach()  # not provisioned yet
        before.close()
        done = add("--msisdn", RIG, "--imsi", "001010000007007", "--ki", K, "--op", OP,
                   "--data-dir", str(data))  # fmt: skip
        assert done.returncode == 0, done.stderr
        sim_file = data / "handsets" / "15550007007" / "sim.json"
        assert str(sim_file) in done.stdout
        assert sim_file.stat().st_mode & 0o777 == 0o600
        sim = profile(sim_file)
        assert sim == {"imsi": "001010000007007", "msisdn": RIG, "k": K.upper(),
                       "opc": OPC.upper(), "sqn": 0}  # fmt: skip
        assert bytes.fromhex(OPC) == opc(bytes.fromhex(K), bytes.fromhex(OP))
        # No restart: the SMSC reads its subscriptions at each ATTACH.
        rig = Rig(
            smsc.link_port, RIG, "001010000007007", Keys(bytes.fromhex(K), bytes.fromhex(OPC))
        )
        assert rig.attach() == "+15550000000"
        rig.close()
    finally:
        assert smsc.terminate() == 0


def test_keys_are_generated_when_not_given(tmp_path: Path) -> None:
    data, phone = tmp_path / "data", tmp_path / "phone"
    first = add("--msisdn", RIG, "--data-dir", str(data), "--handset-dir", str(phone))
    assert first.returncode == 0, first.stderr
    sim = profile(phone / "sim.json")
    k, opc_ = str(sim["k"]), str(sim["opc"])
    assert len(bytes.fromhex(k)) == len(bytes.fromhex(opc_)) == 16
    assert sim["imsi"] == "001015550007007"  # MCC 001, MNC 01, the MSISDN's last digits
    assert f"K {k} OPc {opc_}" in first.stdout
    again = add("--msisdn", RIG, "--data-dir", str(data), "--handset-dir", str(phone))
    assert profile(phone / "sim.json")["k"] != k  # a new SIM each time: secrets, not a formula
    assert again.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ki", "zz"], "error: --ki: K: expected 32 hex digits (16 octets), got 'zz'"),
        (["--ki", K[:30]], "error: --ki: K: expected 32 hex digits"),
        (["--opc", K + "00"], "error: --opc: OPc: expected 32 hex digits"),
        (["--imsi", "12ab"], "error: --imsi: IMSI '12ab': expected 6 to 15 digits"),
        (["--msisdn", "nobody"], "error: --msisdn: expected a phone number"),
    ],
)
def test_bad_keys_are_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    base = ["--msisdn", RIG, "--data-dir", str(tmp_path / "data")]
    done = add(*base, *args)
    assert done.returncode == 2
    assert done.stderr.startswith(message), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "handsets").exists()


def test_op_and_opc_together_are_refused(tmp_path: Path) -> None:
    done = add("--msisdn", RIG, "--opc", OPC, "--op", OP, "--data-dir", str(tmp_path))
    assert done.returncode == 2 and "not allowed with argument" in done.stderr


def test_up_generates_its_handsets_keys_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sims = [data / "handsets" / n / "sim.json" for n in ("15550001001", "15550001002")]
    up = SmscProcess(["--data-dir", str(data)], "up")
    assert up.terminate() == 0
    keys = [profile(p)["k"] for p in sims]
    assert keys[0] != keys[1]
    again = SmscProcess(["--data-dir", str(data)], "up")  # attached again: listed once ready
    try:
        assert again.handsets == ["+15550001001", "+15550001002"]
        assert [profile(p)["k"] for p in sims] == keys
        assert all(int(str(profile(p)["sqn"])) >= 2 for p in sims)  # one challenge per start
    finally:
        assert again.terminate() == 0


def test_the_admin_api_provisions_and_lists_without_secrets(tmp_path: Path) -> None:
    import urllib.error
    import urllib.request

    smsc = SmscProcess(["--data-dir", str(tmp_path / "data")])

    def call(method: str, body: bytes | None = None) -> tuple[int, object]:
        request = smsc.request(
            f"http://127.0.0.1:{smsc.admin_port}/subscribers", data=body, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    try:
        for body, error in [
            (b"not json", "the body must be a JSON object"),
            (b'{"imsi": "001010000000001"}', "msisdn: expected a string"),
            (b'{"imsi": "001010000000001", "msisdn": "+1", "k": "00"}', "K: expected 32 hex"),
            (b'{"imsi": "1", "msisdn": "+1"}', "IMSI '1': expected 6 to 15 digits"),
            (b'{"imsi": "001010000000001", "msisdn": "+1", "ki": "00"}', "unknown field 'ki'"),
        ]:
            status, answer = call("POST", body)
            assert status == 400 and isinstance(answer, dict), (body, answer)
            assert str(answer["error"]).startswith(error), answer
        status, made = call("POST", json.dumps({"imsi": "001010000007007", "msisdn": RIG}).encode())
        assert status == 201 and isinstance(made, dict)
        keys = Keys(bytes.fromhex(str(made["k"])), bytes.fromhex(str(made["opc"])))
        rig = Rig(smsc.link_port, RIG, "001010000007007", keys)
        assert rig.attach() == "+15550000000"
        status, listed = call("GET")
        assert status == 200 and isinstance(listed, list)
        row = {"msisdn": RIG, "imsi": "001010000007007", "attached": True, "memory_full": False}
        assert listed == [{**row, "queued": 0, "provisioned": True, "sqn": 1}]
        rig.close()
    finally:
        assert smsc.terminate() == 0


def test_a_rigs_sim_from_the_config_attaches(tmp_path: Path) -> None:
    config = tmp_path / "net.toml"
    config.write_text(
        f"[[subscriber]]\nmsisdn = '{RIG}'\nimsi = '001010000007007'\nki = '{K}'\nop = '{OP}'\n"
    )
    smsc = SmscProcess(["--data-dir", str(tmp_path / "data"), "--config", str(config)])
    try:
        rig = Rig(
            smsc.link_port, RIG, "001010000007007", Keys(bytes.fromhex(K), bytes.fromhex(OPC))
        )
        assert rig.attach() == "+15550000000"
        rig.close()
    finally:
        assert smsc.terminate() == 0


def test_handset_run_refuses_a_broken_sim_profile_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "sim.json").write_text('{"imsi": "001010000007007", "k": "zz"}')
    done = subprocess.run(
        [sys.executable, "-m", "smsemu", "handset", "run", "--msisdn", RIG,
         "--smsc", "127.0.0.1:1", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=TIMEOUT * 4, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {tmp_path / 'sim.json'}: not a SIM profile")
    assert done.stderr.count("\n") == 1
