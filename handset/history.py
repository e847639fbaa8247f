"""The device's side of the history query (docs/history-query.md), without I/O.

A device that answers a relayed query seals what it found to the asking
device's public key (``seal_answer``); the asking device opens the answers
(``open_answers``) and merges them with what else it found (``merge``): the
same message held by several devices has one uid, so it shows once, with
every place it was found.  The sealed context binds each blob to its query
and to the device that answered: the server can neither read an answer nor
pass it off as another query's or another device's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ipwire import wire
from ipwire.sealed import DeviceKey, SealError, open_sealed, seal
from ipwire.window import open_copy

from .models import Direction
from .views import HistoryItem

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Plaintext octets that still fit ``wire.MAX_SEALED`` base64 characters once sealed.
MAX_PLAIN = wire.MAX_SEALED // 4 * 3 - 61

#: Where a result came from, besides the id of the device that answered.
LOCAL, SERVER = "local", "server"


def millis(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(milliseconds=1)


def from_millis(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


#: Ends a text cut to fit a history entry (``entry_text``).
CUT = "\u2026"


def entry_text(text: str) -> str:
    """``text`` as a history entry carries it: whole up to ``wire.MAX_TEXT``
    characters; a longer one (a handset sends up to 255 parts: 37,740 GSM
    characters with the message number in the UDH) is cut to its first
    MAX_TEXT - 1 characters and ends with ``CUT`` (docs/history-query.md §Window)."""
    return text if len(text) <= wire.MAX_TEXT else text[: wire.MAX_TEXT - 1] + CUT


def to_entry(item: HistoryItem) -> wire.HistoryEntry:
    return wire.HistoryEntry(
        item.uid, item.peer, item.direction.value, entry_text(item.text), millis(item.at)
    )


def from_entry(entry: wire.HistoryEntry) -> HistoryItem:
    return HistoryItem(
        entry.uid, entry.peer, Direction(entry.direction), entry.text, from_millis(entry.at)
    )


def answer_context(query_id: str, device: str) -> bytes:
    """The associated data of a sealed answer: its query and its author."""
    return f"smsemu-history|{query_id}|{device}".encode()


def seal_answer(
    found: Sequence[HistoryItem], reply_key: bytes, query_id: str, device: str
) -> tuple[int, bytes]:
    """(count, blob): the newest of ``found`` that fit one answer, as a JSON
    array of history entries, sealed to ``reply_key``."""
    entries = [to_entry(item).to_json() for item in found]
    keep = len(entries)
    while True:
        plain = json.dumps(entries[:keep], separators=(",", ":")).encode()
        if len(plain) <= MAX_PLAIN or keep == 0:
            break
        keep = keep * MAX_PLAIN // len(plain) if keep > 1 else 0
    return keep, seal(plain, reply_key, answer_context(query_id, device))


@dataclass(frozen=True, slots=True)
class Found:
    """A search result and every place it was found: ``local``, ``server``,
    or the id of the device that answered."""

    item: HistoryItem
    sources: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "uid": self.item.uid,
            "peer": self.item.peer,
            "direction": self.item.direction.value,
            "text": self.item.text,
            "at": self.item.at.isoformat(),
            "sources": list(self.sources),
        }


def open_answers(
    answers: Iterable[wire.SealedAnswer], key: DeviceKey, query_id: str
) -> tuple[list[Found], list[str]]:
    """What the answering devices found, and the devices whose answer could
    not be opened (tampered, or not sealed to this device): those are
    reported, never trusted."""
    found: list[Found] = []
    bad: list[str] = []
    for answer in answers:
        try:
            plain = open_sealed(
                wire.unb64(answer.sealed), key, answer_context(query_id, answer.device)
            )
            entries = json.loads(plain)
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise ValueError("not a JSON array of history entries")
            items = [from_entry(wire.HistoryEntry.from_json(e)) for e in entries]
        except (SealError, ValueError, RecursionError) as exc:
            log.warning("query %s: the answer of %s is unusable: %s", query_id, answer.device, exc)
            bad.append(answer.device)
            continue
        found += [Found(item, (answer.device,)) for item in items]
    return found, bad


def open_window(entries: Iterable[wire.WindowEntry], key: DeviceKey) -> tuple[list[Found], int]:
    """The server's window hits, opened with this device's key, and how many
    did not open (tampered, or not sealed to it): those are never trusted."""
    found: list[Found] = []
    bad = 0
    for entry in entries:
        try:
            found.append(Found(from_entry(open_copy(entry, key)), (SERVER,)))
        except (SealError, ValueError) as exc:
            log.warning("window copy %s is unusable: %s", entry.uid, exc)
            bad += 1
    return found, bad


def merge(found: Iterable[Found], limit: int) -> list[Found]:
    """One result per uid, with all its sources; newest first; at most ``limit``."""
    by_uid: dict[str, Found] = {}
    for f in found:
        held = by_uid.get(f.item.uid)
        if held is None:
            by_uid[f.item.uid] = f
        else:
            sources = held.sources + tuple(s for s in f.sources if s not in held.sources)
            by_uid[f.item.uid] = Found(held.item, sources)
    ordered = sorted(by_uid.values(), key=lambda f: (f.item.at, f.item.uid), reverse=True)
    return ordered[:limit]


@dataclass(frozen=True, slots=True)
class SearchResult:
    """What a history search on a device found (docs/history-query.md §Results).

    ``status``: "found" (locally or in the server's window, which covered the
    query), "complete" (every other device answered), "partial" (some had not
    by the deadline, or sent what does not open: ``missing`` names them,
    whatever was found), or "not_found" (every device answered, nothing
    anywhere).  ``answered``: every source that did answer."""

    status: str
    items: list[Found]
    source: str  # "local", "server" or "devices": where the search stopped
    missing: list[str] = field(default_factory=list)
    query_id: str | None = None
    #: The sources that answered: ``local``, ``server``, device ids.
    answered: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "source": self.source,
            "results": [f.as_dict() for f in self.items],
            "missing": self.missing,
            "answered": self.answered,
            "query_id": self.query_id,
        }
