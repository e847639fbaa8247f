"""The IP server's window copies, sealed at rest to the account's devices
(docs/history-query.md §Window), without I/O.

The server seals a copy's text as it takes it, to the public keys of the
account's devices (``sealed.seal_shared``), and keeps no private key: what
it holds opens only on those devices.  What the window searches on (uid,
peer, direction, time) stays in the clear, and is bound into the box as
associated data, so a box cannot be moved to another message.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import messages as m
from .sealed import DeviceKey, open_shared, seal_shared
from .validators import b64, unb64


def copy_context(uid: str, peer: str, direction: str, at: int) -> bytes:
    """The associated data of a window copy: the message it is the text of."""
    return f"smsemu-window|{uid}|{peer}|{direction}|{at}".encode()


def seal_copy(entry: m.HistoryEntry, recipients: Sequence[bytes]) -> tuple[bytes, list[bytes]]:
    """(box, keys): ``entry``'s text sealed once, its content key once per
    recipient public key, in their order."""
    context = copy_context(entry.uid, entry.peer, entry.direction, entry.at)
    return seal_shared(entry.text.encode(), recipients, context)


def window_entry(
    uid: str, peer: str, direction: str, at: int, box: bytes, key: bytes
) -> m.WindowEntry:
    """A stored copy as the device its ``key`` is sealed to gets it."""
    return m.WindowEntry(uid, peer, direction, at, b64(key), b64(box))


def open_copy(entry: m.WindowEntry, key: DeviceKey) -> m.HistoryEntry:
    """The message behind a window entry sealed to ``key``; SealError if it
    does not open, ValueError if what opens is no message text."""
    context = copy_context(entry.uid, entry.peer, entry.direction, entry.at)
    text = open_shared(unb64(entry.box), unb64(entry.key), key, context).decode()
    return m.HistoryEntry.from_json(
        {"uid": entry.uid, "peer": entry.peer, "direction": entry.direction,
         "text": text, "at": entry.at}
    )  # fmt: skip
