"""End-to-end throughput and latency of the SMSC's SMPP door.

The SMSC runs as a process of its own (``python -m smsemu smsc``, started by
``smsc_bench.run_smsc``) on a fresh SQLite data directory or on a throwaway
PostgreSQL server (``tests/pg.py``).  An ESME binds with the default account
(system_id ``esme``, password ``secret``) and sends a fixed count of
single-part GSM 7-bit submit_sm over TCP on 127.0.0.1, keeping a window of
submits outstanding, round-robin to K handsets attached over the radio link
(``handset.link_client``, which acknowledges every SMS-DELIVER).  A message's
latency runs from the moment its submit_sm is sent (in the paced run, the
moment it was due) to the moment its handset has the SMS-DELIVER.

The ESME is a Twisted protocol on our codec (``smpp34.pdu``), the submits
encoded before the clock starts; it spends about 6 us of CPU per submit at
full load.  By default it runs in a process of its own (``--esme process``),
sharing no interpreter lock with the handsets: run in this process beside
them (``--esme inline``), it reached the same rate within the noise but the
handsets' RP-ACKs waited behind it, and the end-to-end p99 at full load went
from 50-70 ms to 85-180 ms.  Both processes read the same clock
(CLOCK_MONOTONIC), which the latencies need.

Runs per database: a warm-up, one at full load (as fast as the window allows)
and one at a fixed offered rate (``--rate``, default 1,000 submits/s).  A run
passes only if every submit got ESME_ROK and every message reached its
handset exactly once with its text (counted and compared by digest), and,
with ``--receipts``, every message's delivery receipt came back DELIVRD.

Run: ``python bench/smpp_bench.py [--db sqlite|postgres|both] [--receipts]``.
``--profile DIR`` records the SMSC with py-spy (``pip install py-spy``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from smsc_bench import (
    HOST,
    SmscProcess,
    imsi,
    msisdn,
    percentile,
    run_smsc,
    start_py_spy,
    stop_py_spy,
)
from twisted.internet import defer, reactor, task
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.error import ProcessDone, ProcessExitedAlready, ReactorNotRunning
from twisted.internet.interfaces import IAddress, IDelayedCall, IProcessTransport
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol
from twisted.python.failure import Failure

from handset.link_client import LinkClient, connect
from pdu import SmsDeliver, Tpdu, gsm7
from smpp34 import pdu as p

TEXT = "smpp bench {:08d}"  # GSM 7-bit basic set; the number is the message's
SOURCE = "4930123456"  # the ESME's source_addr (international)
SYSTEM_ID, PASSWORD = "esme", "secret"  # the account the SMSC makes when none is configured
SMSC_WINDOW = 64  # the SMSC's window of unanswered ESME requests ([smpp] window)
BIND_SEQ, UNBIND_SEQ = 0x7FFFFF00, 0x7FFFFF01  # above every submit's sequence_number

T = TypeVar("T")


# -- the ESME ----------------------------------------------------------------------


@dataclass
class Job:
    """What the ESME sends: messages ``base`` .. ``base + count - 1``, message
    n to handset ``n % handsets``."""

    port: int
    base: int
    count: int
    window: int
    rate: float | None  # submits/s offered; None: as fast as the window allows
    receipts: bool
    handsets: int
    timeout: float
    binds: int = 1  # connections, each with its own window


@dataclass
class EsmeReport:
    """What the ESME saw, by message index (times on the monotonic clock; 0.0:
    never)."""

    start: float = 0.0
    sent_at: list[float] = field(default_factory=list)
    resp_at: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    message_id: list[str] = field(default_factory=list)
    receipt_at: dict[str, float] = field(default_factory=dict)  # message_id -> when
    receipt_bad: list[str] = field(default_factory=list)  # receipts not DELIVRD, unknown ids
    problems: list[str] = field(default_factory=list)
    max_open: int = 0
    cpu: float = 0.0  # process CPU seconds while sending (meaningful in its own process)
    cpu_total: float = 0.0  # and in all, start-up included
    timed_out: bool = False


def text_of(number: int) -> str:
    return TEXT.format(number)


def encode_submits(job: Job) -> list[bytes]:
    receipt = p.RECEIPT_ON_SUCCESS_OR_FAILURE if job.receipts else p.RECEIPT_NONE
    das = [msisdn(i).lstrip("+") for i in range(job.handsets)]
    return [
        p.encode(
            p.SubmitSm(
                sequence_number=i + 1,
                source_addr_ton=1,
                source_addr_npi=1,
                source_addr=SOURCE,
                dest_addr_ton=1,
                dest_addr_npi=1,
                destination_addr=das[(job.base + i) % job.handsets],
                registered_delivery=receipt,
                data_coding=0,  # the SMSC default alphabet: GSM 03.38, one septet per octet
                short_message=gsm7.encode(text_of(job.base + i)),
            )
        )
        for i in range(job.count)
    ]


class Sender:
    """The job's submits, spread over ``job.binds`` connections (message i on
    connection ``i % binds``), each keeping at most ``job.window`` unanswered;
    paced at ``job.rate`` if set.  Fires ``finished`` once every submit is
    answered (and every receipt is in), or it gives up."""

    def __init__(self, job: Job) -> None:
        self.job, n = job, job.count
        self.report = EsmeReport(
            sent_at=[0.0] * n, resp_at=[0.0] * n, status=[-1] * n, message_id=[""] * n
        )
        submits = encode_submits(job)
        self.connections = [Esme(self, submits[b :: job.binds], b) for b in range(job.binds)]
        self.finished: Deferred[None] = Deferred()
        self.answered = self.accepted = 0
        self.due = 0  # submits that may have gone by now
        self.started = False
        self.timer: IDelayedCall | None = None

    def start(self) -> None:
        self.report.start = time.monotonic()
        self.started = True
        self.due = self.job.count if self.job.rate is None else 0
        self._tick()

    def _tick(self) -> None:
        self.timer = None
        rate, count, start = self.job.rate, self.job.count, self.report.start
        now = time.monotonic()
        if rate is not None:
            self.due = min(count, int((now - start) * rate) + 1)
            if self.due < count:
                self.timer = reactor.callLater(max(0.0, start + self.due / rate - now), self._tick)
        for esme in self.connections:
            esme.fill(now)

    def check(self) -> None:
        r = self.report
        if self.answered == self.job.count and (
            not self.job.receipts or len(r.receipt_at) + len(r.receipt_bad) >= self.accepted
        ):
            self.stop()

    def stop(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.started = False
        if not self.finished.called:
            self.finished.callback(None)

    def give_up(self) -> None:
        self.report.timed_out = True
        self.stop()


class Esme(Protocol):
    """One bind of the ESME: sends its share of the submits as the window and
    the pace allow, answers deliver_sm (receipts) and enquire_link."""

    def __init__(self, sender: Sender, submits: list[bytes], first: int) -> None:
        self.sender, self.submits = sender, submits
        self.first, self.step = first, sender.job.binds  # submits[k] is message first + k * step
        self.reader = p.PduReader()
        self.bound: Deferred[None] = Deferred()
        self.lost: Deferred[None] = Deferred()
        self.next = self.open = 0

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.setTcpNoDelay(True)  # type: ignore[attr-defined]
        bind = p.BindTransceiver if self.sender.job.receipts else p.BindTransmitter
        self.transport.write(
            p.encode(bind(sequence_number=BIND_SEQ, system_id=SYSTEM_ID, password=PASSWORD))
        )

    def connectionLost(self, reason: Failure | None = None) -> None:
        if not self.bound.called:
            self.bound.errback(ConnectionError("the SMSC closed the SMPP connection"))
        elif not self.sender.finished.called:
            self.sender.report.problems.append("the SMSC closed an SMPP connection")
            self.sender.stop()
        self.lost.callback(None)

    def fill(self, now: float) -> None:
        s, r = self.sender, self.sender.report
        rate, window, step, start = s.job.rate, s.job.window, self.step, self.next
        while self.open < window and self.next < len(self.submits):
            i = self.first + self.next * step
            if i >= s.due:
                break
            r.sent_at[i] = now if rate is None else r.start + i / rate
            self.next += 1
            self.open += 1
        if self.next > start:
            r.max_open = max(r.max_open, self.open)
            assert self.transport is not None
            self.transport.write(b"".join(self.submits[start : self.next]))

    def dataReceived(self, data: bytes) -> None:
        now = time.monotonic()
        s, r, out = self.sender, self.sender.report, []
        for item in self.reader.feed(data):
            if isinstance(item, p.SubmitSmResp):
                i = item.sequence_number - 1
                if not 0 <= i < s.job.count or not r.sent_at[i] or r.resp_at[i]:
                    r.problems.append(f"unexpected {item!r}")
                    continue
                r.resp_at[i], r.status[i], r.message_id[i] = (
                    now,
                    item.command_status,
                    item.message_id,
                )
                self.open -= 1
                s.answered += 1
                s.accepted += item.command_status == p.CommandStatus.ESME_ROK
            elif isinstance(item, p.DeliverSm):
                out.append(p.encode(p.DeliverSmResp(sequence_number=item.sequence_number)))
                self._receipt(item, now)
            elif isinstance(item, p.EnquireLink):
                out.append(p.encode(p.EnquireLinkResp(sequence_number=item.sequence_number)))
            elif isinstance(item, p.BindTransmitterResp | p.BindTransceiverResp):
                if item.command_status != p.CommandStatus.ESME_ROK:
                    status = p.describe_status(item.command_status)
                    self.bound.errback(RuntimeError(f"bind refused: {status}"))
                else:
                    self.bound.callback(None)
            elif not isinstance(item, p.UnbindResp):
                r.problems.append(f"unexpected {item!r}")
        assert self.transport is not None
        if out:
            self.transport.write(b"".join(out))
        if s.started:
            self.fill(now)
            s.check()

    def _receipt(self, deliver: p.DeliverSm, now: float) -> None:
        r = self.sender.report
        receipted = deliver.tlvs.receipted_message_id
        if not p.is_delivery_receipt(deliver.esm_class) or receipted is None:
            r.receipt_bad.append(f"not a receipt: {deliver!r}")
        elif deliver.tlvs.message_state != p.MessageState.DELIVERED:
            r.receipt_bad.append(f"{receipted}: {deliver.short_message!r}")
        elif receipted in r.receipt_at:
            r.receipt_bad.append(f"{receipted}: a second receipt")
        else:
            r.receipt_at[receipted] = now

    def unbind(self) -> None:
        if self.transport is not None:
            self.transport.write(p.encode(p.Unbind(sequence_number=UNBIND_SEQ)))
            self.transport.loseConnection()


class _EsmeFactory(Factory):
    def __init__(self, esme: Esme) -> None:
        self.esme = esme

    def buildProtocol(self, addr: IAddress | None) -> Esme:
        return self.esme


async def run_esme(job: Job) -> EsmeReport:
    """Connect, bind, send the job's submits, unbind; what was seen."""
    sender = Sender(job)
    try:
        for esme in sender.connections:
            await TCP4ClientEndpoint(reactor, HOST, job.port).connect(_EsmeFactory(esme))
            await esme.bound
        cpu = time.process_time()
        timer = reactor.callLater(job.timeout, sender.give_up)
        sender.start()
        await sender.finished
        sender.report.cpu = time.process_time() - cpu
        if timer.active():
            timer.cancel()
    finally:
        for esme in sender.connections:
            esme.unbind()
    for esme in sender.connections:
        if esme.transport is not None:
            await esme.lost
    return sender.report


