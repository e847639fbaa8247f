"""The one error type the codec raises for bad input."""

from __future__ import annotations


class PDUError(ValueError):
    """A PDU (or a value to encode) that does not follow TS 23.040 / 23.038.

    ``offset`` is the octet where decoding stopped (0 is the first octet of the
    input, the SMSC address field included when there is one); it is ``None`` when
    the problem is a value given to an encoder rather than octets.
    """

    def __init__(self, reason: str, offset: int | None = None) -> None:
        self.reason = reason
        self.offset = offset
        super().__init__(f"at octet {offset}: {reason}" if offset is not None else reason)
