"""The mobile station's side of the radio link, with no I/O.

``MsLink`` turns requests (attach, submit, acknowledge, SMMA, detach) into the
bytes to send, and received bytes into events.  It keeps only what the MS must:
the SMSC address learnt at attach (RP-DA of every RP-DATA it sends) and the
next RP-Message Reference.  The handset's Twisted protocol
(``handset.link_client``) feeds it and turns its events into Deferreds.
"""

from __future__ import annotations

from dataclasses import dataclass

from pdu import Address, Direction

from . import auth, rp
from . import frames as lk


@dataclass(frozen=True, slots=True)
class Attached:
    smsc: str


@dataclass(frozen=True, slots=True)
class Rejected:
    cause: int
    reason: str


@dataclass(frozen=True, slots=True)
class Detached:
    pass


@dataclass(frozen=True, slots=True)
class Incoming:
    """An RP-DATA from the network: answer it with ``ack`` or ``error``."""

    rp_mr: int
    tpdu: bytes


@dataclass(frozen=True, slots=True)
class Acked:
    rp_mr: int
    rp_ud: bytes | None


@dataclass(frozen=True, slots=True)
class Refused:
    rp_mr: int
    cause: int
    #: The SMS-SUBMIT-REPORT (TP-FCS form) the RP-ERROR carried, if any.
    rp_ud: bytes | None = None


@dataclass(frozen=True, slots=True)
class LinkFailure:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Challenged:
    """The network's challenge, answered by the SIM: send ``reply``.  When the
    SIM accepted it, ``sqn`` is its new SQN_MS, to be stored first (a SIM that
    forgets it would accept a replayed challenge)."""

    reply: bytes
    sqn: int | None
    failure: auth.Failure | None


Event = Attached | Rejected | Detached | Incoming | Acked | Refused | LinkFailure | Challenged


class MsLink:
    """The MS side of the radio link, with no I/O."""

    def __init__(self, imsi: str, msisdn: str, keys: auth.Keys | None = None, sqn: int = 0) -> None:
        self.imsi, self.msisdn = imsi, msisdn
        self.keys = keys  # the SIM's K and OPc; None: a SIM that cannot authenticate
        self.sqn = sqn  # SQN_MS, the highest SQN the SIM accepted
        self.smsc: str | None = None
        self._reader = lk.FrameReader()
        self._next_mr = 0

    def _mr(self) -> int:
        mr = self._next_mr
        self._next_mr = (mr + 1) % 256
        return mr

    def attach(self) -> bytes:
        return lk.encode_frame(lk.Attach(self.imsi, self.msisdn))

    def detach(self) -> bytes:
        self.smsc = None
        return lk.encode_frame(lk.Detach())

    def submit(self, tpdu: bytes) -> tuple[int, bytes]:
        """RP-DATA MS->N around an SMS-SUBMIT (or SMS-COMMAND)."""
        if self.smsc is None:
            raise RuntimeError("not attached")
        mr = self._mr()
        message = rp.RpData.mo(mr, Address.parse(self.smsc), tpdu)
        return mr, lk.encode_frame(lk.Rp(rp.encode_rp(message)))

    def ack(self, rp_mr: int, deliver_report: bytes | None = None) -> bytes:
        return lk.encode_frame(
            lk.Rp(rp.encode_rp(rp.RpAck(rp_mr, deliver_report, mti=rp.RpMti.ACK_MS_TO_N)))
        )

    def error(self, rp_mr: int, cause: int) -> bytes:
        return lk.encode_frame(
            lk.Rp(rp.encode_rp(rp.RpError(rp_mr, cause, mti=rp.RpMti.ERROR_MS_TO_N)))
        )

    def smma(self) -> tuple[int, bytes]:
        mr = self._mr()
        return mr, lk.encode_frame(lk.Rp(rp.encode_rp(rp.RpSmma(mr))))

    def receive(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        for frame in self._reader.feed(data):
            if isinstance(frame, lk.MalformedFrame):
                events.append(LinkFailure(frame.code, frame.reason))
            elif isinstance(frame, lk.AttachAccept):
                self.smsc = frame.smsc
                events.append(Attached(frame.smsc))
            elif isinstance(frame, lk.AttachReject):
                events.append(Rejected(frame.cause, frame.reason))
            elif isinstance(frame, lk.Detach):
                self.smsc = None
                events.append(Detached())
            elif isinstance(frame, lk.Error):
                events.append(LinkFailure(frame.code, frame.reason))
            elif isinstance(frame, lk.Rp):
                events.append(self._rp(frame.message))
            elif isinstance(frame, lk.AuthRequest):
                events.append(self._challenged(frame))
        return events

    def _challenged(self, frame: lk.AuthRequest) -> Challenged:
        if self.keys is None:
            failure = auth.Failure.MAC_FAILURE
            return Challenged(lk.encode_frame(lk.AuthFailure(failure)), None, failure)
        answer = auth.answer(self.keys, frame.rand, frame.autn, self.sqn)
        if answer.res is None:
            assert answer.failure is not None
            reply = lk.AuthFailure(answer.failure, answer.auts or b"")
            return Challenged(lk.encode_frame(reply), None, answer.failure)
        assert answer.sqn is not None
        self.sqn = answer.sqn
        return Challenged(lk.encode_frame(lk.AuthResponse(answer.res)), answer.sqn, None)

    @staticmethod
    def _rp(octets: bytes) -> Event:
        try:
            message = rp.decode_rp(octets, direction=Direction.MT)
        except rp.RPError as exc:
            return LinkFailure(lk.ErrorCode.MALFORMED_FRAME, str(exc))
        if isinstance(message, rp.RpData):
            return Incoming(message.rp_mr, message.rp_ud)
        if isinstance(message, rp.RpAck):
            return Acked(message.rp_mr, message.rp_ud)
        if isinstance(message, rp.RpError):
            return Refused(message.rp_mr, message.rp_cause, message.rp_ud)
        return LinkFailure(lk.ErrorCode.UNEXPECTED_FRAME, "RP-SMMA from the network")