def esme_child(job_file: Path, report_file: Path) -> None:
    """``--esme-job``: run one job in this process (the ESME's own), write its report."""
    job = Job(**json.loads(job_file.read_text()))

    async def main() -> None:
        report = await run_esme(job)
        report.cpu_total = time.process_time()
        report_file.write_text(json.dumps(asdict(report)))

    task.react(lambda _: ensureDeferred(main()))


class _Child(ProcessProtocol):
    def __init__(self) -> None:
        self.ended: Deferred[int] = Deferred()
        self.stderr = b""

    def errReceived(self, data: bytes) -> None:
        self.stderr = (self.stderr + data)[-8192:]

    def processEnded(self, reason: Failure) -> None:
        code = 0 if isinstance(reason.value, ProcessDone) else getattr(reason.value, "exitCode", 1)
        self.ended.callback(code or 0)


async def run_esme_process(job: Job, workdir: Path, stack: contextlib.ExitStack) -> EsmeReport:
    """The job in a process of its own (this script with ``--esme-job``)."""
    job_file, report_file = workdir / "esme-job.json", workdir / "esme-report.json"
    job_file.write_text(json.dumps(asdict(job)))
    report_file.unlink(missing_ok=True)
    child = _Child()
    argv = [sys.executable, __file__, "--esme-job", str(job_file), str(report_file)]
    transport: IProcessTransport = reactor.spawnProcess(
        child, sys.executable, argv, env=dict(os.environ)
    )
    stack.callback(_kill, transport)
    killer = reactor.callLater(job.timeout + 60, _kill, transport)  # hung before it sent
    code = await child.ended
    if killer.active():
        killer.cancel()
    if code or not report_file.exists():
        raise RuntimeError(f"the ESME process exited with {code}:\n{child.stderr.decode()}")
    return EsmeReport(**json.loads(report_file.read_text()))


