"""``PduReader``: a TCP byte stream split into SMPP PDUs.

Apart from ``smpp34.codec`` because it is the one stateful piece: it holds
the octets of an incomplete PDU between reads.  It finds where each PDU ends
from its first four octets, the command_length (§3.2), and decodes it with
``decode``.
"""

from __future__ import annotations

from .codec import decode
from .constants import HEADER_LENGTH, MAX_COMMAND_LENGTH
from .constants import CommandStatus as _S
from .errors import SmppError
from .pdus import Pdu


class PduReader:
    """Splits a byte stream into PDUs, whatever the TCP segmentation.

    ``feed`` returns, in order, each complete PDU or, in its place, the
    SmppError it raised (carrying its sequence_number and command_id, so the
    session can answer ``error.response()``).  A command_length below 16 or
    above ``max_command_length`` means the framing is lost: the PDUs before it
    are still returned, then a fatal SmppError (ESME_RINVCMDLEN), and from then
    on ``feed`` returns nothing; the connection should be closed.
    """

    def __init__(self, max_command_length: int = MAX_COMMAND_LENGTH) -> None:
        self.max_command_length = max_command_length
        self._buf = bytearray()
        self.failed: SmppError | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> list[Pdu | SmppError]:
        if self.failed is not None:
            return []
        buf = self._buf
        buf += data
        out: list[Pdu | SmppError] = []
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            length = int.from_bytes(buf[pos : pos + 4], "big")
            if not HEADER_LENGTH <= length <= self.max_command_length:
                have = n - pos
                self.failed = SmppError(
                    _S.ESME_RINVCMDLEN,
                    f"command_length {length} is not {HEADER_LENGTH}-{self.max_command_length}:"
                    " framing lost",
                    0,
                    int.from_bytes(buf[pos + 12 : pos + 16], "big") if have >= 16 else None,
                    int.from_bytes(buf[pos + 4 : pos + 8], "big") if have >= 8 else None,
                    fatal=True,
                )
                out.append(self.failed)
                buf.clear()
                return out
            if n - pos < length:
                break
            end = pos + length
            try:
                out.append(decode(buf[pos:end]))
            except SmppError as exc:
                out.append(exc)
            pos = end
        del buf[:pos]
        return out

    @property
    def pending(self) -> int:
        """Octets of an incomplete PDU held back."""
        return len(self._buf)
