"""``SmppError``: octets that are not a valid SMPP PDU, or a value that cannot be encoded.

Every part of the codec raises it (the header, the mandatory parameters, the
TLVs, the time strings), and it carries what a server needs to answer: the
command_status (``SmppError.response()`` builds the answer: generic_nack or
the request's ``_resp``), the reason, the octet offset, and the
sequence_number and command_id when the header got that far.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .constants import RESPONSE_BIT, describe_status
from .constants import CommandStatus as _S

if TYPE_CHECKING:
    from .pdus import Pdu


class SmppError(ValueError):
    """Octets that are not a valid SMPP PDU, or a value that cannot be encoded.

    ``command_status`` is what a server answers with (for a value given to
    ``encode``: what a peer would have answered had it received it).
    ``offset`` is the octet where decoding stopped, counted from the first octet
    of the PDU (its command_length); None for a value rather than octets.
    ``sequence_number`` and ``command_id`` are those of the PDU's header when
    it got that far, so the answer can carry them.  ``fatal`` means the framing
    of the stream is lost: nothing more can be read from the connection.
    """

    def __init__(
        self,
        command_status: int,
        reason: str,
        offset: int | None = None,
        sequence_number: int | None = None,
        command_id: int | None = None,
        *,
        fatal: bool = False,
    ) -> None:
        self.command_status = command_status
        self.reason = reason
        self.offset = offset
        self.sequence_number = sequence_number
        self.command_id = command_id
        self.fatal = fatal
        super().__init__(reason)

    def __str__(self) -> str:
        where = f"at octet {self.offset}: " if self.offset is not None else ""
        return f"{where}{self.reason} [{describe_status(self.command_status)}]"

    def response(self) -> Pdu | None:
        """The PDU a server answers with (its body left out by ``encode``):
        generic_nack for a bad command_length or command_id, whatever the PDU
        (§4.3.1), and for requests that have no response PDU (outbind,
        alert_notification); the request's ``_resp`` with ``command_status``
        for any other fault in a request; None for any other fault in a
        response, which is not answered."""
        # The PDU classes are built on this module (through smpp34.fields and
        # smpp34.tlv): imported when an answer is wanted, not at import time.
        from .pdus import PDU_CLASSES, RESPONSE_CLASSES, GenericNack

        seq = self.sequence_number if self.sequence_number is not None else 0
        cls = PDU_CLASSES.get(self.command_id) if self.command_id is not None else None
        header_fault = self.command_status in (_S.ESME_RINVCMDLEN, _S.ESME_RINVCMDID)
        if cls is None or header_fault or self.fatal:
            return GenericNack(sequence_number=seq, command_status=self.command_status)
        if cls.command_id & RESPONSE_BIT:
            return None
        answer = RESPONSE_CLASSES.get(cls.command_id)
        if answer is None:
            return GenericNack(sequence_number=seq, command_status=self.command_status)
        return answer(sequence_number=seq, command_status=self.command_status)
