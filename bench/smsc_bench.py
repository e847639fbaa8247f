"""End-to-end throughput and latency of the SMSC over its radio link.

The SMSC runs as a subprocess (``python -m smsemu smsc``) on a fresh SQLite data
directory or on a throwaway PostgreSQL server (``storage/pgserver.py``); this process
plays K handsets over TCP on 127.0.0.1.  Each handset sends a fixed share of
single-part SMS-SUBMITs to the next handset, keeping W submits outstanding, and
acknowledges every RP-DATA at once.  A message's latency runs from the moment
its submit is sent (or, in the paced run, the moment it was due) to the
recipient's RP-ACK of the SMS-DELIVER that carries it.

Two runs per database: one at full load (as fast as the windows allow) and one
at a fixed offered rate (``--rate``, default 1,000 messages/s).  Every run stops
by itself: when all messages are delivered, or after ``--timeout`` seconds.
Each run is made ``--repeat`` times (at least 3); the summary gives min / median
/ max of each, and the machine's load average before and after.

The handsets are plain non-blocking sockets under one ``selectors`` loop: the
submits are encoded before the clock starts, the frames are parsed by hand and
a delivery is matched to its submit by the packed user data that ends the
TPDU (the text holds a sequence number), so the client spends little CPU.

The SMSC logs its traffic as ``smsemu smsc`` does by default (one line per
event, at info, to its stderr: a file here); ``--log quiet`` runs it with
``--quiet``, and ``--log both`` runs both and prints what the live log costs:
the ratio of the rates and of the reactor's CPU per message, info / quiet.

Run: ``python bench/smsc_bench.py [--db sqlite|postgres|both]`` (PostgreSQL
needs ``bash scripts/ensure-postgres`` once).  ``--profile DIR`` records each
run with py-spy (``pip install py-spy``), raw collapsed stacks of every SMSC
thread, idle included.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from runstats import load_average, spread
from runstats import runs as runs_of

from pdu import Address, Direction, SmsDeliver, SmsSubmit, UserData, decode, encode
from radiolink import frames as lk
from radiolink import rp

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.pg, which is not installed

HOST = "127.0.0.1"
TEXT = "smsemu bench {:08d}"  # fixed width: every TPDU ends in as many packed octets
FRAME_RP = lk.FrameType.RP
MTI_DATA_N_TO_MS = int(rp.RpMti.DATA_N_TO_MS)
MTI_ACK_N_TO_MS = int(rp.RpMti.ACK_N_TO_MS)
MTI_ERROR_N_TO_MS = int(rp.RpMti.ERROR_N_TO_MS)
#: RP-ACK MS -> N for each RP-MR, as whole frames.
ACKS = [lk.encode_frame(lk.Rp(rp.encode_rp(rp.RpAck.mo(mr)))) for mr in range(256)]


def msisdn(i: int) -> str:
    return f"+1555{2000000 + i:07d}"


def imsi(i: int) -> str:
    return f"00101{i:010d}"


# -- the SMSC subprocess ------------------------------------------------------------


@dataclass
class SmscProcess:
    proc: subprocess.Popen[bytes]
    link_port: int
    admin_port: int
    log: Path
    smpp_port: int = 0

    def metrics(self) -> dict[str, float]:
        """The SMSC's Prometheus counters (smsemu_ prefix dropped)."""
        url = f"http://{HOST}:{self.admin_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.partition(" ")
                out[name.removeprefix("smsemu_")] = float(value)
        return out

    def cpu_seconds(self) -> tuple[float, float]:
        """User + system CPU seconds of the SMSC so far: its main (reactor)
        thread, and all its other threads (the database writer).  Linux /proc;
        NaN elsewhere."""
        main = other = 0.0
        try:
            for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
                fields = (task / "stat").read_text().rpartition(")")[2].split()
                seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
                if task.name == str(self.proc.pid):
                    main += seconds
                else:
                    other += seconds
        except OSError:
            return float("nan"), float("nan")
        return main, other

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the reactor drains the writer
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextlib.contextmanager
def run_smsc(
    workdir: Path,
    database_url: str | None,
    timeout: float = 60.0,
    extra: tuple[str, ...] = (),
    *,
    open_attach: bool = True,
    checkout: Path | None = None,
) -> Iterator[SmscProcess]:
    """``smsemu smsc`` on free loopback ports; yields once it listens, stops it after.
    Message throughput is what the benchmarks built on it time: the handsets'
    attach, before the clock starts, skips SIM authentication unless
    ``open_attach`` is False (its cost: bench/attach_bench.py).  ``checkout``:
    the SMSC of that source tree (a baseline), run from it with this venv."""
    cmd = [
        sys.executable,
        "-m",
        "smsemu",
        "smsc",
        "--data-dir",
        str(workdir / "smsc-data"),
        "--link",
        f"{HOST}:0",
        "--admin",
        f"{HOST}:0",
        "--smpp",
        f"{HOST}:0",
    ]
    if open_attach:
        cmd.append("--open-attach")
    if database_url is not None:
        cmd += ["--database-url", database_url]
    cmd += extra
    log = workdir / "smsc.log"
    env = None if checkout is None else dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    with log.open("w") as err:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
            cwd=checkout or ROOT, env=env,
        )  # fmt: skip
    try:
        assert proc.stdout is not None
        ports: dict[str, int] = {}
        seen = b""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while len(ports) < 3:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise RuntimeError(f"the SMSC did not start in {timeout:.0f}s:\n{_tail(log)}")
                chunk = os.read(proc.stdout.fileno(), 4096)  # unbuffered: select stays true
                if not chunk:
                    raise RuntimeError(f"the SMSC exited with {proc.wait()}:\n{_tail(log)}")
                seen += chunk
                pattern = rb"smsc: (radio link|admin API|SMPP) on \S*?:(\d+)[/\s]"  # admin: a URL
                for found in re.finditer(pattern, seen):
                    ports[found[1].decode()] = int(found[2])
        yield SmscProcess(proc, ports["radio link"], ports["admin API"], log, ports["SMPP"])
    finally:
        SmscProcess(proc, 0, 0, log).stop()


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- the handsets ----------------------------------------------------------------------


