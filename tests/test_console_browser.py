"""The web console in a real browser (issue 21): Debian's headless Chromium
(scripts/ensure-chromium) driven by Selenium through the system chromedriver,
against a real ``smsemu up`` opened by the URL it prints.

One walk, as a user would take it: both handsets attached; a message typed
and sent on one phone's screen; it arrives on the other's, which opens it;
"Read" appears on the sender's screen without a reload; its SMS-DELIVER
explained octet by octet; a fault rule added, switched off and on, and an
SMPP submit (smpplib) failing and passing with it.  Every wait is on an
element or a value (``WebDriverWait``), never a sleep.  A screenshot of each
step is saved under the test's tmp dir; on a failure they are copied under
test-artifacts/ (which .ci/run lists), and the report has their paths, the
last one as a data: URL and the browser's console log (tests/conftest.py).
``SMSEMU_CONSOLE_SCREENSHOT=PATH`` also keeps the one of "Read" on the
sender's screen (docs/console.png, the README's picture, is made so).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import urllib.request
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from .rig import TIMEOUT, SmscProcess

A, B = "+15550001001", "+15550001002"
TEXT = "Hello from the console"
#: What Chromium needs to run headless as root in a container, with nothing
#: of a user's profile and no calls home.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-dev-shm-usage", "--window-size=1280,800",
)  # fmt: skip


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/lib/chromium")
    if found is None:  # fail, never skip: the browser is part of the suite
        pytest.fail(f"{name} not found: run scripts/ensure-chromium (as root)")
    return found


@pytest.fixture
def up(tmp_path: Path) -> Iterator[SmscProcess]:
    network = SmscProcess(["--data-dir", str(tmp_path / "data")], "up")
    try:
        yield network
    finally:
        assert network.terminate() == 0


class Browser:
    """The driver, a numbered screenshot of each step, and waits."""

    def __init__(self, tmp_path: Path) -> None:
        options = webdriver.ChromeOptions()
        # --tls auto serves a certificate of its own making, as a lab would.
        options.accept_insecure_certs = True
        options.binary_location = _tool("chromium")
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        profile = tmp_path / "chromium-profile"
        profile.mkdir()
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver: WebDriver = webdriver.Chrome(
            options=options, service=Service(_tool("chromedriver"))
        )
        self.shots = tmp_path / "screenshots"
        self.shots.mkdir()
        self.taken: list[Path] = []

    def shot(self, name: str) -> Path:
        path = self.shots / f"{len(self.taken) + 1:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        self.taken.append(path)
        return path

    def until(self, what: str, check: Callable[[WebDriver], Any]) -> Any:
        def tried(driver: WebDriver) -> Any:
            try:
                return check(driver)
            except (StaleElementReferenceException, NoSuchElementException):
                return False  # the view was drawn again meanwhile: look again

        return WebDriverWait(self.driver, TIMEOUT, ignored_exceptions=()).until(tried, what)

    def click(self, css: str) -> None:
        """Click what ``css`` finds, found again if the view was drawn anew
        between finding and clicking it (as a user would click again)."""

        def clicked(_: WebDriver) -> bool:
            found = self.find(css)
            # In the middle of the window, as a user scrolls to it: not under the sticky header.
            self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", found)
            found.click()
            return True

        self.until(f"a click on {css}", clicked)

    def find(self, css: str, within: WebElement | None = None) -> WebElement:
        return (within or self.driver).find_element(By.CSS_SELECTOR, css)

    def all(self, css: str, within: WebElement | None = None) -> list[WebElement]:
        return (within or self.driver).find_elements(By.CSS_SELECTOR, css)

    def tab_to(self, css: str, limit: int = 600) -> WebElement:
        """Press Tab, as a keyboard user does, until the focus is on what
        ``css`` finds (failing after ``limit`` presses: it is not reachable)."""
        is_it = "return document.activeElement.matches(arguments[0])"
        for _ in range(limit):
            if self.driver.execute_script(is_it, css):
                return self.driver.switch_to.active_element
            self.driver.switch_to.active_element.send_keys(Keys.TAB)
        pytest.fail(f"{css} not reached by {limit} presses of Tab")

    def phone(self, number: str) -> WebElement:
        return self.find(f'.phone[data-handset="{number}"]')

    def attach(self, where: Path) -> str:
        """For a failure's report (tests/conftest.py): a screenshot of the
        failure, every screenshot copied into ``where``, their paths, the last
        one as a data: URL (opens in a browser from the log), the browser log."""
        with contextlib.suppress(WebDriverException):
            self.shot("failure")
        where.mkdir(parents=True, exist_ok=True)
        copies = [Path(shutil.copy(p, where / p.name)) for p in self.taken]
        last = base64.b64encode(copies[-1].read_bytes()).decode() if copies else ""
        return "\n".join([
            "screenshots:", *(f"  {p}" for p in copies),
            f"the last one: data:image/png;base64,{last}" if last else "(no screenshot)",
            "browser log:", self.log(),
        ])  # fmt: skip

    def log(self) -> str:
        try:
            return "\n".join(str(x) for x in self.driver.get_log("browser"))  # type: ignore[attr-defined]
        except WebDriverException as exc:
            return f"(no browser log: {exc.msg})"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    b = Browser(tmp_path)
    try:
        yield b
    finally:
        keep = os.environ.get("SMSEMU_CONSOLE_SCREENSHOT")
        read = [p for p in b.taken if p.name.endswith("-read.png")]
        if keep and read:
            shutil.copyfile(read[0], keep)
        b.driver.quit()


def _find(browser: Browser, css: str, _: WebDriver) -> WebElement:
    return browser.find(css)


def _titled(browser: Browser, name: str, _: WebDriver) -> bool:
    return browser.find("#explain-title").get_attribute("data-name") == name


def _api(up: SmscProcess, path: str) -> Any:
    with urllib.request.urlopen(
        up.request(f"http://127.0.0.1:{up.admin_port}{path}"), timeout=TIMEOUT
    ) as r:
        return json.loads(r.read())


def _submit(up: SmscProcess, text: str) -> int:
    """An ESME's submit_sm to B, by smpplib; its command_status."""
    client = smpplib.client.Client(
        "127.0.0.1", up.smpp_port, timeout=TIMEOUT, allow_unknown_opt_params=True
    )
    client.set_message_sent_handler(lambda **_: None)
    client.connect()
    try:
        secret = (up.data_dir / "esme-password").read_text().strip()
        client.bind_transmitter(system_id="esme", password=secret)
        client.send_message(
            source_addr="12345", destination_addr=B[1:], dest_addr_ton=1,
            short_message=text.encode(),
        )  # fmt: skip
        try:
            client.read_once()  # its submit_sm_resp
        except smpplib.exceptions.PDUError as exc:
            return int(exc.args[1])
        return int(smpplib.consts.SMPP_ESME_ROK)
    finally:
        client.disconnect()


