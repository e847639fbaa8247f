"""The live traffic log: one line per network event, from the watchers of
the SMSC (its SMPP door included), the IP server and a handset
(``txkit.watchers``).

Each table below is the whole rule: event name -> level, the word the text
form shows, and the line (a ``%`` template over the event's fields, or a
function of them).  The fields go as they are to the JSON form, under the
names a log shipper expects (``message_id``, ``src``, ``dst``, ``system_id``,
``imsi``...).  Every line goes to the ``smsemu.traffic`` logger; ``--quiet``
(or a level above info) means nobody subscribes, so the network pays nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pdu.status import TP_ST_NAMES
from txkit.throttle import Throttle
from txkit.watchers import Watcher, Watchers

log = logging.getLogger("smsemu.traffic")

Fields = dict[str, Any]
DEBUG, INFO = logging.DEBUG, logging.INFO
#: The traffic's levels by name, without ``logging.getLevelName``'s call a line.
_LEVEL_NAMES = {DEBUG: "DEBUG", INFO: "INFO"}


@dataclass(frozen=True, slots=True)
class Line:
    level: int
    word: str  # what the text form shows after the time, e.g. ``submit``
    text: str | Callable[[Fields], str]  # a % template over the fields, or a function
    #: Set for a line any peer can repeat at will (a refused bind): what such
    #: lines are, for their summary; one per source address each 10 s is
    #: shown, then their count (txkit.throttle).
    flood: str | None = None


#: The emitters' field names, as the log names them.
RENAMED = {"id": "message_id", "sender": "src", "recipient": "dst"}
#: Fields for the console's live stream only (a PDU's octets): not logged.
UNLOGGED = frozenset({"submit", "pdu", "rp"})


def _parts(f: Fields) -> str:
    if "part" in f:
        return f"part {f['part']} of {f['parts']}"
    parts = f.get("parts", 1)
    return f"{parts} part" if parts == 1 else f"{parts} parts"


def _submit(f: Fields) -> str:
    return f"#{f['message_id']} {f['src']} -> {f['dst']} ({_parts(f)})"


def _esme_submit(f: Fields) -> str:
    return f"#{f['message_id']} ESME {f['system_id']}: {f['src']} -> {f['dst']} ({_parts(f)})"


#: What a finished message was, when not an SMS between subscribers.
_KIND = {"report": " (status report)", "esme": " (deliver_sm to an ESME)"}


def _ended(f: Fields) -> str:
    return f"#{f['message_id']} -> {f['dst']}{_KIND.get(f.get('kind', ''), '')}"


def _report(f: Fields) -> str:
    st = f["tp_st"]
    status = "delivered" if st == 0 else TP_ST_NAMES.get(st, f"TP-ST {st:#04x}")
    return f"#{f['message_id']} -> {f['dst']}: #{f['about']} {status}"


def _feedback(f: Fields) -> str:
    read = "read" if f["status"] == 1 else "not read yet"
    where = "pushed" if f["pushed"] else "queued until it connects"
    return f"{f['receiver']} {read} message {f['number']} of {f['src']} ({where})"


def _sent(f: Fields) -> str:
    return f"#{f['message_id']} {f['msisdn']} -> {f['peer']} ({_parts(f)})"


def _read_status(f: Fields) -> str:
    read = "read" if f["status"] == 1 else "not read yet"
    return f"{f['peer']} {read}: message {f['number']} (#{f['message_id']})"


SMSC: dict[str, Line] = {
    "attached": Line(INFO, "attach", "%(msisdn)s (IMSI %(imsi)s, %(queued)s queued)"),
    "detached": Line(INFO, "detach", "%(msisdn)s"),
    "memory available": Line(INFO, "memory", "%(msisdn)s has room again (RP-SMMA)"),
    "accepted": Line(INFO, "submit", _submit),
    "rejected": Line(INFO, "rejected", "from %(src)s: RP-ERROR %(cause)s (%(reason)s)"),
    "delivering": Line(INFO, "deliver", "#%(message_id)s -> %(dst)s (attempt %(attempt)s)"),
    "refused": Line(INFO, "refused", "#%(message_id)s by %(dst)s: RP-ERROR %(cause)s"),
    "no answer": Line(INFO, "no answer", "#%(message_id)s: %(dst)s did not answer"),
    "delivered": Line(INFO, "delivered", _ended),
    "failed": Line(INFO, "failed", _ended),
    "expired": Line(INFO, "expired", _ended),
    "deleted": Line(INFO, "deleted", _ended),
    "report": Line(INFO, "report", _report),
    # The SMPP door.
    "bound": Line(INFO, "bind", "ESME %(system_id)s as %(bind)s from %(peer)s"),
    "bind refused": Line(
        INFO, "bind", "ESME %(system_id)s from %(peer)s refused: %(status)s", "refused binds"
    ),
    "unbound": Line(INFO, "unbind", "ESME %(system_id)s (%(peer)s)"),
    "submit_sm": Line(INFO, "submit_sm", _esme_submit),
    "data_sm": Line(INFO, "data_sm", _esme_submit),
    "fault": Line(
        INFO, "fault", "%(action)s on a %(command)s of ESME %(system_id)s to %(recipient)s"
    ),
    "deliver_sm": Line(INFO, "deliver_sm", "#%(message_id)s -> ESME %(system_id)s (%(carries)s)"),
}

IP_SERVER: dict[str, Line] = {
    "login": Line(DEBUG, "login", "%(device_id)s (%(msisdn)s) from %(peer)s"),
    "logout": Line(DEBUG, "logout", "%(device_id)s (%(msisdn)s)"),
    "feedback": Line(INFO, "read", _feedback),
}

#: A handset's own events (``smsemu handset run``); ``msisdn`` is the handset's.
PHONE: dict[str, Line] = {
    "attached": Line(INFO, "attach", "%(msisdn)s to the SMSC %(smsc)s"),
    "detached": Line(INFO, "detach", "%(msisdn)s"),
    "queued": Line(INFO, "send", _sent),
    "state": Line(INFO, "state", "#%(message_id)s to %(peer)s: %(state)s"),
    "received": Line(INFO, "receive", "#%(message_id)s %(peer)s -> %(msisdn)s (via %(via)s)"),
    "response": Line(INFO, "response", "read receipt for message %(number)s of %(peer)s"),
    "feedback": Line(INFO, "feedback", _read_status),
    "ip up": Line(DEBUG, "ip up", "%(msisdn)s"),
    "ip down": Line(DEBUG, "ip down", "%(msisdn)s"),
}


class Said:
    """A traffic line's message: rendered only when a handler formats it."""

    __slots__ = ("fields", "line")

    def __init__(self, line: Line, fields: Fields) -> None:
        self.line, self.fields = line, fields

    def __str__(self) -> str:
        text = self.line.text
        try:
            return text % self.fields if isinstance(text, str) else text(self.fields)
        except (KeyError, TypeError, ValueError):  # an emitter with other fields: say them all
            return " ".join(f"{k}={v}" for k, v in self.fields.items())