@dataclass
class Messages:
    """The run's messages, pre-encoded: message ``seq`` goes from handset
    ``seq % K`` to handset ``seq % K + 1``, in the ``seq // K``-th frame of its
    sender (RP-MR = that index mod 256)."""

    frames: list[bytes]
    keys: dict[bytes, int]  # the packed user data that ends each TPDU -> seq
    tail: int  # its length


def encode_messages(count: int, handsets: int, smsc: Address) -> Messages:
    frames: list[bytes] = []
    keys: dict[bytes, int] = {}
    das = [Address.parse(msisdn((i + 1) % handsets)) for i in range(handsets)]
    tail = len(encode(SmsSubmit(tp_da=das[0], tp_ud=UserData(TEXT.format(0))))) - len(
        encode(SmsSubmit(tp_da=das[0], tp_ud=UserData("")))
    )
    for seq in range(count):
        sender, index = seq % handsets, seq // handsets
        tpdu = encode(
            SmsSubmit(tp_da=das[sender], tp_mr=index % 256, tp_ud=UserData(TEXT.format(seq)))
        )
        keys[tpdu[-tail:]] = seq
        frames.append(lk.encode_frame(lk.Rp(rp.encode_rp(rp.RpData.mo(index % 256, smsc, tpdu)))))
    if len(keys) != count:
        raise RuntimeError("two messages end in the same octets")
    return Messages(frames, keys, tail)


def send_all(sock: socket.socket, data: bytes) -> None:
    """All of ``data`` on a non-blocking socket (the SMSC always reads, so a
    full send buffer drains)."""
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view) :]
        except BlockingIOError:
            select.select([], [sock], [], 1.0)


@dataclass(eq=False)
class Handset:
    index: int
    sock: socket.socket
    seqs: list[int]  # what it sends, in order
    next: int = 0  # index into seqs of the next to send
    open: int = 0  # submits in its window
    pending: dict[int, int] = field(default_factory=dict)  # RP-MR -> seq awaiting RP-ACK
    buf: bytearray = field(default_factory=bytearray)
    out: list[bytes] = field(default_factory=list)