def test_the_console_drives_the_network(up: SmscProcess, browser: Browser) -> None:
    driver = browser.driver
    (url,) = re.findall(r"^console: (\S+)", "\n".join(up.lines), re.MULTILINE)
    assert url.startswith(f"http://127.0.0.1:{up.admin_port}/?token=")

    # Opened by the printed URL: the page has its token (the cookie), the stream is live.
    driver.get(url)
    browser.until("the console is ready", lambda d: d.find_element(By.TAG_NAME, "body")
                  .get_attribute("data-ready") == "true")  # fmt: skip
    browser.until("the stream is live", lambda d: browser.find("#status").text == "live")
    driver.execute_script("window.notReloaded = true")

    # Both handsets attached, in the network view and as phones.
    for number in (A, B):
        row = f'#subscribers tr[data-msisdn="{number}"][data-attached="true"]'
        browser.until(f"{number} attached", partial(_find, browser, row))
        assert "attached" in browser.phone(number).find_element(By.TAG_NAME, "h3").text
    browser.shot("attached")

    # A types and sends; its screen shows the conversation, the message "Sent".
    a = browser.phone(A)
    browser.find("input.to", a).send_keys(B)
    browser.find("textarea.text", a).send_keys(TEXT)
    browser.find("button.send", a).click()
    sent = browser.until(
        "Sent under the message on A's screen",
        lambda d: next(
            (
                m.get_attribute("data-id")
                for m in browser.all(".thread .msg.out", browser.phone(A))
                if TEXT in m.text and browser.find(".mark", m).text == "Sent"
            ),
            False,
        ),
    )
    mark = f'.phone[data-handset="{A}"] .thread .msg.out[data-id="{sent}"] .mark'
    browser.shot("sent")

    # It arrives on B's screen, live: a new conversation with A, unread.
    entry = f'.phone[data-handset="{B}"] .conversations li[data-peer="{A}"]'
    listed = browser.until("A's message listed on B's screen", lambda d: browser.find(entry).text)
    assert "1 new" in listed and TEXT in listed
    browser.shot("arrived")
    # B opens the conversation, then the message itself.
    browser.click(entry + " button")
    message = f'.phone[data-handset="{B}"] .thread .msg.in button'
    browser.until("the message in B's conversation", lambda d: TEXT in browser.find(message).text)
    browser.click(message)
    detail = browser.until(
        "the opened message's detail",
        lambda d: browser.find(".message-detail", browser.phone(B)).text,
    )
    assert "read yes" in detail
    browser.shot("opened")

    # "Read" on A's screen, without a reload.
    # The very message A sent (by its id on A's phone), not any with its text.
    browser.until(
        f"Read under message {sent} on A's screen", lambda d: browser.find(mark).text == "Read"
    )
    assert driver.execute_script("return window.notReloaded") is True
    browser.shot("read")
    browser.click(f'.phone[data-handset="{B}"] button.back')  # B back to its conversations

    # Its journey in the traffic view, and its SMS-DELIVER octet by octet.
    (stored,) = [m for m in _api(up, "/messages?kind=sms") if m["text"] == TEXT]
    journey = f'#journeys tr[data-id="{stored["id"]}"][data-state="delivered"]'
    steps = browser.until("the message's journey", lambda d: browser.find(journey + " .steps").text)
    assert "submitted" in steps and "attempt 1" in steps and "delivered" in steps
    browser.until(
        "the read receipt in the journey",
        lambda d: "read receipt" in browser.find(f'#journeys tr[data-id="{stored["id"]}"]').text,
    )
    browser.click(f'#journeys tr[data-id="{stored["id"]}"] button.pdu')
    browser.until(
        "the SMS-DELIVER explained",
        lambda d: browser.find("#explain-title").get_attribute("data-tpdu") == "SmsDeliver",
    )
    assert browser.find("#hex").get_attribute("value") == stored["tpdu"]
    fields = {
        r.get_attribute("data-field"): r.text
        for r in browser.all("#explanation tbody tr[data-field]")
    }
    assert "+15550001001" in fields["TP-OA Address-Value"]
    assert fields["first octet"].startswith("0 ")
    assert TEXT in fields["TP-UD"] or any(TEXT in t for t in fields.values())
    # The octets shown are the stored TPDU's, in order.
    shown = "".join(
        (browser.find("td:nth-child(2)", r).get_attribute("textContent") or "").replace(" ", "")
        for r in browser.all("#explanation tbody tr[data-field]")
    )
    assert shown == stored["tpdu"]
    browser.shot("inspected")
    # Its status report (A asked for one), explained the same way.
    browser.click(f'#journeys tr[data-id="{stored["id"]}"] button.report-pdu')
    browser.until(
        "the status report explained",
        lambda d: browser.find("#explain-title").get_attribute("data-tpdu") == "SmsStatusReport",
    )
    assert "TP-ST" in {r.get_attribute("data-field") for r in browser.all("#explanation tr")}
    # And the SMS-SUBMIT as A's phone sent it (from the live stream: the SMSC keeps the DELIVER).
    browser.click(f'#journeys tr[data-id="{stored["id"]}"] button.submit-pdu')
    browser.until(
        "the SMS-SUBMIT explained",
        lambda d: browser.find("#explain-title").get_attribute("data-tpdu") == "SmsSubmit",
    )
    rows = browser.all("#explanation tbody tr[data-field]")
    submit = {r.get_attribute("data-field"): r.text for r in rows}
    assert "+15550001002" in submit["TP-DA Address-Value"]
    # The RP-DATA that carried it up, and the one that took the SMS-DELIVER down.
    journey_row = f'#journeys tr[data-id="{stored["id"]}"]'
    for button, name, within in (
        ("rp-up-pdu", "RP-DATA (MS to network)", "TP-DA Address-Value"),
        ("rp-down-pdu", "RP-DATA (network to MS)", "TP-OA Address-Value"),
    ):
        browser.click(f"{journey_row} button.{button}")
        browser.until(f"the {name} explained", partial(_titled, browser, name))
        named = {r.get_attribute("data-field") for r in browser.all("#explanation tr")}
        assert {"RP-MTI", "RP-Message Reference", "RP-User Data length", within} <= named
    assert stored["tpdu"] in (browser.find("#hex").get_attribute("value") or "")
    browser.shot("rp-data")
    # Any hex pasted: an SMPP PDU (a generic_nack, sequence 9) is told apart by its octets.
    hex_box = browser.find("#hex")
    hex_box.clear()
    hex_box.send_keys("0000001080000000000000030000000" + "9")
    Select(browser.find('select[name="layer"]')).select_by_value("auto")
    browser.click('#explain-form button[type="submit"]')
    browser.until(
        "the pasted SMPP PDU explained",
        lambda d: browser.find("#explain-title").get_attribute("data-name") == "generic_nack",
    )
    status = browser.find('#explanation tr[data-field="command_status"]').text
    assert "ESME_RINVCMDID" in status

    # A fault rule added from the page: the ESME's submit fails with it.
    form = browser.find("#fault-add")
    Select(browser.find('select[name="action"]', form)).select_by_value("status")
    browser.find('input[name="esme"]', form).send_keys("esme")
    browser.find('button[type="submit"]', form).click()
    rule = '#fault-rules tr[data-index="0"][data-enabled="true"]'
    assert "ESME_RSYSERR" in browser.until("the new rule", lambda d: browser.find(rule).text)
    assert _submit(up, "refused by the fault") == smpplib.consts.SMPP_ESME_RSYSERR
    browser.until(
        "the rule's match counted",
        lambda d: browser.find('#fault-rules tr[data-index="0"] .matched').text == "1",
    )
    browser.shot("fault-on")
    # Switched off from the page: the submit passes.
    browser.click('#fault-rules tr[data-index="0"] input.enabled')
    browser.until(
        "the rule off",
        lambda d: (
            browser.find('#fault-rules tr[data-index="0"]').get_attribute("data-enabled") == "false"
        ),
    )
    assert [r["enabled"] for r in _api(up, "/faults")] == [False]
    assert _submit(up, "through once the fault is off") == smpplib.consts.SMPP_ESME_ROK
    browser.until(
        "the ESME's message on B's screen",
        lambda d: any(
            "through once the fault is off" in e.text
            for e in browser.all(".conversations li", browser.phone(B))
        ),
    )
    browser.shot("fault-off")
    # That submit_sm's octets, from its journey.
    (passed,) = [m for m in _api(up, "/messages") if m["text"] == "through once the fault is off"]
    browser.click(f'#journeys tr[data-id="{passed["id"]}"] button.smpp-in-pdu')
    browser.until(
        "the submit_sm explained",
        lambda d: browser.find("#explain-title").get_attribute("data-name") == "submit_sm",
    )
    addr = browser.find('#explanation tr[data-field="destination_addr"]').text
    assert B[1:] in addr


