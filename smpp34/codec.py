"""``encode`` and ``decode``: one SMPP PDU to octets and back.

Layout (§3.2): a 16-octet header of four big-endian integers::

    command_length | command_id | command_status | sequence_number

then the mandatory parameters of the command in a fixed order (§4,
``smpp34.fields``), then optional parameters as TLVs (§3.2.4.1,
``smpp34.tlv``) in any order.  command_length counts every octet, the header
included.

A response may come without its body: peers leave it out on errors (§4.4.2
says submit_sm_resp has none then) and some even on success.  A response
with an empty body decodes to its defaults, and one with a non-zero
command_status whose body does not parse decodes as if it had none.
``encode`` leaves out the body of a response with a non-zero command_status
when the body holds nothing but defaults.
"""

from __future__ import annotations

import struct

from .constants import HEADER_LENGTH, MAX_COMMAND_LENGTH, RESPONSE_BIT
from .constants import CommandStatus as _S
from .errors import SmppError
from .fields import _decode_body, _encode_body
from .pdus import _ALL, PDU_CLASSES, Pdu, _Pdu
from .tlv import _decode_tlvs, _encode_tlvs

_HEADER = struct.Struct(">IIII")


def encode(pdu: Pdu) -> bytes:
    """The octets of ``pdu``, command_length computed; SmppError for a value
    that cannot be written (offset None)."""
    if not isinstance(pdu, _Pdu) or type(pdu) not in _ALL:
        raise SmppError(_S.ESME_RSYSERR, f"not an SMPP PDU: {type(pdu).__name__}")
    body = _encode_body(pdu._body, pdu) + _encode_tlvs(pdu.tlvs)
    status = pdu.command_status
    if status and pdu.is_response and body == pdu._default_body:
        body = b""  # §4.4.2 and kin: an error response carries no body
    length = HEADER_LENGTH + len(body)
    if length > MAX_COMMAND_LENGTH:
        raise SmppError(
            _S.ESME_RINVCMDLEN, f"{pdu.name} of {length} octets exceeds {MAX_COMMAND_LENGTH}"
        )
    seq = pdu.sequence_number
    for name, value in (("command_status", status), ("sequence_number", seq)):
        if not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
            raise SmppError(_S.ESME_RSYSERR, f"{name} {value!r} is not a 32-bit unsigned integer")
    return _HEADER.pack(length, pdu.command_id, status, seq) + body


def decode(octets: bytes | bytearray | memoryview) -> Pdu:
    """The PDU in ``octets``, which must be exactly one PDU (``PduReader``
    splits a stream).  Raises SmppError, never another exception."""
    data = bytes(octets)
    n = len(data)
    if n < HEADER_LENGTH:
        command_id = int.from_bytes(data[4:8], "big") if n >= 8 else None
        raise SmppError(
            _S.ESME_RINVCMDLEN,
            f"truncated: {n} octets, the header alone is {HEADER_LENGTH}",
            n,
            command_id=command_id,
        )
    command_length, command_id, command_status, sequence_number = _HEADER.unpack_from(data)
    if command_length != n or n > MAX_COMMAND_LENGTH:
        raise SmppError(
            _S.ESME_RINVCMDLEN,
            f"command_length {command_length} but the PDU is {n} octets"
            if command_length != n
            else f"command_length {n} exceeds {MAX_COMMAND_LENGTH}",
            0,
            sequence_number,
            command_id,
        )
    cls = PDU_CLASSES.get(command_id)
    if cls is None:
        raise SmppError(
            _S.ESME_RINVCMDID,
            f"unknown command_id {command_id:#010x}",
            4,
            sequence_number,
            command_id,
        )
    is_response = command_id & RESPONSE_BIT
    if n == HEADER_LENGTH and is_response:
        # Peers leave out the body of responses (always on errors, §4.4.2).
        return cls(sequence_number=sequence_number, command_status=command_status)
    try:
        values, pos = _decode_body(cls._body, data)
        tlvs = _decode_tlvs(data, pos)
    except SmppError as exc:
        if command_status and is_response:
            # What an error response carries besides its status is not
            # specified to be there: read it as absent rather than fail.
            return cls(sequence_number=sequence_number, command_status=command_status)
        exc.sequence_number = sequence_number
        exc.command_id = command_id
        raise
    return cls(sequence_number=sequence_number, command_status=command_status, tlvs=tlvs, **values)
