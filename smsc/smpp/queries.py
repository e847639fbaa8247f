"""query_sm, cancel_sm and replace_sm: what an ESME may ask of, or do to, a
message it submitted.  A message still waiting is answered from memory, a
final one from the store; a part being delivered right now cannot be recalled
or changed, and a multi-part message is cancelled whole or not at all."""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed

from smpp34 import pdu as p
from smpp34.pdu import CommandStatus as S
from smpp34.session import refusal

from ..esme_door import EsmeDoor
from ..models import MessageKind
from ..repository import MessageStatus
from .convert import ConversionError, DefaultAlphabet, delivers, plain_text
from .delivery_receipts import STATE, Receipts


class Queries:
    def __init__(self, door: EsmeDoor, receipts: Receipts, alphabet: DefaultAlphabet) -> None:
        self.door = door
        self.receipts = receipts
        self.format = receipts.format
        self.alphabet = alphabet

    def query(self, esme: str, request: p.QuerySm) -> Deferred[p.Pdu]:
        number = self.format.parse_message_id(request.message_id)
        if number is None:
            return succeed(refusal(request, S.ESME_RINVMSGID))
        pending = self.door.pending(number)
        if pending is not None:
            if pending.esme != esme:
                return succeed(refusal(request, S.ESME_RQUERYFAIL))
            return succeed(
                p.QuerySmResp(
                    sequence_number=request.sequence_number,
                    message_id=request.message_id,
                    message_state=p.MessageState.ENROUTE,
                )
            )

        def answer(status: MessageStatus | None) -> p.Pdu:
            if status is None or status.esme != esme or status.kind is not MessageKind.SMS:
                return refusal(request, S.ESME_RQUERYFAIL)
            final = ""
            if status.done_at is not None:
                final = p.format_time(self.door.local(status.done_at))
            return p.QuerySmResp(
                sequence_number=request.sequence_number,
                message_id=request.message_id,
                final_date=final,
                message_state=STATE[status.state],
                error_code=min(status.error or 0, 255),
            )

        return self.door.status(number).addCallback(answer)

    def _parts(self, esme: str, message_id: str) -> tuple[int, ...] | None:
        number = self.format.parse_message_id(message_id)
        if number is None:
            return None
        sub = self.receipts.submitted.get(number)
        ids = sub.ids if sub is not None and sub.id == number else (number,)
        if any((pending := self.door.pending(i)) is None or pending.esme != esme for i in ids):
            return None
        return ids

    def cancel(self, esme: str, request: p.CancelSm) -> p.Pdu:
        ids = self._parts(esme, request.message_id)
        # All parts or none: a part being delivered right now cannot be recalled.
        if not ids or not all(self.door.waiting(i) for i in ids):
            return refusal(request, S.ESME_RCANCELFAIL)
        for i in ids:
            self.door.end(i)
        return p.CancelSmResp(sequence_number=request.sequence_number)

    def replace(self, esme: str, request: p.ReplaceSm) -> p.Pdu:
        ids = self._parts(esme, request.message_id)
        sub = self.receipts.submitted.get(ids[0]) if ids else None
        if not ids or sub is None or len(ids) != 1:
            return refusal(request, S.ESME_RREPLACEFAIL)
        try:
            (tpdu,) = delivers(
                source=sub.source,
                data_coding=sub.data_coding,
                esm_class=0,
                protocol_id=sub.protocol_id,
                payload=request.short_message,
                tp_scts=self.door.scts(),
                default=self.alphabet,
            )
        except (ConversionError, ValueError):
            return refusal(request, S.ESME_RREPLACEFAIL)
        if not self.door.replace(ids[0], tpdu):
            return refusal(request, S.ESME_RREPLACEFAIL)
        sub.text = plain_text(sub.data_coding, request.short_message, 0, self.alphabet)
        self.door.store.retext_submitted(sub.id, sub.text)
        return p.ReplaceSmResp(sequence_number=request.sequence_number)
