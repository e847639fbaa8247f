"""Code tables the TPDUs carry: TP-ST (§9.2.3.15), TP-FCS (§9.2.3.22), TP-PID
(§9.2.3.9) and TP-CT (§9.2.3.19), with the names TS 23.040 gives them; and the
RP-Cause of TS 24.011 that reports their fate, which both the radio link and
the AT port (+CMS ERROR 0-127) show."""

from __future__ import annotations

# TP-ST values the SMSC emits.
ST_RECEIVED = 0x00
ST_FORWARDED_UNCONFIRMED = 0x01
ST_REPLACED = 0x02
ST_TEMP_CONGESTION = 0x20
ST_TEMP_SME_BUSY = 0x21
ST_TEMP_NO_RESPONSE = 0x22
ST_TEMP_SERVICE_REJECTED = 0x23
ST_TEMP_ERROR_IN_SME = 0x25
ST_PERM_REMOTE_PROCEDURE_ERROR = 0x40
ST_PERM_INCOMPATIBLE_DESTINATION = 0x41
ST_PERM_CONNECTION_REJECTED = 0x42
ST_PERM_NOT_OBTAINABLE = 0x43
ST_PERM_VALIDITY_EXPIRED = 0x46
ST_PERM_DELETED_BY_ORIGINATOR = 0x47
ST_PERM_DELETED_BY_SC = 0x48
ST_PERM_DOES_NOT_EXIST = 0x49

TP_ST_NAMES = {
    0x00: "short message received by the SME",
    0x01: "forwarded by the SC to the SME, the SC is unable to confirm delivery",
    0x02: "short message replaced by the SC",
    0x20: "congestion",
    0x21: "SME busy",
    0x22: "no response from SME",
    0x23: "service rejected",
    0x24: "quality of service not available",
    0x25: "error in SME",
    0x40: "remote procedure error",
    0x41: "incompatible destination",
    0x42: "connection rejected by SME",
    0x43: "not obtainable",
    0x44: "quality of service not available",
    0x45: "no interworking available",
    0x46: "SM validity period expired",
    0x47: "SM deleted by originating SME",
    0x48: "SM deleted by SC administration",
    0x49: "SM does not exist",
    0x60: "congestion",
    0x61: "SME busy",
    0x62: "no response from SME",
    0x63: "service rejected",
    0x64: "quality of service not available",
    0x65: "error in SME",
}


def st_category(st: int) -> str:
    group = (st & 0x7F) >> 5
    return (
        "transaction completed",
        "temporary error, SC still trying to transfer the SM",
        "permanent error, SC is not making any more transfer attempts",
        "temporary error, SC is not making any more transfer attempts",
    )[group]


def is_final(st: int) -> bool:
    """Whether a TP-ST ends the message (delivered, or given up on)."""
    return (st & 0x7F) >> 5 != 1


def describe_st(st: int) -> str:
    name = TP_ST_NAMES.get(st & 0x7F, "reserved or SC specific")
    return f"{st:#04x}: {st_category(st)}: {name}"


TP_FCS_NAMES = {
    0x80: "telematic interworking not supported",
    0x81: "short message type 0 not supported",
    0x82: "cannot replace short message",
    0x8F: "unspecified TP-PID error",
    0x90: "data coding scheme (alphabet) not supported",
    0x91: "message class not supported",
    0x9F: "unspecified TP-DCS error",
    0xA0: "command cannot be actioned",
    0xA1: "command unsupported",
    0xAF: "unspecified TP-Command error",
    0xB0: "TPDU not supported",
    0xC0: "SC busy",
    0xC1: "no SC subscription",
    0xC2: "SC system failure",
    0xC3: "invalid SME address",
    0xC4: "destination SME barred",
    0xC5: "SM rejected, duplicate SM",
    0xC6: "TP-VPF not supported",
    0xC7: "TP-VP not supported",
    0xD0: "(U)SIM SMS storage full",
    0xD1: "no SMS storage capability in (U)SIM",
    0xD2: "error in MS",
    0xD3: "memory capacity exceeded",
    0xD4: "(U)SIM application toolkit busy",
    0xD5: "(U)SIM data download error",
    0xFF: "unspecified error cause",
}


#: TP-FCS of an SMS-SUBMIT refused for TP-RD: one still held has its TP-MR and TP-DA.
FCS_DUPLICATE = 0xC5


def describe_fcs(fcs: int) -> str:
    return f"{fcs:#04x}: {TP_FCS_NAMES.get(fcs, 'reserved or application specific')}"


TP_CT_NAMES = {
    0: "enquiry relating to a previously submitted short message",
    1: "cancel status report request",
    2: "delete previously submitted short message",
    3: "enable status report request",
}

_PID_SPECIAL = {
    0x00: "short message type 0",
    0x08: "device triggering short message",
    0x1E: "enhanced message service (obsolete)",
    0x1F: "return call message",
    0x3C: "ANSI-136 R-DATA",
    0x3D: "ME data download",
    0x3E: "ME de-personalization short message",
    0x3F: "(U)SIM data download",
}


def describe_pid(pid: int) -> str:
    top = pid >> 6
    if top == 0:
        if pid & 0x20:
            return f"{pid:#04x}: telematic interworking, device type {pid & 0x1F:#04x}"
        return f"{pid:#04x}: SME-to-SME protocol" + (f" {pid & 0x1F}" if pid else " (plain SMS)")
    if top == 1:
        low = pid & 0x3F
        if 1 <= low <= 7:
            return f"{pid:#04x}: replace short message type {low}"
        return f"{pid:#04x}: {_PID_SPECIAL.get(low, 'reserved')}"
    if top == 2:
        return f"{pid:#04x}: reserved"
    return f"{pid:#04x}: SC specific use"


#: TS 24.011 Table 8.4: the wording for each RP-Cause.
RP_CAUSE_NAMES: dict[int, str] = {
    1: "unassigned (unallocated) number",
    8: "operator determined barring",
    10: "call barred",
    11: "reserved",
    21: "short message transfer rejected",
    22: "memory capacity exceeded",
    27: "destination out of order",
    28: "unidentified subscriber",
    29: "facility rejected",
    30: "unknown subscriber",
    38: "network out of order",
    41: "temporary failure",
    42: "congestion",
    47: "resources unavailable, unspecified",
    50: "requested facility not subscribed",
    69: "requested facility not implemented",
    81: "invalid short message transfer reference value",
    95: "semantically incorrect message",
    96: "invalid mandatory information",
    97: "message type non-existent or not implemented",
    98: "message not compatible with short message protocol state",
    99: "information element non-existent or not implemented",
    111: "protocol error, unspecified",
    127: "interworking, unspecified",
}
