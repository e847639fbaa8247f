"""The admin API's routes for the console (issue 21), against a real ``smsemu
up`` over real sockets: the page and its modules (no outside URL), the live
stream resuming after its Last-Event-ID, /network, /explain (the same
explanation as ``smsemu pdu explain``), /faults, the control API mounted at
/control, and the load generator.  Bad input: one line, a 400."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from .rig import TIMEOUT, SmscProcess
from .test_api_token import QUOTED_A, A, B, fetch, up

__all__ = ["up"]  # the fixture, used by name

QUOTED_B = urllib.parse.quote(B, safe="")
DELIVER = "040B915155001000F100006221502100000005E8329BFD06"  # "hello" from A


def call(up: SmscProcess, path: str, body: Any = None, method: str | None = None) -> Any:
    """Status and JSON body of a request to the admin API, with the token."""
    status, _, raw = fetch(
        f"http://127.0.0.1:{up.admin_port}{path}",
        token=up.token,
        method=method or ("GET" if body is None else "POST"),
        body=body,
    )
    return status, json.loads(raw) if raw else None


# -- the page ----------------------------------------------------------------------------------


def test_the_page_and_its_modules_come_from_the_package(up: SmscProcess) -> None:
    base = f"http://127.0.0.1:{up.admin_port}"
    status, headers, page = fetch(base + "/", token=up.token)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "connect-src 'self'" in headers["Content-Security-Policy"]
    html = page.decode()
    seen, todo = set(), re.findall(r'(?:src|href)="(console/[^"]+)"', html)
    assert "console/app.js" in todo and "console/console.css" in todo
    while todo:  # every module the page imports, and the modules they import
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        status, headers, body = fetch(f"{base}/{path}", token=up.token)
        assert status == 200, path
        text = body.decode()
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), f"{path}: an outside URL"
        if path.endswith(".js"):
            assert headers["Content-Type"].startswith("text/javascript")
            todo += ["console/" + m for m in re.findall(r'from "\./([\w.]+)"', text)]
    assert len(seen) >= 9
    assert fetch(f"{base}/console/nothing.js", token=up.token)[0] == 404


@pytest.mark.parametrize("path", ["/console/app.js", "/control/handsets"])
def test_what_the_console_adds_needs_the_token(up: SmscProcess, path: str) -> None:
    assert fetch(f"http://127.0.0.1:{up.admin_port}{path}")[0] == 401


def test_the_printed_lines_name_the_console(up: SmscProcess) -> None:
    (line,) = [x for x in up.lines if x.startswith("console: ")]
    assert f"console: http://127.0.0.1:{up.admin_port}/?token={up.token} " in line


# -- the network, the control API through the admin API -----------------------------------------


def test_the_network_now(up: SmscProcess) -> None:
    status, net = call(up, "/network")
    assert status == 200
    attached = {s["msisdn"]: s for s in net["subscribers"] if s["attached"]}
    assert set(attached) == {A, B}
    assert all(isinstance(s["since"], float) and s["imsi"] for s in attached.values())
    assert set(net["devices"]) == {A, B}  # the IP server's logged-in devices
    assert net["control"] == "control/handsets"
    listeners = net["listeners"]
    assert set(listeners) == {"radio link", "admin API", "SMPP", "IP server", "control API"}
    assert listeners["admin API"] == f"127.0.0.1:{up.admin_port}"
    assert listeners["control API"] == f"127.0.0.1:{up.control_port}"
    assert set(net["counters"]) >= {"submits_accepted", "delivered", "failed"}


def test_the_control_api_under_the_admin_api(up: SmscProcess) -> None:
    status, phones = call(up, "/control/handsets")
    assert status == 200 and [p["handset"] for p in phones] == [A, B]
    status, settings = call(up, f"/control/handsets/{QUOTED_A}")
    assert status == 200 and settings["settings"]["carrier"] == "udh"


# -- the live stream ---------------------------------------------------------------------------


class Stream:
    """``GET /events`` over a plain HTTP connection, read frame by frame."""

    def __init__(self, up: SmscProcess, last_id: int | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", up.admin_port, timeout=TIMEOUT)
        headers = {"Authorization": f"Bearer {up.token}"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        self.conn.request("GET", "/events", headers=headers)
        self.response = self.conn.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("Content-Type", "").startswith("text/event-stream")

    def frames(self) -> Iterator[tuple[int, dict[str, Any]]]:
        block: dict[str, str] = {}
        while True:
            line = self.response.readline().decode().rstrip("\n")
            if line:
                name, _, value = line.partition(": ")
                block[name] = value
            elif "data" in block and "id" in block:
                yield int(block["id"]), json.loads(block["data"])
                block = {}

    def until(self, match: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        for event_id, data in self.frames():
            if all(data.get(k) == v for k, v in match.items()):
                return event_id, data
        raise AssertionError("the stream ended")

    def close(self) -> None:
        self.conn.close()


def test_the_stream_tells_a_message_in_order_and_resumes_after_its_last_id(
    up: SmscProcess,
) -> None:
    stream = Stream(up)
    seen: list[tuple[int, dict[str, Any]]] = []
    try:
        status, _ = call(up, f"/control/handsets/{QUOTED_A}/send", {"to": B, "text": "streamed"})
        assert status == 202
        for event_id, data in stream.frames():
            seen.append((event_id, data))
            if data["event"] == "delivered" and data.get("recipient") == B:
                break
    finally:
        stream.close()
    ids = [i for i, _ in seen]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # numbered in order, none missing
    told = [(d["source"], d["event"]) for _, d in seen]
    assert told.index(("handset", "queued")) < told.index(("smsc", "accepted"))
    assert told.index(("smsc", "accepted")) < told.index(("smsc", "delivering"))
    assert ("handset", "received") in told and seen[-1][1]["source"] == "smsc"
    # A reconnect after the first of them gets the others again, the same, in order.
    again = Stream(up, last_id=ids[0])
    try:
        replay = []
        for event_id, data in again.frames():
            replay.append((event_id, data))
            if event_id == ids[-1]:
                break
    finally:
        again.close()
    assert replay == seen[1:]


def test_a_bad_last_event_id_is_a_400(up: SmscProcess) -> None:
    status, _, body = fetch(f"http://127.0.0.1:{up.admin_port}/events?last_id=x1", token=up.token)
    assert status == 400 and "expected an event id" in json.loads(body)["error"]


# -- the PDU inspector ---------------------------------------------------------------------------


def test_explain_is_the_commands_explanation(up: SmscProcess) -> None:
    cli = subprocess.run(
        [sys.executable, "-m", "smsemu", "pdu", "explain", DELIVER],
        capture_output=True, text=True, timeout=TIMEOUT, check=True,
    )  # fmt: skip
    status, got = call(up, f"/explain?hex={DELIVER}")
    assert status == 200
    assert got["text"] == cli.stdout.rstrip("\n")
    assert got["tpdu"] == "SmsDeliver" and got["error"] is None
    assert "".join(r["hex"] for r in got["rows"] if not r["bits"]) == DELIVER
    status, posted = call(up, "/explain", {"hex": DELIVER.lower(), "direction": "mt"})
    assert status == 200 and posted["rows"] == got["rows"]


RP_DATA = "00050007914477000900001601000B915155001000F100000AE8329BFD4697D9EC37"


def test_explain_takes_the_layer_the_command_takes(up: SmscProcess) -> None:
    cli = subprocess.run(
        [sys.executable, "-m", "smsemu", "pdu", "explain", "--layer", "rp", RP_DATA],
        capture_output=True, text=True, timeout=TIMEOUT, check=True,
    )  # fmt: skip
    status, got = call(up, "/explain", {"hex": RP_DATA, "layer": "rp"})
    assert status == 200 and got["layer"] == "rp" and got["name"] == "RP-DATA (MS to network)"
    assert got["text"] == cli.stdout.rstrip("\n")
    status, got = call(up, f"/explain?hex={DELIVER}&layer=smpp")
    assert status == 200 and got["layer"] == "smpp" and got["error"]
    status, got = call(up, f"/explain?hex={DELIVER}&layer=x25")
    assert status == 400 and "layer 'x25'" in got["error"]


def test_explain_of_a_broken_pdu_goes_as_far_as_it_can(up: SmscProcess) -> None:
    status, got = call(up, f"/explain?hex={DELIVER[:20]}")
    assert status == 200 and got["tpdu"] is None
    assert got["error"] and "octet" in got["error"]
    assert got["rows"][0]["field"] == "first octet"


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        ("/explain", None, "the PDU in hex is needed"),
        ("/explain?hex=0G", None, "hex:"),
        ("/explain?hex=", None, "no octets"),
        (f"/explain?hex={DELIVER}&direction=up", None, "expected mt"),
        (f"/explain?hex={DELIVER}&sca=yes", None, "expected 0 or 1"),
        ("/explain", {"hex": 5}, "strings"),
        ("/explain", [1], "JSON object"),
    ],
)
def test_explain_refuses_in_one_line(up: SmscProcess, path: str, body: Any, error: str) -> None:
    status, got = call(up, path, body)
    assert status == 400 and error in got["error"] and "\n" not in got["error"]


# -- faults ----------------------------------------------------------------------------------------


def test_fault_rules_added_and_switched(up: SmscProcess) -> None:
    status, rule = call(up, "/faults", {"action": "throttle", "esme": "nobody", "name": "t"})
    assert status == 201 and rule["enabled"] and rule["action"] == "throttle"
    index = rule["index"]
    status, off = call(up, f"/faults/{index}", {"enabled": False})
    assert status == 200 and off["enabled"] is False
    status, rules = call(up, "/faults")
    assert status == 200 and rules[index]["enabled"] is False and rules[index]["name"] == "t"


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/faults", {"action": "explode"}, 400, "use one of"),
        ("/faults", {"esme": "x"}, 400, "'action' is needed"),
        ("/faults", {"action": "drop", "colour": "red"}, 400, "unknown field 'colour'"),
        ("/faults", {"action": "drop", "every": "2"}, 400, "wrong type"),
        ("/faults", {"action": "drop", "every": 0}, 400, "every >= 1"),
        ("/faults", {"action": "drop", "content": "("}, 400, "content"),
        ("/faults/99", {"enabled": True}, 404, "no fault rule 99"),
        ("/faults/x", {"enabled": True}, 400, "not a whole number"),
    ],
)
def test_fault_bodies_refused_in_one_line(
    up: SmscProcess, path: str, body: Any, status: int, error: str
) -> None:
    got_status, got = call(up, path, body)
    assert got_status == status and error in got["error"], got


# -- load ------------------------------------------------------------------------------------------


def test_the_load_generator_sends_at_a_rate(up: SmscProcess) -> None:
    status, run = call(
        up, f"/control/handsets/{QUOTED_A}/load", {"to": B, "count": 3, "rate": 20, "text": "ld"}
    )
    assert status == 202 and run["count"] == 3 and run["rate"] == 20.0
    # The last of them arrives at B (the control API's long poll waits on the event).
    status, got = call(up, f"/control/handsets/{QUOTED_B}/events/received?text=ld%203%2F3")
    assert status == 200 and got["peer"] == A


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"to": B, "count": 0, "rate": 1}, "'count' is 1 to"),
        ({"to": B, "count": 1, "rate": 0}, "'rate' is above 0"),
        ({"to": B, "count": 1, "rate": "fast"}, "'rate' must be a number"),
        ({"to": B, "count": 1, "rate": 1, "when": "now"}, "unknown load fields: when"),
    ],
)
def test_load_refused_in_one_line(up: SmscProcess, body: dict[str, Any], error: str) -> None:
    status, got = call(up, f"/control/handsets/{QUOTED_A}/load", body)
    assert status == 400 and error in got["error"]
