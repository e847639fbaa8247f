"""The receipts ESMEs are owed: a delivery receipt once every part of a
message they submitted has ended (if registered_delivery asks for it), and,
configured, a read receipt when the IP server reports the message read.
A receipt is a deliver_sm stored in the core's queue like any message."""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial

from pdu import Address, Direction, PDUError, SmsDeliver
from pdu import decode as decode_tpdu
from pdu.udh import find_message_number
from smpp34 import pdu as p

from ..esme_door import EsmeDoor
from ..idblocks import ID_RETRY, IdsExhausted
from ..models import MessageKind, MessageState
from ..queued import Queued
from ..submitted import MAX_NUMBERED, Submitted, fate
from .convert import DefaultAlphabet, encode_text, source_address
from .receipt import ReceiptFormat

log = logging.getLogger(__name__)

#: message_state of each final state of the core (SMPP 3.4 §5.2.28).
STATE = {
    MessageState.QUEUED: p.MessageState.ENROUTE,
    MessageState.DELIVERED: p.MessageState.DELIVERED,
    MessageState.EXPIRED: p.MessageState.EXPIRED,
    MessageState.DELETED: p.MessageState.DELETED,
    MessageState.FAILED: p.MessageState.UNDELIVERABLE,
}
#: esm_class of a delivery receipt, and of a read receipt: "SME manual/user
#: acknowledgement" (SMPP 3.4 §5.2.12, message type bits 0100).
DELIVERY_RECEIPT = p.make_esm_class(message_type=p.MessageType.DELIVERY_RECEIPT)
USER_ACK = p.make_esm_class(message_type=p.MessageType.MANUAL_ACK)


