"""Typed configuration (``smsemu.config``): every table and option into its
dataclass, and every mistake a ``ConfigError`` naming the file and the key."""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from handset.store import IpPath
from pdu.message_number import Carrier
from receipt_server.server import DEFAULT_BURST, DEFAULT_RATE
from smsc.smpp.convert import DefaultAlphabet
from smsc.smpp.gateway import EsmeAccount
from smsemu import defaults
from smsemu.cli import build_parser
from smsemu.config import (
    CompanionEntry,
    Config,
    ConfigError,
    ControlSettings,
    HandsetEntry,
    IpServerSettings,
    SmscSettings,
    handset_run,
    ip_server_run,
    load,
    network,
)
from smsemu.config.file import LimitsSettings
from smsemu.config.smpp import fault
from smsemu.config.values import Table
from txkit.limits import configure as configure_limits
from txkit.limits import process_limits

FULL = """
[smsc]
data-dir = "/tmp/net"
database_url = "sqlite:///x.db"
link = "127.0.0.1:7201"
admin = "tcp:7280:interface=0.0.0.0"
smsc-address = "+15559999999"
unknown_recipient = "reject"
validity = 12

[smpp]
listen = "2776"
window = 8
default_alphabet = "latin1"
seed = 42
read_receipts = true

[[smpp.esme]]
system_id = "gateway"
password = "pw123"
system_type = "VMA"
rate = 50
routes = ["12345", "+1555*"]

[[smpp.esme]]
system_id = "tester"
password = "secret"

[smpp.receipt]
id = "hex"
width = 8
fields = ["id", "stat"]
date_seconds = true
text_length = 10
data_coding = 1

[[smpp.fault]]
name = "refuse REJECT"
action = "status"
esme = "gateway"
command = "*"
destination = "+4917*"
content = "REJECT"
every = 3
probability = 0.5
command_status = 0x45

[[smpp.fault]]
action = "fail_delivery"
message_state = 3
error = 42
delay = 1.5

[ip_server]
listen = "127.0.0.1:7302"
rate = 5
burst = 10
history_days = 7
history_count = 0
query_timeout = 2.5
login_deadline = 4

[control]
listen = "tcp:7390"

[[handset]]
msisdn = "+15550001001"

[[handset]]
msisdn = "+15550001002"
imsi = "001010000000002"
carrier = "inline"
receipts = false
ip_path = "when_possible"

[[companion]]
msisdn = "+15550001001"
name = "desktop"
auto_login = false
"""


SUB = "[[subscriber]]\nmsisdn = '+15550007007'\nimsi = '001010000007007'\n"


def test_subscriber_tables_are_sims_for_the_smsc(tmp_path: Path) -> None:
    k, op = "465b5ce8b199b49faa5f0a2ee238a6bc", "cdc202d5123e20f62b6d676ac72cb318"
    config = load(write(tmp_path, SUB + f"ki = '{k}'\nop = '{op}'\n[smsc]\nopen_attach = true\n"))
    (sub,) = config.subscribers
    assert (sub.imsi, sub.msisdn, sub.keys.k.hex()) == ("001010000007007", "+15550007007", k)
    assert sub.keys.opc.hex() == "cd63cb71954a9f4e48a5994e37a02baf"  # TS 35.208 set 1
    assert config.smsc.open_attach and config.smsc.core().open_attach
    assert not load(write(tmp_path, "")).smsc.core().open_attach


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "net.toml"
    path.write_text(text)
    return path


