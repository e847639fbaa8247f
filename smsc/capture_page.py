"""``GET /capture?seconds=N[&packets=M]`` of the admin API: a pcapng of what
the legs carry from now on, streamed as it is taken (docs/wireshark.md).

The response ends after N seconds, or after M packets when ``packets`` is
given, or when the client hangs up.  While nothing captures, ``Smsc.capture``
is None again: a capture through the API costs only while it runs.
"""

from __future__ import annotations

import json

from twisted.internet.interfaces import IDelayedCall
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from txkit import pcapng

from .capture import Capture
from .core import Smsc

MAX_SECONDS = 3600.0


class _Stream:
    """Where a writer's blocks go: the response, counting packets as they pass."""

    def __init__(self, page: CapturePage, request: Request, packets: int | None) -> None:
        self.page = page
        self.request = request
        self.left = packets
        self.writer: pcapng.PcapngWriter | None = None
        self.timer: IDelayedCall | None = None
        self.done = False

    def write(self, data: bytes) -> None:
        if self.done:
            return
        self.request.write(data)
        if self.left is not None and self.writer is not None:
            self.left -= _packets_in(data)
            if self.left <= 0:
                self.page.smsc.clock.callLater(0, self.end)

    def end(self, _: object = None) -> None:
        """Stop capturing into this response, and finish it unless the client left."""
        if self.done:
            return
        self.done = True
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.page.stop(self)
        if not isinstance(_, Failure):
            self.request.finish()


def _packets_in(data: bytes) -> int:
    """Enhanced Packet Blocks in ``data`` (whole blocks, as a writer writes them)."""
    count, pos = 0, 0
    while pos + 8 <= len(data):
        kind = int.from_bytes(data[pos : pos + 4], "little")
        count += kind == pcapng.EPB
        pos += int.from_bytes(data[pos + 4 : pos + 8], "little")
    return count


def _bad(request: Request, message: str) -> bytes:
    request.setResponseCode(400)
    request.setHeader(b"content-type", b"application/json")
    return json.dumps({"error": message}).encode()


class CapturePage(Resource):
    isLeaf = True

    def __init__(self, smsc: Smsc) -> None:
        super().__init__()
        self.smsc = smsc
        self.streams: set[_Stream] = set()

    def render_GET(self, request: Request) -> bytes | int:
        args = request.args or {}
        try:
            seconds = float(args.get(b"seconds", [b""])[0])
            if not 0 < seconds <= MAX_SECONDS:
                raise ValueError
        except ValueError:
            return _bad(request, f"seconds: expected a number of seconds in (0, {MAX_SECONDS:g}]")
        packets: int | None = None
        if b"packets" in args:
            text = args[b"packets"][0]
            if not text.isdigit() or int(text) == 0:
                return _bad(request, "packets: expected a positive whole number")
            packets = int(text)
        request.setHeader(b"content-type", b"application/x-pcapng")
        request.setHeader(b"content-disposition", b'attachment; filename="smsemu.pcapng"')
        stream = _Stream(self, request, packets)
        capture = self.smsc.capture
        if capture is None:
            capture = self.smsc.capture = Capture(self.smsc.clock)
        stream.writer = pcapng.PcapngWriter(stream)
        capture.add_writer(stream.writer)
        self.streams.add(stream)
        stream.timer = self.smsc.clock.callLater(seconds, stream.end)
        request.notifyFinish().addErrback(stream.end)
        return NOT_DONE_YET

    def stop(self, stream: _Stream) -> None:
        self.streams.discard(stream)
        capture = self.smsc.capture
        if capture is None or stream.writer is None:
            return
        capture.remove_writer(stream.writer)
        if not capture.active:
            capture.close()
            self.smsc.capture = None
