"""``smsemu up`` with its handsets, driven by ``smsemu handset ...``: every
command a real subprocess, the network a real process on SQLite files."""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from .rig import SmscProcess
from .scrape import scrape, value

A, B = "+15550001001", "+15550001002"
#: Safety bounds only, far past what anything takes even on a loaded machine:
#: every wait below ends on its event, these only keep a broken run from hanging.
LONG_POLL = 120  # seconds the control API holds a long poll for its event
HTTP_TIMEOUT = 60  # seconds for a plain request to the control API
COMMAND_TIMEOUT = 120  # seconds for one `smsemu handset ...` command


@pytest.fixture
def up(tmp_path: Path) -> Iterator[SmscProcess]:
    config = tmp_path / "net.toml"
    config.write_text(
        f'[[handset]]\nmsisdn = "{A}"\n\n'
        f'[[handset]]\nmsisdn = "{B}"\ncarrier = "inline"\n\n'
        '[[handset]]\nmsisdn = "+15550001003"\nreceipts = false\n\n'
        f'[[companion]]\nmsisdn = "{A}"\nname = "desktop"\n\n'
        # The server keeps no history: every search from the desktop is relayed.
        "[ip_server]\nhistory_count = 0\n"
    )
    network = SmscProcess(["--data-dir", str(tmp_path / "data"), "--config", str(config)], "up")
    try:
        yield network
    finally:
        assert network.terminate() == 0


def smsemu(up: SmscProcess, *args: str) -> subprocess.CompletedProcess[str]:
    api = f"http://127.0.0.1:{up.control_port}"
    options = ["--api", api, "--data-dir", str(up.data_dir)]  # its token read from there
    return subprocess.run(
        [sys.executable, "-m", "smsemu", "handset", *args[:1], *options, *args[1:]],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )


def waiting(
    up: SmscProcess, msisdn: str, kind: str, *, tls: ssl.SSLContext | None = None, **match: Any
) -> Future[Any]:
    """The handset's next ``kind`` event matching ``match``, from the control
    API's long poll (over https trusting ``tls``, when given): start it
    before what causes the event.

    The request is on the wire when this returns, ahead of the requests that
    cause the event (the server accepts connections in order and reads each
    as soon as it is accepted); only its answer is waited for, on a thread."""
    query = urllib.parse.urlencode({**match, "timeout": LONG_POLL})
    path = f"/handsets/{urllib.parse.quote(msisdn)}/events/{kind}?{query}"
    where = ("127.0.0.1", up.control_port)
    conn = http.client.HTTPConnection(*where, timeout=LONG_POLL + 30)
    if tls is not None:
        conn = http.client.HTTPSConnection(*where, timeout=LONG_POLL + 30, context=tls)
    conn.request("GET", path, headers={"Authorization": f"Bearer {up.token}"})
    return EVENTS.submit(_answer, conn)


def _answer(conn: http.client.HTTPConnection) -> Any:
    try:
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise AssertionError(f"long poll: {response.status} {body.decode(errors='replace')}")
    return json.loads(body)


EVENTS = ThreadPoolExecutor(4)


def api(up: SmscProcess, path: str) -> Any:
    url = f"http://127.0.0.1:{up.control_port}{path}"
    with urllib.request.urlopen(up.request(url), timeout=HTTP_TIMEOUT) as r:
        return json.loads(r.read())


