"""What SIM authentication costs the radio link: attaches per second with
MILENAGE (UMTS AKA, docs/radio-link.md) against the open mode, one run.

Two SMSCs run as processes of their own (``python -m smsemu smsc``), each on a
fresh SQLite data directory: one as shipped (every ATTACH authenticated), one
with ``--open-attach``.  The authenticated one is given K subscriptions through
``POST /subscribers``.  This process plays K handsets over TCP on 127.0.0.1
(non-blocking sockets under one ``selectors`` loop, the sans-I/O ``MsLink``
for the frames and the SIM's answer): each attaches, detaches at once and
attaches again on the same connection, N times.  An authenticated attach is
ATTACH -> AUTH-REQUEST -> AUTH-RESPONSE -> ATTACH-ACCEPT, and for the SMSC a
subscription read on its database thread, a challenge and an SQN write; an
open one is ATTACH -> ATTACH-ACCEPT.  Both SMSCs record each attach
(``subscriber`` table).  The two modes run in turns, ``--rounds`` times (at
least 3); min / median / max of each, the ratio of the medians and the
machine's load average are printed.

``--storm K`` measures an accept storm instead: K handsets connect at once
(non-blocking connects, all issued before any completes) and each attaches
once, authenticated, its ATTACH sent as soon as its connect completes; the
rate is K over the time from the first connect to the last ATTACH-ACCEPT.
Two SMSCs, alike but for the radio link's listen backlog: Twisted's default
of 50 (``--link ...:backlog=50``, the SMSC before issue 20) and the SMSC's own
(``[limits] backlog``, 4,096); printed with the kernel's listen overflows
(``TcpExtListenOverflows``, machine-wide) and refused connects in each round.
``--baseline CHECKOUT`` adds a third SMSC in the same rounds: that source tree's
(e.g. ``git archive main | tar -x -C /tmp/base``), run with this venv, with its
default backlog; the ratio of the medians, this / baseline, is printed.

Run: ``python bench/attach_bench.py [--handsets 20] [--attaches 100] [--rounds 3]``
or ``python bench/attach_bench.py --storm 1000 [--baseline CHECKOUT]``
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import resource
import selectors
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from runstats import load_average, runs, spread
from smsc_bench import HOST, SmscProcess, imsi, msisdn, run_smsc

from radiolink.auth import Keys, keys_from_hex
from radiolink.ms import Attached, Challenged, LinkFailure, MsLink, Rejected


class Handset:
    def __init__(
        self, port: int, index: int, keys: Keys | None, attaches: int, *, wait: bool = True
    ) -> None:
        """Connected to ``port`` when this returns, or (not ``wait``) connecting."""
        self.ms = MsLink(imsi(index), msisdn(index), keys)
        if wait:
            self.sock = socket.create_connection((HOST, port))
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setblocking(False)
            code = self.sock.connect_ex((HOST, port))
            if code not in (0, errno.EINPROGRESS):
                raise ConnectionError(f"{self.ms.msisdn}: connect: {errno.errorcode[code]}")
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.left = attaches

    def start(self) -> None:
        self.sock.sendall(self.ms.attach())

    def readable(self) -> bool:
        """Handle what arrived; False once its attaches are done."""
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError(f"{self.ms.msisdn}: the SMSC hung up")
        for event in self.ms.receive(data):
            if isinstance(event, Challenged):
                self.sock.sendall(event.reply)
            elif isinstance(event, Attached):
                self.left -= 1
                if self.left == 0:
                    return False
                self.sock.sendall(self.ms.detach() + self.ms.attach())
            elif isinstance(event, Rejected | LinkFailure):
                raise RuntimeError(f"{self.ms.msisdn}: {event}")
        return True


def provision(smsc: SmscProcess, count: int, data_dir: Path) -> list[Keys]:
    """``count`` SIMs in the SMSC's subscriptions, through ``POST /subscribers``
    with the token it wrote into ``data_dir``."""
    token = (data_dir / "api-token").read_text().strip()
    keys = []
    for i in range(count):
        k = keys_from_hex(None)
        body = {"imsi": imsi(i), "msisdn": msisdn(i), "k": k.k.hex(), "opc": k.opc.hex()}
        request = urllib.request.Request(
            f"http://{HOST}:{smsc.admin_port}/subscribers",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=30):
            keys.append(k)
    return keys


def measure(port: int, keys: list[Keys | None], attaches: int) -> float:
    """Attaches per second of ``len(keys)`` handsets, ``attaches`` each."""
    handsets = [Handset(port, i, k, attaches) for i, k in enumerate(keys)]
    with selectors.DefaultSelector() as sel:
        for h in handsets:
            sel.register(h.sock, selectors.EVENT_READ, h)
        t0 = time.perf_counter()
        for h in handsets:
            h.start()
        busy = len(handsets)
        while busy:
            for key, _ in sel.select(timeout=60):
                h = key.data
                if not h.readable():
                    sel.unregister(h.sock)
                    busy -= 1
        elapsed = time.perf_counter() - t0
    for h in handsets:
        h.sock.close()
    return len(handsets) * attaches / elapsed


def listen_overflows() -> int:
    """The kernel's count of connections dropped at a full accept queue
    (``TcpExtListenOverflows``: this network namespace, every listener)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=True))
            return int(table.get("ListenOverflows", 0))
    return 0