def _kill(transport: IProcessTransport) -> None:
    with contextlib.suppress(ProcessExitedAlready, OSError):
        transport.signalProcess("KILL")


# -- the handsets --------------------------------------------------------------------


@dataclass
class Tally:
    """What the handsets received in one run, by message index."""

    job: Job
    delivered_at: list[float]
    got: list[str]  # "handset|originator|text" as received
    delivered: int = 0
    duplicates: int = 0
    strays: list[str] = field(default_factory=list)  # not of this run, or not our text
    done: Deferred[None] = field(default_factory=Deferred)

    @classmethod
    def of(cls, job: Job) -> Tally:
        return cls(job, [0.0] * job.count, [""] * job.count)

    def receive(self, handset: int, tpdu: Tpdu) -> None:
        now = time.monotonic()
        i, body = -1, tpdu.tp_ud.body if isinstance(tpdu, SmsDeliver) else None
        if isinstance(body, str):
            with contextlib.suppress(ValueError):
                i = int(body.rpartition(" ")[2]) - self.job.base
        if not isinstance(tpdu, SmsDeliver) or not 0 <= i < self.job.count:
            self.strays.append(f"handset {handset}: {tpdu!r}")
            return
        if self.delivered_at[i]:
            self.duplicates += 1
            return
        self.delivered_at[i] = now
        self.got[i] = f"{handset}|{tpdu.tp_oa}|{body!s}"
        self.delivered += 1
        if self.delivered == self.job.count and not self.done.called:
            self.done.callback(None)

    def digest(self) -> str:
        return _digest(self.got)

    def expected(self) -> str:
        j = self.job
        return _digest(
            f"{(j.base + i) % j.handsets}|+{SOURCE}|{text_of(j.base + i)}" for i in range(j.count)
        )


