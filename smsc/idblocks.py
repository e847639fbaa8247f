"""Message ids unique across the nodes of a cluster, by blocks (hi/lo): a
node takes a block of ``ID_BLOCK`` ids per ``nextval`` of a PostgreSQL sequence
(``smsc.cluster.id_block``) and hands them out in memory, so an id costs no
round trip.  A spare block is fetched as soon as the current one starts, so
the reactor never waits; a message's parts take their ids contiguously
(``smsc.models.EsmeMessage``: ids ``id`` to ``id + parts - 1``), from one block.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from twisted.internet.defer import Deferred

log = logging.getLogger(__name__)

#: Ids per block: the sequence's INCREMENT (migration 0005).
ID_BLOCK = 10_000


class IdsExhausted(Exception):
    """Both blocks are used up and the next is not here yet: refuse and let
    the sender retry (a throttling error), never block."""


#: Seconds before what the SMSC makes itself (a status report, a receipt)
#: asks again for an id it could not have: the next block is one round trip away.
ID_RETRY = 0.1


class IdBlocks:
    """Ids from blocks ``fetch()`` fires with the first id of."""

    def __init__(self, fetch: Callable[[], Deferred[int]], size: int = ID_BLOCK) -> None:
        self.fetch = fetch
        self.size = size
        self._next = 0  # the next id to hand out
        self._end = 0  # past the current block
        self._spare: int | None = None  # the first id of the block after it
        self._fetching = False

    def start(self) -> Deferred[None]:
        """Fires once the first block is here (before the node serves)."""
        d = self.fetch()

        def first(start: int) -> None:
            self._next, self._end = start, start + self.size
            self._refill()

        return d.addCallback(first)

    def take(self, n: int = 1) -> int:
        """The first of ``n`` contiguous ids; ``IdsExhausted`` if none are here."""
        if n > self.size:
            raise ValueError(f"{n} ids at once, more than a block ({self.size})")
        if self._next + n > self._end:
            if self._spare is None:
                self._refill()
                raise IdsExhausted(f"no message ids left: waiting for a block of {self.size}")
            self._next, self._end, self._spare = self._spare, self._spare + self.size, None
            self._refill()
        first = self._next
        self._next += n
        return first

    def _refill(self) -> None:
        if self._spare is not None or self._fetching:
            return
        self._fetching = True

        def got(start: int) -> None:
            self._spare = start

        def failed(reason: object) -> None:
            log.error("could not take a block of message ids: %s", reason)

        def done(_: object) -> None:
            self._fetching = False

        self.fetch().addCallbacks(got, failed).addBoth(done)