class TrafficRecord(logging.LogRecord):
    """A traffic line's record, made in a fraction of a ``LogRecord``'s time:
    what every line shares (no source line, thread or process: they would
    all be the same) is a class attribute."""

    pathname = filename = module = "traffic"
    lineno = 0
    funcName = "told"
    exc_info = exc_text = stack_info = None
    thread = threadName = process = processName = None
    relativeCreated = 0.0

    def __init__(self, line: Line, fields: Fields) -> None:  # no super().__init__: see above
        self.name = log.name
        self.levelno = level = line.level
        self.levelname = _LEVEL_NAMES.get(level) or logging.getLevelName(level)
        self.msg = Said(line, fields)
        self.args = ()
        self.created = now = time.time()
        self.msecs = (now - int(now)) * 1000
        self.event = line.word
        self.fields = fields

    def getMessage(self) -> str:
        msg = self.msg
        # The line as ``Said`` renders it, one call shorter, unless someone
        # made the record say something else (a filter, say).
        return msg.__str__() if type(msg) is Said and not self.args else super().getMessage()


def watcher(table: Mapping[str, Line], **always: Any) -> Watcher | None:
    """The watcher that logs ``table``'s events (with the fields ``always``
    adds), or None when the log would show none of them."""
    if not log.isEnabledFor(max(line.level for line in table.values())):
        return None
    throttle = Throttle(log)

    def told(event: str, details: dict[str, Any]) -> None:
        line = table.get(event)
        if line is None or not log.isEnabledFor(line.level):
            return
        if line.flood is not None:
            source = str(details.get("peer", "?")).rpartition(":")[0] or "?"
            if not throttle.allow(line.level, f"{line.flood} from {source}"):
                return
        fields = {RENAMED.get(k, k): v for k, v in details.items() if k not in UNLOGGED}
        if always:
            fields.update(always)
        record = TrafficRecord(line, fields)
        if log.filters or log.disabled:
            log.handle(record)
        else:  # what ``handle`` would do, a call and a filter pass shorter
            log.callHandlers(record)

    return told


def follow(watchers: Watchers, table: Mapping[str, Line]) -> None:
    """Log ``table``'s events of a component's ``watchers``."""
    fn = watcher(table)
    if fn is not None:
        watchers.add(fn)


def phone(owner: str) -> list[Watcher]:
    """The watchers of a handset run on its own: its events, as its ``owner``'s."""
    fn = watcher(PHONE, msisdn=owner)
    return [fn] if fn is not None else []
