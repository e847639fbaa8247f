"""query_sm, cancel_sm and replace_sm: what an ESME may ask of, or do to, a
message it submitted.  A message still waiting here is answered from memory,
any other from the store (final, or held by another node of a cluster); a
part being delivered right now cannot be recalled or changed, and a
multi-part message is cancelled whole or not at all.  cancel_sm and
replace_sm of a message another node holds go through that node
(``smsc.recall``); every response goes once what it acknowledges is
committed."""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed

from smpp34 import pdu as p
from smpp34.pdu import CommandStatus as S
from smpp34.session import refusal

from ..esme_door import EsmeDoor
from ..models import MessageKind
from ..repository import MessageStatus
from ..submitted import parts_named
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

    def _held(self, esme: str, ids: tuple[int, ...]) -> bool:
        """Whether every part ``ids`` of ``esme``'s message waits here."""
        return all((pending := self.door.pending(i)) is not None and pending.esme == esme
                   for i in ids)  # fmt: skip

    def cancel(self, esme: str, request: p.CancelSm) -> Deferred[p.Pdu]:
        return self._recall(esme, request, S.ESME_RCANCELFAIL, b"")

    def replace(self, esme: str, request: p.ReplaceSm) -> Deferred[p.Pdu]:
        return self._recall(esme, request, S.ESME_RREPLACEFAIL, request.short_message)

    def _recall(
        self, esme: str, request: p.CancelSm | p.ReplaceSm, failed: int, short_message: bytes
    ) -> Deferred[p.Pdu]:
        """Act on the message here if this node holds it, else ask the
        cluster (``smsc.recall``); the response once it is done and committed."""
        number = self.format.parse_message_id(request.message_id)
        if number is None:  # names no message at all (SMPP 3.4 §5.1.3)
            return succeed(refusal(request, S.ESME_RINVMSGID))
        sub = self.receipts.submitted.get(number)
        ids = parts_named(number, None if sub is None else (sub.id, len(sub.ids)))
        if ids is None:  # a later part's id: the message goes whole or not at all
            done = succeed(False)
        elif self._held(esme, ids):
            done = self.here(request.name, esme, ids, short_message)
        else:
            done = self.door.recall(request.name, esme, number, short_message)

        def respond(ok: bool) -> p.Pdu:
            if not ok:
                return refusal(request, failed)
            if isinstance(request, p.CancelSm):
                return p.CancelSmResp(sequence_number=request.sequence_number)
            return p.ReplaceSmResp(sequence_number=request.sequence_number)

        return done.addCallback(respond)

    def here(
        self, command: str, esme: str, ids: tuple[int, ...], short_message: bytes
    ) -> Deferred[bool]:
        """cancel_sm or replace_sm of ``esme``'s parts ``ids``, held here (an
        ESME's request to this node or another node's: ``smsc.recall``):
        True once done and committed."""
        if not self._held(esme, ids):
            return succeed(False)
        cancel = command == "cancel_sm"
        # An ESME's own request here: its response goes before the receipts it
        # causes.  Another node's: that node's response has no order with them.
        with self.receipts.held():
            if not (self._cancel(ids) if cancel else self._replace(ids, short_message)):
                return succeed(False)
            committed = self.door.committed()
        return committed.addCallback(lambda _: True)

    def _cancel(self, ids: tuple[int, ...]) -> bool:
        # All parts or none: a part being delivered right now cannot be recalled.
        if not all(self.door.waiting(i) for i in ids):
            return False
        for i in ids:
            self.door.end(i)
        return True

    def _replace(self, ids: tuple[int, ...], short_message: bytes) -> bool:
        sub = self.receipts.submitted.get(ids[0])
        if sub is None or len(ids) != 1 or sub.ids != ids:
            return False
        try:
            (tpdu,) = delivers(
                source=sub.source,
                data_coding=sub.data_coding,
                esm_class=0,
                protocol_id=sub.protocol_id,
                payload=short_message,
                tp_scts=self.door.scts(),
                default=self.alphabet,
            )
        except (ConversionError, ValueError):
            return False
        if not self.door.replace(ids[0], tpdu):
            return False
        sub.text = plain_text(sub.data_coding, short_message, 0, self.alphabet)
        self.door.store.retext_submitted(sub.id, sub.text)
        return True