def _digest(lines: Iterable[str]) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode() + b"\n")
    return h.hexdigest()[:16]


class Handsets:
    """K LinkClients, attached; what they receive goes to the current tally."""

    def __init__(self) -> None:
        self.clients: list[LinkClient] = []
        self.tally: Tally | None = None
        self.outside: list[str] = []  # received between runs

    async def attach(self, port: int, count: int) -> None:
        for i in range(count):
            client = await connect(reactor, HOST, port, imsi(i), msisdn(i))
            self.clients.append(client)
            client.on_receive.append(self._receiver(i, client))

    def _receiver(self, index: int, client: LinkClient) -> Callable[[Tpdu], None]:
        def receive(tpdu: Tpdu) -> None:
            client.received.clear()  # the client keeps them all otherwise
            if self.tally is None:
                self.outside.append(f"handset {index}, between runs: {tpdu!r}")
            else:
                self.tally.receive(index, tpdu)

        return receive

    def close(self) -> None:
        for client in self.clients:
            client.close()


# -- a run -----------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    job: Job
    esme: EsmeReport
    tally: Tally
    metrics: dict[str, float]
    smsc_cpu: tuple[float, float]  # CPU seconds of the SMSC's main thread, other threads
    bench_cpu: float  # this process (the handsets; and the ESME when inline)
    esme_cpu: float | None  # the ESME's own process
    machine: tuple[float, float]  # wall seconds of the run, CPU seconds busy on the machine
    database_cpu: float  # the PostgreSQL server's processes (0.0 on SQLite)
    timed_out: bool

    def latencies_ms(self) -> list[float]:
        """submit_sm sent (or due) -> handset has it, sorted."""
        e, t = self.esme, self.tally
        done = (i for i in range(self.job.count) if t.delivered_at[i])
        return sorted((t.delivered_at[i] - e.sent_at[i]) * 1000 for i in done)

    def delivering(self) -> float:
        """Seconds from the first submit_sm to the last delivery."""
        return max(self.tally.delivered_at, default=0.0) - self.esme.start

    @property
    def accepted(self) -> int:
        return sum(s == p.CommandStatus.ESME_ROK for s in self.esme.status)

    @property
    def receipts_ok(self) -> bool:
        if not self.job.receipts:
            return True
        ids = {m for m, s in zip(self.esme.message_id, self.esme.status, strict=True) if s == 0}
        return not self.esme.receipt_bad and set(self.esme.receipt_at) == ids

    @property
    def passed(self) -> bool:
        t = self.tally
        return (
            not self.timed_out
            and not self.esme.problems
            and self.accepted == self.job.count
            and t.delivered == self.job.count
            and not t.duplicates
            and not t.strays
            and t.digest() == t.expected()
            and self.receipts_ok
        )