@dataclass
class Result:
    name: str
    count: int
    sent: int
    accepted: int
    delivered: int
    refused: int
    elapsed_accept: float
    elapsed_deliver: float
    latencies_ms: list[float]
    accept_latencies_ms: list[float]
    timed_out: bool
    max_open: int
    metrics: dict[str, float]
    smsc_cpu: tuple[float, float]  # CPU seconds of the SMSC's main thread, other threads
    client_cpu: float  # and this process


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of them at or below it."""
    if not sorted_values:
        return float("nan")
    return sorted_values[
        max(0, min(len(sorted_values), math.ceil(p / 100 * len(sorted_values))) - 1)
    ]


class Bench:
    def __init__(self, port: int, handsets: int, window: int, until: str) -> None:
        if not 1 <= window <= 255:
            raise ValueError("the window must be 1..255 (RP-MR is one octet)")
        self.window = window
        self.until_delivery = until == "delivery"
        self.sel = selectors.DefaultSelector()
        self.handsets: list[Handset] = []
        self.smsc: Address | None = None
        for i in range(handsets):
            sock = socket.create_connection((HOST, port), timeout=30)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.handsets.append(Handset(i, sock, []))
        self._attach()
        for h in self.handsets:
            h.sock.setblocking(False)
            self.sel.register(h.sock, selectors.EVENT_READ, h)

    def _attach(self) -> None:
        for h in self.handsets:
            h.sock.sendall(lk.encode_frame(lk.Attach(imsi(h.index), msisdn(h.index))))
        for h in self.handsets:
            reader = lk.FrameReader()
            frames: list[lk.Frame | lk.MalformedFrame] = []
            while not frames:
                data = h.sock.recv(4096)
                if not data:
                    raise RuntimeError("the SMSC closed the link during ATTACH")
                frames = reader.feed(data)
            if not isinstance(frames[0], lk.AttachAccept) or len(frames) > 1:
                raise RuntimeError(f"ATTACH of {msisdn(h.index)} answered {frames}")
            self.smsc = Address.parse(frames[0].smsc)

    def close(self) -> None:
        for h in self.handsets:
            with contextlib.suppress(OSError):
                h.sock.close()
        self.sel.close()

    def run(
        self,
        name: str,
        messages: Messages,
        count: int,
        *,
        rate: float | None,
        timeout: float,
        smsc: SmscProcess,
    ) -> Result:
        """Send ``count`` messages (all at once up to the windows, or paced at
        ``rate`` per second) and wait for them to be delivered."""
        k = len(self.handsets)
        for h in self.handsets:
            h.seqs = list(range(h.index, count, k))
            h.next = h.open = 0
            h.pending.clear()
            h.out.clear()
        frames, keys, tail = messages.frames, messages.keys, messages.tail
        window, until_delivery = self.window, self.until_delivery
        sent_at = [0.0] * count
        accepted_at = [0.0] * count
        delivered_at = [0.0] * count
        sent = accepted = delivered = refused = max_open = 0
        checked = False
        before = smsc.metrics()
        cpu_before, client_before = smsc.cpu_seconds(), time.process_time()
        handsets, sel = self.handsets, self.sel
        start = time.perf_counter()
        deadline = start + timeout
        due = count if rate is None else 0  # messages that may have gone out by now
        dirty: list[Handset] = []

        def fill(h: Handset, now: float) -> None:
            nonlocal sent
            seqs, pending = h.seqs, h.pending
            while h.open < window and h.next < len(seqs):
                seq = seqs[h.next]
                if seq >= due:
                    break
                mr = h.next % 256
                if mr in pending:
                    break
                pending[mr] = seq
                h.out.append(frames[seq])
                sent_at[seq] = now if rate is None else start + seq / rate
                h.next += 1
                h.open += 1
                sent += 1

        while delivered + refused < count or accepted + refused < count:
            now = time.perf_counter()
            if now > deadline:
                break
            if rate is not None and due < count:
                due = min(count, int((now - start) * rate) + 1)
            for h in handsets:
                fill(h, now)
                max_open = max(max_open, h.open)
                if h.out:
                    dirty.append(h)
            for h in dirty:
                send_all(h.sock, b"".join(h.out))
                h.out.clear()
            dirty.clear()
            wait = deadline - now
            if rate is not None and due < count:
                wait = min(wait, start + due / rate - now)
            for key, _ in sel.select(max(0.0, wait)):
                h = key.data
                data = h.sock.recv(262144)
                if not data:
                    raise RuntimeError(f"the SMSC closed the link of {msisdn(h.index)}")
                now = time.perf_counter()
                buf = h.buf
                buf += data
                pos, end_of_data = 0, len(buf)
                while end_of_data - pos >= 3:
                    length = buf[pos] << 8 | buf[pos + 1]
                    end = pos + 2 + length
                    if end > end_of_data:
                        break
                    if buf[pos + 2] != FRAME_RP:
                        raise RuntimeError(f"unexpected frame {bytes(buf[pos:end]).hex()}")
                    mti, mr = buf[pos + 3], buf[pos + 4]
                    if mti == MTI_DATA_N_TO_MS:
                        h.out.append(ACKS[mr])
                        seq = keys.get(bytes(buf[end - tail : end]), -1)
                        if seq < 0 or delivered_at[seq]:
                            raise RuntimeError(f"unknown delivery {bytes(buf[pos:end]).hex()}")
                        if not checked:
                            check_delivery(bytes(buf[pos + 3 : end]), seq)
                            checked = True
                        delivered_at[seq] = now
                        delivered += 1
                        if until_delivery:
                            handsets[seq % k].open -= 1
                    elif mti == MTI_ACK_N_TO_MS:
                        seq = h.pending.pop(mr)
                        accepted_at[seq] = now
                        accepted += 1
                        if not until_delivery:
                            h.open -= 1
                    elif mti == MTI_ERROR_N_TO_MS:
                        h.pending.pop(mr)
                        refused += 1
                        h.open -= 1
                    else:
                        raise RuntimeError(f"unexpected RP message {bytes(buf[pos:end]).hex()}")
                    pos = end
                del buf[:pos]
                if h.out:
                    send_all(h.sock, b"".join(h.out))
                    h.out.clear()
        timed_out = delivered + refused < count or accepted + refused < count
        cpu_after, client_cpu = smsc.cpu_seconds(), time.process_time() - client_before
        smsc_cpu = (cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1])
        after = smsc.metrics()
        done = [i for i in range(count) if delivered_at[i]]
        latencies = sorted((delivered_at[i] - sent_at[i]) * 1000 for i in done)
        acks = [i for i in range(count) if accepted_at[i]]
        accept_latencies = sorted((accepted_at[i] - sent_at[i]) * 1000 for i in acks)
        return Result(
            name=name,
            count=count,
            sent=sent,
            accepted=accepted,
            delivered=delivered,
            refused=refused,
            elapsed_accept=max((accepted_at[i] for i in acks), default=start) - start,
            elapsed_deliver=max((delivered_at[i] for i in done), default=start) - start,
            latencies_ms=latencies,
            accept_latencies_ms=accept_latencies,
            timed_out=timed_out,
            max_open=max_open,
            metrics={key: after[key] - before.get(key, 0.0) for key in after},
            smsc_cpu=smsc_cpu,
            client_cpu=client_cpu,
        )


def check_delivery(rp_octets: bytes, seq: int) -> None:
    """The first delivery, decoded properly: is it the message its tail says?"""
    message = rp.decode_rp(rp_octets, direction=Direction.MT)
    assert isinstance(message, rp.RpData)
    tpdu = decode(message.rp_ud, Direction.MT)
    if not isinstance(tpdu, SmsDeliver) or tpdu.tp_ud.body != TEXT.format(seq):
        raise RuntimeError(f"delivery matched to message {seq} but holds {tpdu}")


def report(r: Result) -> None:
    print(f"  {r.name}:")
    if r.timed_out:
        print(f"    TIMED OUT: {r.delivered + r.refused} of {r.count} finished")
    if r.refused:
        print(f"    {r.refused} submits refused (RP-ERROR)")
    submit_rate = r.accepted / r.elapsed_accept if r.elapsed_accept else 0.0
    e2e_rate = r.delivered / r.elapsed_deliver if r.elapsed_deliver else 0.0
    lat, acc = r.latencies_ms, r.accept_latencies_ms
    print(f"    messages:                    {r.delivered:8,d} delivered of {r.count:,d}")
    print(f"    accepted submits/s:          {submit_rate:8,.0f}  ({r.elapsed_accept:.2f} s)")
    print(f"    end-to-end messages/s:       {e2e_rate:8,.0f}  ({r.elapsed_deliver:.2f} s)")
    print(
        f"    end-to-end latency ms:       p50 {percentile(lat, 50):7.2f}"
        f"  p99 {percentile(lat, 99):7.2f}  max {lat[-1] if lat else float('nan'):7.2f}"
    )
    print(
        f"    submit->RP-ACK latency ms:   p50 {percentile(acc, 50):7.2f}"
        f"  p99 {percentile(acc, 99):7.2f}  max {acc[-1] if acc else float('nan'):7.2f}"
    )
    m = r.metrics
    batches = m.get("db_batches_total", 0.0)
    ops = m.get("db_operations_total", 0.0)
    print(
        f"    SMSC: {batches:,.0f} commits, {ops / batches if batches else 0:.1f} operations"
        f" per commit; largest window used {r.max_open}"
    )
    per = 1e6 / r.delivered if r.delivered else float("nan")
    print(
        f"    CPU us/message: SMSC reactor thread {r.smsc_cpu[0] * per:.0f},"
        f" its other threads (DB writer) {r.smsc_cpu[1] * per:.0f}; bench {r.client_cpu * per:.0f}"
    )


def bench_database(
    db: str,
    args: argparse.Namespace,
    cache: dict[str, Messages],
    log: str = "info",
    capture: bool = False,
) -> list[tuple[str, Result]]:
    workdir = Path(tempfile.mkdtemp(prefix="smsc-bench-"))
    pcap = workdir / "capture.pcapng"
    stack = contextlib.ExitStack()
    try:
        url: str | None = None
        if db == "postgres":
            from storage.pgserver import TemporaryPostgres

            url = stack.enter_context(TemporaryPostgres())
        extra = (("--quiet",) if log == "quiet" else ()) + (
            ("--pcap", str(pcap)) if capture else ()
        )
        smsc = stack.enter_context(run_smsc(workdir, url, extra=extra))
        print(
            f"{db}, live log {log}: SMSC pid {smsc.proc.pid}, radio link {HOST}:{smsc.link_port}"
            + (f", capturing to {pcap}" if capture else ""),
            flush=True,
        )
        bench = Bench(smsc.link_port, args.handsets, args.window, args.window_until)
        stack.callback(bench.close)
        assert bench.smsc is not None
        key = f"{bench.smsc}/{args.count}/{args.handsets}"
        if key not in cache:
            cache[key] = encode_messages(args.count, args.handsets, bench.smsc)
        messages = cache[key]
        results: list[tuple[str, Result]] = []
        if args.warmup:
            warm = bench.run(
                "warm-up",
                messages,
                min(args.warmup, args.count),
                rate=None,
                timeout=args.timeout,
                smsc=smsc,
            )
            if warm.timed_out:
                report(warm)
                return results
        runs: list[tuple[str, str, float | None]] = [
            ("full", f"full load, window {args.window} until {args.window_until}", None),
            ("paced", f"paced at {args.rate:,.0f} messages/s (latency from when due)", args.rate),
        ]
        runs = [run for run in runs if run[0] in args.runs] * args.repeat
        for tag, name, rate in runs:
            profiler = None
            if args.profile:
                profiler = start_py_spy(smsc.proc.pid, Path(args.profile) / f"smsc-{db}-{tag}.txt")
            try:
                result = bench.run(
                    name, messages, args.count, rate=rate, timeout=args.timeout, smsc=smsc
                )
            finally:
                if profiler is not None:
                    stop_py_spy(profiler)
            report(result)
            results.append((tag, result))
            if result.timed_out:
                print("    (later runs skipped: messages of this one are still in flight)")
                break
            time.sleep(args.settle)
        if capture:
            print(f"    capture file: {pcap.stat().st_size:,d} octets", flush=True)
        return results
    finally:
        stack.close()
        shutil.rmtree(workdir, ignore_errors=True)


def start_py_spy(pid: int, target: Path) -> subprocess.Popen[bytes]:
    """py-spy record on the SMSC (raw collapsed stacks, all threads, idle
    included) until stopped; ``pip install py-spy`` first."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"    profiling pid {pid} into {target}", flush=True)
    cmd = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--threads",
        "--idle",
        "-o",
        str(target),
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_py_spy(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--handsets", type=int, default=20, help="K handsets (20)")
    ap.add_argument("--count", type=int, default=20000, help="messages per run (20000)")
    ap.add_argument("--window", type=int, default=16, help="outstanding submits per handset (16)")
    ap.add_argument(
        "--window-until",
        choices=["ack", "delivery"],
        default="ack",
        help="a submit leaves the window at its RP-ACK (ack) or once delivered (delivery)",
    )
    ap.add_argument("--rate", type=float, default=1000.0, help="offered rate of the paced run")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds a run may take at most")
    ap.add_argument("--warmup", type=int, default=2000, help="messages sent before measuring")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds between runs")
    ap.add_argument("--repeat", type=int, default=3, help="each run, at least 3 times (3)")
    ap.add_argument(
        "--runs",
        type=lambda text: text.split(","),
        default=["full", "paced"],
        help="which runs, comma-separated (full,paced)",
    )
    ap.add_argument("--profile", metavar="DIR", help="py-spy record the SMSC in each run")
    ap.add_argument(
        "--log",
        choices=["info", "quiet", "both"],
        default="info",
        help="the SMSC's live log: info (its default), quiet (--quiet), or both, compared",
    )
    ap.add_argument(
        "--capture",
        action="store_true",
        help="run each database twice, capture off then on (--pcap), and print the ratio",
    )
    args = ap.parse_args()
    if args.handsets < 2 or args.count < 1:
        ap.error("need at least 2 handsets and 1 message")
    if not 1 <= args.window <= 255:
        ap.error("the window must be 1..255 (RP-MR is one octet)")
    if args.rate <= 0 or args.timeout <= 0:
        ap.error("--rate and --timeout must be positive")
    args.repeat = runs_of(args.repeat)
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    # A SIGTERM unwinds like Ctrl-C, so the SMSC and PostgreSQL are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(
        f"{args.handsets} handsets, {args.count:,d} single-part messages per run, each run"
        f" {args.repeat} times; Python {sys.version.split()[0]}; {load_average()}",
        flush=True,
    )
    cache: dict[str, Messages] = {}
    summary: list[tuple[str, str, Result]] = []
    logs = ["quiet", "info"] if args.log == "both" else [args.log]
    for db in dbs:
        for log in logs:
            name = f"{db} {log}" if args.log == "both" else db
            summary += [(name, tag, r) for tag, r in bench_database(db, args, cache, log)]
        if args.capture:
            print(f"{db}, capture on (--pcap):", flush=True)
            runs = bench_database(db, args, cache, capture=True)
            summary += [(db, f"{tag}+pcap", r) for tag, r in runs]
    print("summary (targets: >= 5,000 messages/s end to end; p99 < 20 ms at 1,000/s),")
    print("  min / median / max of the runs:")
    groups: dict[tuple[str, str], list[Result]] = {}
    for db, tag, r in summary:
        groups.setdefault((db, tag), []).append(r)
    for (db, tag), results in groups.items():
        rates = [r.delivered / r.elapsed_deliver if r.elapsed_deliver else 0.0 for r in results]
        p50 = [percentile(r.latencies_ms, 50) for r in results]
        p99 = [percentile(r.latencies_ms, 99) for r in results]
        print(
            f"  {db:8s} {tag:10s} {spread(rates)} messages/s end to end,"
            f" latency p50 {spread(p50, '{:.2f}')} ms, p99 {spread(p99, '{:.2f}')} ms"
            + ("  TIMED OUT" if any(r.timed_out for r in results) else "")
        )
    print(f"after: {load_average()}")
    if args.log == "both":
        log_cost(summary)
    if args.capture:
        _capture_ratios(summary)
    return 1 if any(r.timed_out for _, _, r in summary) else 0


