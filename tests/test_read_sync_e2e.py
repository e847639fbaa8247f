"""Read state follows the account (docs/receipt-wire.md §Reads), end to
end: the real SMSC and IP server, a phone, its desktop companion and a
sender, over TCP on 127.0.0.1.  Every wait is on an event."""

from __future__ import annotations

from typing import Any

import pytest_twisted

from handset.phone import Phone
from handset.store import IpPath, Settings
from receipt_server.models import ReadState

from .test_history_e2e import Accounts, net, smsc

__all__ = ["net", "smsc"]  # the fixtures, used by name

A, B = "+4915112345678", "+15551234567"


async def on_both(
    net: Accounts, text: str
) -> tuple[Phone, Phone, int, dict[str, Any], dict[str, Any]]:
    """A sends ``text`` over the IP path to B, whose phone and desktop both
    hold it: (B's phone, the desktop, A's message id, and what each received)."""
    ip_path = Settings(ip_path=IpPath.WHEN_POSSIBLE)
    a, b = await net.phone(A, ip_path), await net.phone(B, ip_path)
    desktop = await net.companion(B, "desktop")
    on_phone = b.wait_for("received", peer=A, text=text)
    on_desktop = desktop.wait_for("received", peer=A, text=text)
    message_id = await a.send(B, text)
    phone_copy, desktop_copy = await on_phone, await on_desktop
    assert phone_copy["via"] == desktop_copy["via"] == "ip"
    return b, desktop, message_id, phone_copy, desktop_copy


@pytest_twisted.ensureDeferred
async def test_read_on_the_phone_shows_read_on_the_desktop_with_one_receipt(
    net: Accounts,
) -> None:
    b, desktop, message_id, phone_copy, desktop_copy = await on_both(net, "seen twice")
    a = net.phones[A].phone
    assert a is not None
    shown = desktop.wait_for("read elsewhere", id=desktop_copy["id"])
    read = a.wait_for("state", id=message_id, state="read")
    # Recorded once the server took it (a commit that may wait for company).
    responded = b.wait_for("response", id=phone_copy["id"])
    await b.read(phone_copy["id"])
    await shown
    await read
    await responded
    assert (await desktop.message(desktop_copy["id"])).read
    # The desktop opens it too: already read, so nothing more is sent.
    await desktop.read(desktop_copy["id"])
    assert not (await desktop.message(desktop_copy["id"])).response_pending
    # One read receipt, from the phone; the desktop sent none.
    assert net.count(B, "response") == 1 and net.count(f"desktop@{B}", "response") == 0
    assert net.count(A, "feedback") == 1
    assert net.rows(ReadState) == 1  # for the desktop only: A's devices are another account


@pytest_twisted.ensureDeferred
async def test_a_device_logged_out_at_the_read_learns_it_at_its_next_login(
    net: Accounts,
) -> None:
    b, desktop, _, phone_copy, desktop_copy = await on_both(net, "later")
    await desktop.logout()
    passed_on = b.wait_for("response", id=phone_copy["id"])
    await b.read(phone_copy["id"])
    await passed_on
    assert not (await desktop.message(desktop_copy["id"])).read
    shown = desktop.wait_for("read elsewhere", id=desktop_copy["id"])
    await desktop.login()
    await shown
    assert (await desktop.message(desktop_copy["id"])).read


@pytest_twisted.ensureDeferred
async def test_an_unbound_device_leaves_no_read_pending(net: Accounts) -> None:
    b, desktop, _, phone_copy, _ = await on_both(net, "never shown")
    await desktop.logout()
    synced = b.wait_for("read synced", id=phone_copy["id"])
    await b.read(phone_copy["id"])
    await synced
    assert net.rows(ReadState) == 1  # the desktop's, pending
    assert net.ip is not None and net.ip.store is not None
    devices = await net.ip.store.account_devices(B)
    (companion,) = [d.device_id for d in devices if d.kind != "phone"]
    assert await net.ip.store.unbind(companion) is not None
    assert net.rows(ReadState) == 0
