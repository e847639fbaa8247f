"""The User Data Header of TS 23.040 §9.2.3.24: a length, then information
elements (IEI, IEDL, IED).

Elements are kept as raw (iei, data) so that any header round-trips and an
unknown IEI is skipped by its length, as the spec requires; the typed views
(concatenation, ports, message number) are read on demand.  Where an element
repeats, the last occurrence counts (§9.2.3.24).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import national
from .errors import PDUError
from .reader import Reader

IEI_CONCAT_8 = 0x00
IEI_SPECIAL_SMS = 0x01
IEI_PORTS_8 = 0x04
IEI_PORTS_16 = 0x05
IEI_CONCAT_16 = 0x08
IEI_NATIONAL_SINGLE_SHIFT = 0x24
IEI_NATIONAL_LOCKING_SHIFT = 0x25
#: The message-number IE of the read-receipt system: the first IEI of the
#: SME-to-SME specific range 0x80-0x9F, IEDL 2, the number big-endian.
IEI_MESSAGE_NUMBER = 0x80

IEI_NAMES = {
    0x00: "concatenated short messages, 8-bit reference",
    0x01: "special SMS message indication",
    0x04: "application port addressing, 8-bit",
    0x05: "application port addressing, 16-bit",
    0x06: "SMSC control parameters",
    0x07: "UDH source indicator",
    0x08: "concatenated short messages, 16-bit reference",
    0x09: "wireless control message protocol",
    0x0A: "text formatting",
    0x0B: "predefined sound",
    0x0C: "user defined sound",
    0x0D: "predefined animation",
    0x0E: "large animation",
    0x0F: "small animation",
    0x10: "large picture",
    0x11: "small picture",
    0x12: "variable picture",
    0x13: "user prompt indicator",
    0x14: "extended object",
    0x15: "reused extended object",
    0x16: "compression control",
    0x17: "object distribution indicator",
    0x18: "standard WVG object",
    0x19: "character size WVG object",
    0x1A: "extended object data request command",
    0x20: "RFC 822 e-mail header",
    0x21: "hyperlink format element",
    0x22: "reply address element",
    0x23: "enhanced voice mail information",
    0x24: "national language single shift",
    0x25: "national language locking shift",
}


def iei_name(iei: int) -> str:
    if iei in IEI_NAMES:
        return IEI_NAMES[iei]
    if 0x70 <= iei <= 0x7F:
        return "SIM toolkit security header"
    if 0x80 <= iei <= 0x9F:
        return "SME to SME specific use"
    if 0xC0 <= iei <= 0xDF:
        return "SC specific use"
    return "reserved"


@dataclass(frozen=True, slots=True)
class InformationElement:
    iei: int
    data: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.iei <= 0xFF:
            raise PDUError(f"IEI {self.iei} is not one octet")
        if len(self.data) > 0xFF:
            raise PDUError(f"IE {self.iei:#04x} data is longer than 255 octets")


Udh = tuple[InformationElement, ...]


@dataclass(frozen=True, slots=True)
class Concat:
    """Concatenated short message: reference, total parts, this part's number (1-based)."""

    ref: int
    total: int
    seq: int
    ref_bits: int = 8


@dataclass(frozen=True, slots=True)
class Ports:
    destination: int
    originator: int
    bits: int = 16


def concat_ie(ref: int, total: int, seq: int, ref_bits: int = 8) -> InformationElement:
    if not (1 <= total <= 255 and 1 <= seq <= total):
        raise PDUError(f"concatenation part {seq} of {total} is out of range")
    if ref_bits == 8:
        if not 0 <= ref <= 0xFF:
            raise PDUError(f"8-bit concatenation reference {ref} out of range")
        return InformationElement(IEI_CONCAT_8, bytes((ref, total, seq)))
    if not 0 <= ref <= 0xFFFF:
        raise PDUError(f"16-bit concatenation reference {ref} out of range")
    return InformationElement(IEI_CONCAT_16, ref.to_bytes(2, "big") + bytes((total, seq)))


def ports_ie(destination: int, originator: int, bits: int = 16) -> InformationElement:
    limit = 0xFF if bits == 8 else 0xFFFF
    if not (0 <= destination <= limit and 0 <= originator <= limit):
        raise PDUError(f"port out of range for {bits}-bit port addressing")
    size = bits // 8
    return InformationElement(
        IEI_PORTS_8 if bits == 8 else IEI_PORTS_16,
        destination.to_bytes(size, "big") + originator.to_bytes(size, "big"),
    )


#: TS 23.040 §9.2.3.24: the IEIs left to SME-to-SME specific use.  Every
#: other IEI is defined by the spec (a port element, a concatenation...) or
#: reserved, and a receiver would read our two octets as that.
SME_TO_SME_IEIS = range(0x80, 0xA0)


def check_message_number_iei(iei: int) -> int:
    """``iei`` if it may carry the message number; PDUError says why not."""
    if iei not in SME_TO_SME_IEIS:
        what = IEI_NAMES.get(iei, "reserved" if 0 <= iei <= 0xFF else "not one octet")
        raise PDUError(
            f"IEI {iei:#04x} ({what}) cannot carry the message number: "
            "use the SME-to-SME range 0x80-0x9F"
        )
    return iei