def storm(port: int, keys: list[Keys | None]) -> tuple[float, int, int]:
    """Attaches per second of ``len(keys)`` handsets connecting at once, each
    attaching once; how many connects were refused, and how many links the
    SMSC closed before their attach."""
    t0 = time.perf_counter()
    handsets = [Handset(port, i, k, 1, wait=False) for i, k in enumerate(keys)]
    refused = lost = 0
    with selectors.DefaultSelector() as sel:
        for h in handsets:
            sel.register(h.sock, selectors.EVENT_WRITE, h)
        busy = len(handsets)
        while busy:
            for key, events in sel.select(timeout=120):
                h = key.data
                if events & selectors.EVENT_WRITE:  # the connect is done, or failed
                    if h.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        refused += 1
                        sel.unregister(h.sock)
                        busy -= 1
                        continue
                    sel.modify(h.sock, selectors.EVENT_READ, h)
                    h.start()
                    continue
                try:
                    more = h.readable()
                except ConnectionError:
                    lost, more = lost + 1, False
                if not more:
                    sel.unregister(h.sock)
                    busy -= 1
    elapsed = time.perf_counter() - t0
    for h in handsets:
        h.sock.close()
    return (len(handsets) - refused - lost) / elapsed, refused, lost


def subscribers_toml(path: Path, count: int) -> list[Keys | None]:
    """A config file provisioning ``count`` new SIMs (``[[subscriber]]``): their keys."""
    keys: list[Keys | None] = []
    with path.open("w") as f:
        for i in range(count):
            k = keys_from_hex(None)
            keys.append(k)
            f.write(
                f"[[subscriber]]\nmsisdn = '{msisdn(i)}'\nimsi = '{imsi(i)}'\n"
                f"ki = '{k.k.hex()}'\nopc = '{k.opc.hex()}'\n"
            )
    return keys


def settle(smsc: SmscProcess) -> None:
    """Until the SMSC has seen every radio link of the last round close."""
    while any(
        name.startswith('connections_open{listener="link"') and value
        for name, value in smsc.metrics().items()
    ):
        time.sleep(0.05)


