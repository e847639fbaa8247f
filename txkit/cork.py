"""Writes gathered into one per connection: while corked (``with cork:``),
what is written to a transport waits; when the outermost ``with`` ends, each
transport gets what waited for it in one ``write``.

The SMSC's database thread hands a committed batch back to the reactor in one
call (``storage.Worker``), and that batch answers up to a window of submit_sm
at once: run in a cork, the SMPP door writes them as one buffer per ESME, not
one write (and one trip through Twisted's and TLS's layers) per response.
Nothing waits past the end of the ``with``: the order of a connection's
writes and their timing stay as they were.
"""

from __future__ import annotations

from types import TracebackType

from twisted.internet.interfaces import ITransport


class Cork:
    def __init__(self) -> None:
        self._depth = 0
        self._waiting: dict[ITransport, list[bytes]] = {}

    def write(self, transport: ITransport, data: bytes) -> None:
        """``data`` to ``transport``: now, or when the cork comes out."""
        if not self._depth:
            transport.write(data)
            return
        waiting = self._waiting.get(transport)
        if waiting is None:
            self._waiting[transport] = [data]
        else:
            waiting.append(data)

    def flush(self, transport: ITransport) -> None:
        """What waits for ``transport``, now (before closing it, say)."""
        waiting = self._waiting.pop(transport, None)
        if waiting:
            transport.write(waiting[0] if len(waiting) == 1 else b"".join(waiting))

    def __enter__(self) -> Cork:
        self._depth += 1
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth:
            return
        while self._waiting:
            transport = next(iter(self._waiting))
            self.flush(transport)