def test_up_runs_the_configured_handsets(up: SmscProcess) -> None:
    assert up.handsets == [A, B, "+15550001003"]
    assert up.ip_port and up.control_port
    # Every phone (not the companion device) has an AT pty, printed and in the API.
    assert sorted(up.at_ports) == sorted(up.handsets)
    assert api(up, "/handsets/%2B15550001002")["at"] == {"pty": up.at_ports[B]}
    info = smsemu(up, "info", B)
    assert info.returncode == 0, info.stderr
    assert f"AT port:  {up.at_ports[B]}" in info.stdout.splitlines()
    handsets = api(up, "/handsets")  # listed once attached and logged in
    assert all(h["ip_online"] for h in handsets)
    phones = [h for h in handsets if h["companion"] is None]
    assert all(h["attached"] for h in phones)
    assert [h["msisdn"] for h in phones] == [A, B, "+15550001003"]
    assert [(h["handset"], h["attached"]) for h in handsets[3:]] == [(f"desktop@{A}", False)]
    assert api(up, "/handsets/%2B15550001002")["settings"]["carrier"] == "inline"
    assert api(up, "/handsets/%2B15550001003")["settings"]["receipts"] is False
    listed = smsemu(up, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [A, B, "+15550001003", f"desktop@{A}"]
    assert "radio attached, IP online" in lines[0] and "IMSI " in lines[0]
    assert lines[3].split()[1:] == ["companion", "IP", "online"]
    # One /metrics for the network: the SMSC's, its SMPP door's and the IP server's.
    samples, _ = scrape(f"http://127.0.0.1:{up.admin_port}/metrics")
    assert value(samples, "smsemu_attached_subscribers") == 3
    assert value(samples, "smsemu_smpp_window_size") == 64
    assert value(samples, "smsemu_ip_devices_logged_in") == 4  # three phones and the desktop


def test_send_inbox_read_and_the_marks_people_see(up: SmscProcess) -> None:
    third = waiting(up, B, "received", text="three")
    reported = waiting(up, A, "state", number=2, state="delivered")  # its status report
    for text in ("one", "two", "three"):
        sent = smsemu(up, "send", A, B, text)
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith("message ")
    third.result()  # the SMSC delivers to B in order: all three are in
    reported.result()

    listed = smsemu(up, "inbox", B, "--json")
    assert listed.returncode == 0, listed.stderr
    messages: list[dict[str, Any]] = json.loads(listed.stdout)
    by_text = {m["text"]: m for m in messages}
    assert [m["read"] for m in messages] == [False, False, False]
    shown = smsemu(up, "inbox", B).stdout
    assert "* " in shown and "two" in shown

    seen = waiting(up, A, "state", number=1, state="read")
    opened = smsemu(up, "read", B, str(by_text["two"]["id"]))
    assert opened.returncode == 0 and "two" in opened.stdout
    seen.result()

    screen = smsemu(up, "conversations", A, B).stdout.splitlines()
    two = next(i for i, line in enumerate(screen) if "me:   two" in line)
    three = next(i for i, line in enumerate(screen) if "me:   three" in line)
    assert screen[two + 1].strip() == "Read" and screen[three + 1].strip() == "Sent"
    listing = smsemu(up, "conversations", B).stdout
    assert A in listing and "2 unread" in listing

    # A's own sent messages, read on A: shown as sent, with their state, never opened.
    mine = json.loads(smsemu(up, "conversations", A, B, "--json").stdout)
    three_id = next(m["id"] for m in mine if m["text"] == "three")
    two_id = next(m["id"] for m in mine if m["text"] == "two")
    shown_three = smsemu(up, "read", A, str(three_id))
    assert shown_three.returncode == 0, shown_three.stderr
    head, text = shown_three.stdout.splitlines()
    assert head.startswith(f"To {B} at ") and head.endswith("(#2, delivered):") and text == "three"
    assert "From" not in shown_three.stdout
    assert smsemu(up, "read", A, str(two_id)).stdout.splitlines()[0].endswith("(#1, read):")
    after = json.loads(smsemu(up, "read", A, str(three_id), "--json").stdout)
    assert (after["state"], after["read"], after["response_pending"]) == ("delivered", False, False)
    # B opens "three": the IP server has had B's two responses, none from A.
    seen = waiting(up, A, "state", number=2, state="read")
    assert smsemu(up, "read", B, str(by_text["three"]["id"])).returncode == 0
    seen.result()
    samples, _ = scrape(f"http://127.0.0.1:{up.admin_port}/metrics")
    assert value(samples, "smsemu_ip_responses_total", outcome="accepted") == 2
    # B looks at its conversation with A: "one", still unread, is opened as it shows.
    seen = waiting(up, A, "state", number=0, state="read")
    viewed = json.loads(smsemu(up, "conversations", B, A, "--json").stdout)
    assert [m["read"] for m in viewed if m["direction"] == "in"] == [True, True, True]
    seen.result()


def test_bad_requests_get_clear_errors(up: SmscProcess) -> None:
    missing = smsemu(up, "inbox", "+19999")
    assert missing.returncode == 1 and "no handset +19999" in missing.stderr
    no_message = smsemu(up, "read", A, "4242")
    assert no_message.returncode == 1 and "no message 4242" in no_message.stderr
    bad_number = smsemu(up, "send", A, "not a number!", "hi")
    assert bad_number.returncode == 1 and "error" in bad_number.stderr
    assert "Traceback" not in bad_number.stderr
    command = ["handset", "inbox", "--api", "http://127.0.0.1:9", "--token", "t", A]
    nobody = subprocess.run(
        [sys.executable, "-m", "smsemu", *command],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    assert nobody.returncode == 1 and "no control API" in nobody.stderr


def test_the_api_refuses_what_is_not_a_number(up: SmscProcess) -> None:
    for path in (
        "/handsets/%2B15550001001/messages/%C2%B2",
        "/handsets/%2B15550001001/inbox?limit=x",
    ):
        try:
            api(up, path)
        except urllib.error.HTTPError as exc:
            assert exc.code == 400
            assert "not a whole number" in json.loads(exc.read())["error"]
        else:
            raise AssertionError(f"{path} was accepted")


def test_a_choice_made_through_the_api_survives_a_restart(tmp_path: Path) -> None:
    """Only what the config names is applied at start: the user's own
    choice of the rest is the handset's, kept in its store."""
    args = ["--data-dir", str(tmp_path / "data"), "--handset", A]
    first = SmscProcess(args, "up")
    try:
        body = json.dumps({"receipts": False}).encode()
        request = first.request(
            f"http://127.0.0.1:{first.control_port}/handsets/%2B15550001001/settings",
            data=body,
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as r:
            assert json.loads(r.read())["receipts"] is False
    finally:
        assert first.terminate() == 0
    second = SmscProcess(args, "up")
    try:
        assert api(second, "/handsets/%2B15550001001")["settings"]["receipts"] is False
    finally:
        assert second.terminate() == 0


def test_a_companion_searches_the_history_on_the_phone(up: SmscProcess) -> None:
    desktop = f"desktop@{A}"
    assert [h["handset"] for h in api(up, "/handsets")][-1] == desktop
    delivered = [waiting(up, A, "state", number=n, state="delivered") for n in (0, 1)]
    for text in ("test message one", "test message two"):
        assert smsemu(up, "send", A, B, text).returncode == 0
    for d in delivered:
        d.result()
    # The phone answers at once; the deadline only bounds a phone that never does.
    out = smsemu(up, "search", desktop, "TEST MESSAGE", "--timeout", "60")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "2 found on other devices (complete)"
    assert [line.split(B)[1].split("[")[0].strip() for line in lines[1:]] == [
        "test message two",
        "test message one",
    ]
    as_json = json.loads(smsemu(up, "search", desktop, "one", "--json").stdout)
    (found,) = as_json["results"]
    assert found["direction"] == "out" and found["peer"] == B
    assert len(found["sources"]) == 1 and found["sources"][0] != "local"
    # The phone finds its own messages locally; nothing is on the server.
    local = json.loads(smsemu(up, "search", A, "one", "--json").stdout)
    assert (local["source"], len(local["results"])) == ("local", 1)
    missing = smsemu(up, "search", desktop, "never sent anything like this")
    assert missing.stdout.startswith("0 found on other devices (not found)")
