"""Delivery receipts as SMPP ESMEs read them (SMPP 3.4 Appendix B).

The text is not standardised: Appendix B gives the usual form

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
    stat:DDDDDDD err:E text:...

and peers differ in the id (decimal or hex, case, padding), the dates
(with or without seconds) and which fields they write.  The commonest
complaint about SMSCs is a receipt whose id does not match the message_id of
the submit_sm_resp, so one ``ReceiptFormat`` makes both: the id in
``submit_sm_resp``, in ``receipted_message_id`` and in the text is always
``format.message_id(n)``, and ``parse_message_id`` reads it back for
``query_sm``, ``cancel_sm`` and ``replace_sm``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

#: ``stat:`` of each message_state (SMPP 3.4 §5.2.28, Appendix B).
STAT = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}
#: The fields of Appendix B, in its order.
FIELDS = ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err", "text")
ID_STYLES = ("decimal", "hex", "HEX")
#: The data_coding a receipt may be written in: 0 (the SMSC default alphabet,
#: as ``default_alphabet`` says, the same as every other data_coding 0 this
#: SMSC sends or reads), 1 (IA5, i.e. ASCII) or 3 (Latin-1).
RECEIPT_CODINGS = (0, 1, 3)


@dataclass(frozen=True, slots=True)
class ReceiptFormat:
    """How this SMSC writes message ids and receipts (configurable, since
    ESMEs disagree).  ``width`` zero-pads the id (0: no padding);
    ``fields`` are the Appendix B fields written, in its order;
    ``text_length`` the characters of the message kept after ``text:``;
    ``data_coding`` the alphabet the text is written in (``RECEIPT_CODINGS``).
    """

    id_style: str = "decimal"
    width: int = 10
    fields: tuple[str, ...] = FIELDS
    date_seconds: bool = False
    text_length: int = 20
    data_coding: int = 0

    def __post_init__(self) -> None:
        if self.id_style not in ID_STYLES:
            raise ValueError(f"id style {self.id_style!r}: use one of {', '.join(ID_STYLES)}")
        unknown = [f for f in self.fields if f not in FIELDS]
        if unknown:
            raise ValueError(f"unknown receipt fields {unknown}: use {', '.join(FIELDS)}")
        if not 0 <= self.width <= 64 or not 0 <= self.text_length <= 160:
            raise ValueError("width is 0 to 64, text_length 0 to 160")
        if self.data_coding not in RECEIPT_CODINGS:
            raise ValueError(f"data_coding {self.data_coding}: use one of {RECEIPT_CODINGS}")

    def message_id(self, number: int) -> str:
        """The message_id of message ``number`` as every PDU carries it."""
        spec = {"decimal": "d", "hex": "x", "HEX": "X"}[self.id_style]
        return format(number, f"0{self.width}{spec}" if self.width else spec)

    def parse_message_id(self, text: str) -> int | None:
        """The message ``number`` an ESME names, or None if it names none."""
        digits = text.strip()
        base = 10 if self.id_style == "decimal" else 16
        if not digits or len(digits) > 20:
            return None
        try:
            return int(digits, base)
        except ValueError:
            return None

    def _date(self, when: datetime) -> str:
        return when.strftime("%y%m%d%H%M%S" if self.date_seconds else "%y%m%d%H%M")

    def text(
        self,
        number: int,
        *,
        submitted: int,
        delivered: int,
        submit_date: datetime,
        done_date: datetime,
        message_state: int,
        error: int,
        text: str,
        stat: str | None = None,
    ) -> str:
        """The receipt's short_message, in Appendix B's form (``stat``
        overrides the word of ``message_state``: ``READ`` for a read receipt)."""
        values = {
            "id": self.message_id(number),
            "sub": f"{min(submitted, 999):03d}",
            "dlvrd": f"{min(delivered, 999):03d}",
            "submit date": self._date(submit_date),
            "done date": self._date(done_date),
            "stat": stat or STAT.get(message_state, "UNKNOWN"),
            "err": f"{min(error, 999):03d}",
            "text": text[: self.text_length],
        }
        return " ".join(f"{name}:{values[name]}" for name in self.fields)


_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err|text):")


def parse(text: str) -> dict[str, str]:
    """The fields of a receipt text (any order, any subset); ``text`` runs to
    the end.  For tests and tools reading what an SMSC sent."""
    found: dict[str, str] = {}
    matches = list(_FIELD.finditer(text))
    for i, m in enumerate(matches):
        name = m.group(1)
        end = len(text) if name == "text" or i + 1 == len(matches) else matches[i + 1].start()
        found[name] = text[m.end() : end].strip() if name != "text" else text[m.end() :]
        if name == "text":
            break
    return found
