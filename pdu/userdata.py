"""TP-UDL and TP-UD (TS 23.040 §9.2.3.16, §9.2.3.24): the header, the fill bits
and the body, in the units the data coding scheme dictates.

With GSM 7-bit, TP-UDL counts septets and the text starts on the first septet
boundary after the header, so a header of ``n`` octets is followed by
``(7 - 8 * n % 7) % 7`` fill bits; otherwise TP-UDL counts octets.
"""

from __future__ import annotations

from codecs import utf_16_be_decode
from dataclasses import dataclass

from . import gsm7, national
from .dcs import Alphabet, DataCodingScheme, dcs_of
from .errors import PDUError
from .reader import Reader
from .udh import (
    IEI_NATIONAL_LOCKING_SHIFT,
    IEI_NATIONAL_SINGLE_SHIFT,
    Udh,
    decode_udh,
    encode_udh,
    udh_at,
)

MAX_OCTETS = 140
MAX_SEPTETS = 160


@dataclass(frozen=True, slots=True)
class UserData:
    """The body is text (``str``) for GSM 7-bit and UCS2, octets for 8-bit data
    and compressed text.  ``udh`` is None when TP-UDHI is 0."""

    body: str | bytes = ""
    udh: Udh | None = None


def header_septets(udh_octets: int) -> int:
    """Septets a header of ``udh_octets`` (UDHL included) occupies, fill bits included."""
    return (udh_octets * 8 + 6) // 7


def encode_user_data(ud: UserData, dcs: DataCodingScheme) -> bytes:
    """TP-UDL followed by TP-UD."""
    header = encode_udh(ud.udh) if ud.udh is not None else b""
    body = ud.body
    if dcs.counts_septets:
        if not isinstance(body, str):
            raise PDUError(f"{dcs.alphabet.value} user data must be text")
        locking, single = _shift_tables(ud.udh) if ud.udh else (None, None)
        septets = gsm7.encode(body, locking, single)
        skip = header_septets(len(header))
        udl = skip + len(septets)
        if udl > MAX_SEPTETS:
            raise PDUError(f"user data takes {udl} septets, more than {MAX_SEPTETS}: split it")
        packed = gsm7.pack(septets, skip)
        return bytes((udl,)) + header + packed[len(header) :]
    if dcs.alphabet is Alphabet.UCS2 and not dcs.compressed:
        if not isinstance(body, str):
            raise PDUError("UCS2 user data must be text")
        octets = body.encode("utf-16-be", "surrogatepass")
    else:
        if not isinstance(body, bytes):
            raise PDUError("8-bit user data must be bytes")
        octets = body
    udl = len(header) + len(octets)
    if udl > MAX_OCTETS:
        raise PDUError(f"user data takes {udl} octets, more than {MAX_OCTETS}: split it")
    return bytes((udl,)) + header + octets


def _shift_tables(udh: Udh) -> tuple[str | None, dict[int, str] | None]:
    """The locking and single shift tables the national language IEs select
    (TS 23.038 §6.2.1.2.4).  The last element of each kind counts; a language
    with no such table keeps the default one; an IE whose data is not one
    octet is not a language and is passed over."""
    locking: str | None = None
    single: dict[int, str] | None = None
    for ie in udh:
        if len(ie.data) != 1:
            continue
        if ie.iei == IEI_NATIONAL_LOCKING_SHIFT:
            locking = national.locking_shift(ie.data[0])
        elif ie.iei == IEI_NATIONAL_SINGLE_SHIFT:
            single = national.single_shift(ie.data[0])
    return locking, single


def decode_user_data(r: Reader, dcs: DataCodingScheme, udhi: bool) -> UserData:
    udl = r.octet("TP-UDL")
    septets = dcs.counts_septets
    size = gsm7.packed_length(udl) if septets else udl
    if r.trace is not None:
        unit = f"septets ({size} octets)" if septets else "octets"
        r.note(f"{udl} {unit} of user data")
    if r.remaining() < size:
        raise r.error(
            f"truncated: TP-UDL {udl} needs {size} octets of user data, {r.remaining()} left"
        )
    start = r.pos
    udh: Udh | None = None
    if udhi:
        if size == 0:
            raise r.error("TP-UDHI is set but there is no user data")
        udh = decode_udh(r, size)
    head = r.pos - start
    body: str | bytes
    if septets:
        skip = header_septets(head) if udhi else 0
        if skip > udl:
            raise r.error(f"the user data header takes {skip} septets, TP-UDL is {udl}", start)
        rest = r.take(size - head, "TP-UD")
        locking, single = _shift_tables(udh) if udh else (None, None)
        body = gsm7.decode(
            gsm7.unpack(r.buf[start : start + head] + rest, udl, skip),
            locking=locking,
            single=single,
        )
        if r.trace is not None and rest:
            fill = skip * 7 - head * 8
            r.note(
                f"{udl - skip} septets"
                + (f" after {fill} fill bits" if fill else "")
                + f": {body!r}"
            )
    else:
        rest = r.take(size - head, "TP-UD")
        if dcs.alphabet is Alphabet.UCS2 and not dcs.compressed:
            if len(rest) % 2:
                raise r.error(f"UCS2 text of {len(rest)} octets is not whole characters", start)
            body = rest.decode("utf-16-be", "surrogatepass")
        else:
            body = rest
        if r.trace is not None and rest:
            r.note(repr(body) if isinstance(body, str) else f"{len(body)} octets of data")
    return UserData(body, udh)


def user_data_at(buf: bytes, pos: int, dcs: DataCodingScheme, udhi: int) -> UserData | None:
    """``decode_user_data`` without a Reader or a trace, for the untraced fast
    path (``udhi`` is the TP-UDHI bit, 0 or not): None when anything is
    wrong, and ``decode_user_data`` says what."""
    size = len(buf)
    if pos >= size:
        return None
    udl = buf[pos]
    start = pos + 1
    udh: Udh | None = None
    kind = _BODY_KIND[dcs.value]
    if kind is _SEPTETS:
        end = start + (udl * 7 + 7) // 8
        if end > size:
            return None
        if not udhi:
            return UserData(gsm7.decode(gsm7.unpack(buf[start:end], udl)), None)
        udh = udh_at(buf, start, end - start)
        if udh is None:
            return None
        skip = header_septets(buf[start] + 1)
        if skip > udl:
            return None
        locking, single = _shift_tables(udh)
        septets = gsm7.unpack(buf[start:end], udl, skip)
        return UserData(gsm7.decode(septets, locking, single), udh)
    end = start + udl
    if end > size:
        return None
    if udhi:
        udh = udh_at(buf, start, udl)
        if udh is None:
            return None
        start += buf[start] + 1
    if kind is _UTF16:
        if (end - start) % 2:
            return None
        return UserData(utf_16_be_decode(buf[start:end], "surrogatepass", True)[0], udh)
    return UserData(buf[start:end], udh)


_SEPTETS, _UTF16, _OCTETS = "septets", "utf-16", "octets"
#: How each TP-DCS value has the body read.
_BODY_KIND = [
    _SEPTETS
    if dcs.counts_septets
    else _UTF16
    if dcs.alphabet is Alphabet.UCS2 and not dcs.compressed
    else _OCTETS
    for dcs in map(dcs_of, range(256))
]