@dataclass
class Context:
    smsc: SmscProcess
    smpp_port: int
    handsets: Handsets
    workdir: Path
    stack: contextlib.ExitStack
    args: argparse.Namespace
    postmaster: Path | None = None  # PostgreSQL's postmaster.pid
    next_number: int = 0

    def database_cpu(self) -> float:
        """CPU seconds of the PostgreSQL server's processes so far (0.0: SQLite)."""
        if self.postmaster is None:
            return 0.0
        from receipt_bench import cpu_seconds  # a heavy import (the phone)

        root = int(self.postmaster.read_text().split()[0])
        pids = [root]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError):
                if int(stat.read_text().rpartition(")")[2].split()[1]) == root:
                    pids.append(int(stat.parent.name))
        return sum(cpu_seconds(pid) for pid in pids)


async def one_run(ctx: Context, name: str, count: int, rate: float | None) -> Result:
    args = ctx.args
    job = Job(
        port=ctx.smpp_port,
        base=ctx.next_number,
        count=count,
        window=args.window,
        rate=rate,
        receipts=args.receipts,
        handsets=args.handsets,
        timeout=args.timeout,
        binds=args.binds,
    )
    ctx.next_number += count
    tally = ctx.handsets.tally = Tally.of(job)
    tally.strays += ctx.handsets.outside
    ctx.handsets.outside.clear()
    before = ctx.smsc.metrics()
    smsc_before, bench_before = ctx.smsc.cpu_seconds(), time.process_time()
    wall, busy, database = time.monotonic(), machine_busy(), ctx.database_cpu()
    if args.esme == "process":
        report = await run_esme_process(job, ctx.workdir, ctx.stack)
    else:
        report = await run_esme(job)
    timed_out = report.timed_out  # then some submits never went: wait for nothing more
    if not timed_out and tally.delivered < tally.job.count:
        left = report.start + args.timeout - time.monotonic()
        try:
            await tally.done.addTimeout(max(1.0, left), reactor)
        except defer.TimeoutError:
            timed_out = True
    smsc_after, bench_cpu = ctx.smsc.cpu_seconds(), time.process_time() - bench_before
    machine = (time.monotonic() - wall, machine_busy() - busy)
    database = ctx.database_cpu() - database
    after = ctx.smsc.metrics()
    await task.deferLater(reactor, args.settle, lambda: None)  # a late duplicate shows here
    ctx.handsets.tally = None
    return Result(
        name=name,
        job=job,
        esme=report,
        tally=tally,
        metrics={key: after[key] - before.get(key, 0.0) for key in after},
        smsc_cpu=(smsc_after[0] - smsc_before[0], smsc_after[1] - smsc_before[1]),
        bench_cpu=bench_cpu,
        machine=machine,
        database_cpu=database,
        esme_cpu=report.cpu if args.esme == "process" else None,
        timed_out=timed_out,
    )


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (not idle or waiting on
    I/O) since boot, all CPUs summed.  Linux /proc; NaN elsewhere."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(x) for x in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _ms(values: list[float]) -> str:
    if not values:
        return "none"
    return (
        f"p50 {percentile(values, 50):7.2f}  p99 {percentile(values, 99):7.2f}"
        f"  max {values[-1]:7.2f}"
    )


