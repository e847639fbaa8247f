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
(``subscriber`` table).  The two modes run in turns, ``--rounds`` times; the
median rate of each, and their ratio, are printed.

Run: ``python bench/attach_bench.py [--handsets 20] [--attaches 100] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from smsc_bench import HOST, SmscProcess, imsi, msisdn, run_smsc

from radiolink.auth import Keys, keys_from_hex
from radiolink.ms import Attached, Challenged, LinkFailure, MsLink, Rejected


class Handset:
    def __init__(self, port: int, index: int, keys: Keys | None, attaches: int) -> None:
        self.ms = MsLink(imsi(index), msisdn(index), keys)
        self.sock = socket.create_connection((HOST, port))
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


def provision(smsc: SmscProcess, count: int) -> list[Keys]:
    keys = []
    for i in range(count):
        k = keys_from_hex(None)
        body = {"imsi": imsi(i), "msisdn": msisdn(i), "k": k.k.hex(), "opc": k.opc.hex()}
        request = urllib.request.Request(
            f"http://{HOST}:{smsc.admin_port}/subscribers",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"content-type": "application/json"},
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--handsets", type=int, default=20)
    parser.add_argument("--attaches", type=int, default=100, help="per handset and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="attach-bench-") as tmp:
        work = Path(tmp)
        (work / "auth").mkdir()
        (work / "open").mkdir()
        with (
            run_smsc(work / "auth", None, extra=("--quiet",), open_attach=False) as auth,
            run_smsc(work / "open", None, extra=("--quiet",)) as open_,
        ):
            keys: list[Keys | None] = list(provision(auth, args.handsets))
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
        f"{args.handsets} handsets x {args.attaches} attaches, {args.rounds} rounds; "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    for name, runs in rates.items():
        shown = ", ".join(f"{r:,.0f}" for r in runs)
        rate = statistics.median(runs)
        print(f"  {name:<9} median {rate:>7,.0f} attaches/s ({shown}; {total} each)")
    print(f"  MILENAGE / open: {auth_rate / open_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