def test_the_console_over_tls(tmp_path: Path, browser: Browser) -> None:
    """``--tls auto``: the printed URL is https, and the page, its modules, its
    stream and the phones' control API come over it alike (relative URLs)."""
    up = SmscProcess(["--data-dir", str(tmp_path / "data"), "--tls", "auto"], "up")
    try:
        (url,) = re.findall(r"^console: (\S+)", "\n".join(up.lines), re.MULTILINE)
        assert url.startswith(f"https://127.0.0.1:{up.admin_port}/?token=")
        browser.driver.get(url)
        browser.until("the stream is live", lambda d: browser.find("#status").text == "live")
        browser.until(
            "both phones",
            lambda d: len(browser.all(".phone .conversations, .phone .screen p")) == 2,
        )
        for number in (A, B):
            assert "attached" in browser.phone(number).find_element(By.TAG_NAME, "h3").text
        assert browser.driver.execute_script("return location.protocol") == "https:"
        browser.shot("tls")
    finally:
        assert up.terminate() == 0


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)], ids=["laptop", "phone"])
def test_the_console_is_readable(up: SmscProcess, browser: Browser, size: tuple[int, int]) -> None:
    """No text under 12 px, and nothing wider than the window: the page does
    not scroll sideways (a wide table scrolls in its own box)."""
    browser.driver.set_window_size(*size)
    (url,) = re.findall(r"^console: (\S+)", "\n".join(up.lines), re.MULTILINE)
    browser.driver.get(url)
    browser.until(
        "the console is ready",
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true",
    )
    browser.until("the charts drawn", lambda d: len(browser.all("#charts svg text")) >= 4)
    # The size each text is drawn at: an SVG's text is scaled with its viewBox
    # (getScreenCTM), so a chart's 12px may come out smaller on a narrow screen.
    small = browser.driver.execute_script("""
        const out = [];
        for (const e of document.querySelectorAll("body *")) {
          const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
          if (!own || !e.getClientRects().length) continue;
          let size = parseFloat(getComputedStyle(e).fontSize);
          if (e instanceof SVGElement) size *= e.getScreenCTM().a;
          const text = e.textContent.slice(0, 30);
          if (size < 12) out.push(`${e.tagName} ${size.toFixed(1)}px: ${text}`);
        }
        return out;""")
    assert small == []
    widths = browser.driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], widths
    browser.shot(f"{size[0]}x{size[1]}")


