"""Mandatory parameters (§4): how each kind is read from octets and written.

A PDU's body is its mandatory parameters in the fixed order of its table in
§4, each a ``_Field``: a name, a kind, a size and the command_status that
refuses a bad value.  The kinds:

- C-Octet String (§3.1): the characters then NUL, at most ``size`` octets
  with the NUL;
- Integer of one octet;
- short_message: sm_length (one octet, 0-254), then that many octets;
- dest_address of submit_multi (§4.5.1): number_of_dests, then for each
  destination a dest_flag, 1 (``SmeAddress``: ton, npi, destination_addr)
  or 2 (``DistributionList``: dl_name);
- unsuccess_sme of submit_multi_resp (§4.5.2): no_unsuccess, then for each
  ``UnsuccessSme`` ton, npi, destination_addr and a 4-octet error_status_code.

A body that ends before its last parameter is ESME_RINVCMDLEN: the
command_length is what is wrong.

C-Octet Strings are read and written as Latin-1, so any octet but NUL
survives a round trip (the specification says ASCII; peers send more).

The names with a leading underscore here are shared by the modules of
``smpp34`` but are not its interface: ``smpp34.pdu`` re-exports that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from .constants import HEADER_LENGTH, MAX_DESTINATIONS, MAX_SHORT_MESSAGE
from .constants import CommandStatus as _S
from .errors import SmppError

_C, _U8, _SM, _DESTS, _UNSUCCESS = range(5)


class _Field(NamedTuple):
    """One mandatory parameter: its name, its kind, its size (a C-Octet
    String's maximum, NUL included), and the command_status that refuses it."""

    name: str
    kind: int
    size: int = 1
    status: int = _S.ESME_RSYSERR


def _c(name: str, size: int, status: int) -> _Field:
    return _Field(name, _C, size, status)


def _u8(name: str, status: int = _S.ESME_RSYSERR) -> _Field:
    return _Field(name, _U8, 1, status)


@dataclass(frozen=True, slots=True)
class SmeAddress:
    """A dest_address of submit_multi with dest_flag 1 (§4.5.1.1)."""

    dest_flag: ClassVar[int] = 1
    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: str


@dataclass(frozen=True, slots=True)
class DistributionList:
    """A dest_address of submit_multi with dest_flag 2 (§4.5.1.2)."""

    dest_flag: ClassVar[int] = 2
    dl_name: str


DestAddress = SmeAddress | DistributionList


@dataclass(frozen=True, slots=True)
class UnsuccessSme:
    """One unsuccess_sme of submit_multi_resp (§4.5.2.1)."""

    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: str
    error_status_code: int


_DESTINATION_ADDR = _c("destination_addr", 21, _S.ESME_RINVDSTADR)
_DL_NAME = _c("dl_name", 21, _S.ESME_RINVDLNAME)


def _truncated(name: str, pos: int) -> SmppError:
    # The PDU ends before its mandatory parameters do: its command_length is wrong.
    return SmppError(_S.ESME_RINVCMDLEN, f"truncated: {name} missing", pos)


def _read_u8(data: bytes, pos: int, name: str) -> int:
    if pos >= len(data):
        raise _truncated(name, pos)
    return data[pos]


def _read_cstring(data: bytes, pos: int, field: _Field) -> tuple[str, int]:
    end = len(data)
    limit = pos + field.size
    nul = data.find(0, pos, limit if limit < end else end)
    if nul < 0:
        if end - pos >= field.size:
            raise SmppError(
                field.status,
                f"{field.name} has no NUL within its {field.size} octets (NUL included)",
                pos,
            )
        raise SmppError(
            _S.ESME_RINVCMDLEN, f"truncated: {field.name} has no NUL before the PDU ends", pos
        )
    return data[pos:nul].decode("latin-1"), nul + 1


def _read_dest_addresses(data: bytes, pos: int) -> tuple[tuple[DestAddress, ...], int]:
    count = _read_u8(data, pos, "number_of_dests")
    if count > MAX_DESTINATIONS:
        raise SmppError(
            _S.ESME_RINVNUMDESTS, f"number_of_dests {count} is more than {MAX_DESTINATIONS}", pos
        )
    pos += 1
    out: list[DestAddress] = []
    for _ in range(count):
        flag = _read_u8(data, pos, "dest_flag")
        if flag == SmeAddress.dest_flag:
            ton = _read_u8(data, pos + 1, "dest_addr_ton")
            npi = _read_u8(data, pos + 2, "dest_addr_npi")
            address, pos = _read_cstring(data, pos + 3, _DESTINATION_ADDR)
            out.append(SmeAddress(ton, npi, address))
        elif flag == DistributionList.dest_flag:
            name, pos = _read_cstring(data, pos + 1, _DL_NAME)
            out.append(DistributionList(name))
        else:
            raise SmppError(
                _S.ESME_RINVDESTFLAG, f"dest_flag {flag}: 1 (SME address) or 2 (list)", pos
            )
    return tuple(out), pos


def _read_unsuccess(data: bytes, pos: int) -> tuple[tuple[UnsuccessSme, ...], int]:
    count = _read_u8(data, pos, "no_unsuccess")
    pos += 1
    out: list[UnsuccessSme] = []
    for _ in range(count):
        ton = _read_u8(data, pos, "dest_addr_ton")
        npi = _read_u8(data, pos + 1, "dest_addr_npi")
        address, pos = _read_cstring(data, pos + 2, _DESTINATION_ADDR)
        if pos + 4 > len(data):
            raise _truncated("error_status_code", pos)
        error = int.from_bytes(data[pos : pos + 4], "big")
        out.append(UnsuccessSme(ton, npi, address, error))
        pos += 4
    return tuple(out), pos


def _decode_body(body: tuple[_Field, ...], data: bytes) -> tuple[dict[str, Any], int]:
    values: dict[str, Any] = {}
    pos = HEADER_LENGTH
    for f in body:
        kind = f.kind
        if kind == _C:
            values[f.name], pos = _read_cstring(data, pos, f)
        elif kind == _U8:
            values[f.name] = _read_u8(data, pos, f.name)
            pos += 1
        elif kind == _SM:
            sm_length = _read_u8(data, pos, "sm_length")
            if sm_length > MAX_SHORT_MESSAGE:
                raise SmppError(
                    f.status, f"sm_length {sm_length} is more than {MAX_SHORT_MESSAGE}", pos
                )
            start = pos + 1
            pos = start + sm_length
            if pos > len(data):
                raise SmppError(
                    f.status,
                    f"sm_length {sm_length} but {len(data) - start} octets remain",
                    start - 1,
                )
            values[f.name] = data[start:pos]
        elif kind == _DESTS:
            values[f.name], pos = _read_dest_addresses(data, pos)
        else:
            values[f.name], pos = _read_unsuccess(data, pos)
    return values, pos


def _latin1(value: object, name: str, status: int) -> bytes:
    if not isinstance(value, str):
        raise SmppError(status, f"{name} must be a str, not {type(value).__name__}")
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise SmppError(
            status, f"{name}: {value[exc.start]!r} is not a Latin-1 character"
        ) from None
    if b"\0" in raw:
        raise SmppError(status, f"{name} contains NUL, which would end it early")
    return raw


def _cstring(value: object, f: _Field) -> bytes:
    raw = _latin1(value, f.name, f.status)
    if len(raw) >= f.size:
        raise SmppError(f.status, f"{f.name} of {len(raw)} characters: at most {f.size - 1} fit")
    return raw + b"\0"


def _octet(value: object, name: str, status: int) -> int:
    if not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise SmppError(status, f"{name} {value!r} is not an integer 0-255")
    return value


def _encode_body(body: tuple[_Field, ...], pdu: object) -> bytes:
    """The octets of ``body``, the values taken from ``pdu``'s attributes."""
    out = bytearray()
    for f in body:
        value = getattr(pdu, f.name)
        kind = f.kind
        if kind == _C:
            out += _cstring(value, f)
        elif kind == _U8:
            out.append(_octet(value, f.name, f.status))
        elif kind == _SM:
            if not isinstance(value, bytes | bytearray):
                raise SmppError(f.status, f"short_message must be bytes, not {type(value)}")
            if len(value) > MAX_SHORT_MESSAGE:
                raise SmppError(
                    f.status,
                    f"short_message of {len(value)} octets: at most {MAX_SHORT_MESSAGE}, "
                    "put longer ones in message_payload",
                )
            out.append(len(value))
            out += value
        elif kind == _DESTS:
            if not isinstance(value, tuple | list):
                raise SmppError(f.status, "dest_address must be a tuple of addresses")
            if len(value) > MAX_DESTINATIONS:
                raise SmppError(f.status, f"{len(value)} destinations: at most 254")
            out.append(len(value))
            for dest in value:
                if isinstance(dest, SmeAddress):
                    out.append(SmeAddress.dest_flag)
                    out.append(_octet(dest.dest_addr_ton, "dest_addr_ton", _S.ESME_RINVDSTTON))
                    out.append(_octet(dest.dest_addr_npi, "dest_addr_npi", _S.ESME_RINVDSTNPI))
                    out += _cstring(dest.destination_addr, _DESTINATION_ADDR)
                elif isinstance(dest, DistributionList):
                    out.append(DistributionList.dest_flag)
                    out += _cstring(dest.dl_name, _DL_NAME)
                else:
                    raise SmppError(
                        _S.ESME_RINVDESTFLAG, f"{dest!r} is not a SmeAddress or DistributionList"
                    )
        else:
            if not isinstance(value, tuple | list) or len(value) > 0xFF:
                raise SmppError(f.status, "unsuccess_sme must be a tuple of at most 255")
            out.append(len(value))
            for sme in value:
                if not isinstance(sme, UnsuccessSme):
                    raise SmppError(f.status, f"{sme!r} is not an UnsuccessSme")
                out.append(_octet(sme.dest_addr_ton, "dest_addr_ton", _S.ESME_RINVDSTTON))
                out.append(_octet(sme.dest_addr_npi, "dest_addr_npi", _S.ESME_RINVDSTNPI))
                out += _cstring(sme.destination_addr, _DESTINATION_ADDR)
                code = sme.error_status_code
                if not isinstance(code, int) or not 0 <= code <= 0xFFFFFFFF:
                    raise SmppError(f.status, f"error_status_code {code!r} is not 32 bits")
                out += code.to_bytes(4, "big")
    return bytes(out)
