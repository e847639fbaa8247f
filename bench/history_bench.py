"""Multi-device history search (docs/history-query.md): the latency of a search as its user
sees it, for local hits, server hits and relayed hits.

The IP server (``smsemu ip-server run``) runs as a process of its own, with
its default history window (the newest 1,000 messages of an account, none
older than 30 days) or the one given by ``--history-count`` and
``--history-days``.  A phone and a companion "desktop" of the same account are
registered with ``smsemu ip-server register`` while it runs.  This process runs
both devices (``HandsetService``: the IP session and the push channel, no
SMSC), each on its own SQLite store and database thread.

The phone's store gets ``--messages`` messages (100,000) through
``Repository.import_history``: 200 peers, both directions, times spread over
the year up to now.  The newest that fit the server's window are marked as
owed to it, and the phone copies them up itself when it logs in (its own
``history_put`` path).  Words of three frequencies (one message in 100, in
1,000, in 10,000) occur only in the messages older than the window; eight
common words occur everywhere.

Then, one search at a time (``Phone.search``, end to end):

* local hits: the phone searches its own store for the rare words;
* a peer baseline, in the same run: the same searches as one raw ``sqlite3``
  LIKE query each on the same database file, the floor a SQLite-backed
  messenger could reach;
* server hits: the desktop (whose store is empty) searches a conversation
  since the oldest message of the window, which the window covers (it holds
  the texts sealed, so it answers time and conversation ranges, not words);
* relayed hits: the desktop searches for the rare words: the server misses,
  relays the query to the phone, which searches its store and seals what it
  found to the desktop's key; the desktop fetches, opens and acknowledges it.

Every search is checked to have found something, where it should have.

The local hits and the raw query run in turns, ``--rounds`` times (3), and
their p50 ratio is printed as min / median / max over the rounds, with the
load average.

Run: ``python bench/history_bench.py [--messages N] [--queries Q] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from receipt_bench import Server, cpu_seconds, percentile, serve
from runstats import load_average, spread
from runstats import runs as runs_of
from sqlalchemy import update
from twisted.internet import reactor, task
from twisted.internet.defer import ensureDeferred, gatherResults
from twisted.python.failure import Failure

from handset.history import LOCAL, SERVER, SearchResult
from handset.models import Direction, Message
from handset.phone import Phone
from handset.service import Credentials, HandsetService
from handset.store import HandsetStore, HistoryItem, sqlite_url
from ipwire import wire
from receipt_server.store import Retention

MSISDN = "+15557770001"
DESKTOP = "desktop"
PEERS = [f"+1555888{k:04d}" for k in range(200)]
OPENERS = ("see you at the", "about the", "did you get the", "running late for the",
           "thanks for the", "what about the", "can't make the", "remember the")  # fmt: skip
#: In every message, one each: what the server's window is searched for.
COMMON = ("lunch", "meeting", "train", "tickets", "dinner", "concert", "weekend", "photos")
TAILS = ("tomorrow", "tonight", "on Friday", "next week", "at 7", "later?", "ok", "!")
#: Only in messages older than the window, one in every N of them: what the
#: phone alone holds.  The search stops at its limit: the rarer the word, the
#: more of the store it reads.
RARE = (("passport", 100), ("lighthouse", 1_000), ("zeppelin", 10_000))
#: The baseline: what ``Repository.search`` asks, as plain SQL.
PEER_SQL = (
    "SELECT uid, peer, direction, text, created_at FROM handset_message"
    " WHERE owner = ? AND text LIKE ? ORDER BY created_at DESC, id DESC LIMIT ?"
)


@dataclass
class Workload:
    items: list[HistoryItem]  # oldest first
    window: list[str]  # uids of the copies the server's window gets
    rare: dict[str, int]  # word -> messages holding it (all older than the window)
    common: dict[str, int]  # word -> messages of the window holding it
    since: datetime  # the oldest message of the window
    peers: list[str]  # the peers of the window's messages


def workload(count: int, retention: Retention, seed: int) -> Workload:
    """``count`` messages over the year up to now; the newest that fit the
    server's window (with a margin of age, so none ages out during the run)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    step = timedelta(days=365) / count
    newest_kept = now - retention.max_age + min(timedelta(days=1), retention.max_age / 10)
    times = [now - step * (count - i) + step * rng.random() * 0.5 for i in range(count)]
    newest = range(max(0, count - retention.max_count), count)
    in_window = {i for i in newest if times[i] >= newest_kept}
    rare = dict.fromkeys((w for w, _ in RARE), 0)
    common = dict.fromkeys(COMMON, 0)
    items: list[HistoryItem] = []
    old = 0
    for i, at in enumerate(times):
        word = rng.choice(COMMON)
        text = f"{rng.choice(OPENERS)} {word} {rng.choice(TAILS)}"
        if i in in_window:
            common[word] += 1
        else:
            for k, (rare_word, every) in enumerate(RARE):
                if old % every == every // 2 + k:
                    text += f" {rare_word}"
                    rare[rare_word] += 1
            old += 1
        if rng.random() < 0.3:
            text = text.capitalize()
        direction = Direction.OUT if rng.random() < 0.5 else Direction.IN
        uid = f"{rng.getrandbits(128):032x}"
        items.append(HistoryItem(uid, rng.choice(PEERS), direction, f"{text} #{i}", at))
    window = [items[i].uid for i in sorted(in_window)]
    since = min((items[i].at for i in in_window), default=now)
    peers = sorted({items[i].peer for i in in_window})
    return Workload(items, window, {w: n for w, n in rare.items() if n}, common, since, peers)


