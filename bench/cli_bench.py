"""How fast ``smsemu pdu decode`` starts, as a ratio to ``python -c pass``
timed in the same run (so a slow machine slows both).

Each command runs N times as a fresh process; the median wall time of each
is printed, with the ratio.  Run: ``make bench`` or ``python bench/cli_bench.py``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

DELIVER = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"


def median_seconds(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    runs = parser.parse_args().runs
    python = median_seconds([sys.executable, "-c", "pass"], runs)
    decode = median_seconds(
        [sys.executable, "-m", "smsemu", "pdu", "decode", "--sca", DELIVER], runs
    )
    helped = median_seconds([sys.executable, "-m", "smsemu", "--help"], runs)
    print(f"python -c pass       {python * 1000:7.1f} ms")
    print(f"smsemu pdu decode    {decode * 1000:7.1f} ms  ({decode / python:.1f}x python -c pass)")
    print(f"smsemu --help        {helped * 1000:7.1f} ms  ({helped / python:.1f}x python -c pass)")


if __name__ == "__main__":
    main()