def test_every_table_and_key_into_its_dataclass(tmp_path: Path) -> None:
    config = load(write(tmp_path, FULL))
    assert config.smsc == SmscSettings(
        data_dir=Path("/tmp/net"),
        database_url="sqlite:///x.db",
        link="tcp:7201:interface=127.0.0.1",
        admin="tcp:7280:interface=0.0.0.0",
        smpp="tcp:2776:interface=127.0.0.1",
        smsc_address="+15559999999",
        unknown_recipient="reject",
        validity=12.0,
    )
    core = config.smsc.core()
    assert core.default_validity == timedelta(hours=12) and core.unknown_recipient == "reject"
    smpp = config.smpp
    assert smpp.accounts == [
        EsmeAccount("gateway", "pw123", "VMA", 50.0, ("12345", "+1555*")),
        EsmeAccount("tester", "secret"),
    ]
    assert (smpp.window, smpp.default_alphabet, smpp.seed) == (8, DefaultAlphabet.LATIN1, 42)
    assert smpp.read_receipts is True
    r = smpp.receipt
    assert (r.id_style, r.width, r.fields, r.date_seconds, r.text_length, r.data_coding) == (
        "hex", 8, ("id", "stat"), True, 10, 1,
    )  # fmt: skip
    first, second = smpp.faults
    assert (first.name, first.action, first.esme, first.command) == (
        "refuse REJECT", "status", "gateway", "*",
    )  # fmt: skip
    assert (first.destination, first.content, first.every, first.probability) == (
        "+4917*", "REJECT", 3, 0.5,
    )  # fmt: skip
    assert first.command_status == 0x45
    assert (second.action, second.message_state, second.error, second.delay) == (
        "fail_delivery", 3, 42, 1.5,
    )  # fmt: skip
    assert config.ip_server == IpServerSettings(
        "tcp:7302:interface=127.0.0.1", 5.0, 10, 7.0, 0, 2.5, 4.0
    )
    assert not config.ip_server.retention().keeps
    assert config.control == ControlSettings("tcp:7390:interface=127.0.0.1")
    assert config.handsets == (
        HandsetEntry("+15550001001"),
        HandsetEntry(
            "+15550001002", "001010000000002", Carrier.INLINE, False, IpPath.WHEN_POSSIBLE
        ),
    )
    assert config.handsets[0].changes() == {}
    assert config.handsets[1].changes() == {
        "carrier": Carrier.INLINE, "receipts": False, "ip_path": IpPath.WHEN_POSSIBLE,
    }  # fmt: skip
    assert config.companions == (CompanionEntry("+15550001001", "desktop", auto_login=False),)


