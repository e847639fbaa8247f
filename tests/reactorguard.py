"""Signals and timeouts that end a test, under pytest-twisted.

pytest-twisted runs the reactor, and every test body, in a greenlet of its own;
pytest waits in another (``blockon``) until the test's Deferred fires.  Three
things go wrong there unless they are routed to pytest's greenlet:

* SIGTERM (``timeout``, a CI job cancelled, a session ended): Twisted's own
  handler, which the reactor installs when it starts, stops the reactor.  The
  reactor's greenlet then ends, pytest's wait returns nothing, and the test that
  happened to be running fails with pytest-twisted's "AssertionError: illegal
  switch in blockon", every later one with "twisted reactor has stopped": a
  random test blamed, and a run that does not stop.
* pytest-timeout's signal method raises its "Timeout" where the signal lands:
  in the reactor's main loop while a test waits on it, which logs the exception
  and goes on, so a hung test is never stopped (until a SIGTERM, as above).
* Ctrl-C: pytest-twisted's KeyboardInterrupt is lost the same way.

Here SIGTERM and Ctrl-C are thrown into pytest's greenlet (``throw``): the run
stops as interrupted and pytest tears the fixtures down (the PostgreSQL servers
are stopped, not left behind).  The Timeout too, when the reactor was waiting;
a test stuck in code of its own gets it where it is stuck, which frees the
reactor for the next test.  The reactor's greenlet carries on from the handler
the next time pytest switches to it.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

import greenlet
import pytest
import pytest_timeout


def raise_in_test(exc: BaseException) -> None:
    """Raise ``exc`` in the greenlet pytest runs in: at once if that is where
    we are (the main greenlet, which has no parent), else into pytest's wait in
    the parent of the reactor's greenlet."""
    current = greenlet.getcurrent()
    if current.parent is not None:
        current.parent.throw(exc)
        return  # pytest switched back to the reactor: it goes on from here
    raise exc


def _terminated(signum: int, frame: FrameType | None) -> None:
    # A second SIGTERM ends the process at once, should the teardown hang.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise_in_test(pytest.exit.Exception("stopped by SIGTERM", returncode=128 + signum))


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise_in_test(KeyboardInterrupt())


def _ignored(signum: int, frame: FrameType | None) -> None:
    pass


def guard(reactor: Any) -> None:
    """Route SIGTERM to pytest once the reactor runs (Twisted installs its
    handler as it starts; this one replaces it); and let SIGINT reach the
    processes the tests start."""
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers are the main thread's (pytest-twisted warns)
    reactor.callWhenRunning(signal.signal, signal.SIGTERM, _terminated)
    # Started in the background (nohup, `cmd &` in a script, some CI runners),
    # the run inherits SIGINT ignored, and so would every `smsemu` it starts:
    # SIGINT (Ctrl-C, SmscProcess.terminate) could then never stop them.  A
    # handler, unlike SIG_IGN, is reset to the default in a child at exec; this
    # one goes on ignoring it here.  Otherwise Ctrl-C interrupts the run even
    # while a test waits on the reactor (pytest-twisted's KeyboardInterrupt
    # would land in Twisted's main loop, which logs it and goes on).  Either
    # way not Python's own handler: Twisted would then install its own, which
    # stops the reactor.
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    signal.signal(signal.SIGINT, _ignored if ignored else _interrupted)


#: Seconds a Timeout raised inside running code gets to end the test before
#: it is thrown into pytest's wait instead (something caught it on the way).
GRACE = 10.0


def _in_reactor_loop(frame: FrameType | None) -> bool:
    """Whether the signal came while the reactor's own loop ran (waiting for
    I/O, most often): nothing of a test's is running to be stopped there."""
    return frame is not None and (
        frame.f_code.co_name in ("doPoll", "doSelect", "doIteration", "mainLoop")
        and "twisted" in frame.f_code.co_filename
    )


def set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """pytest-timeout's signal method, its Timeout raised in pytest's greenlet.

    A test stuck in code of its own (a sync test blocked in a call, a loop that
    never ends) is stopped there, so that the reactor is free again; a test
    waiting on the reactor, from pytest's wait."""
    if settings.method != "signal" or threading.current_thread() is not threading.main_thread():
        return None  # pytest-timeout's own (signals reach the main thread only)
    tried = False

    def expired(signum: int, frame: FrameType | None) -> None:
        nonlocal tried
        try:
            if tried:
                pytest.fail(pytest_timeout.PYTEST_FAILURE_MESSAGE % settings.timeout)
            pytest_timeout.timeout_sigalrm(item, settings)  # dumps the stacks, raises
            return  # it did not: a debugger is attached, no timeout then
        except pytest.fail.Exception as exc:
            if tried or greenlet.getcurrent().parent is None or _in_reactor_loop(frame):
                raise_in_test(exc)
            else:
                tried = True
                signal.setitimer(signal.ITIMER_REAL, GRACE)  # should it be caught
                raise

    def cancel() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    item.cancel_timeout = cancel  # type: ignore[attr-defined]  # pytest-timeout's own attribute
    signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    return True
