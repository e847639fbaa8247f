"""Which explainer reads a PDU: the TPDU of TS 23.040 (``pdu.explain``), the RP
message around it (``radiolink.explain``) or an SMPP PDU (``smpp34.explain``).

Shared by ``smsemu pdu explain --layer`` and the admin API's ``/explain`` (the
console's inspector), so both say the same of the same octets.  ``auto`` takes
octets whose first four octets are their own length and whose command_id is
an SMPP command as SMPP, anything else as a TPDU: an RP message is not told
apart from a TPDU by its octets alone, so it is asked for (``rp``).
"""

from __future__ import annotations

from pdu.explain import LAYERS, Explanation, explain
from pdu.tpdu import Direction
from radiolink.explain import explain_rp
from smpp34.constants import HEADER_LENGTH
from smpp34.explain import explain_smpp
from smpp34.pdus import PDU_CLASSES

__all__ = ["LAYERS", "detect_layer", "explain_layer"]


def detect_layer(data: bytes) -> str:
    """'smpp' for octets that frame as one SMPP PDU, else 'tpdu'."""
    if (
        len(data) >= HEADER_LENGTH
        and int.from_bytes(data[:4], "big") == len(data)
        and int.from_bytes(data[4:8], "big") in PDU_CLASSES
    ):
        return "smpp"
    return "tpdu"


def explain_layer(
    data: bytes, layer: str, direction: Direction, *, sca: bool = False
) -> tuple[str, Explanation]:
    """The layer the octets were read as, and their rows; ValueError for a
    layer not in LAYERS.  ``direction`` and ``sca`` only matter to a TPDU."""
    if layer not in LAYERS:
        raise ValueError(f"layer {layer!r}: expected one of {', '.join(LAYERS)}")
    if layer == "auto":
        layer = "tpdu" if sca else detect_layer(data)
    if layer == "rp":
        return layer, explain_rp(data)
    if layer == "smpp":
        return layer, explain_smpp(data)
    return layer, explain(data, direction, sca=sca)
