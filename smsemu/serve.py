"""Services run until Ctrl-C: ``smsemu smsc``, ``up``, ``handset run`` and
``ip-server run``.

The command's ``start`` runs on the reactor and starts its services through
``Running.start``; what it returns is printed, then ``press Ctrl-C to
stop``.  A start that fails (a port in use, a database that cannot be used),
or a service that fails later on a Deferred given to ``Running.watch``,
stops every service started so far, the last first, and the command exits
with the one line its ``Origins`` make of the failure (a ``CommandError``);
a failure they do not know is a bug, raised with its traceback.

Every such process is a server: its garbage collector follows
``txkit.gcpolicy`` (server thresholds, what start-up made frozen).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from txkit import gcpolicy

from .startup import Origins


class Running:
    """The services a command has started, in order, and its first failure."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.services: list[Service] = []
        self.failure: Failure | None = None
        self.stopping = False

    def start(self, service: Service) -> None:
        """Start ``service``; it is stopped at the end only if it started."""
        service.startService()
        self.services.append(service)

    def watch(self, d: Deferred[Any]) -> None:
        """A failure of ``d`` (a service's readiness, say) ends the command."""
        d.addErrback(self.fail)

    def fail(self, failure: Failure) -> None:
        if self.stopping or self.failure is not None:  # the first failure is the one told
            return
        self.failure = failure
        self.reactor.stop()

    def stop_all(self) -> Deferred[None]:
        """Stop the services one after another, the last started first:
        handsets before the servers they talk to."""
        self.stopping = True

        async def stop() -> None:
            for service in reversed(self.services):
                stopped = service.stopService()
                if stopped is not None:
                    await stopped

        return Deferred.fromCoroutine(stop())


def serve(start: Callable[[Running], Awaitable[list[str]]], origins: Origins) -> int:
    from twisted.internet import reactor

    running = Running(reactor)
    gcpolicy.tune()

    async def go() -> None:
        lines = await start(running)
        gcpolicy.freeze()  # what start-up made lives as long as the process
        for line in lines:
            print(line, flush=True)
        print("press Ctrl-C to stop", flush=True)

    reactor.addSystemEventTrigger("before", "shutdown", running.stop_all)
    reactor.callWhenRunning(lambda: Deferred.fromCoroutine(go()).addErrback(running.fail))
    reactor.run()
    if running.failure is not None:
        assert running.failure.value is not None
        error = origins.explain(running.failure.value)
        if error is None:
            running.failure.raiseException()
        raise error
    return 0
