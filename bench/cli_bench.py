"""How fast ``smsemu pdu decode`` starts, as a ratio to ``python -c pass``
timed in the same run (so a slow machine slows both).

Each command runs N times (at least 3) as a fresh process; min / median / max
of its wall time are printed, the ratio of the medians, and the machine's load
average.  Run: ``make bench`` or ``python bench/cli_bench.py``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from runstats import load_average, runs, spread

DELIVER = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"


def wall_ms(argv: list[str], count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21, help="of each command, at least 3")
    count = runs(parser.parse_args().runs)
    print(f"{count} runs of each, wall ms min / median / max; {load_average()}")
    python = wall_ms([sys.executable, "-c", "pass"], count)
    decode = wall_ms([sys.executable, "-m", "smsemu", "pdu", "decode", "--sca", DELIVER], count)
    helped = wall_ms([sys.executable, "-m", "smsemu", "--help"], count)
    base = statistics.median(python)
    print(f"python -c pass       {spread(python, '{:.1f}'):>24} ms")
    for name, times in (("smsemu pdu decode", decode), ("smsemu --help", helped)):
        ratio = statistics.median(times) / base
        print(f"{name:20} {spread(times, '{:.1f}'):>24} ms  ({ratio:.1f}x python -c pass)")
    print(f"after: {load_average()}")


if __name__ == "__main__":
    main()
