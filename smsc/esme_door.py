"""The SMSC's door for its SMPP gateway: what ESMEs submit enters the same
store and forward as what handsets submit, and the deliver_sms owed to ESMEs
are rows of the same queue.

``EsmeSink`` is what the core needs of the gateway; ``EsmeDoor`` is all the
gateway needs of the core.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, SupportsBytes

from twisted.internet.defer import Deferred, succeed

from pdu import SmsSubmit
from pdu import status as tp_st
from radiolink.network import is_msisdn
from txkit.watchers import Watchers

from .idblocks import IdsExhausted
from .models import MessageKind, MessageState
from .queued import Queued
from .repository import MessageStatus, QueueRepository
from .submitted import Submitted

if TYPE_CHECKING:
    from .core import Smsc


class EsmeSink(Protocol):
    """What the SMSC needs of its SMPP door (``smsc.smpp.gateway``)."""

    def route(self, number: str) -> str | None:
        """The ESME (system_id) an MO message to ``number`` goes to, or None."""

    def mo(self, item: Queued, submit: SmsSubmit) -> bytes:
        """The deliver_sm that carries an MO message to its ESME."""

    def enqueue(self, item: Queued) -> None:
        """A committed ``esme`` message (a deliver_sm) to send its ESME."""

    def withdraw(self, esme: str) -> list[Queued]:
        """Take back the deliver_sms waiting for ``esme`` (not those in flight)."""

    def holds(self, esme: str, originator: str, recipient: str, tp_mr: int) -> bool:
        """Whether an MO message with this TP-MR still waits for ``esme`` (TP-RD)."""

    def finished(self, item: Queued, state: MessageState, error: int | None) -> None:
        """An SMS an ESME submitted has ended: its receipt, if asked for."""

    def take_up(self, pending: list[Submitted], numbered: list[Submitted]) -> None:
        """What a previous run left of the messages ESMEs submitted: owed a
        receipt, or numbered and not read yet (before serving)."""

    def released(self, ids: list[int]) -> None:
        """Parts another node of a cluster now holds: their receipt is its to make."""

    def recalled(
        self, command: str, esme: str, ids: tuple[int, ...], short_message: bytes
    ) -> Deferred[bool]:
        """cancel_sm or replace_sm (``command``) of parts held here, asked by
        another node (``smsc.recall``): True once done and committed."""


#: What ``submit_from_esme`` tells once it is settled: the parts, committed,
#: or why they are not.
Accepted = Callable[[list[Queued] | BaseException], None]


class EsmeDoor:
    def __init__(self, smsc: Smsc) -> None:
        self.smsc = smsc
        self.config = smsc.config
        #: What ESMEs submitted, is not final yet and is held here (a cluster's
        #: other nodes hold the rest: ``recall``): query_sm, cancel_sm,
        #: replace_sm look here.
        self.from_esmes: dict[int, Queued] = {}
        self._scts: tuple[int, datetime | None] = (-1, None)  # (second, TP-SCTS)

    @property
    def store(self) -> QueueRepository:
        """The queue's storage, where the receipts owed are kept too."""
        return self.smsc.store

    @property
    def watchers(self) -> Watchers:
        """The core's watchers: the door's events go to the same ones."""
        return self.smsc.watchers

    # -- time and ids, as the core keeps them ------------------------------------------

    def now(self) -> datetime:
        return self.smsc.now()

    def local(self, when: datetime) -> datetime:
        return self.smsc.local(when)

    def scts(self) -> datetime:
        """Now, as TP-SCTS shows it (the SMSC's zone, whole seconds): made
        once a second."""
        second, scts = self._scts
        if scts is None or second != int(self.smsc.clock.seconds()):
            now = self.smsc.now()
            scts = self.smsc.local(now)
            self._scts = (int(now.timestamp()), scts)
        return scts

    def new_id(self) -> int:
        return self.smsc.new_id()

    # -- in ----------------------------------------------------------------------------

    def submit_from_esme(
        self,
        esme: str,
        originator: str,
        recipient: str,
        tpdus: list[bytes],
        then: Accepted,
        *,
        receipt: bool,
        expires_at: datetime | None = None,
        deliver: bool = True,
        command: str = "submit_sm",
        sub: Submitted | None = None,
        pdu: SupportsBytes = b"",
    ) -> None:
        """Store and forward SMS-DELIVERs an ESME submitted (a message's parts)
        to ``recipient``; ``then(parts)`` once all are committed, in one
        transaction, which is when submit_sm_resp may go; ``then(error)`` if
        they are not.  ``sub``, given its parts' ids here, is committed with
        them.  ``then(ValueError)`` for a recipient the SMSC refuses: at once,
        or on a cluster node once the number is looked up.
        ``deliver`` False keeps them from their recipient: a fault is about to
        end them (``finish``).  The watchers hear of ``command`` (submit_sm,
        data_sm) once committed, before any part goes on its way, with ``pdu``,
        the request's octets, for the console's inspector."""
        smsc = self.smsc
        if not is_msisdn(recipient):
            then(ValueError(f"{recipient!r} is not a subscriber number"))
            return
        args = (
            esme,
            originator,
            recipient,
            tpdus,
            then,
            receipt,
            expires_at,
            deliver,
            command,
            sub,
            pdu,
        )
        known = bool(smsc.delivery.station(recipient).imsi)
        if not known and self.config.unknown_recipient == "reject":
            if smsc.cluster is None:
                then(ValueError(f"no subscriber {recipient}"))
                return

            def looked_up(found: bool) -> None:
                if found:
                    self._store(*args)
                else:
                    then(ValueError(f"no subscriber {recipient}"))

            # It may have attached on another node: the response waits for the
            # shared table (smsc.node.ClusterNode.known).
            smsc.cluster.known(recipient).addCallbacks(looked_up, lambda f: then(f.value))
            return
        self._store(*args)

    def _store(
        self,
        esme: str,
        originator: str,
        recipient: str,
        tpdus: list[bytes],
        then: Accepted,
        receipt: bool,
        expires_at: datetime | None,
        deliver: bool,
        command: str,
        sub: Submitted | None,
        pdu: SupportsBytes,
    ) -> None:
        """``submit_from_esme`` once its recipient is accepted."""
        smsc = self.smsc
        now = smsc.now()
        try:
            first = smsc.new_id(len(tpdus))  # contiguous: esme_message names them id..id+parts-1
        except IdsExhausted as exc:  # a cluster node ahead of its next id block: later
            then(exc)
            return
        items = [
            Queued(
                id=first + i,
                kind=MessageKind.SMS,
                originator=originator[:32],
                recipient=recipient,
                tp_mr=None,
                tp_srr=receipt,
                tpdu=tpdu,
                submitted_at=now,
                expires_at=expires_at or now + self.config.default_validity,
                esme=esme,
            )
            for i, tpdu in enumerate(tpdus)
        ]
        if sub is not None:
            sub.ids, sub.submitted_at, sub.recipient = tuple(i.id for i in items), now, recipient
        if not deliver and smsc.cluster is not None:
            # Ended here once committed: claimed by this node as inserted.
            smsc.cluster.keep(item.id for item in items)

        def committed(_: None, failure: BaseException | None) -> None:
            if failure is not None:
                then(failure)
                return
            smsc.metrics.submits_accepted += len(items)
            if smsc.watchers:
                smsc.watchers.emit(
                    command,
                    id=items[0].id,
                    system_id=esme,
                    sender=items[0].originator,
                    recipient=recipient,
                    parts=len(items),
                    pdu=pdu,
                )
            for item in items:
                self.from_esmes[item.id] = item
                if deliver and not smsc.enqueue(item):
                    del self.from_esmes[item.id]  # another node holds it, and its twin
            then(items)

        smsc.store.insert_message(items, sub, committed)

    def queue_for_esme(self, item: Queued, report_for: int | None = None) -> Deferred[None]:
        """Store a deliver_sm owed to an ESME (``item.kind`` esme: a receipt,
        ``report_for`` the message it is about), then hand it to the SMPP door."""

        def go(_: None) -> None:
            self.smsc.enqueue(item)

        return self.smsc.store.insert(item, report_for).addCallback(go)

    # -- what ESMEs submitted ----------------------------------------------------------

    def pending(self, message_id: int) -> Queued | None:
        """A message an ESME submitted that is not final yet."""
        return self.from_esmes.get(message_id)

    def recall(
        self, command: str, esme: str, message_id: int, short_message: bytes = b""
    ) -> Deferred[bool]:
        """cancel_sm or replace_sm of a message whose parts this node does not
        hold: another node of the cluster may (``smsc.recall``); True once
        done and committed.  On a single node: False."""
        cluster = self.smsc.cluster
        if cluster is None:
            return succeed(False)
        return cluster.recall.message(command, esme, message_id, short_message)

    def committed(self) -> Deferred[None]:
        """Fires once every write asked for so far is committed (what an
        answer acknowledges)."""
        return self.smsc.store.committed()

    def status(self, message_id: int) -> Deferred[MessageStatus | None]:
        """What the store says of a message (query_sm of a final one)."""
        return self.smsc.store.status(message_id)

    def waiting(self, message_id: int) -> bool:
        """Whether a message an ESME submitted is queued and not being delivered."""
        item = self.from_esmes.get(message_id)
        return item is not None and self.smsc.delivery.waiting(item)

    def end(
        self,
        message_id: int,
        state: MessageState = MessageState.DELETED,
        st: int = tp_st.ST_PERM_DELETED_BY_ORIGINATOR,
        cause: int | None = None,
    ) -> bool:
        """End a message an ESME submitted that is still waiting: cancel_sm
        (deleted), or a fault that fails its delivery.  False if it is final
        already or being delivered right now."""
        item = self.from_esmes.get(message_id)
        if item is None or not self.smsc.delivery.withdraw(item):
            return False
        self.smsc.finish(item, state, st, cause)
        return True

    def replace(self, message_id: int, tpdu: bytes) -> bool:
        """Give a waiting message an ESME submitted a new SMS-DELIVER
        (replace_sm); False if it is final already or being delivered."""
        item = self.from_esmes.get(message_id)
        if item is None or not self.smsc.delivery.waiting(item):
            return False
        item.tpdu = tpdu
        self.smsc.store.replace_tpdu(item.id, tpdu)
        return True

    def finish(self, item: Queued, state: MessageState, st: int, cause: int | None = None) -> None:
        """End a deliver_sm the gateway sent, or a part a fault ends."""
        self.smsc.finish(item, state, st, cause)

    def ended(self, item: Queued) -> None:
        self.from_esmes.pop(item.id, None)
