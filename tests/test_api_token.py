"""The admin API and the handsets' control API behind their token (issue 18),
against ``smsemu up`` and ``smsemu smsc`` as real processes over real sockets,
the CLI as a subprocess: 401 without the token, 403 with a wrong one, the
printed URL working in a browser (its cookie), /metrics open or closed, the
400s of bad numbers, the warning of a listener open to other machines; and
the lockout of wrong tokens on a ``task.Clock``."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import stat
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.interfaces import IListeningPort
from twisted.internet.task import Clock
from twisted.internet.threads import deferToThread
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

import handset.control
from smsc.admin import ROUTES, STREAMING
from txkit.bearer import TokenGuard
from txkit.endpoints import exposed, listen

from .rig import TIMEOUT, Log, SmscProcess

A, B = "+15550001001", "+15550001002"
QUOTED_A = urllib.parse.quote(A, safe="")


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmscProcess]:
    data = tmp_path_factory.mktemp("up") / "data"
    network = SmscProcess(["--data-dir", str(data)], "up")
    try:
        yield network
    finally:
        assert network.terminate() == 0


def fetch(
    url: str,
    *,
    token: str | None = None,
    method: str = "GET",
    body: Any = None,
    opener: urllib.request.OpenerDirector | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one request (an error status is an answer too)."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=TIMEOUT) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def admin(up: SmscProcess, path: str) -> str:
    return f"http://127.0.0.1:{up.admin_port}{path}"


def control(up: SmscProcess, path: str) -> str:
    return f"http://127.0.0.1:{up.control_port}{path}"


# -- the token and the printed URLs -----------------------------------------------------------


def test_the_token_is_made_in_the_data_dir_and_printed_in_the_urls(up: SmscProcess) -> None:
    path = up.data_dir / "api-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = up.token
    assert len(token) >= 32
    printed = "\n".join(up.lines)
    assert f"admin API on http://127.0.0.1:{up.admin_port}/?token={token}" in printed
    assert f"control API on http://127.0.0.1:{up.control_port}/handsets?token={token}" in printed


def test_the_printed_url_works_in_a_browser(up: SmscProcess) -> None:
    """Opened as printed, the index sets a cookie; its links work with nothing more."""
    (url,) = re.findall(r"admin API on (\S+)", "\n".join(up.lines))
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    status, headers, page = fetch(url, opener=browser)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"smsemu-token-{up.admin_port}={up.token};")
    attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert attributes == {"path=/", "httponly", "samesite=strict"}
    # The console, with the API's routes listed at its foot.
    routes = re.search(r'<ul id="routes">(.*?)</ul>', page.decode(), re.DOTALL)
    assert routes is not None
    links = re.findall(r'href="([^"]+)"', routes.group(1))
    assert {link.partition("?")[0] for link in links} == {r.path for r in ROUTES}
    for link in links:
        if link.partition("?")[0] not in STREAMING:  # they stream on
            status, _, _ = fetch(admin(up, "/" + link.replace("&amp;", "&")), opener=browser)
            assert status == 200, link
    # Without the cookie (another site's page, a curl without the token): refused.
    assert fetch(admin(up, "/messages"))[0] == 401
    # The control API's printed URL, in the same browser: a cookie of its own port.
    (url,) = re.findall(r"control API on (\S+)", "\n".join(up.lines))
    status, _, body = fetch(url, opener=browser)
    assert status == 200 and [h["handset"] for h in json.loads(body)] == [A, B]
    assert fetch(control(up, f"/handsets/{QUOTED_A}/inbox"), opener=browser)[0] == 200
    assert {c.name for c in jar} == {f"smsemu-token-{up.admin_port}",
                                     f"smsemu-token-{up.control_port}"}  # fmt: skip


def test_a_bearer_header_is_enough(up: SmscProcess) -> None:
    status, headers, body = fetch(admin(up, "/subscribers"), token=up.token)
    assert status == 200 and "Set-Cookie" not in headers
    assert {s["msisdn"] for s in json.loads(body)} >= {A, B}


def test_a_wrong_token_is_forbidden(up: SmscProcess) -> None:
    for url in (admin(up, "/messages"), control(up, "/handsets")):
        status, headers, body = fetch(url, token="not-the-token")
        assert status == 403, url
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert "wrong token" in json.loads(body)["error"]
    status, headers, _ = fetch(admin(up, "/messages?token=not-the-token"))
    assert status == 403 and "Set-Cookie" not in headers


# -- every route refuses without the token --------------------------------------------------


def _control_routes() -> list[tuple[str, str]]:
    """The routes of handset.control's docstring (its route table), with
    example values for their parameters."""
    doc = handset.control.__doc__ or ""
    routes = re.findall(r"^\s+(GET|POST)\s+(/handsets\S*)", doc, re.MULTILINE)
    names = {"M": QUOTED_A, "PEER": "%2B15550001002", "ID": "1", "KIND": "state"}
    return [(m, re.sub(r"\b[A-Z]+\b", lambda x: names[x.group()], p)) for m, p in routes]


CONTROL_ROUTES = _control_routes()


def test_the_control_route_table_is_read_whole() -> None:
    assert len(CONTROL_ROUTES) == 14
    assert ("POST", f"/handsets/{QUOTED_A}/messages/1/read") in CONTROL_ROUTES


@pytest.mark.parametrize(
    "path", ["/", *(f"/{r.example}" for r in ROUTES if r.path != "metrics"), "/no-such-page"]
)
def test_every_admin_route_needs_the_token(up: SmscProcess, path: str) -> None:
    status, headers, body = fetch(admin(up, path))
    assert status == 401, path
    assert headers["WWW-Authenticate"] == 'Bearer realm="smsemu"'
    assert "needs its token" in json.loads(body)["error"]


@pytest.mark.parametrize(("method", "path"), [*CONTROL_ROUTES, ("GET", "/no-such-page")])
def test_every_control_route_needs_the_token(up: SmscProcess, method: str, path: str) -> None:
    body = {"to": B, "text": "not sent"} if path.endswith("/send") else None
    status, headers, _ = fetch(control(up, path), method=method, body=body)
    assert status == 401, path
    assert headers["WWW-Authenticate"] == 'Bearer realm="smsemu"'
    # Nothing was done: the message a send without the token would have made is not there.
    inbox = fetch(control(up, f"/handsets/{QUOTED_A}/conversations"), token=up.token)
    assert inbox[0] == 200 and "not sent" not in inbox[2].decode()


def test_metrics_are_open_by_default(up: SmscProcess) -> None:
    status, _, body = fetch(admin(up, "/metrics"))
    assert status == 200 and b"smsemu_queue_depth" in body


# -- bad numbers: 400 with what was expected ------------------------------------------------

MAX = "9223372036854775807"
HUGE = "99999999999999999999"
ADMIN_400 = [
    (f"/messages?after={HUGE}", f"after must be 0-{MAX}, got {HUGE}"),
    (f"/messages/{HUGE}", f"message id must be 0-{MAX}, got {HUGE}"),
    ("/messages/-1", f"message id must be 0-{MAX}, got -1"),
    ("/messages?after=-1", f"after must be 0-{MAX}, got -1"),
    ("/messages?limit=-5", "limit must be 1-1000, got -5"),
    (f"/messages?limit={HUGE}", f"limit must be 1-1000, got {HUGE}"),
    ("/messages/1_0", "message id '1_0' is not a whole number"),
    ("/messages/%20%205", "message id '  5' is not a whole number"),
    ("/messages/%D9%A3", "message id '\u0663' is not a whole number"),
    ("/messages?limit=1e3", "limit '1e3' is not a whole number"),
    ("/messages/" + "9" * 5000, f"message id must be 0-{MAX}, got {'9' * 40}... (5000 digits)"),
    ("/capture?seconds=-1", "seconds: expected a number of seconds in (0, 3600]"),
    ("/capture?seconds=nan", "seconds: expected a number of seconds in (0, 3600]"),
    ("/capture?seconds=1e999", "seconds: expected a number of seconds in (0, 3600]"),
    ("/capture?seconds=1&packets=-1", "packets: expected a positive whole number"),
    ("/capture?seconds=1&packets=0", "packets: expected a positive whole number"),
]
M = f"/handsets/{QUOTED_A}"
CONTROL_400: list[tuple[str, str, Any, str]] = [
    ("GET", f"{M}/messages/{HUGE}", None, f"message id must be 0-{MAX}, got {HUGE}"),
    ("GET", f"{M}/messages/-1", None, f"message id must be 0-{MAX}, got -1"),
    ("POST", f"{M}/messages/{HUGE}/read", None, f"message id must be 0-{MAX}, got {HUGE}"),
    ("POST", f"{M}/messages/x/read", None, "message id 'x' is not a whole number"),
    ("GET", f"{M}/inbox?limit=-1", None, f"limit must be 0-{MAX}, got -1"),
    ("GET", f"{M}/inbox?limit={HUGE}", None, f"limit must be 0-{MAX}, got {HUGE}"),
    ("GET", f"{M}/events/state?timeout=-1", None, "timeout must be 0-3600, got -1"),
    ("GET", f"{M}/events/state?timeout={HUGE}", None, f"timeout must be 0-3600, got {HUGE}"),
    ("GET", f"{M}/events/state?timeout=1.5", None, "timeout '1.5' is not a whole number"),
    ("POST", f"{M}/search", {"limit": 10**20}, "'limit' must be an integer from 1 to 500"),
    ("POST", f"{M}/search", {"limit": -1}, "'limit' must be an integer from 1 to 500"),
    ("POST", f"{M}/search", {"timeout": 10**20}, "'timeout' must be 0.1 to 60 seconds"),
    ("POST", f"{M}/settings", {"iei": 10**20}, "IEI 0x56bc75e2d63100000 (not one octet)"),
    ("POST", f"{M}/settings", {"iei": -1}, "IEI -0x1 (not one octet)"),
]


@pytest.mark.parametrize(("path", "error"), ADMIN_400)
def test_the_admin_api_answers_a_bad_number_400(up: SmscProcess, path: str, error: str) -> None:
    status, _, body = fetch(admin(up, path), token=up.token)
    assert (status, json.loads(body)) == (400, {"error": error})


@pytest.mark.parametrize(("method", "path", "body", "error"), CONTROL_400)
def test_the_control_api_answers_a_bad_number_400(
    up: SmscProcess, method: str, path: str, body: Any, error: str
) -> None:
    status, _, answer = fetch(control(up, path), token=up.token, method=method, body=body)
    assert status == 400, answer
    assert json.loads(answer)["error"].startswith(error)


# -- the command line ------------------------------------------------------------------------


def handset_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smsemu", "handset", *args],
        capture_output=True, text=True, timeout=120, env=env, cwd=cwd,
    )  # fmt: skip


def test_the_cli_finds_the_token(up: SmscProcess, tmp_path: Path) -> None:
    api = control(up, "")
    by_dir = handset_cli("list", "--api", api, "--data-dir", str(up.data_dir))
    assert by_dir.returncode == 0 and A in by_dir.stdout, by_dir.stderr
    by_env = handset_cli("list", "--api", api, env=dict(os.environ, SMSEMU_TOKEN=up.token))
    assert by_env.returncode == 0 and A in by_env.stdout, by_env.stderr
    (printed,) = re.findall(r"control API on (\S+)", "\n".join(up.lines))
    by_url = handset_cli("inbox", "--api", printed, A)  # the printed URL, as is
    assert by_url.returncode == 0, by_url.stderr
    # The quick start: `smsemu up` and the commands in one directory, nothing given.
    run_here = up.data_dir.parent
    assert up.data_dir.name != "smsemu-data"
    (run_here / "smsemu-data").symlink_to(up.data_dir)
    here = handset_cli("list", "--api", api, cwd=run_here)
    assert here.returncode == 0 and A in here.stdout, here.stderr


def test_the_cli_without_the_right_token_says_so_in_one_line(
    up: SmscProcess, tmp_path: Path
) -> None:
    api = control(up, "")
    wrong = handset_cli("list", "--api", api, "--token", "not-the-token")
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert wrong.stderr.splitlines() == [
        "error: 403: wrong token (the URL printed at start); give the API's token: "
        "--token, $SMSEMU_TOKEN, or --data-dir DIR holding api-token"
    ]
    env = {k: v for k, v in os.environ.items() if k != "SMSEMU_TOKEN"}
    missing = handset_cli("list", "--api", api, env=env, cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == [
        "error: no API token: smsemu-data/api-token does not exist (is `smsemu up` running "
        "from this directory? else give --token, $SMSEMU_TOKEN, or --data-dir DIR holding "
        "api-token)"
    ]


# -- /metrics closed, and a listener open to other machines ------------------------------------


def test_metrics_closed_and_a_listener_open_to_other_machines(tmp_path: Path) -> None:
    """An SMSC whose admin API listens on every interface, /metrics closed:
    one warning line, for that listener only."""
    config = tmp_path / "smsc.toml"
    config.write_text("[smsc]\nmetrics_public = false\n")
    args = ["--data-dir", str(tmp_path / "data"), "--config", str(config), "--admin", "0.0.0.0:0"]
    smsc = SmscProcess(args, stderr=subprocess.PIPE)
    log = Log(smsc.proc.stderr)
    try:
        assert fetch(admin(smsc, "/metrics"))[0] == 401
        status, _, body = fetch(admin(smsc, "/metrics"), token=smsc.token)
        assert status == 200 and b"smsemu_queue_depth" in body
        line = log.wait_for("open to other machines")
        assert f"admin on 0.0.0.0:{smsc.admin_port} is open to other machines without TLS" in line
    finally:
        assert smsc.terminate() == 0
    # The radio link and SMPP stay on loopback: no line for them.
    assert len([x for x in log.rest() if "open to other machines" in x]) == 1


def _port(listening: IListeningPort) -> int:
    number: int = getattr(listening.getHost(), "port", 0)
    return number


def test_what_is_exposed() -> None:
    """``exposed`` judges the address a port is bound to, and the endpoint's kind."""
    everywhere = listen(reactor, "tcp:0:interface=0.0.0.0", Site(Resource()))
    here = listen(reactor, "tcp:0", Site(Resource()))
    try:
        port = _port(everywhere)
        assert (exposed(f"tcp:{port}:interface=0.0.0.0", everywhere, "smpp") or "").startswith(
            f"smpp on 0.0.0.0:{port} is open to other machines without TLS"
        )
        assert exposed(f"ssl:{port}:interface=0.0.0.0:privateKey=k.pem", everywhere) is None
        assert exposed(f"tcp:{_port(here)}", here) is None
    finally:
        everywhere.stopListening()
        here.stopListening()


