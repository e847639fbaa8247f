"""The load generator's schedule (handset.load) on a ``task.Clock``: the rate
holds whether sends answer at once or late, a failed send is counted, and a
stopped run sends nothing more."""

from __future__ import annotations

import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock

from handset.load import Load
from handset.phone import PhoneError


def test_the_messages_go_on_the_schedule_of_the_rate() -> None:
    clock = Clock()
    sent: list[tuple[float, str, str]] = []

    def send(to: str, text: str) -> Deferred[int]:
        sent.append((clock.seconds(), to, text))
        return succeed(len(sent))

    load = Load("+15550001001", send, "+15550001002", 5, 2.0, "ld", clock)
    load.start()
    clock.pump([0.25] * 20)
    assert [t for t, _, _ in sent] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert [text for _, _, text in sent] == [f"ld {n}/5" for n in range(1, 6)]
    assert {to for _, to, _ in sent} == {"+15550001002"}
    assert load.as_dict()["sent"] == 5 and not clock.getDelayedCalls()


def test_slow_sends_do_not_slow_the_rate_and_failures_are_counted() -> None:
    clock = Clock()
    pending: list[Deferred[int]] = []
    times: list[float] = []

    def send(to: str, text: str) -> Deferred[int]:
        times.append(clock.seconds())
        if len(times) == 2:
            return fail(PhoneError("the store is full"))
        d: Deferred[int] = Deferred()
        pending.append(d)
        return d

    load = Load("+15550001001", send, "+15550001002", 4, 4.0, "ld", clock)
    load.start()
    clock.pump([0.125] * 10)
    assert times == [0.0, 0.25, 0.5, 0.75]  # none answered yet: still on time
    for n, d in enumerate(pending):
        d.callback(n)
    assert (load.sent, load.failed) == (3, 1)


def test_a_stopped_run_sends_nothing_more() -> None:
    clock = Clock()
    times: list[float] = []

    def send(to: str, text: str) -> Deferred[int]:
        times.append(clock.seconds())
        return succeed(len(times))

    load = Load("+15550001001", send, "+15550001002", 100, 1.0, "ld", clock)
    load.start()
    clock.advance(2)
    load.stop()
    clock.advance(100)
    assert len(times) == 3 and not clock.getDelayedCalls()


@pytest.mark.parametrize(("count", "rate"), [(0, 1.0), (10_001, 1.0), (1, 0.0), (1, 1001.0)])
def test_out_of_range_runs_are_refused(count: int, rate: float) -> None:
    with pytest.raises(ValueError, match=r"count|rate"):
        Load("+1", lambda to, text: succeed(1), "+2", count, rate, "x", Clock())
