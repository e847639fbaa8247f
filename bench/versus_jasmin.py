"""smsemu's SMPP door against Jasmin 0.11.1, with the same load client, in one run.

The peer is the harness in ``../shared/peers/jasmin`` (its README): Jasmin
0.11.1 with RabbitMQ and Redis, forwarding to a sink SMSC, installed by its
``setup.sh``, started by ``start.sh`` and stopped by ``stop.sh``.  Its neutral
load client ``load.py`` (stdlib asyncio, used from its place) binds, sends N
submit_sm with at most W outstanding, and reports accepted/s (ESME_ROK
responses, first send to last response), p50/p99 submit -> response latency
and, with ``--cpu NAME=PID``, the CPU each process tree used.

smsemu runs as ``smsemu smsc`` (a subprocess, ``smsc_bench.run_smsc``) on
SQLite in a temporary data directory; the client binds as ``esme`` with the
password the SMSC generated there.  The SMSC is itself the endpoint: every
submit is committed to its queue (synchronous=FULL) before its response, and
stays queued (nobody is attached), so load.py runs with ``--no-sink``.
Jasmin answers a submit once it is on RabbitMQ and forwards it to the sink;
load.py waits for the sink to have them all (the end-to-end figure), so a
Jasmin run ends only when its forwarding is done and never overlaps the next.

Both servers stay up for the whole bench; the runs alternate (Jasmin,
smsemu, smsemu, Jasmin, ...) after a warm-up of each.  Printed: min / median /
max of each figure, CPU per message (Jasmin's stack: jasmind + RabbitMQ +
Redis, the sink left out; smsemu: the SMSC process), the machine's load
average, and smsemu / Jasmin for each figure: the ratio of the medians and
the min / median / max of the ratios of runs side by side.

Run: ``make bench-jasmin`` or ``python bench/versus_jasmin.py [-n 5000] [--window 50]
[--runs 3]``.  It needs root for setup.sh's apt-get (once); start.sh is given a
free loopback port for each of its services (an environment variable that
names one, ``JASMIN_SMPP_PORT=2775``, is kept).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from runstats import load_average, runs, spread
from smsc_bench import HOST, run_smsc

ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT.parent / "shared" / "peers" / "jasmin"
BENCH_DIR = Path(os.environ.get("BENCH_DIR", "/tmp/jasmin-bench"))
#: The ports start.sh takes from its environment (its defaults, 2775 for
#: Jasmin's SMPP among them, may be taken on a shared machine: by an SMSC).
PORTS = ("JASMIN_SMPP_PORT", "SINK_PORT", "SINK_CTL_PORT", "AMQP_PORT", "RABBIT_DIST_PORT",
         "EPMD_PORT", "REDIS_PORT", "JCLI_PORT", "HTTP_API_PORT", "ROUTER_PB_PORT",
         "SMPPCM_PB_PORT", "SMPPS_PB_PORT")  # fmt: skip
#: What counts as Jasmin's CPU: its daemon and the brokers it needs.
JASMIN_STACK = ("jasmind", "rabbitmq", "redis")


class PeerError(Exception):
    """The peer could not be set up or started: which step, and its output."""


@dataclass
class Target:
    """One server under load: how load.py reaches it and whose CPU to count."""

    name: str
    args: list[str]
    cpu: dict[str, int]  # name: pid of a process tree load.py measures
    counted: tuple[str, ...]  # the trees that are the server's CPU per message


@dataclass
class Run:
    target: str
    result: dict[str, object]
    load1: float  # the 1-minute load average as the run began
    ok: bool

    def figure(self, key: str) -> float:
        value = self.result.get(key)
        return float(value) if isinstance(value, int | float) else float("nan")

    def cpu_us_per_message(self, counted: tuple[str, ...]) -> float:
        """CPU µs per accepted message of the ``counted`` process trees."""
        pct = self.result.get("cpu_pct_of_one_core")
        window = self.figure("cpu_window_s")
        accepted = self.figure("accepted")
        if not isinstance(pct, dict) or not accepted:
            return float("nan")
        busy = sum(float(pct.get(name, 0.0)) for name in counted) / 100 * window
        return busy / accepted * 1e6


def free_ports() -> dict[str, str]:
    """A free loopback port for each of ``PORTS``, as start.sh's environment
    (what the environment sets already is kept)."""
    with contextlib.ExitStack() as stack:
        chosen: dict[str, str] = {}
        for name in PORTS:
            sock = stack.enter_context(socket.socket())
            sock.bind((HOST, 0))
            chosen[name] = os.environ.get(name) or str(sock.getsockname()[1])
    return chosen


def step(peer: Path, script: str, timeout: float, ports: dict[str, str] | None = None) -> str:
    """Run ``bash peer/script``; PeerError with its last lines if it fails."""
    try:
        done = subprocess.run(
            ["bash", str(peer / script)],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(ports or {})},
        )
    except subprocess.TimeoutExpired:
        raise PeerError(f"{script} did not finish in {timeout:.0f} s") from None
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        tail = "\n".join(output.splitlines()[-15:])
        raise PeerError(f"{script} exited with {done.returncode}:\n{tail}")
    return output


@contextlib.contextmanager
def jasmin(peer: Path) -> Iterator[Target]:
    """The peer set up (idempotent) and started; stopped after, whatever happens."""
    step(peer, "setup.sh", 900)
    ports = free_ports()
    try:
        step(peer, "start.sh", 300, ports)
        pids = {
            name: int((BENCH_DIR / "run" / f"{name}.pid").read_text())
            for name in (*JASMIN_STACK, "sink")
        }
        args = ["--port", ports["JASMIN_SMPP_PORT"], "--sink-ctl-port", ports["SINK_CTL_PORT"]]
        args += ["--user", "bench", "--password", "benchpw"]
        yield Target("Jasmin 0.11.1", args, pids, JASMIN_STACK)
    finally:
        with contextlib.suppress(PeerError):
            step(peer, "stop.sh", 180)


@contextlib.contextmanager
def smsemu() -> Iterator[Target]:
    """``smsemu smsc`` on SQLite in a temporary data directory."""
    workdir = Path(tempfile.mkdtemp(prefix="versus-jasmin-"))
    try:
        with run_smsc(workdir, None) as smsc:
            password = (workdir / "smsc-data" / "esme-password").read_text().strip()
            args = ["--host", HOST, "--port", str(smsc.smpp_port), "--no-sink"]
            args += ["--user", "esme", "--password", password]
            yield Target("smsemu smsc", args, {"smsc": smsc.proc.pid}, ("smsc",))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def load(peer: Path, target: Target, count: int, window: int) -> Run:
    """One load.py session against ``target``."""
    argv = [sys.executable, str(peer / "load.py"), "-n", str(count), "-w", str(window)]
    argv += target.args
    for name, pid in target.cpu.items():
        argv += ["--cpu", f"{name}={pid}"]
    load1 = os.getloadavg()[0]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise RuntimeError(
            f"load.py against {target.name} printed no result (exit {done.returncode}):\n"
            + (done.stdout + done.stderr)[-2000:]
        ) from None
    return Run(target.name, result, load1, done.returncode == 0)


def table(targets: list[Target], results: dict[str, list[Run]]) -> None:
    rows: list[tuple[str, str, str]] = [
        ("accepted/s", "accepted_per_s", "{:,.0f}"),
        ("p50 submit->resp ms", "lat_ms_p50", "{:.1f}"),
        ("p99 submit->resp ms", "lat_ms_p99", "{:.1f}"),
        ("forwarded e2e/s (sink)", "e2e_per_s", "{:,.0f}"),
    ]
    print(f"{'min / median / max':24}" + "".join(f"{t.name:>30}" for t in targets))
    for label, key, fmt in rows:
        cells = []
        for t in targets:
            values = [r.figure(key) for r in results[t.name] if key in r.result]
            cells.append(spread(values, fmt) if values else "-")
        print(f"{label:24}" + "".join(f"{c:>30}" for c in cells))
    cells = [
        spread([r.cpu_us_per_message(t.counted) for r in results[t.name]], "{:,.0f}")
        for t in targets
    ]
    print(f"{'CPU us/message':24}" + "".join(f"{c:>30}" for c in cells))
    for t in targets:
        print(f"  CPU counted for {t.name}: {' + '.join(t.counted)}")


def ratios(ours: list[Run], theirs: list[Run]) -> None:
    print("smsemu / Jasmin (ratio of medians; runs side by side: min / median / max)")
    for label, key in (
        ("accepted/s", "accepted_per_s"),
        ("p50 latency", "lat_ms_p50"),
        ("p99 latency", "lat_ms_p99"),
    ):
        mine = [r.figure(key) for r in ours]
        peer = [r.figure(key) for r in theirs]
        of_medians = statistics.median(mine) / statistics.median(peer)
        paired = [a / b for a, b in zip(mine, peer, strict=True)]
        print(f"  {label:12} {of_medians:6.2f}x   ({spread(paired, '{:.2f}x')})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("-n", "--count", type=int, default=5000, help="submit_sm per run (5000)")
    ap.add_argument("-w", "--window", type=int, default=50, help="outstanding submits (50)")
    ap.add_argument("--runs", type=int, default=3, help="runs per server, at least 3 (3)")
    ap.add_argument("--warmup", type=int, default=500, help="submits before measuring (500)")
    ap.add_argument("--peer", type=Path, default=PEER, help=f"the peer's folder ({PEER})")
    args = ap.parse_args()
    count, rounds = args.count, runs(args.runs)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop.sh runs
    print(f"load.py -n {count} -w {args.window}, {rounds} runs each, alternating; {load_average()}")
    try:
        with contextlib.ExitStack() as stack:
            peer_target = stack.enter_context(jasmin(args.peer))
            ours_target = stack.enter_context(smsemu())
            targets = [ours_target, peer_target]
            if args.warmup:
                for t in targets:
                    load(args.peer, t, args.warmup, args.window)
            results: dict[str, list[Run]] = {t.name: [] for t in targets}
            for i in range(rounds):
                order = targets if i % 2 else targets[::-1]  # Jasmin first, then smsemu first
                for t in order:
                    run = load(args.peer, t, count, args.window)
                    results[t.name].append(run)
                    r = run.result
                    print(
                        f"  run {i + 1} {t.name:14} {r.get('accepted_per_s')!s:>8} accepted/s,"
                        f" p50 {r.get('lat_ms_p50')} ms, p99 {r.get('lat_ms_p99')} ms,"
                        f" e2e {r.get('e2e_per_s', '-')}/s, load {run.load1:.2f}"
                        + ("" if run.ok else "  FAILED (a message lost or refused)"),
                        flush=True,
                    )
    except PeerError as exc:
        print(f"Jasmin could not be set up or started: {exc}", file=sys.stderr)
        return 2
    table(targets, results)
    ratios(results[ours_target.name], results[peer_target.name])
    print(f"after: {load_average()}")
    return 0 if all(r.ok for rs in results.values() for r in rs) else 1


if __name__ == "__main__":
    sys.exit(main())
