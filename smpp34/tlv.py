"""Optional parameters: TLVs (§3.2.4.1; tags and value lengths in §5.3.2).

After its mandatory parameters a PDU carries any number of TLVs, in any
order, each one::

    tag (2 octets) | length (2 octets) | value (length octets)

both integers big-endian.  ``Tlvs`` holds a PDU's TLVs by their names in
§5.3.2; ``_TLV_TABLE`` gives each one's tag, kind of value and allowed
length, in the order ``encode`` writes them.

Decisions the specification leaves open, made here for real peers:

- A TLV this codec does not know is kept raw in ``Tlvs.unknown`` and written
  back; a known TLV in a PDU whose table does not list it is decoded all the
  same (whether to refuse it with ESME_ROPTPARNOTALLWD is the session's call).
  A known tag twice in one PDU is refused (ESME_RINVOPTPARSTREAM).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from .constants import CommandStatus as _S
from .errors import SmppError
from .fields import _latin1

_TL = struct.Struct(">HH")


@dataclass(frozen=True, slots=True)
class NetworkErrorCode:
    """network_error_code (§5.3.2.31): the network type (1 GSM, 2 ANSI-136,
    3 IS-95, ...) and that network's error code."""

    network_type: int
    error_code: int


_T_INT, _T_CSTRING, _T_OCTETS, _T_NETWORK_ERROR, _T_FLAG = range(5)


class _TlvSpec(NamedTuple):
    name: str
    tag: int
    kind: int
    low: int  # value length bounds, C-Octet String NUL included
    high: int