# -- the setup ---------------------------------------------------------------------------


def register(data_dir: Path, kind: str, out: Path) -> Credentials:
    """``smsemu ip-server register`` on the running server's database."""
    cmd = [sys.executable, "-m", "smsemu", "ip-server", "register", "--data-dir", str(data_dir),
           "--msisdn", MSISDN, "--kind", kind, "--out", str(out)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"registering the {kind} failed ({done.returncode}):\n{done.stderr}")
    credentials = Credentials.load(out)
    if credentials is None or credentials.key is None:
        raise RuntimeError(f"no credentials with a device key in {out}")
    return credentials


def fill_phone(directory: Path, load: Workload) -> float:
    """Import the history into the phone's store; mark the window's copies as
    owed to the server.  Seconds the import took."""
    directory.mkdir(parents=True, exist_ok=True)
    store = HandsetStore.open(sqlite_url(directory / "handset.sqlite3"), MSISDN, threaded=False)
    try:
        started = time.perf_counter()
        imported = store.repo.import_history(load.items)
        seconds = time.perf_counter() - started
        if imported != len(load.items):
            raise RuntimeError(f"imported {imported} of {len(load.items)} messages")
        with store.engine.begin() as connection:
            for at in range(0, len(load.window), 500):
                chunk = load.window[at : at + 500]
                connection.execute(
                    update(Message)
                    .where(Message.owner == MSISDN, Message.uid.in_(chunk))
                    .values(history_pending=True)
                )
        return seconds
    finally:
        store.close()


def server_copies(data_dir: Path) -> int:
    """The copies the IP server holds for the account (its SQLite file, read-only)."""
    with contextlib.closing(
        sqlite3.connect(f"file:{data_dir / 'receipt_server.sqlite3'}?mode=ro", uri=True)
    ) as db:
        return int(db.execute("SELECT count(*) FROM rs_history WHERE account = ?",
                              (MSISDN,)).fetchone()[0])  # fmt: skip


def window_held_since(data_dir: Path, since: datetime) -> None:
    """Make the server's window hold the account since ``since``, as if it had
    run that long: the phone copied its window in one go at login, so the
    server took the account's first copy only now and would vouch for
    nothing older (docs/history-query.md §Window)."""
    with contextlib.closing(sqlite3.connect(data_dir / "receipt_server.sqlite3")) as db, db:
        floor = since.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
        db.execute("UPDATE rs_history_window SET floor_at = ? WHERE account = ?", (floor, MSISDN))


async def pause(seconds: float) -> None:
    await task.deferLater(reactor, seconds, lambda: None)