def log_cost(summary: list[tuple[str, str, Result]]) -> None:
    """What the live log costs: each run at info against the same run quiet."""
    runs = {(name, tag): r for name, tag, r in summary}
    print("the live log at info against --quiet (ratio info / quiet):")
    for (name, tag), info in runs.items():
        db, _, log = name.partition(" ")
        quiet = runs.get((f"{db} quiet", tag))
        if log != "info" or quiet is None or not (info.delivered and quiet.delivered):
            continue
        rate = (info.delivered / info.elapsed_deliver) / (quiet.delivered / quiet.elapsed_deliver)
        cpu = (info.smsc_cpu[0] / info.delivered) / (quiet.smsc_cpu[0] / quiet.delivered)
        print(
            f"  {db:8s} {tag:5s} end-to-end rate x{rate:.2f},"
            f" SMSC reactor CPU per message x{cpu:.2f}"
        )


def _capture_ratios(summary: list[tuple[str, str, Result]]) -> None:
    """Messages/s with capture on over off, per database and run (target >= 80%)."""
    rates = {
        (db, tag): r.delivered / r.elapsed_deliver if r.elapsed_deliver else 0.0
        for db, tag, r in summary
    }
    print("capture on / off, end-to-end messages/s (target >= 80%):")
    for (db, tag), on in rates.items():
        if tag.endswith("+pcap") and rates.get((db, tag[:-5])):
            print(f"  {db:8s} {tag[:-5]:5s} {on / rates[db, tag[:-5]]:6.1%}")


if __name__ == "__main__":
    sys.exit(main())
