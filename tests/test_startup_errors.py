"""Every start-up mistake is one line on stderr naming the option (or the
file's key) and what was expected, with a non-zero exit and no traceback; a
start that fails stops what it had started.  The real ``smsemu``, as a
subprocess, on real sockets, files and PostgreSQL servers."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from pdu import Address, SmsSubmit, UserData, encode
from radiolink.ms import Acked, Refused
from smsc.store import open_engine, sqlite_url
from storage import safe_url
from txkit.private import write_private

from .conftest import ROOT
from .rig import TIMEOUT, Log, Rig, SmscProcess

FREE = ["--link", "0", "--admin", "0", "--smpp", "0"]
UP_FREE = [*FREE, "--ip-server", "0", "--control", "0"]


def smsemu(*argv: str, python: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    command = python or [sys.executable, "-m", "smsemu"]
    return subprocess.run(
        [*command, *argv], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


def one_line(out: subprocess.CompletedProcess[str], expected: str, status: int = 1) -> None:
    """``expected`` is the one error line, the last on stderr (log lines of
    what started before may come first), with exit ``status``."""
    assert "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors == [expected], out.stderr
    assert out.stderr.splitlines()[-1] == expected
    assert out.returncode == status


@pytest.fixture
def taken() -> Iterator[str]:
    """``127.0.0.1:PORT`` of a port this test holds: in use for smsemu."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def closed_cleanly(data_dir: Path) -> bool:
    """Every SQLite database in ``data_dir`` was closed (no write-ahead log
    or shared memory left beside it): a stop, not an abandon."""
    return not [p for p in data_dir.rglob("*") if p.name.endswith(("-wal", "-shm"))]


# -- 1. a port in use, for every listener --------------------------------------------


