"""What handsets submit: an RP-DATA's SMS-SUBMIT becomes a stored SMS-DELIVER
for its recipient (or a deliver_sm, for a number an ESME is routed), and the
handset gets its RP-ACK only once the row is committed.

TP-RD (TS 23.040 §9.2.3.25): an SMS-SUBMIT with TP-RD 1 whose TP-MR and TP-DA
are those of an SMS from the same sender still held for its recipient is the
sender's resend after a lost RP-ACK: it is refused with RP-ERROR 21 carrying
an SMS-SUBMIT-REPORT with TP-FCS 0xC5 ("SM rejected, duplicate SM"), and not
stored again.  With TP-RD 0 it is accepted, as the bit asks."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from pdu import (
    Address,
    Direction,
    EnhancedVP,
    PDUError,
    RelativeVP,
    SmsSubmit,
    SmsSubmitReport,
    decode,
    encode,
)
from pdu.address import TON_ALPHANUMERIC, TON_INTERNATIONAL, encode_address
from pdu.status import FCS_DUPLICATE
from pdu.timestamp import encode_timestamp
from pdu.tpdu import deliver_from_submit
from pdu.udh import find_concat
from radiolink import rp
from storage.errors import reason as in_one_line

from .delivery import Station
from .idblocks import IdsExhausted
from .models import MessageKind
from .queued import Queued

if TYPE_CHECKING:
    from twisted.python.failure import Failure

    from .core import Smsc
    from .links import Link

log = logging.getLogger(__name__)
C = rp.RpCause


def msisdn_of(address: Address) -> str | None:
    """The subscriber number an address names, or None (alphanumeric)."""
    if address.ton == TON_ALPHANUMERIC or not address.number:
        return None
    if address.ton == TON_INTERNATIONAL:
        return "+" + address.number
    return address.number


class Submissions:
    def __init__(self, smsc: Smsc) -> None:
        self.smsc = smsc
        # TP-SCTS and the SMS-SUBMIT-REPORT change once a second: (second, octets).
        self._stamp: tuple[int, bytes, bytes] = (-1, b"", b"")

    def _stamps(self, now: datetime) -> tuple[bytes, bytes]:
        """TP-SCTS for ``now`` and the SMS-SUBMIT-REPORT that carries it, both
        encoded once a second."""
        second = int(now.timestamp())
        if self._stamp[0] != second:
            local = self.smsc.local(now)
            self._stamp = (
                second,
                encode_timestamp(local),
                encode(SmsSubmitReport(tp_scts=local)),
            )
        return self._stamp[1], self._stamp[2]

    def submitted(self, link: Link, msisdn: str, mr: int, rp_ud: bytes) -> None:
        smsc = self.smsc
        station = smsc.delivery.station(msisdn)
        try:
            tpdu = decode(rp_ud, Direction.MO)
        except PDUError as exc:
            self._reject(link, mr, C.INVALID_MANDATORY_INFORMATION, station, str(exc))
            return
        if not isinstance(tpdu, SmsSubmit):
            # SMS-COMMAND is not offered by this SMSC; a DELIVER-REPORT has no place here.
            self._reject(
                link, mr, C.REQUESTED_FACILITY_NOT_IMPLEMENTED, station, f"{tpdu.name} unsupported"
            )
            return
        esmes = smsc.esme
        recipient = msisdn_of(tpdu.tp_da)
        if recipient is None and esmes is not None and tpdu.tp_da.number:
            recipient = tpdu.tp_da.number  # a short code, perhaps an ESME's
        esme = esmes.route(recipient) if esmes is not None and recipient else None
        if recipient is None:
            self._reject(link, mr, C.UNASSIGNED_NUMBER, station, "no subscriber None")
            return
        known = esme is not None or bool(smsc.delivery.station(recipient).imsi)
        if not known and smsc.config.unknown_recipient == "reject":
            if smsc.cluster is None:
                self._reject(link, mr, C.UNASSIGNED_NUMBER, station, f"no subscriber {recipient}")
                return

            def looked_up(found: bool) -> None:
                if smsc.radio.network.link_of(msisdn) is not link:
                    return  # the sender left meanwhile: nothing stored, nothing acknowledged
                if found:
                    self._accept(link, msisdn, mr, rp_ud, tpdu, station, recipient, None)
                else:
                    self._reject(
                        link, mr, C.UNASSIGNED_NUMBER, station, f"no subscriber {recipient}"
                    )

            def failed(failure: Failure) -> None:
                log.error("could not look up a recipient: %s", failure.getErrorMessage())
                self._reject(link, mr, C.TEMPORARY_FAILURE, station, "storage failed")

            # It may have attached on another node: the answer waits for the
            # shared table (smsc.node.ClusterNode.known).
            smsc.cluster.known(recipient).addCallbacks(looked_up, failed)
            return
        self._accept(link, msisdn, mr, rp_ud, tpdu, station, recipient, esme)

    def _accept(
        self,
        link: Link,
        msisdn: str,
        mr: int,
        rp_ud: bytes,
        tpdu: SmsSubmit,
        station: Station,
        recipient: str,
        esme: str | None,
    ) -> None:
        """Store a submit whose recipient is accepted; RP-ACK once committed."""
        smsc = self.smsc
        esmes = smsc.esme
        now = smsc.now()
        if tpdu.tp_rd and (
            esmes.holds(esme, station.msisdn, recipient, tpdu.tp_mr)
            if esme is not None and esmes is not None
            else smsc.delivery.holds(station.msisdn, recipient, tpdu.tp_mr)
        ):
            # TP-RD 1: the sender did not see our RP-ACK and sent it again.
            report = encode(SmsSubmitReport(tp_scts=smsc.local(now), tp_fcs=FCS_DUPLICATE))
            why = f"duplicate of TP-MR {tpdu.tp_mr} to {recipient}, still held"
            self._reject(link, mr, C.SHORT_MESSAGE_TRANSFER_REJECTED, station, why, report)
            return
        try:
            message_id = smsc.new_id()
        except IdsExhausted as exc:  # a cluster node ahead of its next id block: later
            self._reject(link, mr, C.CONGESTION, station, str(exc))
            return
        tp_scts, submit_report = self._stamps(now)
        if not station.tp_oa:
            station.tp_oa = encode_address(Address.parse(station.msisdn))
        item = Queued(
            id=message_id,
            kind=MessageKind.SMS,
            originator=station.msisdn,
            recipient=recipient,
            tp_mr=tpdu.tp_mr,
            tp_srr=tpdu.tp_srr,
            # TP-OA the sender, TP-SCTS now; TP-PID, TP-DCS, TP-UD as submitted.
            tpdu=deliver_from_submit(rp_ud, station.tp_oa, tp_scts),
            submitted_at=now,
            expires_at=self._expiry(now, tpdu),
        )
        if esme is not None and esmes is not None:
            # MO to an ESME: what it gets is a deliver_sm, not an SMS-DELIVER.
            item.kind, item.esme = MessageKind.ESME, esme
            try:
                item.tpdu = esmes.mo(item, tpdu)
            except ValueError as exc:
                self._reject(link, mr, C.INVALID_MANDATORY_INFORMATION, station, str(exc))
                return

        def committed(_: None, failure: BaseException | None) -> None:
            if failure is not None:
                log.error("could not store a submit: %s", in_one_line(failure))
                self._reject(link, mr, C.TEMPORARY_FAILURE, station, "storage failed")
                return
            smsc.metrics.submits_accepted += 1
            if smsc.radio.network.link_of(msisdn) is link:
                smsc.radio.ack(link, mr, submit_report)
            if smsc.watchers:
                # A part of a concatenated message says which (single parts: nothing more).
                concat = find_concat(tpdu.tp_ud.udh) if tpdu.tp_ud.udh else None
                part = {"part": concat.seq, "parts": concat.total} if concat else {}
                smsc.watchers.emit(
                    "accepted",
                    id=item.id,
                    sender=item.originator,
                    recipient=recipient,
                    tp_mr=tpdu.tp_mr,
                    submit=rp_ud,  # the SMS-SUBMIT's octets, for the console's inspector
                    **part,
                )
            smsc.enqueue(item)

        smsc.store.insert_message([item], None, committed)

    def _reject(
        self,
        link: Link,
        mr: int,
        cause: int,
        station: Station,
        why: str,
        report: bytes | None = None,
    ) -> None:
        """RP-ERROR ``cause``, with ``report`` (an SMS-SUBMIT-REPORT, TP-FCS form) if given."""
        smsc = self.smsc
        smsc.metrics.submits_rejected += 1
        smsc.radio.peer_log.info(f"submits refused to {station.msisdn}",
                                 "%s: RP-ERROR %d for RP-MR %d: %s", station.msisdn, cause, mr,
                                 why)  # fmt: skip
        smsc.watchers.emit("rejected", sender=station.msisdn, cause=cause, reason=why)
        if smsc.radio.network.link_of(station.msisdn) is link:
            smsc.radio.error(link, mr, cause, report)

    def _expiry(self, now: datetime, tpdu: SmsSubmit) -> datetime:
        vp = tpdu.tp_vp
        if isinstance(vp, RelativeVP):
            return now + vp.duration
        if isinstance(vp, datetime):
            return vp
        if isinstance(vp, EnhancedVP) and vp.duration is not None:
            return now + vp.duration
        return now + self.smsc.config.default_validity
