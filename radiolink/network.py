"""The network's side of the radio link, with no I/O.

``NetworkSide`` knows which link (a connection: any hashable object) is
attached as which subscriber.  It is fed the frames a ``FrameReader`` read and
returns outputs, in the order they must happen: ``Send`` a frame on a link,
``Close`` a link, and events for the SMSC (``Attached``, ``Detached``,
``Submitted``, ``Acked``, ``Refused``, ``MemoryAvailable``, ``ProtocolError``).
It reads no clock and keeps no queue: delivering is the SMSC's business, which
asks ``deliver`` for the RP-DATA to send a subscriber.

Each link is in one ``State``.  What a frame does (docs/radio-link.md):

======================  ==========================  ===============  ====================
frame                   UNATTACHED                  AUTHENTICATING   ATTACHED as S
======================  ==========================  ===============  ====================
malformed               ERROR (its code) [p]        as UNATTACHED    ERROR (its code) [p]
ATTACH, version != 1    ATTACH-REJECT 2             as UNATTACHED    ATTACH-REJECT 2
ATTACH, MSISDN not      ATTACH-REJECT 1             as UNATTACHED    ERROR ALREADY_ATTACHED
+digits or no IMSI
ATTACH, open network    ATTACH-ACCEPT, ``Attached``  --               ERROR ALREADY_ATTACHED
ATTACH, IMSI unknown    ATTACH-REJECT 3 [r]         as UNATTACHED    ERROR ALREADY_ATTACHED
or not this MSISDN
ATTACH                  AUTH-REQUEST [s];           a new challenge  ERROR ALREADY_ATTACHED
                        AUTHENTICATING              [s]
AUTH-RESPONSE           ERROR UNEXPECTED_FRAME [p]  RES = XRES:      ERROR UNEXPECTED_FRAME
                                                    ATTACH-ACCEPT,   [p]
                                                    ``Attached``;
                                                    else REJECT 4 [r]
AUTH-FAILURE 21 + AUTS  ERROR UNEXPECTED_FRAME [p]  MAC-S right and  ERROR UNEXPECTED_FRAME
                                                    first time: a    [p]
                                                    new challenge
                                                    [s]; else
                                                    REJECT 4 [r]
AUTH-FAILURE, other     ERROR UNEXPECTED_FRAME [p]  REJECT 4 [r]     ERROR UNEXPECTED_FRAME
DETACH                  ERROR NOT_ATTACHED [p]      as UNATTACHED    ``Detached``; UNATTACHED
RP                      ERROR NOT_ATTACHED [p]      as UNATTACHED    decoded, as below
anything else           ERROR NOT_ATTACHED [p]      as UNATTACHED    ERROR UNEXPECTED_FRAME
======================  ==========================  ===============  ====================

[p]: also a ``ProtocolError`` event, which the SMSC counts.  [r]: also a
``Refused`` attach event (counted and logged), and the link is UNATTACHED.
[s]: also ``SqnAdvanced``, for the SMSC to persist the subscriber's SQN.
The network is *open* (no ``AuthCentre``: anyone attaching as anyone is
accepted, as rigs without MILENAGE need) or *authenticated* (the default of
the SMSC: UMTS AKA with MILENAGE, radiolink.auth).

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

from . import auth, rp
from . import frames as lk

L = TypeVar("L", bound=Hashable)


class State(Enum):
    UNATTACHED = auto()
    AUTHENTICATING = auto()
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


@dataclass(frozen=True, slots=True)
class AttachRefused(Generic[L]):
    """An attach that failed authentication or named no subscriber."""

    link: L
    imsi: str
    msisdn: str
    cause: lk.RejectCause


@dataclass(frozen=True, slots=True)
class SqnAdvanced:
    imsi: str
    sqn: int


@dataclass(slots=True)
class _Pending:
    attach: lk.Attach
    challenge: auth.Challenge
    resynchronised: bool = False


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
    | AttachRefused[L]
    | SqnAdvanced
)


def is_msisdn(text: str) -> bool:
    """``+digits``: the form a subscriber number takes on the radio link."""
    return text.startswith("+") and text[1:].isdigit()


class NetworkSide(Generic[L]):
    """The network side of every radio link of one SMSC, with no I/O."""

    def __init__(self, smsc_address: str, auc: auth.AuthCentre | None = None) -> None:
        self.smsc_address = smsc_address
        self.auc = auc  # None: an open network
        self._rp = rp.NetworkEncoder(Address.parse(smsc_address))
        self._subscriber: dict[L, str | None] = {}  # every open link
        self._link: dict[str, L] = {}  # every attached subscriber
        self._pending: dict[L, _Pending] = {}  # links answering a challenge

    # -- what is known ----------------------------------------------------------------

    def state(self, link: L) -> State:
        if self._subscriber.get(link):
            return State.ATTACHED
        return State.AUTHENTICATING if link in self._pending else State.UNATTACHED

    def links(self) -> Iterator[L]:
        """Every open link, attached or not."""
        return iter(list(self._subscriber))

    def link_of(self, msisdn: str) -> L | None:
        """The link ``msisdn`` is attached on, if it is."""
        return self._link.get(msisdn)

    def attached(self) -> Iterator[str]:
        return iter(self._link)

    def msisdn_of(self, link: L) -> str | None:
        """The subscriber attached on ``link``, if one is."""
        return self._subscriber.get(link)

    # -- what the SMSC sends ----------------------------------------------------------

    def deliver(self, msisdn: str, rp_mr: int, tpdu: bytes) -> Send[L]:
        """The RP-DATA that carries ``tpdu`` to an attached subscriber."""
        return Send(self._link[msisdn], lk.Rp(self._rp.data(rp_mr, tpdu)))

    def ack(self, link: L, rp_mr: int, rp_ud: bytes | None = None) -> Send[L]:
        return Send(link, lk.Rp(self._rp.ack(rp_mr, rp_ud)))

    def error(self, link: L, rp_mr: int, cause: int, rp_ud: bytes | None = None) -> Send[L]:
        return Send(link, lk.Rp(self._rp.error(rp_mr, cause, rp_ud)))

    # -- what the links do ------------------------------------------------------------

    def opened(self, link: L) -> None:
        self._subscriber[link] = None

    def lost(self, link: L) -> list[Output[L]]:
        self._pending.pop(link, None)
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
        if isinstance(frame, lk.AuthResponse | lk.AuthFailure):
            pending = self._pending.pop(link, None)
            if pending is None:
                return self._violation(
                    link, lk.ErrorCode.UNEXPECTED_FRAME, "no challenge is outstanding"
                )
            return self._answered(link, pending, frame)
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
        if current is None:
            self._pending.pop(link, None)  # a new ATTACH abandons an outstanding challenge
        if frame.version != lk.VERSION:
            reject = lk.AttachReject(lk.RejectCause.UNSUPPORTED_VERSION, f"version {frame.version}")
            return [Send(link, reject)]
        if current is not None:
            return [Send(link, lk.Error(lk.ErrorCode.ALREADY_ATTACHED, current))]
        if not (is_msisdn(frame.msisdn) and frame.imsi):
            reject = lk.AttachReject(lk.RejectCause.MALFORMED, "MSISDN must be +digits")
            return [Send(link, reject)]
        if self.auc is None:
            return self._bind(link, frame)
        sub = self.auc.get(frame.imsi)
        if sub is None or sub.msisdn != frame.msisdn:
            return self._refuse(
                link, frame, lk.RejectCause.NOT_PROVISIONED, "no such subscriber on this SMSC"
            )
        return self._challenge(link, _Pending(frame, self.auc.next_challenge(frame.imsi)))

    def _challenge(self, link: L, pending: _Pending) -> list[Output[L]]:
        assert self.auc is not None
        self._pending[link] = pending
        ch, imsi = pending.challenge, pending.attach.imsi
        return [Send(link, lk.AuthRequest(ch.rand, ch.autn)), SqnAdvanced(imsi, self.auc.sqn(imsi))]

    def _refuse(
        self, link: L, frame: lk.Attach, cause: lk.RejectCause, reason: str
    ) -> list[Output[L]]:
        return [
            Send(link, lk.AttachReject(cause, reason)),
            AttachRefused(link, frame.imsi, frame.msisdn, cause),
        ]

    def _answered(
        self, link: L, pending: _Pending, frame: lk.AuthResponse | lk.AuthFailure
    ) -> list[Output[L]]:
        assert self.auc is not None
        attach, failed = pending.attach, lk.RejectCause.AUTHENTICATION_FAILED
        if isinstance(frame, lk.AuthResponse):
            if auth.res_matches(pending.challenge, frame.res):
                return self._bind(link, attach)
            return self._refuse(link, attach, failed, "wrong RES")
        if (
            frame.cause == auth.Failure.SYNCH_FAILURE
            and not pending.resynchronised
            and self.auc.get(attach.imsi) is not None
            and self.auc.resynchronise(attach.imsi, pending.challenge.rand, frame.auts)
        ):
            again = _Pending(attach, self.auc.next_challenge(attach.imsi), resynchronised=True)
            return self._challenge(link, again)
        return self._refuse(link, attach, failed, f"the SIM refused the challenge ({frame.cause})")

    def _bind(self, link: L, frame: lk.Attach) -> list[Output[L]]:
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
