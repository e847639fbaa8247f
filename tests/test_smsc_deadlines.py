"""``smsc.deadlines``: things due at a time, on a ``task.Clock``."""

from __future__ import annotations

from twisted.internet.task import Clock

from smsc.deadlines import Deadlines


def test_each_fires_at_its_time_a_later_add_replaces_and_discarded_never_fire() -> None:
    clock, fired = Clock(), list[str]()
    deadlines: Deadlines[str] = Deadlines(clock, fired.extend)
    deadlines.add(10, 1, "ten")
    deadlines.add(5, 2, "five")
    deadlines.add(7, 3, "gone")
    deadlines.add(20, 4, "moved")
    deadlines.add(30, 4, "moved")  # the same key, later: the earlier time no longer counts
    deadlines.discard(3)
    clock.advance(4.5)
    assert fired == []
    clock.advance(0.5)
    assert fired == ["five"]
    clock.advance(15)
    assert fired == ["five", "ten"] and len(deadlines) == 1
    clock.advance(10)
    assert fired == ["five", "ten", "moved"] and len(deadlines) == 0
    assert clock.getDelayedCalls() == []  # nothing left armed


def test_discarded_entries_do_not_pile_up() -> None:
    """What leaves early (delivered) is dropped from the heap once the dead
    outnumber the live: memory follows what is queued, not what went through."""
    clock, fired = Clock(), list[int]()
    deadlines: Deadlines[int] = Deadlines(clock, fired.extend)
    for key in range(100_000):
        deadlines.add(1000 + key, key, key)
        if key >= 10:
            deadlines.discard(key - 10)  # each delivered soon after it came
    assert len(deadlines) == 10
    assert len(deadlines._heap) <= 2 * 10 + 64 + 1
    clock.advance(1000 + 100_000)
    assert fired == list(range(99_990, 100_000))
