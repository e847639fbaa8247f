"""SMPP throughput with TLS on vs off, as a ratio measured in one run (issue 18).

The workload is ``smpp_bench.py``'s, at full load (its options apply: --count,
--window, --binds, --handsets...): an ESME in a process of its own binds with
the password the SMSC generated into its data directory and sends single-part
submit_sm round-robin to K handsets on the radio link, every message checked
delivered exactly once.  Each round runs it against a fresh ``smsemu smsc``
with SMPP on plain TCP, then against one whose SMPP listener (only it) is on
TLS with the self-signed certificate of ``--tls auto``, which the ESME
verifies (``txkit.tls.client_tls``).  Rounds alternate so that a machine
getting busier weighs on both (at least 3 rounds); printed: min / median / max
of each, the ratio of the medians and the machine's load average.

Run: ``python bench/tls_bench.py [--rounds 3] [--count 20000] [--db sqlite]``.
"""

from __future__ import annotations

import contextlib
import signal
import statistics
import sys

import smpp_bench
from runstats import load_average, runs, spread
from smpp_bench import Result, bench_database, run_with_stack


def rate(result: Result) -> float:
    seconds = result.delivering()
    return result.tally.delivered / seconds if seconds > 0 else 0.0


def cpu_us(result: Result) -> float:
    """CPU microseconds of the SMSC's reactor thread per message delivered:
    what TLS costs, less sensitive than the rate to a busy machine."""
    return result.smsc_cpu[0] / max(1, result.tally.delivered) * 1e6


def main() -> int:
    rounds = 3
    if "--rounds" in sys.argv:
        at = sys.argv.index("--rounds")
        rounds = int(sys.argv[at + 1])
        del sys.argv[at : at + 2]
    rounds = runs(rounds)
    args = smpp_bench.parse_args()
    args.repeat = 1  # the rounds repeat the runs, alternating TCP and TLS
    if "--runs" not in sys.argv:
        args.runs = ["full"]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(
        f"SMPP on TCP vs TLS, {rounds} rounds: {args.count:,d} submit_sm per run, "
        f"{args.binds} bind(s), window {args.window}, {args.handsets} handsets, "
        f"db {args.db}; Python {sys.version.split()[0]}; {load_average()}",
        flush=True,
    )
    db = "postgres" if args.db == "postgres" else "sqlite"

    async def everything(stack: contextlib.ExitStack) -> dict[bool, list[Result]]:
        results: dict[bool, list[Result]] = {False: [], True: []}
        for _ in range(rounds):
            for tls in (False, True):
                for _tag, result in await bench_database(db, args, stack, tls=tls):
                    results[tls].append(result)
        return results

    results = run_with_stack(everything)
    if results is None:
        return 130
    passed = all(r.passed for rs in results.values() for r in rs)
    plain = statistics.median(rate(r) for r in results[False])
    tls = statistics.median(rate(r) for r in results[True])
    print("summary, min / median / max:")
    for on, name in ((False, "TCP"), (True, "TLS")):
        rates, cpus = spread([rate(r) for r in results[on]]), spread(list(map(cpu_us, results[on])))
        print(f"  SMPP on {name}: {rates} delivered/s end to end, SMSC reactor CPU {cpus} us/msg")
    cpu_plain = statistics.median(map(cpu_us, results[False]))
    cpu_tls = statistics.median(map(cpu_us, results[True]))
    print(f"  SMSC reactor CPU per message, TLS / TCP: {cpu_tls / cpu_plain:.2f}")
    paired = [rate(b) / rate(a) for a, b in zip(results[False], results[True], strict=True)]
    print(f"  TLS / TCP throughput ratio: {tls / plain:.2f} (rounds: {spread(paired, '{:.2f}')})"
          + ("" if passed else "  FAILED"))  # fmt: skip
    print(f"after: {load_average()}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