@pytest.mark.parametrize(
    ("command", "option"),
    [
        ("smsc", "--link"),
        ("smsc", "--admin"),
        ("smsc", "--smpp"),
        ("up", "--ip-server"),
        ("up", "--control"),
    ],
)
def test_a_port_in_use_names_the_option_and_stops_what_started(
    command: str, option: str, taken: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    argv = UP_FREE if command == "up" else FREE
    i = argv.index(option)
    out = smsemu(command, "--data-dir", str(data), *argv[:i], option, taken, *argv[i + 2 :])
    one_line(out, f"error: {option}: {taken} is in use (Address already in use)")
    assert closed_cleanly(data)  # the SMSC (and IP server) started, then stopped


def test_the_ip_server_alone_and_a_handset_alone(taken: str, tmp_path: Path) -> None:
    out = smsemu("ip-server", "run", "--data-dir", str(tmp_path), "--listen", taken)
    one_line(out, f"error: --listen: {taken} is in use (Address already in use)")
    out = smsemu("handset", "run", "--msisdn", "+15550001001", "--smsc", "127.0.0.1:9",
                 "--data-dir", str(tmp_path / "h"), "--control", taken)  # fmt: skip
    one_line(out, f"error: --control: {taken} is in use (Address already in use)")


def test_a_port_the_config_file_chose_names_its_key(taken: str, tmp_path: Path) -> None:
    config = tmp_path / "net.toml"
    config.write_text(f'[smsc]\nadmin = "{taken}"\n')
    out = smsemu("smsc", "--config", str(config), "--data-dir", str(tmp_path), "--link", "0",
                 "--smpp", "0")  # fmt: skip
    one_line(out, f"error: {config}: smsc.admin: {taken} is in use (Address already in use)")


# -- 2. the data directory and the database URL -----------------------------------------


def _data_dir_commands(data_dir: str) -> list[list[str]]:
    return [
        ["smsc", "--data-dir", data_dir, *FREE],
        ["up", "--data-dir", data_dir, *UP_FREE],
        ["ip-server", "run", "--data-dir", data_dir, "--listen", "0"],
        ["ip-server", "register", "--msisdn", "+15550001001", "--data-dir", data_dir],
        ["ip-server", "unbind", "phone-1", "--data-dir", data_dir],
        ["handset", "run", "--msisdn", "+15550001001", "--smsc", "127.0.0.1:9",
         "--data-dir", data_dir, "--control", "0"],
    ]  # fmt: skip


@pytest.mark.parametrize("index", range(6))
def test_a_data_dir_that_is_a_file_or_cannot_be_made(index: int, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    out = smsemu(*_data_dir_commands(str(afile))[index])
    one_line(out, f"error: --data-dir: {afile} is a file, not a directory")
    out = smsemu(*_data_dir_commands("/proc/smsemu/data")[index])
    one_line(
        out,
        "error: --data-dir: cannot create the directory /proc/smsemu/data "
        "(No such file or directory)",
    )


EXPECTED = "expected e.g. sqlite:///path or postgresql+psycopg://user@host/db"


@pytest.mark.parametrize(
    "command",
    [
        ["smsc", *FREE],
        ["ip-server", "run", "--listen", "0"],
        ["ip-server", "register", "--msisdn", "+15550001001"],
        ["ip-server", "unbind", "phone-1"],
    ],
)
def test_a_database_url_that_is_none_or_names_no_driver(command: list[str]) -> None:
    out = smsemu(*command, "--database-url", "garbage")
    one_line(out, f"error: --database-url: not a database URL: 'garbage' ({EXPECTED})", 2)
    out = smsemu(*command, "--database-url", "postgresql+nope://bob:secret@db/x")
    one_line(
        out,
        "error: --database-url: no database dialect or driver 'postgresql+nope' in "
        f"'postgresql+nope://bob:***@db/x' ({EXPECTED})",
        2,
    )


def test_the_postgresql_driver_not_installed_says_how_to_get_it() -> None:
    """psycopg made unimportable (``sys.modules['psycopg'] = None``, Python's
    way to make an import fail) in the process, which then runs ``smsemu``'s
    own ``__main__``."""
    python = [sys.executable, "-c",
              "import runpy, sys; sys.modules['psycopg'] = None; "
              "runpy.run_module('smsemu', run_name='__main__')"]  # fmt: skip
    out = smsemu("smsc", *FREE, "--database-url", "postgresql+psycopg://bob:secret@db/x",
                 python=python)  # fmt: skip
    one_line(
        out,
        "error: --database-url: the database driver 'psycopg' of "
        "postgresql+psycopg://bob:***@db/x is not installed "
        "(pip install 'smsemu[postgres]' and a postgresql+psycopg:// URL)",
        2,
    )


def test_a_database_url_in_the_file_names_its_key(tmp_path: Path) -> None:
    config = tmp_path / "net.toml"
    config.write_text('[smsc]\ndatabase_url = "garbage"\n')
    out = smsemu("smsc", "--config", str(config), *FREE)
    one_line(out, f"error: {config}: smsc.database_url: not a database URL: 'garbage' ({EXPECTED})")


# -- 3. a PostgreSQL server that does not answer, or not to us -------------------------


def test_an_unreachable_postgresql_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://bob:secret@127.0.0.1:1/x"
    for command in (["smsc", *FREE], ["up", "--data-dir", str(tmp_path), *UP_FREE],
                    ["ip-server", "register", "--msisdn", "+15550001001"]):  # fmt: skip
        out = smsemu(*command, "--database-url", url)
        assert "secret" not in out.stdout + out.stderr
        error = out.stderr.splitlines()[-1]
        assert error.startswith(
            "error: --database-url: cannot connect to the database "
            "postgresql+psycopg://bob:***@127.0.0.1:1/x: "
        )
        assert "Connection refused" in error
        one_line(out, error)


def test_an_unknown_role_or_database_is_one_line(postgres_url: str) -> None:
    server = postgres_url.rsplit("/", 1)[0]  # postgresql+psycopg://postgres:PW@127.0.0.1:PORT
    host = server.split("@", 1)[1]
    role = f"postgresql+psycopg://bob:secret@{host}/smsemu"
    out = smsemu("smsc", *FREE, "--database-url", role)
    assert "secret" not in out.stderr
    one_line(out, out.stderr.splitlines()[-1])
    # A server that asks for passwords does not say whether the role exists.
    assert 'password authentication failed for user "bob"' in out.stderr
    assert f"postgresql+psycopg://bob:***@{host}/smsemu: " in out.stderr
    out = smsemu("smsc", *FREE, "--database-url", f"{server}/no_such_db")
    one_line(out, out.stderr.splitlines()[-1])
    assert 'database "no_such_db" does not exist' in out.stderr


def test_a_read_only_postgresql_database_refuses_the_start(postgres_url: str) -> None:
    name = f"ro_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
    try:
        url = postgres_url.rsplit("/", 1)[0] + "/" + name
        out = smsemu("smsc", *FREE, "--database-url", url)
        error = out.stderr.splitlines()[-1]
        assert error.startswith(
            f"error: --database-url: cannot write to the database {safe_url(url)} ("
        )
        assert "read-only transaction" in error
        one_line(out, error)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- 4. a read-only SQLite database ------------------------------------------------------


def test_a_read_only_sqlite_file_refuses_the_start(
    tmp_path: Path, unwritable: Callable[[Path], Callable[[], None]]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    open_engine(sqlite_url(data)).dispose()  # made and migrated, closed
    database = data / "smsc.sqlite3"
    unwritable(database)
    for command in ("smsc", "up"):
        argv = UP_FREE if command == "up" else FREE
        out = smsemu(command, "--data-dir", str(data), *argv)
        one_line(
            out,
            f"error: --data-dir: cannot write to the database {database} "
            "(attempt to write a readonly database)",
        )
        assert "press Ctrl-C" not in out.stdout


def _esme_config(tmp_path: Path) -> Path:
    """A config with an ESME account of its own: no password to generate."""
    path = tmp_path / "esme.toml"
    path.write_text('[[smpp.esme]]\nsystem_id = "tester"\npassword = "t3ster"\n')
    return path


def test_a_read_only_data_dir_refuses_the_start(
    tmp_path: Path, unwritable: Callable[[Path], Callable[[], None]]
) -> None:
    data, fresh = tmp_path / "data", tmp_path / "fresh"
    data.mkdir()
    fresh.mkdir()
    write_private(data / "api-token", "kept from a start before\n")
    unwritable(data)
    unwritable(fresh)
    why = os.strerror(errno.EPERM if ROOT else errno.EACCES)
    out = smsemu("smsc", "--data-dir", str(data), *FREE)  # its ESME password first
    one_line(
        out,
        f"error: --data-dir: cannot write {data}/esme-password "
        f"({why}: can this user make files in {data}?)",
    )
    esme = str(_esme_config(tmp_path))
    out = smsemu("smsc", "--data-dir", str(fresh), *FREE, "--config", esme)  # then the API token
    one_line(
        out,
        f"error: --data-dir: cannot write {fresh}/api-token "
        f"({why}: can this user make files in {fresh}?)",
    )
    out = smsemu("smsc", "--data-dir", str(data), *FREE, "--config", esme)
    one_line(
        out,
        f"error: --data-dir: cannot use the database {data}/smsc.sqlite3 "
        f"(unable to open database file: can this user make files in {data}?)",
    )
    out = smsemu("ip-server", "register", "--msisdn", "+15550001001", "--data-dir", str(data))
    one_line(
        out,
        f"error: --data-dir: cannot use the database {data}/receipt_server.sqlite3 "
        f"(unable to open database file: can this user make files in {data}?)",
    )


def _submit(rig: Rig, text: str, mr: int) -> Acked | Refused:
    tpdu = encode(SmsSubmit(tp_da=Address.parse("+15551234567"), tp_mr=mr, tp_ud=UserData(text)))
    return rig.answer(rig.submit(tpdu))


@pytest.mark.skipif(
    not ROOT or shutil.which("chattr") is None,
    reason="only root (chattr +i) can make a file that is open for writing unwritable",
)
def test_a_database_that_stops_taking_writes_acks_nothing_it_did_not_commit(
    tmp_path: Path, unwritable: Callable[[Path], Callable[[], None]]
) -> None:
    """The SQLite file and its log made immutable under a running SMSC: the
    submit that cannot be committed is refused (RP-ERROR 41), the checkpoint
    says once that it fails, and again when it works; no traceback, and what
    was acknowledged is there after a restart."""
    data = tmp_path / "data"
    smsc = SmscProcess(["--data-dir", str(data)], stderr=subprocess.PIPE)
    log = Log(smsc.proc.stderr)
    files = [data / "smsc.sqlite3", data / "smsc.sqlite3-wal"]
    try:
        a = smsc.rig("+4915112345678", "001010000000001")
        a.attach()
        assert isinstance(_submit(a, "before", 0), Acked)
        undos = [unwritable(path) for path in files]
        try:
            log.wait_for("checkpoint of")
            refused = _submit(a, "during", 1)
            assert isinstance(refused, Refused) and refused.cause == 41
            log.wait_for("database work failed")
        finally:
            for undo in undos:
                undo()
        log.wait_for("works again")
        assert isinstance(_submit(a, "after", 2), Acked)
        a.close()
    finally:
        assert smsc.terminate() == 0
    lines = log.rest()
    assert not [line for line in lines if "Traceback" in line]
    assert len([line for line in lines if "checkpoint of" in line and "failed" in line]) == 1
    smsc = SmscProcess(["--data-dir", str(data)])
    try:
        url = f"http://127.0.0.1:{smsc.admin_port}/messages"
        with urllib.request.urlopen(smsc.request(url), timeout=TIMEOUT) as r:
            assert [m["text"] for m in json.loads(r.read())] == ["before", "after"]
    finally:
        assert smsc.terminate() == 0


# -- 5. the admin API's parameters --------------------------------------------------------


def test_the_admin_api_answers_a_bad_parameter_with_what_it_expected(tmp_path: Path) -> None:

    smsc = SmscProcess(["--data-dir", str(tmp_path / "data")])
    try:
        a = smsc.rig("+4915112345678", "001010000000001")
        a.attach()
        assert isinstance(_submit(a, "queued for Bob", 0), Acked)
        a.close()

        def get(path: str) -> tuple[int, Any]:
            url = f"http://127.0.0.1:{smsc.admin_port}{path}"
            try:
                with urllib.request.urlopen(smsc.request(url), timeout=TIMEOUT) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read())

        # A + typed as is (a space once the query is parsed), and as %2B.
        for query in ("recipient=+15551234567", "recipient=%2B15551234567",
                      "originator=+4915112345678"):  # fmt: skip
            status, found = get(f"/messages?{query}")
            assert status == 200 and [m["text"] for m in found] == ["queued for Bob"], query
        for path, error in [
            ("/messages/abc", "message id 'abc' is not a whole number"),
            ("/messages?limit=ten", "limit 'ten' is not a whole number"),
            ("/messages?limit=0", "limit must be 1-1000, got 0"),
            ("/messages?after=x", "after 'x' is not a whole number"),
            ("/messages?state=lost", "state must be one of queued, delivered, failed, "
             "expired, deleted, got 'lost'"),
            ("/messages?kind=mms", "kind must be one of sms, report, esme, got 'mms'"),
            ("/messages/99999999999999999999", "message id must be 0-9223372036854775807, "
             "got 99999999999999999999"),
        ]:  # fmt: skip
            assert get(path) == (400, {"error": error}), path
        assert get("/messages/12345")[0] == 404
    finally:
        assert smsc.terminate() == 0


# -- 6. the handset's client commands -----------------------------------------------------


def test_the_handset_commands_answer_in_one_line(tmp_path: Path) -> None:
    out = smsemu("handset", "list", "--api", "garbage")
    one_line(out, "error: --api: not a URL: 'garbage' (expected e.g. http://127.0.0.1:7190)")
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    api = f"http://127.0.0.1:{port}"
    out = smsemu("handset", "inbox", "+15550001001", "--api", api, "--token", "t")
    assert out.stderr.startswith(f"error: no control API at http://127.0.0.1:{port} (")
    one_line(out, out.stderr.splitlines()[-1])
    out = smsemu("ip-server", "register", "--msisdn", "+15550001001",
                 "--data-dir", str(tmp_path), "--out", "/proc/smsemu/c.json")  # fmt: skip
    one_line(
        out,
        "error: --out: cannot create the directory /proc/smsemu (No such file or directory)",
    )
    assert not (tmp_path / "receipt_server.sqlite3").exists()  # refused before registering
