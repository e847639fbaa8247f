"""A light load client of the IP server for ``bench/receipt_bench.py``: many
pairs of devices in one process that speak the wire of docs/receipt-wire.md
directly, so that the bench measures the server, not emulated handsets.

Each device logs in with the credentials the bench registered (the
challenge-response of ``ipwire.device_session``); then a receiver sends
``response`` frames, encoded before the clock starts (one per message number
of its pair), and its sender gets the ``feedback`` and acknowledges it.  A
receipt's latency runs from the response written to the feedback read, both
on this process's clock.  Every feedback must be the one a response of this
process asked for, for the right sender, exactly once: anything else is
counted as wrong and the step fails.

It speaks the same lines as the bench's phones' processes: a JSON setup on
stdin, ``{"ready": N}``, then ``step`` commands answered with their counts and
latencies.  Run by the bench only (``python bench/ipwire_load.py``).
"""

from __future__ import annotations

import json
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, cast

from twisted.internet import reactor, task
from twisted.internet.defer import Deferred, DeferredQueue, ensureDeferred, gatherResults
from twisted.internet.interfaces import IReactorFromThreads, IReactorTCP, ITransport
from twisted.internet.protocol import ClientFactory, Protocol

from ipwire import wire
from ipwire.device_session import DeviceSession

_LENGTH = struct.Struct(">I")


def frame(payload: bytes) -> bytes:
    return _LENGTH.pack(len(payload)) + payload


class Device(Protocol):
    """One logged-in device: the login through ``DeviceSession``, then frames
    split here and read with ``json.loads`` (the server's JSON is plain)."""

    def __init__(self, load: Load, msisdn: str, device_id: str, secret: str) -> None:
        self.load, self.msisdn = load, msisdn
        self.session = DeviceSession()
        self.device_id, self.secret = device_id, secret
        self.buffer = b""
        self.logged_in: Deferred[Device] = Deferred()
        self.oks = 0

    def write(self, data: bytes) -> None:
        cast(ITransport, self.transport).write(data)

    def connectionMade(self) -> None:
        _, login = self.session.login(self.device_id, self.secret)
        self.write(login)

    def dataReceived(self, data: bytes) -> None:
        buffer = self.buffer + data
        at, end = 0, len(buffer)
        while end - at >= 4:
            (length,) = _LENGTH.unpack_from(buffer, at)
            if end - at - 4 < length:
                break
            payload = buffer[at + 4 : at + 4 + length]
            at += 4 + length
            if self.logged_in.called:
                self.message(json.loads(payload))
            else:
                self.login_frame(frame(payload))
        self.buffer = buffer[at:]

    def login_frame(self, data: bytes) -> None:
        for event in self.session.receive(data):
            if isinstance(event, wire.Challenge):
                proof = self.session.answer(event)
                assert proof is not None
                self.write(proof)
            elif isinstance(event, wire.LoginOk):
                self.logged_in.callback(self)
            else:
                raise RuntimeError(f"{self.msisdn}: login failed: {event}")

    def message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "feedback":
            self.write(frame(b'{"type":"feedback_ack","feedback_id":%d}' % message["feedback_id"]))
            self.load.feedback(self.msisdn, message)
        elif kind == "ok":
            self.oks += 1
        else:
            self.load.wrong.append(f"{self.msisdn}: {message}")

    def connectionLost(self, reason: Any = None) -> None:
        if not self.load.stopping:
            self.load.wrong.append(f"{self.msisdn}: connection lost: {reason}")


class _Factory(ClientFactory):
    def __init__(self, device: Device) -> None:
        self.device = device

    def buildProtocol(self, addr: Any) -> Device:
        return self.device


@dataclass
class Pair:
    sender: str
    receiver: Device
    #: The response for each message number, encoded before any step.
    responses: list[bytes] = field(default_factory=list)
    next_number: int = 0


