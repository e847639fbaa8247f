"""A decoded PDU as one JSON-ready dict keyed by TS 23.040 names: the contract
of ``smsemu pdu decode --json``, which scripts rely on (see the README).

Every key is always there, null where the TPDU type has no such field, so a
script can read any key of any PDU.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from .address import Address
from .dcs import DataCodingScheme
from .message_number import read_number
from .reader import Span
from .tpdu import (
    PI_DCS,
    PI_PID,
    PI_UDL,
    Direction,
    SmsCommand,
    SmsDeliver,
    SmsDeliverReport,
    SmsStatusReport,
    SmsSubmit,
    SmsSubmitReport,
    Tpdu,
    decode,
    decode_sca,
    udhi_of,
)
from .udh import (
    IEI_MESSAGE_NUMBER,
    InformationElement,
    find_concat,
    find_message_number,
    find_ports,
    iei_name,
)
from .validity import EnhancedVP, RelativeVP, ValidityPeriod

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def address_json(a: Address | None) -> dict[str, Any] | None:
    if a is None:
        return None
    return {"number": str(a), "ton": a.ton, "npi": a.npi}


def dcs_json(dcs: DataCodingScheme | None) -> dict[str, Any] | None:
    if dcs is None:
        return None
    waiting = dcs.waiting_indication
    return {
        "value": dcs.value,
        "alphabet": dcs.alphabet.value,
        "class": dcs.message_class,
        "group": dcs.group,
        "compressed": dcs.compressed,
        "waiting": None if waiting is None else {"active": waiting[0], "type": waiting[1]},
    }


def _time(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def vp_json(vp: ValidityPeriod) -> dict[str, Any] | None:
    if vp is None:
        return None
    if isinstance(vp, RelativeVP):
        return {
            "format": "relative",
            "value": vp.value,
            "seconds": int(vp.duration.total_seconds()),
        }
    if isinstance(vp, EnhancedVP):
        d = vp.duration
        return {
            "format": "enhanced",
            "raw": vp.raw.hex(),
            "seconds": None if d is None else int(d.total_seconds()),
            "single_shot": vp.single_shot,
        }
    return {"format": "absolute", "until": vp.isoformat()}


def ie_json(ie: InformationElement, iei: int) -> dict[str, Any]:
    out: dict[str, Any] = {"iei": ie.iei, "data": ie.data.hex(), "name": iei_name(ie.iei)}
    concat = find_concat((ie,))
    if concat is not None:
        out["concat"] = {"ref": concat.ref, "total": concat.total, "seq": concat.seq}
    ports = find_ports((ie,))
    if ports is not None:
        out["ports"] = {"destination": ports.destination, "originator": ports.originator}
    number = find_message_number((ie,), iei)
    if number is not None:
        out["message_number"] = number
    return out


def parameter_indicator(tpdu: Tpdu) -> int | None:
    """TP-PI (TS 23.040 §9.2.3.27) as the fields present imply it: mandatory in
    the two reports, so always a number there (0 when nothing follows); in a
    status report only when an optional field is present; None elsewhere."""
    if not isinstance(tpdu, SmsSubmitReport | SmsDeliverReport | SmsStatusReport):
        return None
    pi = (PI_PID if tpdu.tp_pid is not None else 0) | (PI_DCS if tpdu.tp_dcs is not None else 0)
    pi |= PI_UDL if tpdu.tp_ud is not None else 0
    return None if isinstance(tpdu, SmsStatusReport) and not pi else pi


def to_json(
    tpdu: Tpdu,
    *,
    sca: Address | None = None,
    udl: int | None = None,
    pi: int | None = None,
    message_number_iei: int = IEI_MESSAGE_NUMBER,
) -> dict[str, Any]:
    """The dict of the module docstring.  ``udl`` and ``pi`` are the octets as
    they stood in a decoded PDU; without them TP-UDL is null and TP-PI is
    what the fields present imply."""
    ud = None if isinstance(tpdu, SmsCommand) else tpdu.tp_ud
    udh = ud.udh if ud is not None else None
    text = ud.body if ud is not None and isinstance(ud.body, str) else None
    data = ud.body.hex() if ud is not None and isinstance(ud.body, bytes) else None
    number = read_number(text or "", udh, message_number_iei).number if ud else None
    concat = find_concat(udh)
    return {
        "tp_mti": tpdu.name,
        "sca": address_json(sca),
        "tp_oa": address_json(tpdu.tp_oa) if isinstance(tpdu, SmsDeliver) else None,
        "tp_da": address_json(tpdu.tp_da) if isinstance(tpdu, SmsSubmit | SmsCommand) else None,
        "tp_ra": address_json(tpdu.tp_ra) if isinstance(tpdu, SmsStatusReport) else None,
        "tp_mr": getattr(tpdu, "tp_mr", None),
        "tp_pid": getattr(tpdu, "tp_pid", None),
        "tp_dcs": dcs_json(getattr(tpdu, "tp_dcs", None)),
        "tp_scts": _time(getattr(tpdu, "tp_scts", None)),
        "tp_dt": _time(getattr(tpdu, "tp_dt", None)),
        "tp_vp": vp_json(tpdu.tp_vp) if isinstance(tpdu, SmsSubmit) else None,
        "tp_srr": getattr(tpdu, "tp_srr", None),
        "tp_sri": getattr(tpdu, "tp_sri", None),
        "tp_srq": getattr(tpdu, "tp_srq", None),
        "tp_mms": getattr(tpdu, "tp_mms", None),
        "tp_lp": getattr(tpdu, "tp_lp", None),
        "tp_rd": getattr(tpdu, "tp_rd", None),
        "tp_rp": getattr(tpdu, "tp_rp", None),
        "tp_st": getattr(tpdu, "tp_st", None),
        "tp_fcs": getattr(tpdu, "tp_fcs", None),
        "tp_ct": getattr(tpdu, "tp_ct", None),
        "tp_mn": getattr(tpdu, "tp_mn", None),
        "tp_pi": parameter_indicator(tpdu) if pi is None else pi,
        "tp_cdl": len(tpdu.tp_cd) if isinstance(tpdu, SmsCommand) else None,
        "tp_cd": tpdu.tp_cd.hex() if isinstance(tpdu, SmsCommand) else None,
        "tp_udl": udl,
        "tp_udhi": udhi_of(tpdu),
        "udh": None if udh is None else [ie_json(ie, message_number_iei) for ie in udh],
        "concat": None
        if concat is None
        else {"ref": concat.ref, "total": concat.total, "seq": concat.seq},
        "message_number": number,
        "text": None if text is None else _LONE_SURROGATE.sub("\ufffd", text),
        "data": data,
    }


def decode_json(
    data: bytes,
    direction: Direction,
    *,
    sca: bool = False,
    message_number_iei: int = IEI_MESSAGE_NUMBER,
    rp_error: bool | None = None,
) -> dict[str, Any]:
    """Decode and describe; TP-UDL is taken as it stood in the PDU."""
    trace: list[Span] = []
    address = None
    if sca:
        address, tpdu = decode_sca(data, direction, trace=trace, rp_error=rp_error)
    else:
        tpdu = decode(data, direction, trace=trace, rp_error=rp_error)
    udl = next((data[s.start] for s in trace if s.name == "TP-UDL"), None)
    pi = next((data[s.start] for s in trace if s.name == "TP-PI"), None)
    return to_json(tpdu, sca=address, udl=udl, pi=pi, message_number_iei=message_number_iei)