class Receipts:
    """The receipts owed, by message: ``submitted`` (by the id of each part) is
    what waits for its parts to end, ``numbered`` what a read may still
    answer.  Both are the in-memory side of ``esme_message``: taken up at
    start (``take_up``), written as they change."""

    def __init__(
        self, door: EsmeDoor, fmt: ReceiptFormat, alphabet: DefaultAlphabet = DefaultAlphabet.GSM7
    ) -> None:
        self.door = door
        self.format = fmt
        #: What data_coding 0 means in this SMSC: a receipt in data_coding 0 says it so.
        self.alphabet = alphabet
        self.submitted: dict[int, Submitted] = {}  # by the id of each part
        #: Numbered messages from ESMEs, for their read receipts: (sender,
        #: recipient, message number) -> the message.
        self.numbered: OrderedDict[tuple[str, str, int], Submitted] = OrderedDict()
        #: Receipts made while ``held``: made when it ends.
        self._held: list[Callable[[], None]] | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """The receipts made within are made as it ends: their rows are written
        after whatever the block asked for last (cancel_sm's commit, whose
        response then goes before the receipt it causes)."""
        outer, self._held = self._held, []
        try:
            yield
        finally:
            later, self._held = self._held, outer
            for make in later:
                make()

    def note(self, sub: Submitted, *, held: bool = True) -> None:
        """``sub`` is committed: its parts' ends are awaited (if ``held``
        here: on a cluster, the node that holds them takes it up with them),
        a read of its number answered."""
        if held:
            for i in sub.ids:
                self.submitted[i] = sub
        if sub.number is not None and not sub.read:
            self._number(sub)

    def released(self, ids: list[int]) -> None:
        """Parts now held by another node of a cluster, which took up what
        their message is owed: forgotten here once none of its parts is left;
        while one is (in flight), the message is shared by the two nodes."""
        for i in ids:
            sub = self.submitted.get(i)
            if sub is None:
                continue
            if self._none_here(sub):
                self._forget(sub)
            else:
                sub.shared = True

    def _none_here(self, sub: Submitted) -> bool:
        """Whether no part of ``sub`` waits at this node any more."""
        return all(self.door.pending(i) is None for i in sub.ids)

    def _forget(self, sub: Submitted) -> None:
        for j in sub.ids:
            if self.submitted.get(j) is sub:
                del self.submitted[j]

    def take_up(self, pending: list[Submitted], numbered: list[Submitted]) -> None:
        """What a previous run left: the messages whose receipt is owed (one
        whose parts all ended before the restart gets it now; one whose
        receipt was made just before it is settled), and the numbered ones a
        read may still answer, oldest first."""
        for sub in numbered:
            self._number(sub)
        for sub in pending:
            if sub.done:
                self.door.store.settle_submitted(sub.id, self.door.now())
                if sub.number is not None and not sub.read:
                    self._number(sub)
            else:
                self.note(sub)
                if len(sub.outcomes) == len(sub.ids):
                    self._settle(sub)

    def finished(self, item: Queued, state: MessageState, error: int | None) -> None:
        """A part of a message an ESME submitted ended; once all have, its
        receipt goes if it asked for one."""
        sub = self.submitted.get(item.id)
        if sub is None:  # submitted before this SMSC kept messages whole: a receipt per part
            if item.tp_srr and item.esme is not None:
                self._receipt_of_part(item, state, error)
            return
        sub.outcomes[item.id] = (state, error)
        if sub.shared:
            self._settle_shared(sub)
        elif len(sub.outcomes) == len(sub.ids):
            self._settle(sub)

    def _settle_shared(self, sub: Submitted) -> None:
        """A part of a message other nodes held parts of ended here: what this
        node saw of the others' ends is not the truth, the rows are.  Once
        the part's end is committed, the rows say whether every part has
        ended and, if so, make this node the one that sends its receipt
        (``QueueRepository.settle_shared``); the node that ends the last part
        does, whichever it is."""
        if self._none_here(sub):
            self._forget(sub)

        def settled(outcomes: dict[int, tuple[MessageState, int | None]] | None) -> None:
            if outcomes is not None:
                sub.outcomes = outcomes
                self._settle(sub)

        d = self.door.store.settle_shared(sub.id, self.door.now())
        d.addCallback(settled)
        d.addErrback(
            lambda f: log.error("could not settle message %d: %s", sub.id, f.getErrorMessage())
        )

    def _settle(self, sub: Submitted) -> None:
        """Every part ended: the message's one receipt, if it asked for one."""
        self._forget(sub)
        final, err = fate(sub.outcomes.values())
        delivered = final is MessageState.DELIVERED
        sub.done = True
        if p.wants_receipt(sub.registered_delivery, delivered):
            # The receipt's row names the message: a restart before the
            # settling below commits knows it was made.
            self.receipt(
                sub.esme,
                sub.id,
                sub.source,
                sub.recipient,
                sub.submitted_at,
                final,
                err,
                sub.text,
                len(sub.ids),
                message_state=sub.forced,
                report_for=sub.id,
            )
        self.door.store.settle_submitted(sub.id, self.door.now())

    def _receipt_of_part(self, item: Queued, state: MessageState, error: int | None) -> None:
        assert item.esme is not None
        source = source_address(item.originator, 1 if item.originator.startswith("+") else 0, 1)
        text = ""
        with contextlib.suppress(PDUError):
            tpdu = decode_tpdu(item.tpdu, Direction.MT)
            if isinstance(tpdu, SmsDeliver) and isinstance(tpdu.tp_ud.body, str):
                text = tpdu.tp_ud.body
        self.receipt(
            item.esme, item.id, source, item.recipient, item.submitted_at, state, error, text, 1
        )

    def receipt(
        self,
        esme: str,
        message_id: int,
        source: Address,
        recipient: str,
        submitted_at: datetime,
        state: MessageState,
        error: int | None,
        text: str,
        parts: int,
        *,
        esm_class: int = DELIVERY_RECEIPT,
        stat: str | None = None,
        message_state: int | None = None,
        report_for: int | None = None,
    ) -> None:
        if self._held is not None:
            again = (esme, message_id, source, recipient, submitted_at, state, error, text, parts)
            self._held.append(
                partial(self.receipt, *again, esm_class=esm_class, stat=stat,
                        message_state=message_state, report_for=report_for)
            )  # fmt: skip
            return
        fmt = self.format
        door = self.door
        try:
            receipt_id = door.new_id()
        except IdsExhausted:  # a cluster node ahead of its next id block: shortly
            again = (esme, message_id, source, recipient, submitted_at, state, error, text, parts)
            door.smsc.clock.callLater(
                ID_RETRY, lambda: self.receipt(*again, esm_class=esm_class, stat=stat,
                                               message_state=message_state, report_for=report_for)
            )  # fmt: skip
            return
        done = door.now()
        message_state = message_state or STATE[state]
        body = fmt.text(
            message_id,
            submitted=parts,
            delivered=parts if state is MessageState.DELIVERED else 0,
            submit_date=door.local(submitted_at),
            done_date=door.local(done),
            message_state=message_state,
            error=error or 0,
            text=text,
            stat=stat,
        )
        deliver = p.DeliverSm(
            sequence_number=1,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr=recipient.lstrip("+"),
            dest_addr_ton=source.ton,
            dest_addr_npi=source.npi,
            destination_addr=source.number,
            esm_class=esm_class,
            data_coding=fmt.data_coding,
            short_message=encode_text(body, fmt.data_coding, self.alphabet),
            tlvs=p.Tlvs(
                receipted_message_id=fmt.message_id(message_id), message_state=message_state
            ),
        )
        item = Queued(
            id=receipt_id,
            kind=MessageKind.ESME,
            originator=recipient,
            recipient=str(source)[:32],
            tp_mr=None,
            tp_srr=False,
            tpdu=p.encode(deliver),
            submitted_at=done,
            expires_at=done + door.config.default_validity,
            esme=esme,
        )
        d = door.queue_for_esme(item, report_for)
        d.addErrback(lambda f: log.error("could not store a receipt: %s", f.getErrorMessage()))

    # -- read receipts ---------------------------------------------------------------------

    @staticmethod
    def remember_number(sub: Submitted, first: bytes) -> None:
        """Keep the message number ``first`` (the message's first SMS-DELIVER)
        carries, if any, so that a read of it reaches the ESME."""
        with contextlib.suppress(PDUError):
            tpdu = decode_tpdu(first, Direction.MT)
            if isinstance(tpdu, SmsDeliver):
                sub.number = find_message_number(tpdu.tp_ud.udh)

    def _number(self, sub: Submitted) -> None:
        assert sub.number is not None
        key = (str(sub.source), sub.recipient, sub.number)
        self.numbered[key] = sub
        self.numbered.move_to_end(key)
        while len(self.numbered) > MAX_NUMBERED:
            self.numbered.popitem(last=False)

    def read(self, sender: str, receiver: str, number: int) -> None:
        """``receiver`` read message ``number`` from ``sender``: if an ESME
        sent (and numbered) it, the ESME is told, once."""
        sub = self.numbered.pop((sender, receiver, number), None)
        if sub is None:
            return
        sub.read = True
        self.door.store.read_submitted(sub.id, self.door.now())
        self.receipt(
            sub.esme,
            sub.id,
            sub.source,
            receiver,
            sub.submitted_at,
            MessageState.DELIVERED,
            None,
            sub.text,
            len(sub.ids),
            esm_class=USER_ACK,
            stat="READ",
        )