class Load:
    """The pairs of one process, paced at its share of the rate."""

    def __init__(self) -> None:
        self.pairs: list[Pair] = []
        self.waiting: dict[tuple[str, str, int], float] = {}
        self.latencies: list[float] = []
        self.wrong: list[str] = []
        self.expected = 0
        self.finished: Deferred[None] | None = None
        self.stopping = False

    async def connect(self, setup: dict[str, Any]) -> list[Device]:
        tcp = cast(IReactorTCP, reactor)
        devices: dict[str, Device] = {}
        for msisdn, (device_id, secret) in setup["credentials"].items():
            device = Device(self, msisdn, device_id, secret)
            tcp.connectTCP("127.0.0.1", setup["ip"], _Factory(device))
            devices[msisdn] = device
        await gatherResults([d.logged_in for d in devices.values()])
        for sender, receiver in setup["pairs"]:
            pair = Pair(sender, devices[receiver])
            pair.responses = [
                wire.encode(wire.Response(n, receiver, sender, n)) for n in range(256)
            ]
            self.pairs.append(pair)
        return list(devices.values())

    def feedback(self, sender: str, message: dict[str, Any]) -> None:
        key = (sender, message["receiver"], message["message_number"])
        started = self.waiting.pop(key, None)
        if started is None:
            self.wrong.append(f"unasked or duplicate feedback to {sender}: {message}")
            return
        self.latencies.append((time.perf_counter() - started) * 1000)
        if len(self.latencies) == self.expected and self.finished is not None:
            finished, self.finished = self.finished, None
            finished.callback(None)

    async def step(self, rate: float, seconds: float, start: float) -> dict[str, Any]:
        """Send ``rate`` x ``seconds`` responses at a steady pace from the
        monotonic time ``start``, round the pairs; wait for their feedback
        (30 s at most)."""
        count = int(rate * seconds)
        self.latencies, self.expected, self.wrong = [], count, []
        self.finished = Deferred()
        interval = 1.0 / rate if rate else 0.0
        sent = 0
        pairs, waiting, now = self.pairs, self.waiting, time.perf_counter

        def tick() -> None:
            nonlocal sent
            due = min(count, int((now() - start) / interval) + 1) if interval else count
            while sent < due:
                pair = pairs[sent % len(pairs)]
                number = pair.next_number
                pair.next_number = (number + 1) % 256
                key = (pair.sender, pair.receiver.msisdn, number)
                if key in waiting:  # 256 of this pair still out: a wrong step anyway
                    self.wrong.append(f"{key} still waiting for its feedback")
                waiting[key] = now()
                pair.receiver.write(pair.responses[number])
                sent += 1
            if sent >= count and pacer.running:
                pacer.stop()

        if (delay := start - now()) > 0:
            await task.deferLater(reactor, delay, lambda: None)
        pacer = task.LoopingCall(tick)
        if count:
            pacer.start(0.001)
        timeout = reactor.callLater(30, self._give_up)
        if count:
            await self.finished
        if pacer.running:
            pacer.stop()
        if timeout.active():
            timeout.cancel()
        self.waiting.clear()
        return {"offered": count, "done": len(self.latencies), "wrong": self.wrong[:5],
                "wrong_count": len(self.wrong), "seconds": now() - start,
                "latencies": self.latencies}  # fmt: skip

    def _give_up(self) -> None:
        if self.finished is not None:
            finished, self.finished = self.finished, None
            finished.callback(None)


async def run(setup: dict[str, Any]) -> None:
    load = Load()
    devices = await load.connect(setup)
    answer({"ready": len(load.pairs)})
    commands: DeferredQueue[dict[str, Any]] = DeferredQueue()
    threading.Thread(target=read_commands, args=(commands,), daemon=True).start()
    while (command := await commands.get())["cmd"] == "step":
        answer(await load.step(command["rate"], command["seconds"], command["start"]))
    load.stopping = True
    for device in devices:
        cast(ITransport, device.transport).loseConnection()


def read_commands(commands: DeferredQueue[dict[str, Any]]) -> None:
    """On a thread of its own: the coordinator's lines, to the reactor."""
    threads = cast(IReactorFromThreads, reactor)
    for line in sys.stdin:
        threads.callFromThread(commands.put, json.loads(line))
    threads.callFromThread(commands.put, {"cmd": "stop"})


def answer(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    setup = json.loads(sys.stdin.readline())
    task.react(lambda _: ensureDeferred(run(setup)))


if __name__ == "__main__":
    main()