def _fifths(times: list[float], start: float, seconds: float) -> list[float]:
    """Events per second in each fifth of ``seconds`` from ``start`` (0.0: none)."""
    counts = [0] * 5
    for at in times:
        if at and seconds > 0:
            counts[min(4, int((at - start) / seconds * 5))] += 1
    return [c * 5 / seconds if seconds > 0 else 0.0 for c in counts]


def report(r: Result) -> None:
    e, t, n, start = r.esme, r.tally, r.job.count, r.esme.start
    answered = [i for i in range(n) if e.resp_at[i]]
    resp_end = max((e.resp_at[i] for i in answered), default=start)
    resp_latencies = sorted((e.resp_at[i] - e.sent_at[i]) * 1000 for i in answered)
    print(f"  {r.name}:")
    if r.timed_out:
        print(f"    TIMED OUT after {r.job.timeout:.0f} s")
    for problem in [*e.problems, *t.strays, *e.receipt_bad][:5]:
        print(f"    PROBLEM: {problem}")
    refused = len(answered) - r.accepted
    print(
        f"    submit_sm answered ESME_ROK:  {r.accepted:8,d} of {n:,d}"
        + (f"  ({refused:,d} refused)" if refused else "")
    )
    digest = "digest matches" if t.digest() == t.expected() else "DIGEST DIFFERS"
    print(
        f"    delivered to the handsets:   {t.delivered:8,d} of {n:,d}, {t.duplicates} twice,"
        f" {len(t.strays)} strays; {digest}"
    )
    resp_s, deliver_s = resp_end - start, max(0.0, r.delivering())
    print(
        f"    submit_sm/s accepted:        {r.accepted / resp_s if resp_s else 0:8,.0f}"
        f"  ({resp_s:.2f} s)"
    )
    print(
        f"    end-to-end delivered/s:      {t.delivered / deliver_s if deliver_s else 0:8,.0f}"
        f"  ({deliver_s:.2f} s)"
    )
    fifths = _fifths(t.delivered_at, start, deliver_s)
    print(f"    delivered/s by fifth of it:  {' / '.join(f'{x:,.0f}' for x in fifths)}")
    print(f"    submit_sm -> handset ms:     {_ms(r.latencies_ms())}")
    print(f"    submit_sm -> _resp ms:       {_ms(resp_latencies)}")
    if r.job.receipts:
        sent = {e.message_id[i]: e.sent_at[i] for i in answered}
        receipt_lat = sorted((at - sent[m]) * 1000 for m, at in e.receipt_at.items() if m in sent)
        print(
            f"    receipts DELIVRD:            {len(e.receipt_at):8,d} of {r.accepted:,d};"
            f" submit_sm -> receipt ms: {_ms(receipt_lat)}"
        )
    m = r.metrics
    batches, ops = m.get("db_batches_total", 0.0), m.get("db_operations_total", 0.0)
    print(
        f"    SMSC: {batches:,.0f} commits, {ops / batches if batches else 0:.1f} operations"
        f" per commit; largest window used {e.max_open}"
    )
    per = 1e6 / t.delivered if t.delivered else float("nan")
    main, other = r.smsc_cpu
    esme = "" if r.esme_cpu is None else f"; ESME process {r.esme_cpu:.2f} s"
    who = "handsets" if r.esme_cpu is not None else "handsets + ESME"
    print(
        f"    CPU s: SMSC reactor thread {main:.2f}, its other threads (DB writer) {other:.2f};"
        f" bench ({who}) {r.bench_cpu:.2f}{esme}"
    )
    seconds, busy = r.machine
    ours = main + other + r.bench_cpu + (r.esme.cpu_total if r.esme_cpu is not None else 0.0)
    ours += r.database_cpu
    if r.database_cpu:
        print(f"    PostgreSQL server processes: {r.database_cpu:.2f} CPU s")
    print(
        f"    machine: {busy:.2f} CPU s busy of {seconds * (os.cpu_count() or 1):.2f} in"
        f" {seconds:.2f} s; other processes than the bench's {max(0.0, busy - ours):.2f}"
    )
    if busy - ours > 0.1 * seconds:
        print("    WARNING: other work (py-spy too) ran on the machine; these figures are low")
    esme_us = "" if r.esme_cpu is None else f", ESME {r.esme_cpu * per:.0f}"
    print(
        f"    CPU us/message: SMSC reactor {main * per:.0f}, DB writer {other * per:.0f},"
        f" bench {r.bench_cpu * per:.0f}{esme_us}"
    )
    print(
        f"    {'PASSED' if r.passed else 'FAILED'}: every message once, with its text", flush=True
    )


