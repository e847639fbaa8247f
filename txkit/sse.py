"""A live stream of events over HTTP: Server-Sent Events from ``twisted.web``.

Why SSE and not a WebSocket: the stream goes one way (the network tells, the
page listens; what the page does goes through the JSON APIs), a browser's
``EventSource`` reconnects by itself and says where it stopped
(``Last-Event-ID``), it is plain HTTP through the same ``TokenGuard`` (the
cookie of the printed URL), plain or TLS alike, and it needs nothing beyond
``twisted.web``.

``EventLog`` numbers each event (1, 2, 3 ...) and keeps the last ``keep`` of
them in one ring shared by every stream.  A stream is a cursor into that
ring, nothing more:

* a new stream starts after the newest event, or, given ``Last-Event-ID``
  (the header a reconnecting ``EventSource`` sends, or ``?last_id=``), after
  that event: what it missed is sent first, in order;
* a stream whose client reads too slowly is paused by its transport (it is
  the connection's push producer): while paused nothing is written to it, and
  on resume it catches up from the ring.  So a slow client costs its cursor
  and at most one socket buffer, never a queue that grows;
* a stream whose cursor fell out of the ring (it missed more than ``keep``
  events, or resumed from an id too old, or from an id of another run of the
  process: ids go on from the start time in milliseconds) gets one ``reset``
  event and goes on from the newest: the page reloads its snapshots then.

Each frame is ``id: N``, optionally ``event: reset``, and one ``data:`` line
of JSON (``{"event_id", "source", "event", "at", ...details}``: ``event_id`` is
the frame's id, ``id`` a detail, such as the SMSC's message id).  A comment line
every ``heartbeat`` seconds keeps idle connections (and proxies) honest.
"""

from __future__ import annotations

import enum
import json
from collections import deque
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from zope.interface import implementer

#: How long a browser waits before it reconnects (the ``retry:`` field), in ms.
RETRY_MS = 1000


class Event:
    """One event of the log, as it was told: its JSON object is made, and its
    frame encoded, the first time a stream sends it, once for every stream (a
    log nobody follows makes neither: a busy SMSC tells several a message)."""

    __slots__ = ("_frame", "_told", "id")

    def __init__(
        self,
        event_id: int,
        source: str,
        event: str,
        at: float,
        details: dict[str, Any],
        always: dict[str, Any] | None = None,
    ) -> None:
        self.id = event_id
        self._told: tuple[str, str, float, dict[str, Any], dict[str, Any] | None] | None = (
            source,
            event,
            at,
            details,
            always,
        )
        self._frame: bytes | None = None

    @property
    def data(self) -> dict[str, Any]:
        """The event's JSON object: ``event_id``, ``source``, ``event``, ``at``,
        then the details (``always``'s first)."""
        assert self._told is not None
        source, event, at, details, always = self._told
        data = {"event_id": self.id, "source": source, "event": event, "at": at}
        if always:
            data.update(always)
        data.update(details)
        return data

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame, self._told = frame(self.id, self.data), None
        return self._frame