def test_an_empty_file_is_the_defaults(tmp_path: Path) -> None:
    config = load(write(tmp_path, ""))
    assert config == Config(source=tmp_path / "net.toml")
    assert config.smsc.link == "tcp:7101:interface=127.0.0.1"
    assert config.smpp.accounts == []  # smsemu smsc makes one, its password generated
    assert (config.ip_server.rate, config.ip_server.burst) == (DEFAULT_RATE, DEFAULT_BURST)


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("[smsx]\n", "smsx", "unknown table"),
        ("[smsc]\ndata-dri = 'x'\n", "smsc.data-dri", "unknown key"),
        ("[smsc]\nvalidity = 'two days'\n", "smsc.validity", "expected a number of hours"),
        ("[smsc]\nvalidity = -5\n", "smsc.validity", "got -5"),
        ("[smsc]\nlink = 21301\n", "smsc.link", "expected HOST:PORT or an endpoint"),
        ("[smsc]\nlink = '127.0.0.1:99999'\n", "smsc.link", "port 99999 is out of range"),
        ("[smsc]\nadmin = 'tcp:70000'\n", "smsc.admin", "port 70000 is out of range"),
        ("[smsc]\nsmpp = 'pigeon:loft'\n", "smsc.smpp", "Unknown endpoint type"),
        ("[smsc]\nunknown_recipient = 'drop'\n", "smsc.unknown_recipient", "'queue', 'reject'"),
        ("smsc = 1\n", "smsc", "expected a table"),
        ("[smpp]\nwindw = 3\n", "smpp.windw", "unknown key"),
        ("[smpp]\nwindow = 0\n", "smpp.window", "1 to 10000"),
        ("[smpp]\nseed = 'x'\n", "smpp.seed", "a whole number"),
        ("[smpp]\nread_receipts = 1\n", "smpp.read_receipts", "true or false"),
        ("[smpp]\nlisten = 'x:y'\n", "smpp.listen", "expected HOST:PORT"),
        ("[smpp.receipt]\nid = 'octal'\n", "smpp.receipt.id", "'decimal', 'hex', 'HEX'"),
        ("[smpp.receipt]\nfields = ['id', 'x']\n", "smpp.receipt.fields", "got ['id', 'x']"),
        ("[smpp.receipt]\ndata_coding = 8\n", "smpp.receipt.data_coding", "1 (IA5, ASCII)"),
        ("[[smpp.esme]]\npassword = 'x'\n", "smpp.esme[0].system_id", "missing"),
        ("[[smpp.esme]]\nsystem_id = 'a'\npassword = '123456789'\n", "smpp.esme[0].password",
         "0 to 8 characters"),
        ("[[smpp.esme]]\nsystem_id = 'a'\npassword = 'b'\nrate = -1\n", "smpp.esme[0].rate",
         ">= 0"),
        ("[[smpp.fault]]\naction = 'explode'\n", "smpp.fault[0].action", "'status', 'throttle'"),
        ("[[smpp.fault]]\naction = 'drop'\ncolour = 'red'\n", "smpp.fault[0].colour",
         "unknown key"),
        ("[[smpp.fault]]\naction = 'drop'\ncontent = '('\n", "smpp.fault[0]", "content '('"),
        ("[[smpp.fault]]\naction = 'drop'\nmessage_state = 2\n", "smpp.fault[0]",
         "message_state 2"),
        ("[ip_server]\nrate = 0\n", "ip_server.rate", "> 0"),
        ("[ip_server]\nhistory_count = 1.5\n", "ip_server.history_count", "a whole number"),
        ("[ip_server]\nquery_timeout = 0\n", "ip_server.query_timeout", "seconds > 0"),
        ('[ip_server]\nlogin_deadline = "soon"\n', "ip_server.login_deadline", "seconds > 0"),
        ("[control]\nport = 1\n", "control.port", "unknown key"),
        ("[limits]\nsmtp = 5\n", "limits.smtp", "unknown key"),
        ("[limits]\nconnections = 0\n", "limits.connections", "got 0"),
        ("[limits]\nip_server = 1.5\n", "limits.ip_server", "a whole number"),
        ("[smsc]\nattach_timeout = 0\n", "smsc.attach_timeout", "seconds > 0"),
        ("[smpp]\nbind_timeout = -1\n", "smpp.bind_timeout", "seconds > 0"),
        ("handset = 3\n", "handset", "array of tables"),
        ("[[handset]]\nimsi = '1'\n", "handset[0].msisdn", "missing"),
        ("[[handset]]\nmsisdn = '+1'\n[[handset]]\nmsisdn = 'abc'\n", "handset[1].msisdn",
         "a phone number"),
        ("[[handset]]\nmsisdn = 15550001001\n", "handset[0].msisdn", "got 15550001001"),
        ("[[handset]]\nmsisdn = '+1'\ncarrier = 'pigeon'\n", "handset[0].carrier",
         "'udh', 'inline'"),
        ("[[handset]]\nmsisdn = '+1'\nreceipts = 'no'\n", "handset[0].receipts", "true or false"),
        ("[[handset]]\nmsisdn = '+1'\ncolour = 'red'\n", "handset[0].colour", "unknown key"),
        ("[[companion]]\nmsisdn = '+1'\nname = 'a b'\n", "companion[0].name", "1 to 16 letters"),
        ("[[companion]]\nmsisdn = '+1'\n", "companion[0].name", "missing"),
        ("[smsc]\nopen_attach = 'yes'\n", "smsc.open_attach", "true or false"),
        (SUB + "ki = 'zz'\nopc = '" + "0" * 32 + "'\n", "subscriber[0].ki", "32 hex digits"),
        (SUB + "ki = '" + "0" * 32 + "'\n", "subscriber[0]", "one of opc and op"),
        (SUB + "ki = '" + "0" * 32 + "'\nopc = '" + "0" * 32 + "'\nop = '" + "0" * 32 + "'\n",
         "subscriber[0]", "one of opc and op"),
        ("[[subscriber]]\nmsisdn = '+1'\nimsi = '12'\n", "subscriber[0].imsi", "6 to 15 digits"),
        (SUB + "ki = '" + "0" * 32 + "'\nopc = '" + "0" * 32 + "'\nk = 1\n", "subscriber[0].k",
         "unknown key"),
    ],
)  # fmt: skip
def test_each_mistake_names_the_file_and_the_key(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    error = caught.value
    assert (error.source, error.key, error.status) == (str(path), key, 1)
    assert str(error).startswith(f"{path}: {key}: ")
    assert message in str(error)
    assert "\n" not in str(error)


def test_a_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope.toml: file: No such file"):
        load(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"net.toml: file: not TOML"):
        load(write(tmp_path, "x = \n"))


def test_bad_fault_configs_are_refused() -> None:
    for table in (
        {"action": "explode"},
        {"action": "drop", "every": 0},
        {"action": "drop", "content": "("},
        {"action": "drop", "colour": "red"},
    ):
        with pytest.raises(ValueError):
            fault(Table(table, "f.toml", "smpp.fault[0]"))


def args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_limits_and_deadlines(tmp_path: Path) -> None:
    text = "[smsc]\nattach_timeout = 2.5\n[smpp]\nbind_timeout = 3\n"
    text += "[limits]\nconnections = 500\nreserve = 8\nip_server = 100\nsmpp = 50\n"
    config = load(write(tmp_path, text))
    assert config.smsc.core().attach_timeout == 2.5
    assert config.smpp.bind_timeout == 3
    assert config.limits == LimitsSettings(500, 8, (("smpp", 50), ("ip_server", 100)))
    config.limits.apply()
    try:
        limits = process_limits()
        assert (limits.total, limits.reserve) == (500, 8)
        assert limits.caps == {"smpp": 50, "ip_server": 100}
    finally:
        configure_limits()  # the defaults again, for the tests that follow


def test_options_over_the_file_over_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    config = network(args("smsc", "--config", str(path), "--link", "tcp:0", "--validity", "0.5"))
    assert config.smsc.link == "tcp:0:interface=127.0.0.1"
    assert config.smsc.validity == 0.5
    assert config.smsc.admin == "tcp:7280:interface=0.0.0.0"  # the file's
    assert config.smpp.window == 8
    plain = network(args("smsc", "--smpp", "127.0.0.1:0", "--unknown-recipient", "reject"))
    assert plain.smsc.smpp == "tcp:0:interface=127.0.0.1"
    assert plain.smsc.unknown_recipient == "reject"
    assert plain.smpp.accounts == []


def test_up_adds_the_handsets_of_its_options(tmp_path: Path) -> None:
    assert [h.msisdn for h in network(args("up"), up=True).handsets] == list(defaults.HANDSETS)
    path = write(tmp_path, FULL)
    config = network(
        args("up", "--config", str(path), "--handset", "+15550001003", "--companion",
             "tablet@+15550001002", "--control", "0", "--ip-server", "[::1]:0",
             "--history-days", "3", "--history-count", "5"),
        up=True,
    )  # fmt: skip
    assert [h.msisdn for h in config.handsets] == ["+15550001001", "+15550001002", "+15550001003"]
    assert [(c.name, c.msisdn) for c in config.companions] == [
        ("desktop", "+15550001001"), ("tablet", "+15550001002"),
    ]  # fmt: skip
    assert config.control.listen == "tcp:0:interface=127.0.0.1"
    assert config.ip_server.listen == "tcp:0:interface=\\:\\:1"
    assert (config.ip_server.history_days, config.ip_server.history_count) == (3.0, 5)
    assert config.ip_server.rate == 5.0  # the file's


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["smsc", "--validity", "-5"], "--validity: expected a number of hours >= 0, got -5"),
        (["smsc", "--link", "127.0.0.1:99999"], "port 99999 is out of range"),
        (["smsc", "--admin", "nowhere"], "--admin: expected HOST:PORT"),
        (["up", "--history-count", "many"], "--history-count: expected a whole number"),
        (["up", "--handset", "abc"], "--handset: expected a phone number"),
        (["up", "--companion", "tablet"], "--companion: expected NAME@MSISDN"),
        (["up", "--companion", "a b@+1555"], "--companion: a companion name"),
    ],
)
def test_bad_options_name_the_option(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        network(args(*argv), up=argv[0] == "up")
    assert caught.value.source is None and caught.value.status == 2
    assert message in str(caught.value)


def test_handset_run_options() -> None:
    run = handset_run(
        args("handset", "run", "--msisdn", "+15550009999", "--smsc", "127.0.0.1:7101",
             "--ip-server", "localhost:7102", "--carrier", "inline", "--receipts", "off")
    )  # fmt: skip
    assert (run.msisdn, run.owner, run.companion) == ("+15550009999", "+15550009999", None)
    assert run.smsc == ("127.0.0.1", 7101) and run.ip_server == ("localhost", 7102)
    assert run.data_dir == Path("handset-15550009999")
    assert run.credentials == Path("handset-15550009999/ip-credentials.json")
    assert run.control == "tcp:7190:interface=127.0.0.1"
    assert (run.carrier, run.receipts) == (Carrier.INLINE, False)
    companion = handset_run(
        args("handset", "run", "--msisdn", "+15550009999", "--companion", "tab",
             "--smsc", "ignored", "--control", "7191", "--credentials", "c.json")
    )  # fmt: skip
    assert (companion.owner, companion.smsc) == ("tab@+15550009999", None)
    assert companion.data_dir == Path("handset-15550009999-tab")
    assert companion.credentials == Path("c.json")
    assert companion.control == "tcp:7191:interface=127.0.0.1"
    assert (companion.carrier, companion.receipts) == (None, None)
    with pytest.raises(ConfigError, match="--smsc: expected HOST:PORT"):
        handset_run(args("handset", "run", "--msisdn", "+1", "--smsc", "127.0.0.1:0"))
    with pytest.raises(ConfigError, match="--companion: a companion name"):
        handset_run(args("handset", "run", "--msisdn", "+1", "--companion", "a b"))


def test_ip_server_run_options() -> None:
    run = ip_server_run(args("ip-server", "run"))
    assert run.server == IpServerSettings()
    assert (run.data_dir, run.database_url) == (Path("smsemu-data"), None)
    assert run.metrics is None  # off unless asked
    run = ip_server_run(args("ip-server", "run", "--metrics", "7183"))
    assert run.metrics == "tcp:7183:interface=127.0.0.1"
    run = ip_server_run(
        args("ip-server", "run", "--listen", "0", "--rate", "2", "--burst", "3",
             "--history-days", "1", "--history-count", "4", "--database-url", "sqlite://",
             "--login-deadline", "2.5", "--query-timeout", "0.5")
    )  # fmt: skip
    assert run.server == IpServerSettings(
        "tcp:0:interface=127.0.0.1", 2.0, 3, 1.0, 4, query_timeout=0.5, login_deadline=2.5
    )
    assert run.database_url == "sqlite://"
    with pytest.raises(ConfigError, match="--burst: expected a whole number 1 or more, got 0"):
        ip_server_run(args("ip-server", "run", "--burst", "0"))
    with pytest.raises(ConfigError, match="--login-deadline: expected a number of seconds"):
        ip_server_run(args("ip-server", "run", "--login-deadline", "0"))
    with pytest.raises(ConfigError, match="--query-timeout: expected a number of seconds > 0"):
        ip_server_run(args("ip-server", "run", "--query-timeout", "0"))


def smsemu(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smsemu", *argv], capture_output=True, text=True, timeout=60
    )


def test_the_cli_prints_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    path = write(tmp_path, "[smsc]\nvalidity = 'two days'\n")
    out = smsemu("smsc", "--config", str(path), "--data-dir", str(tmp_path / "data"))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert (
        out.stderr
        == f"error: {path}: smsc.validity: expected a number of hours >= 0, got 'two days'\n"
    )
    out = smsemu("up", "--link", "127.0.0.1:99999", "--data-dir", str(tmp_path / "data"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(out.stderr.splitlines()) == 1
    assert out.stderr.startswith("error: --link: expected HOST:PORT")
    assert not (tmp_path / "data").exists()  # refused before anything started
    out = smsemu("ip-server", "run", "--query-timeout", "bad", "--data-dir", str(tmp_path / "data"))
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr == "error: --query-timeout: expected a number of seconds > 0, got 'bad'\n"
    assert not (tmp_path / "data").exists()