# -- the measurements --------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    latencies_ms: list[float]
    found: list[int]  # results of each query
    seconds: float
    server_cpu: float
    bench_cpu: float

    def row(self) -> str:
        lat = self.latencies_ms
        found = sum(self.found) / len(self.found)
        rate = len(lat) / self.seconds if self.seconds else 0.0
        return (
            f"  {self.name:<16} {len(lat):>7,} {percentile(lat, 50):>8.2f} "
            f"{percentile(lat, 99):>8.2f} {max(lat):>8.2f} {rate:>9,.0f} {found:>8.1f}"
            f" {self.server_cpu:>10.2f} {self.bench_cpu:>9.2f}"
        )


def merged(phases: list[Phase]) -> Phase:
    """The rounds of one phase as one."""
    return Phase(phases[0].name, [ms for p in phases for ms in p.latencies_ms],
                 [n for p in phases for n in p.found], sum(p.seconds for p in phases),
                 sum(p.server_cpu for p in phases), sum(p.bench_cpu for p in phases))  # fmt: skip


async def measure(
    name: str, words: list[str], search: Callable[[str], Awaitable[int]], server: Server
) -> Phase:
    """``search`` each word in turn, one at a time; it returns how many it found."""
    latencies: list[float] = []
    found: list[int] = []
    cpu, bench_cpu = cpu_seconds(server.proc.pid), time.process_time()
    started = time.perf_counter()
    for word in words:
        t0 = time.perf_counter()
        found.append(await search(word))
        latencies.append((time.perf_counter() - t0) * 1000)
        await pause(0)  # a turn of the reactor between two searches, even of the baseline
    seconds = time.perf_counter() - started
    return Phase(name, latencies, found, seconds, cpu_seconds(server.proc.pid) - cpu,
                 time.process_time() - bench_cpu)  # fmt: skip


def checked(result: SearchResult, source: str, status: str, word: str) -> int:
    if (result.source, result.status) != (source, status) or not result.items:
        raise AssertionError(
            f"searching {word!r}: {result.status} from {result.source} with "
            f"{len(result.items)} results, expected {status} from {source}"
        )
    if any(word not in f.item.text.lower() for f in result.items):
        raise AssertionError(f"searching {word!r}: a result without it")
    return len(result.items)


