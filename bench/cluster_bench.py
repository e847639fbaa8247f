"""Throughput of an SMSC cluster (issue 22, docs/scaling.md): 1, 2 (and with
``--nodes 4``, 4) ``smsemu smsc --node`` processes on one PostgreSQL, end to end.

For each node count: a fresh throwaway PostgreSQL (``storage.pgserver``), the
nodes started one after another (``smsc_bench.run_smsc``) on a shared radio
link and SMPP port (``tcp:PORT:reuseport=yes``: the kernel spreads the
connections, as ``smsemu up --workers N`` has them) and one data directory
(one default ESME account).  Then two kinds of run, each ``--repeat`` times
(at least 3) after a warm-up:

* **radio link**: K handsets (``smsc_bench.Bench``, plain sockets) each send
  their share of single-part SMS-SUBMITs to the next handset, keeping a window
  open until delivery.  Handsets land on any node, so most messages cross
  nodes (inserted unclaimed, NOTIFY, claimed by the recipient's node).
* **SMPP**: an ESME process (``smpp_bench``, ``--binds`` connections, spread
  over the nodes by the kernel) submits to K handsets (``smpp_bench.Handsets``).

Each run reports messages/s end to end (the last delivery), and the CPU
seconds of every node, of the PostgreSQL server's processes and of the load
generators, as microseconds per message; the summary gives min / median / max
of each, the ratio N nodes / 1 node, and the machine's load average.  On a
2-core machine the load generators and PostgreSQL share the cores with the
nodes, so the ratio shows what a second process buys there, not on a server.

Run: ``python bench/cluster_bench.py [--nodes 4] [--count 5000]`` (needs
``bash scripts/ensure-postgres`` once).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runstats import load_average, spread
from runstats import runs as runs_of
from smpp_bench import SMSC_WINDOW, Context, Handsets, one_run, run_with_stack
from smsc_bench import Bench, SmscProcess, encode_messages, run_smsc

from smsemu.cluster_up import shared
from storage.pgserver import TemporaryPostgres

_NODE_LABEL = re.compile(r'node="[^"]*",?')


@dataclass
class Nodes(SmscProcess):
    """The cluster as the benches see one SMSC: metrics and CPU summed over
    its nodes (the ``node`` label dropped), the first node's process."""

    nodes: list[SmscProcess] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for node in self.nodes:
            for name, value in node.metrics().items():
                key = _NODE_LABEL.sub("", name).replace(",}", "}").replace("{}", "")
                out[key] = out.get(key, 0.0) + value
        return out

    def cpu_seconds(self) -> tuple[float, float]:
        each = [node.cpu_seconds() for node in self.nodes]
        return sum(m for m, _ in each), sum(o for _, o in each)

    def each_cpu(self) -> list[float]:
        """CPU seconds so far of each node, all its threads."""
        return [sum(node.cpu_seconds()) for node in self.nodes]


@dataclass
class Run:
    """One measured run: what it delivered, in how long, and who spent the CPU."""

    kind: str  # "radio" or "smpp"
    delivered: int
    seconds: float
    nodes_cpu: list[float]  # per node
    database_cpu: float
    load_cpu: float  # the handsets (and the ESME process)
    passed: bool

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else 0.0

    def per_message_us(self, cpu: float) -> float:
        return cpu / self.delivered * 1e6 if self.delivered else float("nan")


def measured(
    ctx: Context, nodes: Nodes, kind: str, go: Callable[[], tuple[int, float, float, bool]]
) -> Run:
    """``go`` (delivered, seconds, load generator CPU, passed) with the nodes'
    and PostgreSQL's CPU around it."""
    before, database = nodes.each_cpu(), ctx.database_cpu()
    delivered, seconds, load_cpu, passed = go()
    after = nodes.each_cpu()
    return Run(
        kind,
        delivered,
        seconds,
        [a - b for a, b in zip(after, before, strict=True)],
        ctx.database_cpu() - database,
        load_cpu,
        passed,
    )


def start_nodes(stack: contextlib.ExitStack, workdir: Path, url: str, count: int) -> Nodes:
    """``count`` nodes on shared ports and one data directory, started in turn
    (the first migrates the schema)."""
    link = shared("tcp:0:interface=127.0.0.1", "--link")
    smpp = shared("tcp:0:interface=127.0.0.1", "--smpp")
    stack.callback(link.release)
    stack.callback(smpp.release)
    started = []
    for i in range(1, count + 1):
        nodedir = workdir / f"n{i}"  # its log
        nodedir.mkdir()
        extra = ("--node", f"n{i}", "--link", link.spec, "--smpp", smpp.spec, "--quiet",
                 "--data-dir", str(workdir / "smsc-data"))  # fmt: skip
        started.append(stack.enter_context(run_smsc(nodedir, url, extra=extra)))
    link.release()
    smpp.release()
    first = started[0]
    return Nodes(first.proc, link.port, first.admin_port, first.log, smpp.port, started)