# The TLVs of §5.3.2, in the order ``encode`` writes them.
_TLV_TABLE: tuple[_TlvSpec, ...] = (
    _TlvSpec("sar_msg_ref_num", 0x020C, _T_INT, 2, 2),
    _TlvSpec("sar_total_segments", 0x020E, _T_INT, 1, 1),
    _TlvSpec("sar_segment_seqnum", 0x020F, _T_INT, 1, 1),
    _TlvSpec("message_payload", 0x0424, _T_OCTETS, 0, 0xFFFF),
    _TlvSpec("receipted_message_id", 0x001E, _T_CSTRING, 1, 65),
    _TlvSpec("message_state", 0x0427, _T_INT, 1, 1),
    _TlvSpec("network_error_code", 0x0423, _T_NETWORK_ERROR, 3, 3),
    _TlvSpec("user_message_reference", 0x0204, _T_INT, 2, 2),
    _TlvSpec("source_port", 0x020A, _T_INT, 2, 2),
    _TlvSpec("destination_port", 0x020B, _T_INT, 2, 2),
    _TlvSpec("sc_interface_version", 0x0210, _T_INT, 1, 1),
    _TlvSpec("more_messages_to_send", 0x0426, _T_INT, 1, 1),
    _TlvSpec("payload_type", 0x0019, _T_INT, 1, 1),
    _TlvSpec("ms_availability_status", 0x0422, _T_INT, 1, 1),
    _TlvSpec("dest_addr_subunit", 0x0005, _T_INT, 1, 1),
    _TlvSpec("source_addr_subunit", 0x000D, _T_INT, 1, 1),
    _TlvSpec("privacy_indicator", 0x0201, _T_INT, 1, 1),
    _TlvSpec("callback_num", 0x0381, _T_OCTETS, 4, 19),
    _TlvSpec("callback_num_pres_ind", 0x0302, _T_INT, 1, 1),
    _TlvSpec("callback_num_atag", 0x0303, _T_OCTETS, 0, 65),
    _TlvSpec("language_indicator", 0x020D, _T_INT, 1, 1),
    _TlvSpec("its_session_info", 0x1383, _T_INT, 2, 2),
    _TlvSpec("its_reply_type", 0x1380, _T_INT, 1, 1),
    _TlvSpec("delivery_failure_reason", 0x0425, _T_INT, 1, 1),
    _TlvSpec("additional_status_info_text", 0x001D, _T_CSTRING, 1, 256),
    _TlvSpec("dpf_result", 0x0420, _T_INT, 1, 1),
    _TlvSpec("set_dpf", 0x0421, _T_INT, 1, 1),
    _TlvSpec("ms_msg_wait_facilities", 0x0030, _T_INT, 1, 1),
    _TlvSpec("alert_on_message_delivery", 0x130C, _T_FLAG, 0, 0),
    _TlvSpec("display_time", 0x1201, _T_INT, 1, 1),
    _TlvSpec("sms_signal", 0x1203, _T_INT, 2, 2),
    _TlvSpec("ms_validity", 0x1204, _T_INT, 1, 1),
    _TlvSpec("number_of_messages", 0x0304, _T_INT, 1, 1),
    _TlvSpec("qos_time_to_live", 0x0017, _T_INT, 4, 4),
    _TlvSpec("user_response_code", 0x0205, _T_INT, 1, 1),
    _TlvSpec("ussd_service_op", 0x0501, _T_INT, 1, 1),
    _TlvSpec("source_subaddress", 0x0202, _T_OCTETS, 2, 23),
    _TlvSpec("dest_subaddress", 0x0203, _T_OCTETS, 2, 23),
    _TlvSpec("source_network_type", 0x000E, _T_INT, 1, 1),
    _TlvSpec("dest_network_type", 0x0006, _T_INT, 1, 1),
    _TlvSpec("source_bearer_type", 0x000F, _T_INT, 1, 1),
    _TlvSpec("dest_bearer_type", 0x0007, _T_INT, 1, 1),
    # One octet as in the Logica reference implementation of v3.4; v5.0 made it two.
    _TlvSpec("source_telematics_id", 0x0010, _T_INT, 1, 1),
    _TlvSpec("dest_telematics_id", 0x0008, _T_INT, 2, 2),
)
_TLV_BY_TAG = {spec.tag: spec for spec in _TLV_TABLE}
#: Tag of each TLV the codec knows, by its name in §5.3.2.
TLV_TAGS: dict[str, int] = {spec.name: spec.tag for spec in _TLV_TABLE}


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Tlvs:
    """A PDU's optional parameters: None (False for the flag) where absent.

    ``unknown`` holds the (tag, value) of each TLV the codec does not know, in
    the order they came, and ``encode`` writes them back after the known ones.
    Integers stay ints rather than enums, so values from newer peers survive.
    """

    sar_msg_ref_num: int | None = None
    sar_total_segments: int | None = None
    sar_segment_seqnum: int | None = None
    message_payload: bytes | None = None
    receipted_message_id: str | None = None
    message_state: int | None = None
    network_error_code: NetworkErrorCode | None = None
    user_message_reference: int | None = None
    source_port: int | None = None
    destination_port: int | None = None
    sc_interface_version: int | None = None
    more_messages_to_send: int | None = None
    payload_type: int | None = None
    ms_availability_status: int | None = None
    dest_addr_subunit: int | None = None
    source_addr_subunit: int | None = None
    privacy_indicator: int | None = None
    callback_num: bytes | None = None
    callback_num_pres_ind: int | None = None
    callback_num_atag: bytes | None = None
    language_indicator: int | None = None
    its_session_info: int | None = None
    its_reply_type: int | None = None
    delivery_failure_reason: int | None = None
    additional_status_info_text: str | None = None
    dpf_result: int | None = None
    set_dpf: int | None = None
    ms_msg_wait_facilities: int | None = None
    alert_on_message_delivery: bool = False
    display_time: int | None = None
    sms_signal: int | None = None
    ms_validity: int | None = None
    number_of_messages: int | None = None
    qos_time_to_live: int | None = None
    user_response_code: int | None = None
    ussd_service_op: int | None = None
    source_subaddress: bytes | None = None
    dest_subaddress: bytes | None = None
    source_network_type: int | None = None
    dest_network_type: int | None = None
    source_bearer_type: int | None = None
    dest_bearer_type: int | None = None
    source_telematics_id: int | None = None
    dest_telematics_id: int | None = None
    unknown: tuple[tuple[int, bytes], ...] = ()

    def __repr__(self) -> str:
        shown = [
            f"{f.name}={value!r}"
            for f in fields(self)
            if (value := getattr(self, f.name)) is not None and value is not False and value != ()
        ]
        return f"Tlvs({', '.join(shown)})"

    def __bool__(self) -> bool:
        """False when no TLV is present."""
        return self != NO_TLVS


#: No optional parameters: the default of every PDU.
NO_TLVS = Tlvs()


def _tlv_value(spec: _TlvSpec, value: bytes, at: int) -> object:
    """One known TLV's value from its octets (``at`` is the tag's offset)."""
    n = len(value)
    if not spec.low <= n <= spec.high:
        size = f"{spec.low}" if spec.low == spec.high else f"{spec.low}-{spec.high}"
        raise SmppError(
            _S.ESME_RINVPARLEN, f"{spec.name} length {n}: it takes {size} octets", at + 2
        )
    kind = spec.kind
    if kind == _T_INT:
        return int.from_bytes(value, "big")
    if kind == _T_OCTETS:
        return value
    if kind == _T_CSTRING:
        if value.find(0) != n - 1:
            raise SmppError(
                _S.ESME_RINVOPTPARAMVAL,
                f"{spec.name} is not a C-Octet String: it must end in its only NUL",
                at + 4,
            )
        return value[:-1].decode("latin-1")
    if kind == _T_NETWORK_ERROR:
        return NetworkErrorCode(value[0], value[1] << 8 | value[2])
    return True  # _T_FLAG: present, no value


