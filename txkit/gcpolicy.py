"""The garbage collector's policy for a server process (``smsemu smsc``,
``ip-server run``, ``up``, ``handset run``: whatever ``smsemu.serve`` runs).

CPython's defaults (700, 10, 10) suit a short script.  A server that holds
tens of thousands of queued messages paid for them in full collections that
walked every one and freed nothing: 18 ms at start, 238 ms with 40,000
queued, a fifth of the SMSC's time and all of its p99 (issue 20).  So:

* a young generation of 50,000 allocations instead of 700: most of what a
  message makes (PDUs, Deferreds, rows) dies by reference counting within
  that, so few objects survive to be walked again;
* a full collection only after 100 middle ones (5 million allocations),
  instead of 10; CPython also waits until the long-lived objects grew by a
  quarter since the last one;
* ``freeze()`` once the process has started, and again once a queue is
  loaded: what exists then (modules, configuration, the loaded queue) leaves
  the collector's generations for good.  Reference counting still frees it.

Cycles still get collected, only later; nothing here turns the collector off.
"""

from __future__ import annotations

import gc

#: (young, middle, old) thresholds of ``gc.set_threshold`` for a server.
SERVER_THRESHOLDS = (50_000, 20, 100)


def tune() -> None:
    """Thresholds sized for a server: call once, early in the process."""
    gc.set_threshold(*SERVER_THRESHOLDS)


def freeze() -> None:
    """Move what exists now out of every later collection (after start-up,
    after loading a queue): the garbage first, so that none is kept."""
    gc.collect()
    gc.freeze()