def plain(value: Any) -> Any:
    """A detail as JSON says it: enums by value, octets (and what has them:
    ``__bytes__``) in hex, times in ISO 8601."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex().upper()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(type(value), "__bytes__"):  # a PDU, encoded only if a stream sends it
        return bytes(value).hex().upper()
    return str(value)


def frame(event_id: int, data: dict[str, Any], kind: str | None = None) -> bytes:
    """One SSE frame; JSON on one line (it escapes newlines), so one ``data:``."""
    head = f"id: {event_id}\n" + (f"event: {kind}\n" if kind else "")
    body = json.dumps(data, ensure_ascii=False, default=plain, separators=(",", ":"))
    return f"{head}data: {body}\n\n".encode()


class EventLog:
    """The last ``keep`` events, and the streams that follow them."""

    def __init__(self, clock: IReactorTime, *, keep: int = 4096, heartbeat: float = 15.0) -> None:
        if keep < 1:
            raise ValueError("an event log keeps at least one event")
        self.clock = clock
        self.keep = keep
        self.heartbeat = heartbeat
        self._ring: deque[Event] = deque(maxlen=keep)
        # Ids go on from the start time in milliseconds, so that those of a
        # restarted process are above what a page kept of the one before (it
        # is reset, not fed the new run's events as if they followed its own).
        self._last = int(clock.seconds() * 1000)
        self.streams: set[Stream] = set()
        self._beat: IDelayedCall | None = None

    @property
    def last_id(self) -> int:
        return self._last

    def publish(
        self,
        source: str,
        event: str,
        details: dict[str, Any],
        always: dict[str, Any] | None = None,
    ) -> int:
        """Number, keep and send an event (``always``: details every event of
        its watcher adds, before its own); its id."""
        self._last += 1
        ev = Event(self._last, source, event, self.clock.seconds(), details, always)
        self._ring.append(ev)
        if self.streams:
            for stream in list(self.streams):
                stream.offer(ev)
        return self._last

    def watcher(self, source: str, **always: Any) -> Callable[[str, dict[str, Any]], None]:
        """A component's watcher (``txkit.watchers``) that publishes its events
        as ``source``'s, with the details ``always`` adds."""
        publish, extra = self.publish, always or None

        def told(event: str, details: dict[str, Any]) -> None:
            publish(source, event, details, extra)

        return told

    def after(self, last_id: int) -> list[Event] | None:
        """The events after ``last_id``, oldest first; None when some of them
        have left the ring, or ``last_id`` is none of this log's (the stream
        must reset)."""
        if last_id == self._last:
            return []
        if last_id > self._last or not self._ring or self._ring[0].id > last_id + 1:
            return None
        start = len(self._ring) - (self._last - last_id)
        return [self._ring[i] for i in range(start, len(self._ring))]

    def follow(self, request: Request, last_id: int | None) -> Stream:
        """Start a stream on ``request`` (its headers are set here)."""
        stream = Stream(self, request, self._last if last_id is None else last_id)
        self.streams.add(stream)
        self._schedule()
        stream.start()
        return stream

    def close(self) -> None:
        """End every stream (the service stops)."""
        for stream in list(self.streams):
            stream.end()
        if self._beat is not None and self._beat.active():
            self._beat.cancel()
        self._beat = None

    def _schedule(self) -> None:
        if self._beat is None and self.streams and self.heartbeat > 0:
            self._beat = self.clock.callLater(self.heartbeat, self._tick)

    def _tick(self) -> None:
        self._beat = None
        for stream in list(self.streams):
            stream.ping()
        self._schedule()


@implementer(IPushProducer)
class Stream:
    """One client's cursor into the log; its connection's push producer."""

    def __init__(self, log: EventLog, request: Request, cursor: int) -> None:
        self.log = log
        self.request = request
        self.cursor = cursor  # the id of the last event written
        self.paused = False
        self.resets = 0
        self.done = False

    def start(self) -> None:
        r = self.request
        r.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        r.setHeader(b"cache-control", b"no-store")
        r.setHeader(b"x-accel-buffering", b"no")
        r.registerProducer(self, True)
        r.notifyFinish().addBoth(self._gone)
        r.write(f"retry: {RETRY_MS}\n\n".encode())
        self.catch_up()

    def offer(self, event: Event) -> None:
        if not self.paused and event.id == self.cursor + 1:
            self._write(event)
        elif not self.paused:
            self.catch_up()

    def catch_up(self) -> None:
        """Write what the client has not had, while the transport takes it."""
        pending = self.log.after(self.cursor)
        if pending is None:
            self.resets += 1
            self.cursor = self.log.last_id
            told = {"event_id": self.cursor, "missed": True}
            self.request.write(frame(self.cursor, told, "reset"))
            return
        for event in pending:
            if self.paused or self.done:
                return
            self._write(event)

    def _write(self, event: Event) -> None:
        self.cursor = event.id
        self.request.write(event.frame)

    def ping(self) -> None:
        if not self.paused and not self.done:
            self.request.write(b": keep-alive\n\n")

    # IPushProducer: the transport's buffer is full, or has room again.

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        if not self.done:
            self.catch_up()

    def stopProducing(self) -> None:
        self.end()

    def end(self) -> None:
        if self.done:
            return
        self.done = True
        self.log.streams.discard(self)
        self.request.unregisterProducer()
        if not self.request.finished and not self.request._disconnected:
            self.request.finish()

    def _gone(self, _: Failure | None) -> None:
        self.done = True
        self.log.streams.discard(self)


class EventStream(Resource):
    """``GET``: the log as ``text/event-stream``, from ``Last-Event-ID`` (or
    ``?last_id=N``) when given, else from now."""

    isLeaf = True

    def __init__(self, log: EventLog) -> None:
        super().__init__()
        self.log = log

    def render_GET(self, request: Request) -> bytes | int:
        raw = request.getHeader(b"last-event-id")
        if raw is None:
            raw = ((request.args or {}).get(b"last_id") or [None])[0]
        last_id = None
        if raw is not None:
            text = raw.decode("ascii", "replace").strip()
            if not (text.isascii() and text.isdigit() and len(text) <= 18):
                request.setResponseCode(400)
                request.setHeader(b"content-type", b"application/json")
                return json.dumps(
                    {"error": f"Last-Event-ID {text!r}: expected an event id (digits)"}
                ).encode()
            last_id = int(text)
        self.log.follow(request, last_id)
        return NOT_DONE_YET
