"""What every bench prints about its runs: min / median / max over at least
``MIN_RUNS`` runs, and how busy the machine was (its load average).  The
machine is shared, so a figure read later must say how much it moved from run
to run and what else was running; ratios measured in the same run are what
count (README, "Performance")."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

#: Fewer runs than this show no spread worth the name.
MIN_RUNS = 3


def runs(asked: int) -> int:
    """``asked``, raised to ``MIN_RUNS``."""
    return max(MIN_RUNS, asked)


def spread(values: Sequence[float], fmt: str = "{:,.0f}", sep: str = " / ") -> str:
    """``min / median / max`` of ``values``, each through ``fmt``."""
    if not values:
        return "n/a"
    picks = (min(values), statistics.median(values), max(values))
    return sep.join(fmt.format(v) for v in picks)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages and the CPU count, for a bench's
    header and footer: a load near or above the CPU count means other work
    shared the machine with the bench."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min), {os.cpu_count()} CPUs"