def by_word(phase: Phase, words: list[str]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for word, ms in zip(words, phase.latencies_ms, strict=True):
        out.setdefault(word, []).append(ms)
    return out


async def bench(args: argparse.Namespace, work: Path, server: Server, load: Workload) -> None:
    dirs = {"phone": work / "phone", "companion": work / DESKTOP}
    credentials = {
        kind: register(work / "ip", kind, directory / "ip-credentials.json")
        for kind, directory in dirs.items()
    }
    print("registered the phone and the desktop with `smsemu ip-server register` while it ran")
    address = ("127.0.0.1", server.port)
    services = [
        HandsetService(MSISDN, dirs["phone"], smsc=None, ip_server=address,
                       credentials=credentials["phone"]),
        HandsetService(MSISDN, dirs["companion"], smsc=None, ip_server=address,
                       credentials=credentials["companion"], companion=DESKTOP),
    ]  # fmt: skip
    try:
        t0 = time.perf_counter()
        for service in services:
            service.startService()
        phone, desktop = await gatherResults([s.ready for s in services])
        assert isinstance(phone, Phone) and isinstance(desktop, Phone)
        for _ in range(1200):  # the phone copies the window up once logged in
            if not await phone.store.call(phone.store.repo.history_pending):
                break
            await pause(0.05)
        held = server_copies(work / "ip")
        print(
            f"both logged in; the phone copied {len(load.window):,} messages up to the "
            f"server's window in {time.perf_counter() - t0:.2f} s (the server holds {held:,})"
        )
        if held != len(load.window):
            raise AssertionError(f"the server holds {held} copies, not {len(load.window)}")
        window_held_since(work / "ip", load.since - timedelta(seconds=1))
        await run_phases(args, server, load, phone, desktop, dirs["phone"] / "handset.sqlite3",
                         credentials["phone"].device_id)  # fmt: skip
    finally:
        for service in services:
            if service.running:
                await service.stopService()


async def run_phases(
    args: argparse.Namespace,
    server: Server,
    load: Workload,
    phone: Phone,
    desktop: Phone,
    db_path: Path,
    phone_device: str,
) -> None:
    rare = [w for w, _ in RARE if w in load.rare]
    local_words = [rare[i % len(rare)] for i in range(args.queries)]
    server_peers = [load.peers[i % len(load.peers)] for i in range(args.queries)]
    limit = args.limit
    print(
        "searched for, one at a time: "
        + ", ".join(f"{w!r} (in {load.rare[w]:,} old messages)" for w in rare)
        + f" on the phone and relayed; the conversations of {len(load.peers)} peers since"
        " the window's oldest message on the server; "
        f"limit {limit}, {args.warmup} warm-up searches first"
    )

    async def local(word: str) -> int:
        return checked(await phone.search(word, limit=limit), LOCAL, "found", word)

    async def on_server(peer: str) -> int:
        result = await desktop.search(peer=peer, since=load.since, limit=limit)
        if (result.source, result.status) != (SERVER, "found") or not result.items:
            raise AssertionError(f"the conversation with {peer}: {result.status} from "
                                 f"{result.source}, expected found on the server")  # fmt: skip
        if any(f.item.peer != peer for f in result.items):
            raise AssertionError(f"the conversation with {peer}: a result of another peer")
        return len(result.items)

    async def relayed(word: str) -> int:
        result = await desktop.search(word, limit=limit)
        count = checked(result, "devices", "complete", word)
        if any(f.sources != (phone_device,) for f in result.items):
            raise AssertionError(f"searching {word!r}: results not from the phone")
        return count

    peer = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    plan = peer.execute("EXPLAIN QUERY PLAN " + PEER_SQL, (MSISDN, "%x%", limit)).fetchall()

    async def baseline(word: str) -> int:
        rows = peer.execute(PEER_SQL, (MSISDN, f"%{word}%", limit)).fetchall()
        if not rows:
            raise AssertionError(f"the raw query found no {word!r}")
        return len(rows)

    try:
        # Ours and the raw query in turns, round after round: the same load on both.
        await measure("warm-up", local_words[: args.warmup], local, server)
        await measure("warm-up", local_words[: args.warmup], baseline, server)
        rounds: list[tuple[Phase, Phase, float]] = []
        for _ in range(runs_of(args.rounds)):
            busy = os.getloadavg()[0]
            mine = await measure("local hits", local_words, local, server)
            rounds.append((mine, await measure("peer: sqlite3", local_words, baseline, server),
                           busy))  # fmt: skip
        phases = [merged([r[0] for r in rounds]), merged([r[1] for r in rounds])]
        for name, words, search in (
            ("server hits", server_peers, on_server),
            ("relayed hits", local_words, relayed),
        ):
            await measure("warm-up", words[: args.warmup], search, server)
            phases.append(await measure(name, words, search, server))
    finally:
        peer.close()
    ours, raw, _, relay = phases
    print(
        f"  {'phase':<16} {'queries':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'queries/s':>9} {'found':>8} {'server CPU':>10} {'bench CPU':>9}"
    )
    for phase in phases:
        print(phase.row())
    ratios = [percentile(a.latencies_ms, 50) / percentile(b.latencies_ms, 50) for a, b, _ in rounds]
    print(
        f"local hits against the raw sqlite3 query, p50, min/median/max of {len(rounds)} "
        f"rounds: {spread(ratios, '{:.2f}x', '/')} (all rounds together: p50 "
        f"{percentile(ours.latencies_ms, 50) / percentile(raw.latencies_ms, 50):.2f}x, p99 "
        f"{percentile(ours.latencies_ms, 99) / percentile(raw.latencies_ms, 99):.2f}x); "
        f"1-minute load average {spread([r[2] for r in rounds], '{:.2f}', '/')}"
    )
    print(f"  the raw query's plan: {'; '.join(str(row[-1]) for row in plan)}")
    if ours.found != raw.found or relay.found != ours.found[: len(relay.found)]:
        print("  NOTE: the phases found different counts for the same words")
    columns = {p.name: by_word(p, local_words * args.rounds) for p in (ours, raw)}
    columns[relay.name] = by_word(relay, local_words)
    for word in rare:
        print(
            f"  {word!r:<13} found {ours.found[local_words.index(word)]:>3}: p50 "
            + ", ".join(f"{name} {percentile(c[word], 50):.2f} ms" for name, c in columns.items())
        )
    print(
        f"IP server CPU during the relayed phase: {relay.server_cpu:.2f} s "
        f"({relay.server_cpu / len(relay.latencies_ms) * 1000:.2f} ms a query); "
        f"{load_average()}"
    )


# -- the command -------------------------------------------------------------------------


def run_reactor(args: argparse.Namespace, work: Path, server: Server, load: Workload) -> int:
    """Run ``bench`` under the reactor; its exit code (130 if interrupted)."""
    outcome: list[object] = []

    def start() -> None:
        d = ensureDeferred(bench(args, work, server, load))
        d.addBoth(outcome.append)
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run()
    if not outcome:
        return 130
    if isinstance(outcome[0], Failure):
        print(outcome[0].getTraceback(), file=sys.stderr)
        return 1
    return 0


def main() -> int:
    default = Retention()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--messages", type=int, default=100_000, help="on the phone (100000)")
    ap.add_argument("--queries", type=int, default=200, help="searches per phase (200)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed searches first (10)")
    ap.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of local and raw searches, in turns (3, the fewest)",
    )
    ap.add_argument("--limit", type=int, default=50, help="results a search asks for (50)")
    ap.add_argument(
        "--history-count",
        type=int,
        default=default.max_count,
        help=f"the server's window: messages per account ({default.max_count})",
    )
    ap.add_argument(
        "--history-days",
        type=float,
        default=default.max_age / timedelta(days=1),
        help=f"the server's window: days ({default.max_age / timedelta(days=1):g})",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", metavar="DIR", type=Path, help="work in DIR (new) and leave it")
    args = ap.parse_args()
    if args.messages < 1 or args.queries < 1 or args.warmup < 0 or args.rounds < 1:
        ap.error("--messages and --queries must be positive")
    if not 1 <= args.limit <= wire.MAX_LIMIT:
        ap.error(f"--limit must be 1 to {wire.MAX_LIMIT}, what a query may ask for")
    retention = Retention(timedelta(days=args.history_days), args.history_count)
    if not retention.keeps:
        ap.error("the server's window must keep something: no server hits otherwise")
    # A SIGTERM before the reactor runs unwinds like Ctrl-C (the reactor has its own).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wall = time.perf_counter()
    print(
        f"{args.messages:,} messages on the phone; the server's window: "
        f"{retention.max_count:,} messages, {args.history_days:g} days; "
        f"{args.queries} searches per phase; {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}",
        flush=True,
    )
    t0 = time.perf_counter()
    load = workload(args.messages, retention, args.seed)
    if not load.window or not load.rare:
        ap.error("too few messages for both a server window and older ones")
    print(f"made {len(load.items):,} messages in {time.perf_counter() - t0:.1f} s", flush=True)
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        ap.error(f"--keep {args.keep}: not empty")
    work = args.keep or Path(tempfile.mkdtemp(prefix="history-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        ip_args = ["ip-server", "run", "--data-dir", str(work / "ip"), "--listen",
                   "127.0.0.1:0", "--rate", "100000", "--burst", "100000",
                   "--history-count", str(args.history_count),
                   "--history-days", str(args.history_days)]  # fmt: skip
        # ``serve`` stops the server with SIGINT, which it would ignore when
        # started from a process that ignores it (a job put in the background
        # by a script): it gets SIGINT's default instead.
        ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        if ignored:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        with serve(ip_args, r"ip server: on \S+:(\d+)", work / "ip.log") as server:
            if ignored:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            print(f"IP server: pid {server.proc.pid} on 127.0.0.1:{server.port}", flush=True)
            seconds = fill_phone(work / "phone", load)
            size = (work / "phone" / "handset.sqlite3").stat().st_size / 2**20
            print(
                f"imported {len(load.items):,} messages into the phone's store in "
                f"{seconds:.2f} s ({len(load.items) / seconds:,.0f} messages/s; {size:.1f} MiB)",
                flush=True,
            )
            code = run_reactor(args, work, server, load)
        print(f"wall time {time.perf_counter() - wall:.1f} s")
        return code
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
