"""Run an ``smsemu`` command with the garbage collector's pauses recorded.

``python bench/gc_pauses.py OUT smsc --data-dir D ...`` runs ``smsemu smsc
--data-dir D ...`` as usual and, when it exits (Ctrl-C, SIGTERM), writes to
OUT per generation: how many collections, their total and their longest
pause (``gc.callbacks``), with the thresholds and the frozen count in force.
Explicit ``gc.collect()`` calls (``txkit.gcpolicy.freeze`` at start-up)
count as generation 2.  Issue 20's figures: 8 x 5,000 submit_sm from the
Jasmin harness's ``load.py`` into one SMSC whose queue grows to 40,000.
"""

from __future__ import annotations

import atexit
import gc
import sys
import time
from pathlib import Path
from typing import Any

OUT = Path(sys.argv[1])
#: generation -> [collections, seconds in all, longest]
STATS: dict[int, list[float]] = {g: [0, 0.0, 0.0] for g in range(3)}
_started = [0.0]


def _timed(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    took = time.perf_counter() - _started[0]
    s = STATS[info["generation"]]
    s[0], s[1], s[2] = s[0] + 1, s[1] + took, max(s[2], took)


def _report() -> None:
    lines = [
        f"gen{g}: {n:.0f} collections, {total * 1000:.1f} ms in all, longest {most * 1000:.2f} ms"
        for g, (n, total, most) in STATS.items()
    ]
    lines.append(f"thresholds {gc.get_threshold()}, frozen {gc.get_freeze_count()}")
    OUT.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    gc.callbacks.append(_timed)
    atexit.register(_report)
    sys.argv = ["smsemu", *sys.argv[2:]]
    from smsemu.cli import main

    sys.exit(main())