def test_by_keyboard_a_message_then_a_companion_finds_it(tmp_path: Path, browser: Browser) -> None:
    """Keys only: the number, Tab, the text, Tab, Enter on Send.  Then the
    companion device of the sender's account searches its history on its
    screen and gets the message, with where it came from."""
    up = SmscProcess(["--data-dir", str(tmp_path / "data"), "--companion", f"tablet@{A}"], "up")
    try:
        (url,) = re.findall(r"^console: (\S+)", "\n".join(up.lines), re.MULTILINE)
        browser.driver.get(url)
        browser.until(
            "the console is ready",
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true",
        )
        tablet = browser.phone(f"tablet@{A}")
        assert not browser.all("button.send", tablet)  # a companion has no SIM to send with
        browser.find("input.to", browser.phone(A)).send_keys(
            B, Keys.TAB, "Typed on the keyboard", Keys.TAB, Keys.ENTER
        )
        browser.until(
            "the message on B's screen",
            lambda d: (
                "Typed on the keyboard"
                in browser.find(f'.conversations li[data-peer="{A}"]', browser.phone(B)).text
            ),
        )
        tablet = browser.phone(f"tablet@{A}")
        browser.find('input[name="q"]', tablet).send_keys("keyboard", Keys.ENTER)
        result = browser.until(
            "the search's answer",
            lambda d: browser.find(".search-result", browser.phone(f"tablet@{A}")).text,
        )
        assert "Typed on the keyboard" in result
        assert re.search(r"search: (found|complete) \(stopped at \w+\)", result), result
        assert "(from " in result
        browser.shot("companion-search")
    finally:
        assert up.terminate() == 0


