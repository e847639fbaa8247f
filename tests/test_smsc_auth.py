"""The SMSC's authenticated attach, driven deterministically (a ``task.Clock``,
``StringTransport`` links, a real SQLite file run by a synchronous writer, as
tests/test_smsc_core.py): SQN_HE kept across restarts, frames that wait behind
the subscription lookup, refusals logged without a flood; and the decoders of
the new inputs (POST /subscribers, sim.json, hex keys) fuzzed."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from twisted.internet.defer import Deferred

from handset.sim import SimProfile
from radiolink import frames as lk
from radiolink.auth import Keys, keys_from_hex
from radiolink.ms import Attached, Challenged, MsLink, Rejected
from smsc.admin import _subscription
from smsc.models import SUBSCRIPTION
from smsc.subscriptions import Provisioned

from .sims import subscription
from .test_smsc_core import SMSC_ADDRESS, Handset, Net, make_net  # noqa: F401  (the fixture)

A = "+15550001001"


def sqn_of(net: Net, imsi: str) -> int:
    with net.engine.connect() as conn:
        value: int = conn.execute(
            select(SUBSCRIPTION.c.sqn).where(SUBSCRIPTION.c.imsi == imsi)
        ).scalar_one()
        return value


def test_sqn_he_is_stored_and_a_restarted_smsc_goes_on_above_it(make_net: Any) -> None:  # noqa: F811
    net: Net = make_net()
    phone = net.attached(A)
    phone.lose_connection()
    phone = net.attached(A)
    imsi = subscription(A).imsi
    assert sqn_of(net, imsi) == 2 == phone.ms.sqn
    phone.lose_connection()
    net.restart()  # a new process: what it knows of SQN is the table's
    phone = Handset(net.smsc, A)
    phone.ms.sqn = 2  # the SIM's own, kept in its profile
    assert phone.attach() == []
    assert sqn_of(net, imsi) == 3


class SlowLookups:
    """The SMSC's repository, with subscription lookups that answer when the
    test says (as the database thread would, later)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.waiting: list[tuple[Deferred[Any], Deferred[Provisioned | None]]] = []

    def subscription(self, imsi: str) -> Deferred[Provisioned | None]:
        outer: Deferred[Provisioned | None] = Deferred()
        self.waiting.append((outer, self.store.subscription(imsi)))
        return outer

    def answer(self) -> None:
        outer, inner = self.waiting.pop(0)
        inner.chainDeferred(outer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_frames_behind_an_attach_wait_for_its_lookup(make_net: Any) -> None:  # noqa: F811
    net: Net = make_net()
    slow = net.smsc.store = SlowLookups(net.smsc.store)
    phone = Handset(net.smsc, A)
    # ATTACH then at once an RP-DATA: the RP-DATA is answered after the challenge.
    phone.protocol.dataReceived(phone.ms.attach() + lk.encode_frame(lk.Rp(bytes.fromhex("0001"))))
    assert phone.transport.value() == b""
    slow.answer()
    frames = lk.FrameReader().feed(phone.transport.value())
    assert [type(f) for f in frames] == [lk.AuthRequest, lk.Error]
    assert isinstance(frames[1], lk.Error) and frames[1].code == lk.ErrorCode.NOT_ATTACHED
    # A link that goes while its lookup runs: nothing is sent, nothing breaks.
    gone = Handset(net.smsc, "+15550001002")
    gone.protocol.dataReceived(gone.ms.attach())
    gone.lose_connection()
    slow.answer()
    assert gone.transport.value() == b""


def test_refused_attaches_are_logged_once_per_interval(
    make_net: Any,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    net: Net = make_net()
    net.attached(A)
    thief = Handset(net.smsc, A)
    thief.ms = MsLink(thief.ms.imsi, A, Keys(bytes(16), bytes(16)))  # the wrong SIM
    caplog.set_level(logging.WARNING, logger="smsc.links")
    for _ in range(50):
        assert [type(e) for e in thief.send(thief.ms.attach())] == [Rejected]
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [f"radio link: attach of IMSI {thief.ms.imsi} as {A} refused "
                     "(authentication_failed)"]  # fmt: skip
    net.advance(10)
    net.advance(10)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[1:] == ["radio link: 49 more attaches refused in the last 10 s"]
    assert net.smsc.metrics.attach_refused["authentication_failed"] == 50


def test_an_open_smsc_asks_nothing(make_net: Any) -> None:  # noqa: F811
    net: Net = make_net(open_attach=True)
    ms = MsLink("001010000000009", "+15550009999")  # no keys, not provisioned
    handset = Handset(net.smsc, A)
    handset.ms = ms
    events = handset.send(ms.attach())
    assert events == [Attached(SMSC_ADDRESS)]
    assert not any(isinstance(e, Challenged) for e in events)


# -- the new inputs, fuzzed ------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
bodies = st.one_of(
    st.binary(max_size=200),
    st.dictionaries(
        st.sampled_from(["imsi", "msisdn", "k", "opc", "op", "x"]),
        json_values | st.sampled_from(["001010000000001", "+15550001001", "00" * 16, "zz"]),
    ).map(lambda d: json.dumps(d).encode()),
)


@given(bodies)
def test_any_post_subscribers_body_is_a_subscription_or_one_clear_error(body: bytes) -> None:
    try:
        sub = _subscription(body)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert len(sub.keys.k) == len(sub.keys.opc) == 16 and sub.msisdn.startswith("+")


@given(st.one_of(st.text(max_size=300), json_values.map(json.dumps)))
def test_any_sim_file_is_a_profile_or_one_clear_error(tmp_path_factory: Any, text: str) -> None:
    path: Path = tmp_path_factory.mktemp("sim") / "sim.json"
    path.write_text(text)
    try:
        profile = SimProfile.load(path)
    except ValueError as exc:
        assert str(exc).startswith(f"{path}: not a SIM profile")
        return
    assert profile is not None and len(profile.keys.k) == 16


@given(st.text(max_size=40), st.none() | st.text(max_size=40), st.none() | st.text(max_size=40))
def test_any_hex_keys_are_keys_or_one_clear_error(k: str, opc: str | None, op: str | None) -> None:
    try:
        keys = keys_from_hex(k, opc, op)
    except ValueError as exc:
        assert str(exc).split(":")[0] in ("K", "OPc", "OP", "OPc and OP")
        return
    assert bytes.fromhex(k) == keys.k


def test_a_sim_profile_round_trips_and_is_private(tmp_path: Path) -> None:
    sim = SimProfile("001010000000001", A, Keys(bytes(range(16)), bytes(range(16, 32))), 77)
    sim.save(tmp_path / "sim.json")
    assert SimProfile.load(tmp_path / "sim.json") == sim
    assert (tmp_path / "sim.json").stat().st_mode & 0o777 == 0o600
    assert SimProfile.load(tmp_path / "none.json") is None