def _decode_tlvs(data: bytes, pos: int) -> Tlvs:
    end = len(data)
    if pos == end:
        return NO_TLVS
    known: dict[str, Any] = {}
    unknown: list[tuple[int, bytes]] = []
    while pos < end:
        if end - pos < 4:
            raise SmppError(
                _S.ESME_RINVOPTPARSTREAM,
                f"{end - pos} octets left after the mandatory parameters: a TLV needs 4",
                pos,
            )
        tag, length = _TL.unpack_from(data, pos)
        start = pos + 4
        stop = start + length
        if stop > end:
            raise SmppError(
                _S.ESME_RINVOPTPARSTREAM,
                f"TLV {tag:#06x} length {length} runs past the PDU ({end - start} octets left)",
                pos + 2,
            )
        spec = _TLV_BY_TAG.get(tag)
        if spec is None:
            unknown.append((tag, data[start:stop]))
        elif spec.name in known:
            raise SmppError(_S.ESME_RINVOPTPARSTREAM, f"{spec.name} appears twice", pos)
        else:
            known[spec.name] = _tlv_value(spec, data[start:stop], pos)
        pos = stop
    return Tlvs(unknown=tuple(unknown), **known)


def _encode_tlv_value(spec: _TlvSpec, value: object) -> bytes:
    kind = spec.kind
    if kind == _T_INT:
        if not isinstance(value, int) or not 0 <= value < 1 << (8 * spec.low):
            raise SmppError(
                _S.ESME_RINVOPTPARAMVAL,
                f"{spec.name} {value!r} is not an integer of {spec.low} octet(s)",
            )
        return value.to_bytes(spec.low, "big")
    if kind == _T_CSTRING:
        raw = _latin1(value, spec.name, _S.ESME_RINVOPTPARAMVAL) + b"\0"
    elif kind == _T_OCTETS:
        if not isinstance(value, bytes | bytearray):
            raise SmppError(_S.ESME_RINVOPTPARAMVAL, f"{spec.name} must be bytes")
        raw = bytes(value)
    elif kind == _T_NETWORK_ERROR:
        if (
            not isinstance(value, NetworkErrorCode)
            or not 0 <= value.network_type <= 0xFF
            or not 0 <= value.error_code <= 0xFFFF
        ):
            raise SmppError(
                _S.ESME_RINVOPTPARAMVAL,
                f"network_error_code {value!r} is not a NetworkErrorCode of 1 + 2 octets",
            )
        return bytes((value.network_type,)) + value.error_code.to_bytes(2, "big")
    else:
        if value is not True:
            raise SmppError(_S.ESME_RINVOPTPARAMVAL, f"{spec.name} is True or False")
        return b""
    if not spec.low <= len(raw) <= spec.high:
        raise SmppError(
            _S.ESME_RINVPARLEN,
            f"{spec.name} of {len(raw)} octets: it takes {spec.low}-{spec.high}",
        )
    return raw


def _encode_tlvs(tlvs: Tlvs) -> bytes:
    if tlvs is NO_TLVS:
        return b""
    if not isinstance(tlvs, Tlvs):
        raise SmppError(_S.ESME_RSYSERR, f"tlvs must be a Tlvs, not {type(tlvs).__name__}")
    out = bytearray()
    for spec in _TLV_TABLE:
        value = getattr(tlvs, spec.name)
        if value is None or value is False:
            continue
        raw = _encode_tlv_value(spec, value)
        out += _TL.pack(spec.tag, len(raw))
        out += raw
    for item in tlvs.unknown:
        try:
            tag, raw = item
        except (TypeError, ValueError):
            raise SmppError(_S.ESME_RSYSERR, f"unknown TLV {item!r} is not (tag, value)") from None
        if not isinstance(tag, int) or not 0 <= tag <= 0xFFFF:
            raise SmppError(_S.ESME_RINVOPTPARSTREAM, f"TLV tag {tag!r} is not 0-0xFFFF")
        if tag in _TLV_BY_TAG:
            raise SmppError(
                _S.ESME_RINVOPTPARSTREAM,
                f"tag {tag:#06x} is {_TLV_BY_TAG[tag].name}: set that field instead",
            )
        if not isinstance(raw, bytes | bytearray) or len(raw) > 0xFFFF:
            raise SmppError(_S.ESME_RINVPARLEN, f"TLV {tag:#06x} value is not 0-65535 octets")
        out += _TL.pack(tag, len(raw))
        out += raw
    return bytes(out)