def message_number_ie(number: int, iei: int = IEI_MESSAGE_NUMBER) -> InformationElement:
    check_message_number_iei(iei)
    if not 0 <= number <= 0xFFFF:
        raise PDUError(f"message number {number} does not fit 16 bits")
    return InformationElement(iei, number.to_bytes(2, "big"))


def find_concat(udh: Udh | None) -> Concat | None:
    """The concatenation IE, or None.  An element whose part number is 0 or past
    the total is ignored, as §9.2.3.24.1 tells the receiver."""
    found = None
    for ie in udh or ():
        d = ie.data
        if ie.iei == IEI_CONCAT_8 and len(d) == 3:
            c = Concat(d[0], d[1], d[2], 8)
        elif ie.iei == IEI_CONCAT_16 and len(d) == 4:
            c = Concat(d[0] << 8 | d[1], d[2], d[3], 16)
        else:
            continue
        if c.total and 1 <= c.seq <= c.total:
            found = c
    return found


def find_ports(udh: Udh | None) -> Ports | None:
    found = None
    for ie in udh or ():
        d = ie.data
        if ie.iei == IEI_PORTS_8 and len(d) == 2:
            found = Ports(d[0], d[1], 8)
        elif ie.iei == IEI_PORTS_16 and len(d) == 4:
            found = Ports(d[0] << 8 | d[1], d[2] << 8 | d[3], 16)
    return found


def find_message_number(udh: Udh | None, iei: int = IEI_MESSAGE_NUMBER) -> int | None:
    found = None
    for ie in udh or ():
        if ie.iei == iei and len(ie.data) == 2:
            found = ie.data[0] << 8 | ie.data[1]
    return found


def describe_ie(ie: InformationElement, message_number_iei: int = IEI_MESSAGE_NUMBER) -> str:
    if ie.iei in (IEI_CONCAT_8, IEI_CONCAT_16):
        c = find_concat((ie,))
        if c is not None:
            return f"reference {c.ref}, part {c.seq} of {c.total}"
    elif ie.iei in (IEI_PORTS_8, IEI_PORTS_16):
        p = find_ports((ie,))
        if p is not None:
            return f"destination port {p.destination}, originator port {p.originator}"
    elif ie.iei == message_number_iei:
        n = find_message_number((ie,), message_number_iei)
        if n is not None:
            return f"message number {n}"
    elif ie.iei in (IEI_NATIONAL_SINGLE_SHIFT, IEI_NATIONAL_LOCKING_SHIFT) and len(ie.data) == 1:
        lang = ie.data[0]
        name = national.language_name(lang)
        if ie.iei == IEI_NATIONAL_LOCKING_SHIFT:
            found, default = national.locking_shift(lang) is not None, "default alphabet"
        else:
            found, default = national.single_shift(lang) is not None, "default extension table"
        if found:
            return f"{name} (language {lang}, TS 23.038 §6.2.1.2.4)"
        what = f"{name} has no such table" if name else "reserved"
        return f"language {lang}, {what} (TS 23.038 §6.2.1.2.4): the {default} stays"
    return f"{len(ie.data)} octets, kept as they are"


def encode_udh(udh: Udh) -> bytes:
    """UDHL followed by the elements."""
    body = b"".join(bytes((ie.iei, len(ie.data))) + ie.data for ie in udh)
    if len(body) > 0xFF:
        raise PDUError("user data header longer than 255 octets")
    return bytes((len(body),)) + body


def decode_udh(r: Reader, room: int) -> Udh:
    """Read a UDH that must fit in ``room`` octets of user data."""
    udhl = r.octet("TP-UDH UDHL")
    if udhl + 1 > room:
        raise r.error(f"UDHL {udhl} runs past the user data ({room} octets)", r.pos - 1)
    if r.trace is not None:
        r.note(f"{udhl} octets of header follow")
    end = r.pos + udhl
    elements: list[InformationElement] = []
    while r.pos < end:
        iei = r.octet("TP-UDH IEI")
        if r.trace is not None:
            r.note(f"{iei:#04x}: {iei_name(iei)}")
        if r.pos >= end:
            raise r.error(f"IE {iei:#04x} has no length inside the header")
        iedl = r.octet("TP-UDH IEDL")
        if r.pos + iedl > end:
            raise r.error(f"IE {iei:#04x} length {iedl} runs past the header", r.pos - 1)
        if r.trace is not None:
            r.note(f"{iedl} octets of data")
        ie = InformationElement(iei, r.take(iedl, "TP-UDH IED"))
        if r.trace is not None and iedl:
            r.note(describe_ie(ie))
        elements.append(ie)
    return tuple(elements)


#: Headers decoded before, by their octets (UDHL included): the parts of a
#: message, and the messages of a sender, repeat a handful of headers.
_SEEN: dict[bytes, Udh] = {}
_SEEN_MAX = 4096


def udh_at(buf: bytes, pos: int, room: int) -> Udh | None:
    """The header at ``pos`` that must fit in ``room`` octets, or None when it
    is not a valid one (``decode_udh`` says why)."""
    if room == 0 or pos >= len(buf) or buf[pos] + 1 > room:
        return None
    raw = buf[pos : pos + 1 + buf[pos]]
    udh = _SEEN.get(raw)
    if udh is None:
        try:
            udh = decode_udh(Reader(raw), room)
        except PDUError:
            return None
        if len(_SEEN) >= _SEEN_MAX:
            _SEEN.clear()
        _SEEN[raw] = udh
    return udh