# -- the SMSC ----------------------------------------------------------------------------


@contextlib.contextmanager
def profiling(directory: str | None, pid: int, name: str) -> Iterator[None]:
    """py-spy records process ``pid`` into ``directory/name`` meanwhile (if
    ``directory``)."""
    profiler = start_py_spy(pid, Path(directory) / name) if directory else None
    try:
        yield
    finally:
        if profiler is not None:
            stop_py_spy(profiler)


async def bench_database(
    db: str, args: argparse.Namespace, outer: contextlib.ExitStack
) -> list[tuple[str, Result]]:
    stack = outer.enter_context(contextlib.ExitStack())  # closed here, or by ``outer``
    try:
        workdir = Path(tempfile.mkdtemp(prefix="smpp-bench-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        url: str | None = None
        postmaster: Path | None = None
        if db == "postgres":
            from tests.pg import TemporaryPostgres

            pg = TemporaryPostgres()
            url = stack.enter_context(pg)
            postmaster = pg.datadir / "postmaster.pid"
        smsc = stack.enter_context(run_smsc(workdir, url))
        ctx = Context(smsc, smsc.smpp_port, Handsets(), workdir, stack, args, postmaster)
        stack.callback(ctx.handsets.close)
        await ctx.handsets.attach(smsc.link_port, args.handsets)
        print(
            f"{db}: SMSC pid {smsc.proc.pid}, SMPP {HOST}:{ctx.smpp_port},"
            f" radio link {HOST}:{smsc.link_port}; ESME {args.esme}",
            flush=True,
        )
        results: list[tuple[str, Result]] = []
        if args.warmup:
            warm = await one_run(ctx, "warm-up", min(args.warmup, args.count), None)
            if not warm.passed:
                report(warm)
                return [("warm-up", warm)]
        runs: list[tuple[str, str, float | None]] = [
            ("full", f"full load, {args.binds} bind(s), window {args.window}", None),
            ("paced", f"paced at {args.rate:,.0f} submits/s (latency from when due)", args.rate),
        ]
        for tag, name, rate in (run for run in runs if run[0] in args.runs):
            with profiling(args.profile, smsc.proc.pid, f"smsc-{db}-{tag}.txt"):
                result = await one_run(ctx, name, args.count, rate)
            report(result)
            results.append((tag, result))
            if result.timed_out:
                print("    (later runs skipped: messages of this one may still be in flight)")
                break
        return results
    finally:
        stack.close()


def run_reactor(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the reactor until ``main`` is done; KeyboardInterrupt if a signal
    (SIGINT, SIGTERM) began to stop it first."""
    outcome: list[T | Failure] = []
    interrupted: list[bool] = []

    def finish(value: T | Failure) -> None:
        outcome.append(value)
        with contextlib.suppress(ReactorNotRunning):
            reactor.stop()

    def shutting_down() -> None:
        if not outcome:
            interrupted.append(True)

    reactor.addSystemEventTrigger("before", "shutdown", shutting_down)
    reactor.callWhenRunning(lambda: ensureDeferred(main()).addBoth(finish))
    reactor.run()
    if interrupted or not outcome:
        raise KeyboardInterrupt
    result = outcome[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result


#: The numeric options: name, type, default, meaning, lowest value.
NUMBERS: list[tuple[str, type, float, str, float]] = [
    ("count", int, 20000, "submit_sm per run", 1),
    ("window", int, SMSC_WINDOW, "outstanding submits per bind, at most the SMSC's", 1),
    ("binds", int, 1, "ESME connections, each with its window", 1),
    ("handsets", int, 20, "K handsets, the submits round-robin to them", 1),
    ("rate", float, 1000.0, "submits/s offered in the paced run", 1e-3),
    ("timeout", float, 120.0, "seconds a run may take at most", 1e-3),
    ("warmup", int, 2000, "submits sent before measuring (0: none)", 0),
    ("settle", float, 1.0, "seconds after a run, for a late duplicate to show", 0),
]


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    for name, kind, default, meaning, _ in NUMBERS:
        ap.add_argument(f"--{name}", type=kind, default=default, help=f"{meaning} ({default:g})")
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    ap.add_argument("--receipts", action="store_true", help="ask for and await every receipt")
    ap.add_argument(
        "--esme",
        choices=["process", "inline"],
        default="process",
        help="the ESME in a process of its own, or in this one with the handsets (process)",
    )
    ap.add_argument("--runs", default="full,paced", help="which runs, comma-separated (full,paced)")
    ap.add_argument("--profile", metavar="DIR", help="py-spy record the SMSC in each run")
    ap.add_argument("--esme-job", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    for name, _, _, meaning, lowest in NUMBERS:
        if getattr(args, name) < lowest:
            ap.error(f"--{name} ({meaning}) must be at least {lowest:g}")
    if args.window > SMSC_WINDOW:
        ap.error(f"--window: the SMSC answers ESME_RTHROTTLED past its window of {SMSC_WINDOW}")
    args.runs = args.runs.split(",")
    return args


def main() -> int:
    args = parse_args()
    if args.esme_job:
        esme_child(*args.esme_job)
        return 0
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    # Until the reactor runs (it handles SIGTERM itself), a SIGTERM unwinds like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(
        f"{args.handsets} handsets, {args.count:,d} single-part GSM 7-bit submit_sm per run,"
        f" {args.binds} bind(s) with a window of {args.window},"
        f" receipts {'on' if args.receipts else 'off'};"
        f" {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        flush=True,
    )

    async def everything(stack: contextlib.ExitStack) -> list[tuple[str, str, Result]]:
        summary: list[tuple[str, str, Result]] = []
        for db in dbs:
            summary += [(db, tag, r) for tag, r in await bench_database(db, args, stack)]
        return summary

    with contextlib.ExitStack() as stack:
        try:
            summary = run_reactor(lambda: everything(stack))
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
    print("summary (target: >= 5,000 submits/s end to end):")
    for db, tag, r in summary:
        seconds, lat = r.delivering(), r.latencies_ms()
        rate = r.tally.delivered / seconds if seconds > 0 else 0.0
        print(
            f"  {db:8s} {tag:7s} {rate:8,.0f} delivered/s end to end,"
            f" latency p50 {percentile(lat, 50):8.2f} ms, p99 {percentile(lat, 99):8.2f} ms"
            + ("" if r.passed else "  FAILED")
        )
    return 0 if summary and all(r.passed for _, _, r in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