async def bench_nodes(
    count: int, args: argparse.Namespace, outer: contextlib.ExitStack
) -> list[Run]:
    stack = outer.enter_context(contextlib.ExitStack())
    try:
        workdir = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        pg = TemporaryPostgres()
        url = stack.enter_context(pg)
        nodes = start_nodes(stack, workdir, url, count)
        ctx = Context(nodes, nodes.smpp_port, Handsets(), workdir, stack, args,
                      pg.datadir / "postmaster.pid")  # fmt: skip
        pids = ", ".join(f"n{i + 1} {n.proc.pid}" for i, n in enumerate(nodes.nodes))
        print(f"{count} node(s): {pids}; radio link and SMPP on ports {nodes.link_port},"
              f" {nodes.smpp_port} (SO_REUSEPORT)", flush=True)  # fmt: skip
        runs: list[Run] = []
        bench = Bench(nodes.link_port, args.handsets, args.link_window, "delivery")
        with contextlib.closing(bench):
            assert bench.smsc is not None
            messages = encode_messages(args.count, args.handsets, bench.smsc)

            def radio(n: int) -> Callable[[], tuple[int, float, float, bool]]:
                def go() -> tuple[int, float, float, bool]:
                    r = bench.run("radio", messages, n, rate=None, timeout=args.timeout,
                                  smsc=nodes)  # fmt: skip
                    ok = not r.timed_out and r.delivered == n and not r.refused
                    return r.delivered, r.elapsed_deliver, r.client_cpu, ok

                return go

            measured(ctx, nodes, "radio", radio(min(args.warmup, args.count)))
            for _ in range(args.repeat):
                runs.append(show(measured(ctx, nodes, "radio", radio(args.count))))
                time.sleep(args.settle)
        await ctx.handsets.attach(nodes.link_port, args.handsets)
        stack.callback(ctx.handsets.close)
        await one_run(ctx, "warm-up", min(args.warmup, args.count), None)
        for _ in range(args.repeat):
            before, database = nodes.each_cpu(), ctx.database_cpu()
            r = await one_run(ctx, "smpp", args.count, None)
            after = nodes.each_cpu()
            load = r.bench_cpu + (r.esme_cpu or 0.0)  # the ESME while it sent
            runs.append(show(Run(
                "smpp", r.tally.delivered, r.delivering(),
                [a - b for a, b in zip(after, before, strict=True)],
                ctx.database_cpu() - database, load, r.passed,
            )))  # fmt: skip
        return runs
    finally:
        stack.close()


def show(run: Run) -> Run:
    nodes = " + ".join(f"{c:.2f}" for c in run.nodes_cpu)
    print(
        f"  {run.kind:5s} {run.delivered:,d} in {run.seconds:.2f} s = {run.rate:,.0f}/s;"
        f" CPU s: nodes {nodes}, PostgreSQL {run.database_cpu:.2f},"
        f" load generators {run.load_cpu:.2f}" + ("" if run.passed else "  FAILED"),
        flush=True,
    )
    return run


def summary(results: dict[int, list[Run]]) -> None:
    print("summary, min / median / max of the runs (CPU: microseconds per message):")
    base: dict[str, float] = {}
    for count, runs in results.items():
        for kind in ("radio", "smpp"):
            these = [r for r in runs if r.kind == kind]
            if not these:
                continue
            rates = [r.rate for r in these]
            median = statistics.median(rates)
            base.setdefault(kind, median)
            ratio = median / base[kind] if base[kind] else float("nan")
            us = "{:.0f}"
            node = [r.per_message_us(sum(r.nodes_cpu) / len(r.nodes_cpu)) for r in these]
            print(
                f"  {count} node(s) {kind:5s} {spread(rates)} messages/s"
                f" (x{ratio:.2f} of 1 node); CPU per message: nodes"
                f" {spread([r.per_message_us(sum(r.nodes_cpu)) for r in these], us)}"
                f" ({spread(node, us)} each), PostgreSQL"
                f" {spread([r.per_message_us(r.database_cpu) for r in these], us)},"
                f" load {spread([r.per_message_us(r.load_cpu) for r in these], us)}"
                + ("" if all(r.passed for r in these) else "  FAILED")
            )


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--nodes", type=int, default=2, help="the most nodes (2; 4 on a bigger host)")
    ap.add_argument("--count", type=int, default=5000, help="messages per run (5000)")
    ap.add_argument("--handsets", type=int, default=20, help="K handsets (20)")
    ap.add_argument("--link-window", type=int, default=8, help="radio: open per handset (8)")
    ap.add_argument("--binds", type=int, default=4, help="SMPP connections of the ESME (4)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each kind, at least 3")
    ap.add_argument("--warmup", type=int, default=1000, help="messages before measuring (1000)")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds a run may take")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds after a run")
    args = ap.parse_args()
    args.repeat = runs_of(args.repeat)
    # What smpp_bench.one_run reads of its own options.
    args.receipts, args.esme, args.window = False, "process", SMSC_WINDOW
    return args


def main() -> int:
    args = parse_args()
    counts = [n for n in (1, 2, 4) if n <= args.nodes]
    print(f"{args.count:,d} messages per run, {args.handsets} handsets, nodes {counts},"
          f" each run {args.repeat} times; {load_average()}", flush=True)  # fmt: skip

    async def everything(stack: contextlib.ExitStack) -> dict[int, list[Run]]:
        results: dict[int, list[Run]] = {}
        for n in counts:
            results[n] = await bench_nodes(n, args, stack)
        return results

    results = run_with_stack(everything)
    if results is None:
        return 130
    summary(results)
    print(f"after: {load_average()}")
    return 0 if all(r.passed for runs in results.values() for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
