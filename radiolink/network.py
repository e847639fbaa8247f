"""The network's side of the radio link, with no I/O.

``NetworkSide`` knows which link (a connection: any hashable object) is
attached as which subscriber.  It is fed the frames a ``FrameReader`` read and
returns outputs, in the order they must happen: ``Send`` a frame on a link,
``Close`` a link, and events for the SMSC (``Attached``, ``Detached``,
``Submitted``, ``Acked``, ``Refused``, ``MemoryAvailable``, ``ProtocolError``).
It reads no clock and keeps no queue: delivering is the SMSC's business, which
asks ``deliver`` for the RP-DATA to send a subscriber.

Each link is in one ``State``.  What a frame does (docs/radio-link.md):

======================  ==========================  ===============================
frame                   UNATTACHED                  ATTACHED as S
======================  ==========================  ===============================
malformed               ERROR (its code) [p]        ERROR (its code) [p]
ATTACH, version != 1    ATTACH-REJECT 2             ATTACH-REJECT 2
ATTACH, MSISDN not      ATTACH-REJECT 1             ERROR ALREADY_ATTACHED
+digits or no IMSI
ATTACH                  ATTACH-ACCEPT, ``Attached``  ERROR ALREADY_ATTACHED
DETACH                  ERROR NOT_ATTACHED [p]      ``Detached``; UNATTACHED
RP                      ERROR NOT_ATTACHED [p]      decoded, as below
anything else           ERROR NOT_ATTACHED [p]      ERROR UNEXPECTED_FRAME [p]
======================  ==========================  ===============================

[p]: also a ``ProtocolError`` event, which the SMSC counts.

The same subscriber attaching on a second link: the newest link wins.  The old
one is ``Detached``, sent DETACH and closed, then the new one is accepted.

An RP message from an attached link (decoded as MS to network, TS 24.011):

===========  ====================================================
RP-DATA      ``Submitted`` (RP-MR and the TPDU): the SMSC answers
RP-ACK       ``Acked``
RP-ERROR     ``Refused`` (with its RP-Cause)
RP-SMMA      RP-ACK at once, then ``MemoryAvailable``
bad          RP-ERROR with the cause the decoder gave, or ERROR
             MALFORMED_FRAME when not even the RP-MR could be read [p]
===========  ====================================================
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from enum import Enum, auto
from typing import Generic, TypeVar

from pdu import Address, Direction

from . import frames as lk
from . import rp

L = TypeVar("L", bound=Hashable)


class State(Enum):
    UNATTACHED = auto()
    ATTACHED = auto()


# -- actions --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send(Generic[L]):
    link: L
    frame: lk.Frame


@dataclass(frozen=True, slots=True)
class Close(Generic[L]):
    link: L


# -- events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attached(Generic[L]):
    link: L
    msisdn: str
    imsi: str


@dataclass(frozen=True, slots=True)
class Detached(Generic[L]):
    link: L
    msisdn: str


@dataclass(frozen=True, slots=True)
class Submitted(Generic[L]):
    """An RP-DATA from a subscriber: answer it with ``ack`` or ``error``."""

    link: L
    msisdn: str
    rp_mr: int
    tpdu: bytes


@dataclass(frozen=True, slots=True)
class Acked:
    msisdn: str
    rp_mr: int


@dataclass(frozen=True, slots=True)
class Refused:
    msisdn: str
    rp_mr: int
    cause: int


@dataclass(frozen=True, slots=True)
class MemoryAvailable:
    msisdn: str


@dataclass(frozen=True, slots=True)
class ProtocolError(Generic[L]):
    link: L
    reason: str


Output = (
    Send[L]
    | Close[L]
    | Attached[L]
    | Detached[L]
    | Submitted[L]
    | Acked
    | Refused
    | MemoryAvailable
    | ProtocolError[L]
)


def is_msisdn(text: str) -> bool:
    """``+digits``: the form a subscriber number takes on the radio link."""
    return text.startswith("+") and text[1:].isdigit()


class NetworkSide(Generic[L]):
    """The network side of every radio link of one SMSC, with no I/O."""

    def __init__(self, smsc_address: str) -> None:
        self.smsc_address = smsc_address
        self._rp = rp.NetworkEncoder(Address.parse(smsc_address))
        self._subscriber: dict[L, str | None] = {}  # every open link
        self._link: dict[str, L] = {}  # every attached subscriber

    # -- what is known ----------------------------------------------------------------

    def state(self, link: L) -> State:
        return State.ATTACHED if self._subscriber.get(link) else State.UNATTACHED

    def links(self) -> Iterator[L]:
        """Every open link, attached or not."""
        return iter(list(self._subscriber))

    def link_of(self, msisdn: str) -> L | None:
        """The link ``msisdn`` is attached on, if it is."""
        return self._link.get(msisdn)

    def attached(self) -> Iterator[str]:
        return iter(self._link)

    # -- what the SMSC sends ----------------------------------------------------------

    def deliver(self, msisdn: str, rp_mr: int, tpdu: bytes) -> Send[L]:
        """The RP-DATA that carries ``tpdu`` to an attached subscriber."""
        return Send(self._link[msisdn], lk.Rp(self._rp.data(rp_mr, tpdu)))

    def ack(self, link: L, rp_mr: int, rp_ud: bytes | None = None) -> Send[L]:
        return Send(link, lk.Rp(self._rp.ack(rp_mr, rp_ud)))

    def error(self, link: L, rp_mr: int, cause: int) -> Send[L]:
        return Send(link, lk.Rp(self._rp.error(rp_mr, cause)))

    # -- what the links do ------------------------------------------------------------

    def opened(self, link: L) -> None:
        self._subscriber[link] = None

    def lost(self, link: L) -> list[Output[L]]:
        msisdn = self._subscriber.pop(link, None)
        if msisdn is not None and self._link.get(msisdn) is link:
            del self._link[msisdn]
            return [Detached(link, msisdn)]
        return []

    def receive(self, link: L, frame: lk.Frame | lk.MalformedFrame) -> list[Output[L]]:
        msisdn = self._subscriber.get(link)
        if isinstance(frame, lk.MalformedFrame):
            return [
                ProtocolError(link, frame.reason),
                Send(link, lk.Error(frame.code, frame.reason)),
            ]
        if isinstance(frame, lk.Attach):
            return self._attach(link, msisdn, frame)
        if msisdn is None:
            return self._violation(link, lk.ErrorCode.NOT_ATTACHED, "attach first")
        if isinstance(frame, lk.Detach):
            return self._detach(link, msisdn)
        if isinstance(frame, lk.Rp):
            return self._rp_message(link, msisdn, frame.message)
        return self._violation(
            link, lk.ErrorCode.UNEXPECTED_FRAME, f"{type(frame).__name__} is for handsets"
        )

    @staticmethod
    def _violation(link: L, code: lk.ErrorCode, reason: str) -> list[Output[L]]:
        return [ProtocolError(link, reason), Send(link, lk.Error(code, reason))]

    def _detach(self, link: L, msisdn: str) -> list[Output[L]]:
        self._subscriber[link] = None
        if self._link.get(msisdn) is link:
            del self._link[msisdn]
        return [Detached(link, msisdn)]

    def _attach(self, link: L, current: str | None, frame: lk.Attach) -> list[Output[L]]:
        if frame.version != lk.VERSION:
            reject = lk.AttachReject(lk.RejectCause.UNSUPPORTED_VERSION, f"version {frame.version}")
            return [Send(link, reject)]
        if current is not None:
            return [Send(link, lk.Error(lk.ErrorCode.ALREADY_ATTACHED, current))]
        if not (is_msisdn(frame.msisdn) and frame.imsi):
            reject = lk.AttachReject(lk.RejectCause.MALFORMED, "MSISDN must be +digits")
            return [Send(link, reject)]
        out: list[Output[L]] = []
        old = self._link.get(frame.msisdn)
        if old is not None and old is not link:
            # The same subscriber attaching again: the newest link wins.
            out += self._detach(old, frame.msisdn)
            out += [Send(old, lk.Detach()), Close(old)]
        self._subscriber[link] = frame.msisdn
        self._link[frame.msisdn] = link
        out += [
            Send(link, lk.AttachAccept(self.smsc_address)),
            Attached(link, frame.msisdn, frame.imsi),
        ]
        return out

    def _rp_message(self, link: L, msisdn: str, octets: bytes) -> list[Output[L]]:
        try:
            # A network-to-MS RP-MTI from a handset is refused here too (cause 97).
            message = rp.decode_rp(octets, direction=Direction.MO)
        except rp.RPError as exc:
            problem = ProtocolError(link, f"{msisdn}: bad RP message: {exc}")
            if exc.rp_mr is not None:
                return [problem, self.error(link, exc.rp_mr, exc.rp_cause)]
            return [problem, Send(link, lk.Error(lk.ErrorCode.MALFORMED_FRAME, str(exc)))]
        if isinstance(message, rp.RpData):
            return [Submitted(link, msisdn, message.rp_mr, message.rp_ud)]
        if isinstance(message, rp.RpAck):
            return [Acked(msisdn, message.rp_mr)]
        if isinstance(message, rp.RpError):
            return [Refused(msisdn, message.rp_mr, message.rp_cause)]
        return [self.ack(link, message.rp_mr), MemoryAvailable(msisdn)]