def storm_main(args: argparse.Namespace) -> int:
    count = args.storm
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * count + 256  # the handsets' sockets here, and the SMSCs' (they inherit it)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    rounds = runs(args.rounds)
    print(f"{count} handsets connecting at once, one MILENAGE attach each; {rounds} rounds")
    print(load_average())
    backlogs = {"backlog 50": "50", "backlog default": None}
    if args.baseline:
        backlogs["baseline"] = None
        print(f"baseline: the SMSC of {args.baseline}, default backlog")
    rates: dict[str, list[float]] = {name: [] for name in backlogs}
    with tempfile.TemporaryDirectory(prefix="attach-storm-") as tmp:
        work = Path(tmp)
        smscs: dict[str, SmscProcess] = {}
        keys: dict[str, list[Keys | None]] = {}
        with contextlib.ExitStack() as stack:
            for n, (name, backlog) in enumerate(backlogs.items()):
                (work / str(n)).mkdir()
                link = f"tcp:0:interface={HOST}" + (f":backlog={backlog}" if backlog else "")
                keys[name] = subscribers_toml(work / f"{n}.toml", count)
                extra = ("--quiet", "--link", link, "--config", str(work / f"{n}.toml"))
                checkout = args.baseline if name == "baseline" else None
                smsc = stack.enter_context(
                    run_smsc(work / str(n), None, extra=extra, open_attach=False, checkout=checkout)
                )
                smscs[name] = smsc
            for name, smsc in smscs.items():  # warm up: first connections, caches
                measure(smsc.link_port, keys[name][:20], 2)
            for _ in range(rounds):
                for name, smsc in smscs.items():
                    settle(smsc)
                    before = listen_overflows()
                    rate, refused, lost = storm(smsc.link_port, keys[name])
                    rates[name].append(rate)
                    print(
                        f"  {name:16} {rate:>8,.0f} attaches/s, {refused} refused connects,"
                        f" {lost} closed before their attach,"
                        f" listen overflows {listen_overflows() - before:,}",
                        flush=True,
                    )
    print(f"{'attaches/s, min / median / max':32}")
    for name, values in rates.items():
        print(f"  {name:16} {spread(values):>30}")
    ratio = statistics.median(rates["backlog default"]) / statistics.median(rates["backlog 50"])
    paired = [a / b for a, b in zip(rates["backlog default"], rates["backlog 50"], strict=True)]
    print(f"  default / 50: {ratio:.1f}x (rounds side by side: {spread(paired, '{:.1f}x')})")
    if args.baseline:
        ours, base = rates["backlog default"], rates["baseline"]
        ratio = statistics.median(ours) / statistics.median(base)
        paired = [a / b for a, b in zip(ours, base, strict=True)]
        print(f"  this / baseline: {ratio:.2f}x (rounds side by side: {spread(paired, '{:.2f}x')})")
    print(load_average())
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--handsets", type=int, default=20)
    parser.add_argument("--attaches", type=int, default=100, help="per handset and round")
    parser.add_argument("--rounds", type=int, default=3, help="at least 3")
    parser.add_argument("--storm", type=int, metavar="K", help="K handsets connecting at once")
    parser.add_argument(
        "--baseline", type=Path, metavar="CHECKOUT", help="--storm: also this source tree's SMSC"
    )
    args = parser.parse_args()
    if args.storm:
        return storm_main(args)
    args.rounds = runs(args.rounds)
    print(load_average())
    with tempfile.TemporaryDirectory(prefix="attach-bench-") as tmp:
        work = Path(tmp)
        (work / "auth").mkdir()
        (work / "open").mkdir()
        with (
            run_smsc(work / "auth", None, extra=("--quiet",), open_attach=False) as auth,
            run_smsc(work / "open", None, extra=("--quiet",)) as open_,
        ):
            data = work / "auth" / "smsc-data"
            keys: list[Keys | None] = list(provision(auth, args.handsets, data))
            measure(auth.link_port, keys, 5)  # warm up both: first connections, caches
            measure(open_.link_port, [None] * args.handsets, 5)
            rates: dict[str, list[float]] = {"milenage": [], "open": []}
            for _ in range(args.rounds):
                rates["open"].append(
                    measure(open_.link_port, [None] * args.handsets, args.attaches)
                )
                rates["milenage"].append(measure(auth.link_port, keys, args.attaches))
    auth_rate, open_rate = statistics.median(rates["milenage"]), statistics.median(rates["open"])
    total = args.handsets * args.attaches
    print(
        f"{args.handsets} handsets x {args.attaches} attaches ({total} a round), {args.rounds}"
        f" rounds; Python {sys.version.split()[0]}; attaches/s min / median / max:"
    )
    for name, values in rates.items():
        print(f"  {name:<9} {spread(values):>30}")
    paired = [a / b for a, b in zip(rates["milenage"], rates["open"], strict=True)]
    print(f"  MILENAGE / open: {auth_rate / open_rate:.2f} (rounds: {spread(paired, '{:.2f}')})")
    print(load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())
