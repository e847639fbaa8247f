"""The log of the commands that run the network (``smsc``, ``up``,
``handset run``, ``ip-server run``): its options, and stderr as short text
lines or as JSON lines (one object per line, for a log shipper).

One way across the product: the standard ``logging`` module.  Twisted's own
log is handed to it, and Twisted's and Alembic's notes (listening, the
migrations of every start) are told at debug level, so the default (info)
shows the traffic (``smsemu.traffic``), the start-up lines and what goes
wrong.  ``--quiet`` drops the traffic lines only: warnings and errors stay.

Light at import (argparse and logging only): the parsers use it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from datetime import UTC, datetime
from typing import IO, Any

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
#: Loggers whose info is chatter: told at debug level.
CHATTY = ("alembic", "twisted")
#: Seconds lines may wait to be written together while the reactor runs
#: (warnings and errors do not wait).
FLUSH_EVERY = 0.05


def add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("live log (on stderr)")
    g.add_argument(
        "--log-level",
        choices=LEVELS,
        help="the least a line must matter to be shown (default info: the traffic, "
        "one line per network event; debug adds Alembic's and Twisted's notes)",
    )
    g.add_argument(
        "--log-format",
        choices=FORMATS,
        default="text",
        help="text (default): short lines; json: one object per line with the "
        "event's fields (message_id, src, dst, system_id, imsi...)",
    )
    g.add_argument(
        "--quiet",
        action="store_true",
        help="no traffic lines (warnings and errors are still shown)",
    )


def configure(args: argparse.Namespace, stream: IO[str] | None = None) -> None:
    """Log to ``stream`` (stderr) as ``args`` ask, Twisted's log included."""
    quiet = bool(getattr(args, "quiet", False))
    name = getattr(args, "log_level", None) or ("warning" if quiet else "info")
    level = getattr(logging, name.upper())
    handler = LineHandler(stream or sys.stderr)
    json_lines = getattr(args, "log_format", "text") == "json"
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(Threshold(level))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    traffic = logging.getLogger("smsemu.traffic")
    traffic.setLevel(logging.CRITICAL + 1 if quiet else logging.NOTSET)
    _twisted_to_logging(handler)


def _twisted_to_logging(handler: LineHandler) -> None:
    from twisted.internet import reactor
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    handler.batch_on(reactor)

    # Once per process: what Twisted buffered until now comes too.
    if not getattr(globalLogBeginner, "_smsemu_began", False):
        globalLogBeginner.beginLoggingTo([STDLibLogObserver()], redirectStandardIO=False)
        globalLogBeginner._smsemu_began = True  # type: ignore[attr-defined]


class LineHandler(logging.Handler):
    """Lines to ``stream``; while the reactor runs, the lines of its thread
    wait up to ``FLUSH_EVERY`` to go out in one write: a busy SMSC logs
    thousands a second, and a write each would cost more than the line."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self.stream = stream
        self._pending: list[str] = []
        self._reactor: Any = None
        self._scheduled = False
        self._main = threading.main_thread().ident

    def batch_on(self, reactor: Any) -> None:
        """Batch on ``reactor``'s turns; what is left goes once it has stopped
        (before a command's last words: its error line)."""
        self._reactor = reactor
        reactor.addSystemEventTrigger("after", "shutdown", self.flush)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._pending.append(self.format(record))
        except Exception:
            self.handleError(record)
            return
        reactor = self._reactor
        batch = reactor is not None and reactor.running and record.levelno < logging.WARNING
        if batch and threading.get_ident() == self._main:
            if not self._scheduled:
                self._scheduled = True
                reactor.callLater(FLUSH_EVERY, self.flush)
        else:
            self._write()

    def flush(self) -> None:
        self.acquire()
        try:
            self._scheduled = False
            self._write()
        finally:
            self.release()

    def _write(self) -> None:
        if not self._pending:
            return
        text = "\n".join(self._pending) + "\n"
        self._pending.clear()
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed: nobody reads the log any more
            pass


class Threshold(logging.Filter):
    """The handler's level, after the chatty loggers' info is made debug."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and record.name.startswith(CHATTY):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return record.levelno >= self.level


class TextFormatter(logging.Formatter):
    """``12:00:01 submit   #42 +15550001001 -> +15550001002 (1 part)``: the
    time, the event (or the level and the logger, for what is not traffic),
    the line."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._clock = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # one strftime a second, however busy
            self._second, self._clock = second, time.strftime("%H:%M:%S", time.localtime(second))
        event = getattr(record, "event", None)
        if event is not None:
            text = f"{self._clock} {event:<8} {record.getMessage()}"
        else:
            head = f"{self._clock} {record.levelname.lower():<8} {record.name}: "
            text = head + record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO 8601, UTC), ``level``,
    ``logger``, ``event`` and its fields for traffic, ``message``."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._clock = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._clock = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        out: dict[str, Any] = {
            "time": f"{self._clock}.{int(record.msecs):03d}+00:00",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        event = getattr(record, "event", None)
        if event is not None:
            out["event"] = event
            for key, value in getattr(record, "fields", {}).items():
                out.setdefault(key, value)
        out["message"] = record.getMessage()
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)