# -- the lockout of wrong tokens, on a clock the test moves -----------------------------------


class _Ok(Resource):
    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        return b"ok"


@pytest_twisted.ensureDeferred
async def test_wrong_tokens_lock_the_address_out() -> None:
    clock = Clock()
    guard = TokenGuard(_Ok(), "right", clock)
    port = listen(reactor, "tcp:0", Site(guard))
    url = f"http://127.0.0.1:{_port(port)}/"

    async def get(token: str | None) -> tuple[int, dict[str, str], bytes]:
        result: tuple[int, dict[str, str], bytes] = await deferToThread(fetch, url, token=token)
        return result

    try:
        for _ in range(10):  # no token is no guess: never locked for it
            assert (await get(None))[0] == 401
        assert (await get("right"))[0] == 200
        for _ in range(6):  # five free, the sixth locks for a second
            assert (await get("wrong"))[0] == 403
        status, headers, body = await get("right")  # locked: not even looked at
        assert (status, headers["Retry-After"]) == (429, "1")
        assert "too many wrong tokens from 127.0.0.1" in json.loads(body)["error"]
        clock.advance(1)
        assert (await get("right"))[0] == 200  # the lock is over; the count starts again
        for _ in range(5):
            assert (await get("wrong"))[0] == 403
        assert (await get("right"))[0] == 200
    finally:
        stopped = port.stopListening()
        if stopped is not None:
            await stopped