def test_by_keyboard_phones_and_the_inspector(up: SmscProcess, browser: Browser) -> None:
    """Tab and Enter only: send from A's screen, open the message on B's,
    inspect its SMS-DELIVER from its journey, explain a pasted hex."""
    (url,) = re.findall(r"^console: (\S+)", "\n".join(up.lines), re.MULTILINE)
    browser.driver.get(url)
    browser.until(
        "the console is ready",
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true",
    )
    for number in (A, B):
        row = f'#subscribers tr[data-msisdn="{number}"][data-attached="true"]'
        browser.until(f"{number} attached", partial(_find, browser, row))
    browser.tab_to(f'.phone[data-handset="{A}"] input.to').send_keys(
        B, Keys.TAB, "By keys", Keys.TAB, Keys.ENTER
    )
    entry = f'.phone[data-handset="{B}"] .conversations li[data-peer="{A}"] button'
    browser.until("the message on B's screen", lambda d: "By keys" in browser.find(entry).text)
    browser.tab_to(entry).send_keys(Keys.ENTER)
    message = f'.phone[data-handset="{B}"] .thread .msg.in button'
    browser.until("B's conversation", partial(_find, browser, message))
    browser.tab_to(message).send_keys(Keys.ENTER)
    detail = browser.until(
        "the opened message", lambda d: browser.find(".message-detail", browser.phone(B)).text
    )
    assert "read yes" in detail
    browser.shot("keyboard-opened")
    (stored,) = [m for m in _api(up, "/messages?kind=sms") if m["text"] == "By keys"]
    deliver = f'#journeys tr[data-id="{stored["id"]}"] button.pdu'
    browser.until("the journey", partial(_find, browser, deliver))
    browser.driver.execute_script("document.activeElement.blur()")
    browser.tab_to(deliver).send_keys(Keys.ENTER)
    browser.until(
        "the SMS-DELIVER explained",
        lambda d: browser.find("#explain-title").get_attribute("data-tpdu") == "SmsDeliver",
    )
    # The focus follows to the explanation's title: a keyboard user is there.
    assert browser.driver.execute_script("return document.activeElement.id") == "explain-title"
    box = browser.tab_to("#hex")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("05070116")  # an RP-ERROR, memory capacity exceeded
    browser.tab_to('select[name="layer"]').send_keys("RP")  # a select takes its option's letters
    browser.tab_to('#explain-form button[type="submit"]').send_keys(Keys.ENTER)
    browser.until(
        "the RP-ERROR explained",
        lambda d: (
            browser.find("#explain-title").get_attribute("data-name") == "RP-ERROR (network to MS)"
        ),
    )
    assert "memory capacity exceeded" in browser.find("#explanation").text
    browser.shot("keyboard-inspected")


def test_the_console_of_an_smsc_alone(tmp_path: Path, browser: Browser) -> None:
    """``smsemu smsc``: the same console, with no phones and no load panel
    (there is no control API to drive), its fault rules still there."""
    smsc = SmscProcess(["--data-dir", str(tmp_path / "data")])
    try:
        (url,) = re.findall(r"^console: (\S+)", "\n".join(smsc.lines), re.MULTILINE)
        browser.driver.get(url)
        browser.until(
            "the console is ready",
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true",
        )
        assert browser.find("#no-phones").is_displayed() and not browser.all(".phone")
        assert not browser.find("#load").is_displayed()
        assert browser.find("#fault-add").is_displayed()
        assert "no rules" in browser.find("#fault-rules").text
    finally:
        assert smsc.terminate() == 0
