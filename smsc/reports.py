"""SMS-STATUS-REPORTs: what the SMSC tells a handset that set TP-SRR about
the message it sent.  A report is a message like any other: stored, queued
for the sender, delivered and retried."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pdu import Address, SmsStatusReport, encode

from .idblocks import ID_RETRY, IdsExhausted
from .models import MessageKind
from .queued import Queued

if TYPE_CHECKING:
    from .core import Smsc

log = logging.getLogger(__name__)


def report_address(number: str) -> Address:
    """TP-RA: a subscriber number, or an ESME's short code as it was given."""
    return Address.parse(number) if number.startswith("+") else Address(number, 0, 1)


class StatusReports:
    def __init__(self, smsc: Smsc) -> None:
        self.smsc = smsc

    def report(self, item: Queued, st: int) -> None:
        """Queue an SMS-STATUS-REPORT about ``item`` for its sender."""
        smsc = self.smsc
        try:
            message_id = smsc.new_id()
        except IdsExhausted:  # a cluster node ahead of its next id block: shortly
            smsc.clock.callLater(ID_RETRY, self.report, item, st)
            return
        now = smsc.now()
        report = SmsStatusReport(
            tp_mr=item.tp_mr or 0,
            tp_ra=report_address(item.recipient),
            tp_scts=smsc.local(item.submitted_at),
            tp_dt=smsc.local(now),
            tp_st=st,
        )
        out = Queued(
            id=message_id,
            kind=MessageKind.REPORT,
            originator=smsc.config.address,
            recipient=item.originator,
            tp_mr=item.tp_mr,
            tp_srr=False,
            tpdu=encode(report),
            submitted_at=now,
            expires_at=now + smsc.config.default_validity,
        )
        smsc.metrics.reports_made += 1
        d = smsc.store.insert(out, report_for=item.id)

        def committed(_: object) -> None:
            if smsc.watchers:
                smsc.watchers.emit(
                    "report", id=out.id, about=item.id, recipient=out.recipient, tp_st=st
                )
            smsc.enqueue(out)

        d.addCallback(committed)
        d.addErrback(lambda f: log.error("could not store a report: %s", f.getErrorMessage()))
